"""Sandbox logs: the pure parts on Mesos' JSON shapes, and read_task_logs against a fake Mesos over httpx.

The JSON documents are the embedded cluster's renderings (``airflow_mesos.local.state_json`` for the master,
``Agent.state`` for the agent), captured from a run and trimmed to the fields Mesos has and we read.
"""

from __future__ import annotations

import base64
import copy
import json
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from airflow_mesos.executor.sandbox_logs import (
    READ_CHUNK,
    STDERR_LOGGER,
    SandboxFile,
    TaskLocation,
    agent_base_url,
    file_bytes,
    find_agent,
    find_sandbox,
    find_tasks,
    keep_tail,
    read_task_logs,
    render_logs,
    tail_start,
)

FID = "e2b6c65f-e0f3-4a06-b7e3-acfbae05341e-0000"
OTHER_FID = "e2b6c65f-e0f3-4a06-b7e3-acfbae05341e-0001"
AID = "e2b6c65f-e0f3-4a06-b7e3-acfbae05341e-S0"
TASK = "1b7a4c1e-airflow-ti"
SANDBOX = f"/var/lib/mesos/slaves/{AID}/frameworks/{FID}/executors/{TASK}/runs/06163136-9343-47ad-9809-6365540d97d3"
SECRET = "hunter2-not-for-logs"


def task_model(task_id=TASK, fid=FID, state="TASK_RUNNING", stamps=(1796142767.12, 1796142767.13), executor_id=""):
    """A task as /master/tasks renders it; its statuses run STARTING, RUNNING, then ``state`` if that is later."""
    states = ["TASK_STARTING", "TASK_RUNNING"] + ([state] if state not in ("TASK_STARTING", "TASK_RUNNING") else [])
    return {
        "id": task_id, "name": task_id, "framework_id": fid, "executor_id": executor_id, "slave_id": AID,
        "state": state, "resources": {"disk": 0.0, "mem": 32.0, "gpus": 0.0, "cpus": 0.1}, "role": "*",
        "statuses": [{"state": s, "timestamp": t,
                      "container_status": {"container_id": {"value": "06163136-9343-47ad-9809-6365540d97d3"}}}
                     for s, t in zip(states, stamps, strict=False)],
        "user": "root",
    }


def framework_model(fid=FID, tasks=(), completed=(), unreachable=()):
    return {"id": fid, "name": "airflow", "active": True, "connected": True, "user": "root",
            "failover_timeout": 604800.0, "checkpoint": True, "role": "*", "tasks": list(tasks),
            "unreachable_tasks": list(unreachable), "completed_tasks": list(completed), "offers": [],
            "executors": [], "completed_executors": []}


AGENT_ENTRY = {
    "id": AID, "hostname": "agent1.example", "port": 5051, "attributes": {}, "pid": "slave(1)@10.0.0.5:5051",
    "registered_time": 1796142767.07, "resources": {"disk": 10240.0, "mem": 2048.0, "gpus": 0.0, "cpus": 2.0,
                                                    "ports": "[31000-32000]"},
    "active": True, "deactivated": False, "version": "1.11.0",
}


def executor_model(directory=SANDBOX, executor_id=TASK, live=True, task_id=TASK):
    task = {"id": task_id, "name": task_id, "framework_id": FID, "executor_id": "", "slave_id": AID,
            "state": "TASK_RUNNING" if live else "TASK_FINISHED", "statuses": []}
    return {"id": executor_id, "name": f"Command Executor (Task: {task_id})", "source": task_id,
            "container": "06163136-9343-47ad-9809-6365540d97d3", "directory": directory,
            "resources": {"cpus": 0.1, "mem": 32.0, "disk": 0.0, "gpus": 0.0}, "type": "COMMAND",
            "tasks": [task] if live else [], "queued_tasks": [], "completed_tasks": [] if live else [task]}


def agent_state(executors=(), completed_executors=(), completed_framework=False):
    framework = {"id": FID, "name": "airflow", "user": "root", "hostname": "", "failover_timeout": 604800.0,
                 "checkpoint": True, "capabilities": [], "executors": list(executors),
                 "completed_executors": list(completed_executors), "role": "*"}
    return {"version": "1.11.0", "id": AID, "pid": "slave(1)@10.0.0.5:5051", "hostname": "agent1.example",
            "flags": {"work_dir": "/var/lib/mesos"},
            "frameworks": [] if completed_framework else [framework],
            "completed_frameworks": [framework] if completed_framework else []}


# ------------------------------------------------------------------------------------------------ find_tasks


def test_a_running_task_is_found_in_master_tasks_json():
    [found] = find_tasks({"tasks": [task_model()]}, TASK)
    assert found == TaskLocation(task_id=TASK, framework_id=FID, agent_id=AID, executor_id=TASK,
                                 state="TASK_RUNNING", last_update=1796142767.13)
    assert found.live


def test_completed_and_unreachable_tasks_of_any_framework_are_found_in_master_state_json():
    state = {
        "frameworks": [framework_model(tasks=[task_model("other")])],
        "completed_frameworks": [framework_model(OTHER_FID, completed=[
            task_model(fid=OTHER_FID, state="TASK_FINISHED", stamps=(1.0, 2.0, 3.0))])],
    }
    [found] = find_tasks(state, TASK)
    assert (found.framework_id, found.state, found.live) == (OTHER_FID, "TASK_FINISHED", False)
    unreachable = {"frameworks": [framework_model(unreachable=[task_model(state="TASK_UNREACHABLE")])]}
    assert find_tasks(unreachable, TASK)[0].state == "TASK_UNREACHABLE"


def test_framework_id_narrows_the_search_and_live_tasks_win_over_newer_finished_ones():
    finished_later = task_model(fid=OTHER_FID, state="TASK_FINISHED", stamps=(5.0, 6.0, 9.0))
    running = task_model(stamps=(1.0, 2.0))
    document = {"tasks": [finished_later, running]}
    assert [t.framework_id for t in find_tasks(document, TASK)] == [FID, OTHER_FID]
    assert [t.framework_id for t in find_tasks(document, TASK, OTHER_FID)] == [OTHER_FID]
    assert find_tasks(document, TASK, "no-such-framework") == []


def test_an_unknown_id_or_a_task_without_agent_is_not_found():
    assert find_tasks({"tasks": [task_model("someone-else")]}, TASK) == []
    no_agent = task_model()
    del no_agent["slave_id"]
    assert find_tasks({"tasks": [no_agent]}, TASK) == []
    assert find_tasks({}, TASK) == []


def test_a_custom_executor_id_is_kept():
    [found] = find_tasks({"tasks": [task_model(executor_id="my-executor")]}, TASK)
    assert found.executor_id == "my-executor"


# ------------------------------------------------------------------------------------------------ agents


def test_the_agent_entry_is_found_by_id_and_its_pid_gives_the_address():
    document = {"slaves": [dict(AGENT_ENTRY, id="other"), AGENT_ENTRY], "recovered_slaves": []}
    entry = find_agent(document, AID)
    assert entry is AGENT_ENTRY
    assert agent_base_url(entry) == "http://10.0.0.5:5051"
    assert agent_base_url(entry, scheme="https") == "https://10.0.0.5:5051"
    assert find_agent(document, "gone") is None


@pytest.mark.parametrize("entry, expected", [
    ({"id": AID, "hostname": "agent1.example", "port": 5051}, "http://agent1.example:5051"),
    ({"id": AID, "pid": "garbage", "hostname": "agent1.example", "port": 5052}, "http://agent1.example:5052"),
    ({"id": AID, "pid": "slave(1)@[fd00::5]:5051"}, "http://[fd00::5]:5051"),
    ({"id": AID, "hostname": "fd00::5", "port": 5051}, "http://[fd00::5]:5051"),
])
def test_agent_address_falls_back_to_hostname_and_port(entry, expected):
    assert agent_base_url(entry) == expected


def test_an_agent_entry_without_address_is_explained():
    with pytest.raises(ValueError, match=AID):
        agent_base_url({"id": AID, "hostname": "h", "port": True})


# ------------------------------------------------------------------------------------------------ sandbox


LOCATION = TaskLocation(task_id=TASK, framework_id=FID, agent_id=AID, executor_id=TASK, state="TASK_RUNNING",
                        last_update=2.0)


def test_the_sandbox_of_a_running_executor_is_found():
    assert find_sandbox(agent_state([executor_model()]), LOCATION) == SANDBOX


def test_the_sandbox_of_a_completed_executor_of_a_completed_framework_is_found():
    state = agent_state(completed_executors=[executor_model(live=False)], completed_framework=True)
    assert find_sandbox(state, LOCATION) == SANDBOX


def test_a_reused_executor_id_gives_the_live_run_else_the_last_completed_one():
    old = executor_model(directory="/old", live=False)
    new = executor_model(directory="/new", live=False)
    assert find_sandbox(agent_state(completed_executors=[old, new]), LOCATION) == "/new"
    live = executor_model(directory="/live")
    assert find_sandbox(agent_state([live], completed_executors=[old, new]), LOCATION) == "/live"


def test_a_custom_executor_is_found_through_the_tasks_it_lists():
    custom = executor_model(directory="/custom", executor_id="shared-executor")
    location = TaskLocation(TASK, FID, AID, "unknown-executor-id", "TASK_RUNNING", 2.0)
    assert find_sandbox(agent_state([custom]), location) == "/custom"


def test_no_sandbox_for_another_framework_or_an_empty_agent():
    other = TaskLocation(TASK, OTHER_FID, AID, TASK, "TASK_RUNNING", 2.0)
    assert find_sandbox(agent_state([executor_model()]), other) is None
    assert find_sandbox(agent_state(), LOCATION) is None
    assert find_sandbox({}, LOCATION) is None


# ------------------------------------------------------------------------------------------------ tail, bytes


def test_small_files_are_read_whole_and_large_ones_from_one_byte_before_the_window():
    assert tail_start(0, 100) == 0
    assert tail_start(100, 100) == 0
    assert tail_start(101, 100) == 0  # one byte before the 100-byte window is offset 0
    assert tail_start(1000, 100) == 899


def test_the_tail_starts_at_a_line_boundary():
    text = b"first line\nsecond line\nthird\n"
    start = tail_start(len(text), 15)  # the last 15 bytes are "ond line\nthird\n": a partial line, then one
    kept = keep_tail(text[start:], start)
    assert kept == b"third\n"
    assert len(kept) <= 15


def test_a_window_that_starts_exactly_on_a_line_keeps_that_line():
    text = b"aaaa\nbbbb\ncccc\n"
    start = tail_start(len(text), 10)  # window "bbbb\ncccc\n"; the byte before it is the newline
    assert keep_tail(text[start:], start) == b"bbbb\ncccc\n"


def test_one_long_line_is_kept_rather_than_dropped():
    text = b"x" * 50
    start = tail_start(len(text), 10)
    assert keep_tail(text[start:], start) == b"x" * 10


def test_file_bytes_recovers_raw_bytes_from_the_json_string():
    raw = "naïve ✓\n".encode() + b"\xff\xfe"  # not all of it UTF-8
    body = json.dumps({"data": raw.decode("utf-8", "surrogateescape"), "offset": 0}, ensure_ascii=False)
    decoded = json.loads(body.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape"))
    assert file_bytes(decoded["data"]) == raw
    assert file_bytes("\ud800") == b"?"
    with pytest.raises(ValueError, match="int"):
        file_bytes(5)


def test_describe_says_when_only_the_tail_is_shown():
    assert SandboxFile("stdout", 12, b"x" * 12).describe(100) == "stdout: 12 bytes"
    tail = SandboxFile("stdout", 5000, b"y" * 90, start=4899).describe(100)
    assert "last 90 of 5000 bytes" in tail and "line boundary" in tail and "100" in tail


# ------------------------------------------------------------------------------------------------ rendering


STDOUT_JSON = (
    '{"timestamp":"2026-12-01T16:28:32.997834Z","level":"info","event":"Executing workload","logger":"airflow"}\n'
    '{"timestamp":"2026-12-01T16:28:34.000000Z","level":"warning","event":"hello world","logger":"task"}\n'
    '{"timestamp":"2026-12-01T16:28:33.500000Z","level":"info","event":"Task started","logger":"task"}\n'
)
STDERR_TEXT = "Starting task t1\n2026-12-01 bogus first word\nairflow-mesos worker: bad workload\n"


def test_stderr_comes_first_as_a_folded_json_block_and_stdout_as_it_is():
    stderr, stdout = render_logs(STDOUT_JSON.encode(), STDERR_TEXT.encode())
    assert stdout == STDOUT_JSON
    lines = [json.loads(line) for line in stderr.split("\n")]
    assert lines[0]["event"].startswith("::group::") and lines[-1] == {"event": "::endgroup::"}
    assert [line["event"] for line in lines[1:-1]] == STDERR_TEXT.splitlines()
    assert all(line["logger"] == STDERR_LOGGER for line in lines[1:-1])


def test_stderr_alone_is_not_folded():
    [stderr] = render_logs(b"", b"airflow-mesos worker: bad workload\n")
    assert [json.loads(line) for line in stderr.split("\n")] == [
        {"event": "airflow-mesos worker: bad workload", "logger": STDERR_LOGGER}]


def test_empty_files_give_no_entries_and_bad_bytes_are_replaced():
    assert render_logs(b"", b"") == []
    assert render_logs(None, None) == []
    assert render_logs(b"ok \xff\n", None) == ["ok \ufffd\n"]


def airflow_parses(logs: list[str]) -> list:
    """What the api-server's FileTaskHandler._read does with get_task_log's logs (airflow 3.3.2)."""
    from airflow.utils.log.file_task_handler import _get_compatible_log_stream, _interleave_logs

    return list(_interleave_logs(_get_compatible_log_stream(logs)))


def test_airflow_parses_stdout_into_structured_messages_after_the_whole_stderr_group():
    parsed = airflow_parses(render_logs(STDOUT_JSON.encode(), STDERR_TEXT.encode()))
    events = [m.event for m in parsed]
    # stderr first, whole, in its order, and no timestamp was guessed from a line's first word.
    assert events[0].startswith("::group::Mesos sandbox stderr")
    assert events[1:4] == STDERR_TEXT.splitlines()
    assert events[4] == "::endgroup::"
    assert all(m.timestamp is None for m in parsed[:5])
    assert parsed[1].model_extra["logger"] == STDERR_LOGGER
    # stdout lines are structured (level and logger survive) and ordered by their timestamps.
    assert events[5:] == ["Executing workload", "Task started", "hello world"]
    assert parsed[-1].model_extra["level"] == "warning" and parsed[-1].timestamp.year == 2026


def test_airflow_keeps_repeated_stderr_lines_and_plain_stdout_lines():
    parsed = airflow_parses(render_logs(b"plain print\n", b"Starting task t1\nline\nline\nCommand exited with status 2\n"))
    events = [m.event for m in parsed]
    assert events[1:-2] == ["Starting task t1", "line", "line", "Command exited with status 2"]
    assert events[-1] == "plain print"


# ------------------------------------------------------------------------------------------------ the edge


class FakeMesos:
    """A leader, a standby and one agent behind an httpx.MockTransport, serving the shapes above.

    ``/files/read`` follows Mesos: ``offset=-1`` gives the size, reads are capped at 64 KiB, and the data is the
    file's raw bytes inside the JSON string.
    """

    LEADER = "http://10.0.0.1:5050"
    STANDBY = "http://10.0.0.2:5050"
    AGENT = "http://10.0.0.5:5051"

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.tasks = [task_model()]
        self.agents = [AGENT_ENTRY]
        self.state = agent_state([executor_model()])
        self.requests: list[httpx.Request] = []
        self.down: set[str] = set()
        self.status: dict[tuple[str, str], int] = {}

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        base = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        path = request.url.path
        query = dict(parse_qsl(urlsplit(str(request.url)).query))
        if base in self.down:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        if (base, path) in self.status:
            return httpx.Response(self.status[(base, path)], text="No leader elected")
        if base == self.STANDBY:
            return httpx.Response(307, headers={"Location": f"//10.0.0.1:5050{request.url.raw_path.decode()}"})
        if base == self.LEADER and path == "/master/tasks":
            tasks = [t for t in self.tasks if query.get("task_id") in (None, t["id"])
                     and query.get("framework_id") in (None, t["framework_id"])]
            return httpx.Response(200, json={"tasks": tasks})
        if base == self.LEADER and path == "/master/slaves":
            return httpx.Response(200, json={"slaves": [a for a in self.agents if a["id"] == query.get("slave_id")],
                                             "recovered_slaves": []})
        if base == self.AGENT and path == "/state":
            return httpx.Response(200, json=self.state)
        if base == self.AGENT and path == "/files/read":
            name = query["path"]
            if name not in self.files:
                return httpx.Response(404)
            data = self.files[name]
            offset = int(query.get("offset", -1))
            if offset == -1:
                return httpx.Response(200, json={"data": "", "offset": len(data)})
            length = int(query.get("length", len(data)))
            chunk = data[offset:offset + min(length, 65536)]
            body = '{"data":' + json.dumps(chunk.decode("utf-8", "surrogateescape"), ensure_ascii=False) + \
                   f',"offset":{offset}}}'
            return httpx.Response(200, content=body.encode("utf-8", "surrogateescape"),
                                  headers={"Content-Type": "application/json"})
        return httpx.Response(404)


def stdout_path() -> str:
    return f"{SANDBOX}/stdout"


def stderr_path() -> str:
    return f"{SANDBOX}/stderr"


def test_logs_are_read_through_a_standby_master_with_credentials_on_every_request():
    fake = FakeMesos({stdout_path(): STDOUT_JSON.encode(), stderr_path(): STDERR_TEXT.encode()})
    messages, logs = read_task_logs(f"{fake.STANDBY},{fake.LEADER}", TASK, principal="airflow", secret=SECRET,
                                    client=fake.client())
    assert logs == render_logs(STDOUT_JSON.encode(), STDERR_TEXT.encode())
    assert logs[1] == STDOUT_JSON
    assert f"on agent {AID} at {fake.AGENT}, found through the master at {fake.LEADER}" in messages[0]
    assert messages[1:] == [f"stdout: {len(STDOUT_JSON)} bytes", f"stderr: {len(STDERR_TEXT)} bytes"]
    hosts = [r.url.host for r in fake.requests]
    assert hosts[:2] == ["10.0.0.2", "10.0.0.1"]  # redirected, then stayed with the leader
    expected = "Basic " + base64.b64encode(f"airflow:{SECRET}".encode()).decode()
    assert all(r.headers["Authorization"] == expected for r in fake.requests)
    assert not any(SECRET in m for m in messages)


def test_a_large_stdout_is_read_in_chunks_and_only_its_tail_from_a_line_boundary_is_kept():
    lines = [json.dumps({"timestamp": "2026-12-01T16:28:32Z", "level": "info", "event": f"line {i} é✓"},
                        ensure_ascii=False) for i in range(20000)]
    stdout = ("\n".join(lines) + "\n").encode()
    max_bytes = 3 * READ_CHUNK + 123  # several reads, whose boundaries fall inside multi-byte characters
    fake = FakeMesos({stdout_path(): stdout, stderr_path(): b""})
    messages, logs = read_task_logs(fake.LEADER, TASK, max_bytes=max_bytes, client=fake.client())
    [shown] = logs
    assert stdout.decode().endswith(shown)
    assert shown.split("\n")[0] in lines  # starts with a whole line
    assert len(shown.encode()) <= max_bytes
    assert len(shown.encode()) > max_bytes - max(len(line.encode()) for line in lines) - 1  # no more dropped
    assert "\ufffd" not in shown
    reads = [r for r in fake.requests if r.url.path == "/files/read" and r.url.params.get("path") == stdout_path()]
    assert all(int(r.url.params.get("length", 0)) <= READ_CHUNK for r in reads)
    assert f"stdout: the last {len(shown.encode())} of {len(stdout)} bytes" in messages[1]
    assert messages[2] == "stderr: 0 bytes"


def test_a_503_master_is_skipped_for_the_next_one():
    fake = FakeMesos({stdout_path(): b"out\n", stderr_path(): b""})
    fake.status[("http://10.0.0.3:5050", "/master/tasks")] = 503
    messages, logs = read_task_logs("http://10.0.0.3:5050,http://10.0.0.1:5050", TASK, client=fake.client())
    assert logs == ["out\n"]


def test_unreachable_masters_are_named():
    fake = FakeMesos({})
    fake.down = {fake.LEADER, fake.STANDBY}
    messages, logs = read_task_logs([fake.STANDBY, fake.LEADER], TASK, secret=SECRET, principal="p",
                                    client=fake.client())
    assert logs == []
    [message] = messages
    assert TASK in message and fake.STANDBY in message and fake.LEADER in message and "ConnectError" in message
    assert SECRET not in message


def test_an_unknown_task_names_the_task_the_master_and_the_framework():
    fake = FakeMesos({})
    messages, logs = read_task_logs(fake.LEADER, "never-launched", framework_id=FID, client=fake.client())
    assert logs == []
    [message] = messages
    assert "never-launched" in message and fake.LEADER in message and FID in message


def test_an_agent_the_master_no_longer_has_is_named():
    fake = FakeMesos({})
    fake.agents = []
    messages, logs = read_task_logs(fake.LEADER, TASK, client=fake.client())
    assert logs == [] and AID in messages[-1] and "not registered" in messages[-1] and TASK in messages[-1]


def test_an_unreachable_agent_is_named():
    fake = FakeMesos({})
    fake.down = {fake.AGENT}
    messages, logs = read_task_logs(fake.LEADER, TASK, client=fake.client())
    assert logs == []
    assert f"agent {AID} at {fake.AGENT}" in messages[-1] and TASK in messages[-1]


def test_a_sandbox_the_agent_no_longer_has_is_explained():
    fake = FakeMesos({})
    fake.state = agent_state()
    messages, logs = read_task_logs(fake.LEADER, TASK, client=fake.client())
    assert logs == [] and "has no sandbox" in messages[-1] and AID in messages[-1]
    fake.state = agent_state([executor_model()])  # listed, but its files were garbage-collected
    messages, logs = read_task_logs(fake.LEADER, TASK, client=fake.client())
    assert logs == [] and "no stdout or stderr" in messages[-1] and SANDBOX in messages[-1]


def test_one_missing_file_still_shows_the_other():
    fake = FakeMesos({stderr_path(): b"Starting task\n"})
    messages, logs = read_task_logs(fake.LEADER, TASK, client=fake.client())
    assert "stdout: not in the sandbox" in messages
    assert len(logs) == 1 and "Starting task" in logs[0]


def test_401_says_what_to_do_without_showing_the_secret():
    fake = FakeMesos({})
    fake.status[(fake.LEADER, "/master/tasks")] = 401
    [message], logs = read_task_logs(fake.LEADER, TASK, client=fake.client())
    assert "HTTP 401" in message and "principal and secret" in message and logs == []
    [message], logs = read_task_logs(fake.LEADER, TASK, principal="airflow", secret=SECRET, client=fake.client())
    assert "'airflow'" in message and "refused" in message and SECRET not in message


def test_an_unusable_master_address_is_a_message():
    [message], logs = read_task_logs("ftp://m1:5050", TASK)
    assert "unusable" in message and "scheme" in message and logs == []
    [message], logs = read_task_logs(None, TASK)
    assert "No Mesos master address" in message and logs == []
    [message], logs = read_task_logs("http://m1:5050", "")
    assert "external_executor_id" in message and logs == []


def test_max_bytes_must_be_positive():
    with pytest.raises(ValueError, match="max_bytes"):
        read_task_logs("http://m1:5050", TASK, max_bytes=0)


def test_documents_with_surprising_shapes_are_messages_not_exceptions():
    fake = FakeMesos({})
    fake.tasks = [copy.deepcopy(task_model())]
    fake.state = {"frameworks": "not a list"}
    messages, logs = read_task_logs(fake.LEADER, TASK, client=fake.client())
    assert logs == [] and TASK in messages[-1]
