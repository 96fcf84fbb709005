"""The warm executor's edge as a real process: HTTP to an agent's executor API, the fork server, tasks.

The agent here is a small double of ``/api/v1/executor`` alone (it checks the
content types, streams RecordIO events and acknowledges every UPDATE), so what
is tested is our side of the wire: the SUBSCRIBE body and headers, the UPDATE
calls and their uuids, and the processes.  The executor is ``python -m
airflow_mesos.warm`` as an agent starts it; its tasks run
``tests.integration.warm_entries:probe`` in place of ``execute_workload`` (no
Execution API here), forked from the fork server that imported Airflow's worker.
The tests with the embedded cluster's agent are in ``test_warm_cluster.py``.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from airflow_mesos.mesos.recordio import encode
from airflow_mesos.warm.payload import TaskPayload, encode_task_data

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TOKEN = "tok-" + "s3cr3t" * 8
FW, EX = "fw-warm", "ex-warm"


class AgentDouble:
    """``POST /api/v1/executor`` only: SUBSCRIBE streams what :meth:`send` queues; UPDATEs are recorded."""

    def __init__(self, *, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.calls: list[dict] = []
        self.headers: list[dict] = []
        self.updates: "queue.Queue[dict]" = queue.Queue()
        self.subscribes: "queue.Queue[dict]" = queue.Queue()
        self._streams: list[queue.Queue] = []
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/api/v1/executor":
                    return self._answer(404, b"")
                if self.headers.get("Content-Type") != "application/json":
                    return self._answer(415, b"Expecting 'Content-Type' of application/json")
                call = json.loads(body)
                with double._lock:
                    double.calls.append(call)
                    double.headers.append(dict(self.headers))
                if call["type"] == "SUBSCRIBE":
                    return self._stream(call)
                if call["type"] == "UPDATE":
                    double.updates.put(call)
                    if double.auto_ack:
                        status = call["update"]["status"]
                        double.send({"type": "ACKNOWLEDGED", "acknowledged": {
                            "task_id": status["task_id"], "uuid": status["uuid"]}})
                self._answer(202, b"")

            def _answer(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, call: dict) -> None:
                events: queue.Queue = queue.Queue()
                with double._lock:
                    double._streams.append(events)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                double.subscribes.put(call)
                events.put({"type": "SUBSCRIBED", "subscribed": {
                    "executor_info": {"executor_id": {"value": EX}},
                    "framework_info": {"id": {"value": FW}, "user": "u", "name": "n",
                                       "capabilities": [{"type": "TASK_KILLING_STATE"}]},
                    "agent_info": {"hostname": "double"}, "container_id": {"value": "c1"}}})
                try:
                    while True:
                        event = events.get()
                        if event is None:
                            break
                        record = encode(json.dumps(event).encode())
                        self.wfile.write(f"{len(record):x}\r\n".encode() + record + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"127.0.0.1:{self.server.server_address[1]}"

    def send(self, event: dict) -> None:
        with self._lock:
            streams = list(self._streams)
        if streams:
            streams[-1].put(event)

    def close_stream(self) -> None:
        with self._lock:
            streams, self._streams = self._streams, []
        for events in streams:
            events.put(None)

    def launch(self, task_id: str, behaviour: str, *, data: str | None = None, kill_grace: float | None = None,
               environment: dict | None = None) -> None:
        workload = json.dumps({"type": "ExecuteTask", "ti": {"id": task_id, "task_id": behaviour}})
        task = {"task_id": {"value": task_id}, "name": task_id, "agent_id": {"value": "a1"},
                "data": data if data is not None else encode_task_data(
                    TaskPayload(workload, TOKEN, environment or {"WARM_TEST_MARKER": task_id}))}
        if kill_grace is not None:
            task["kill_policy"] = {"grace_period": {"nanoseconds": int(kill_grace * 1e9)}}
        self.send({"type": "LAUNCH", "launch": {"task": task}})

    def wait_update(self, task_id: str, state: str, timeout: float = 60.0) -> dict:
        """The first UPDATE of ``task_id`` in ``state`` (earlier ones of other tasks are kept)."""
        deadline = time.monotonic() + timeout
        seen = []
        try:
            while time.monotonic() < deadline:
                try:
                    call = self.updates.get(timeout=0.2)
                except queue.Empty:
                    continue
                status = call["update"]["status"]
                if status["task_id"]["value"] == task_id and status["state"] == state:
                    return status
                seen.append(call)
            raise AssertionError(f"no {state} for {task_id} within {timeout} s; saw "
                                 f"{[(c['update']['status']['task_id']['value'], c['update']['status']['state']) for c in seen]}")
        finally:
            for call in seen:
                self.updates.put(call)

    def close(self) -> None:
        self.close_stream()
        self.server.shutdown()
        self.server.server_close()


def start_executor(agent: AgentDouble, sandbox: Path, *, idle_timeout: float = 300.0, entry: str | None =
                   "tests.integration.warm_entries:probe", extra_env: dict | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MESOS_", "AIRFLOW_MESOS_"))}
    env.update({
        "MESOS_FRAMEWORK_ID": FW, "MESOS_EXECUTOR_ID": EX, "MESOS_AGENT_ENDPOINT": agent.endpoint,
        "MESOS_SANDBOX": str(sandbox), "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "5secs",
        "AIRFLOW_MESOS_WARM_IDLE_TIMEOUT": str(idle_timeout), "PYTHONPATH": str(REPO),
    })
    if entry:
        env["AIRFLOW_MESOS_WARM_TASK_ENTRY"] = entry
    env.update(extra_env or {})
    out = open(sandbox / "stdout", "ab")
    err = open(sandbox / "stderr", "ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "airflow_mesos.warm"], cwd=sandbox, env=env,
                                stdout=out, stderr=err, start_new_session=True)
    finally:
        out.close()
        err.close()


def probe_report(sandbox: Path, task_id: str, timeout: float = 60.0) -> dict:
    path = sandbox / "tasks" / task_id / "stdout"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            for line in path.read_text().splitlines():
                if line.startswith("{") and '"pid"' in line:
                    return json.loads(line)
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} printed no report to {path}")


def launch_running(agent: AgentDouble, sandbox: Path, task_id: str, behaviour: str, **launch_options) -> dict:
    """Launch a task, wait for its TASK_RUNNING and return the report its probe printed (pid, ppid ...)."""
    agent.launch(task_id, behaviour, **launch_options)
    agent.wait_update(task_id, "TASK_RUNNING")
    return probe_report(sandbox, task_id)


def grandchild_pid(sandbox: Path, task_id: str, timeout: float = 30.0) -> int:
    """The pid of the process a ``child_sleep`` task started in its process group, once the task printed it."""
    path = sandbox / "tasks" / task_id / "stdout"
    deadline = time.monotonic() + timeout
    while '"grandchild"' not in path.read_text():
        assert time.monotonic() < deadline, f"task {task_id} printed no grandchild to {path}"
        time.sleep(0.05)
    return json.loads(path.read_text().splitlines()[-1])["grandchild"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().split(")")[-1].split()[0] != "Z"


def wait_gone(pid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.05)
    raise AssertionError(f"process {pid} still runs after {timeout} s")


@pytest.fixture
def agent():
    double = AgentDouble()
    yield double
    double.close()


@pytest.fixture
def executor_of(agent, tmp_path):
    started: list[subprocess.Popen] = []

    def start(**kwargs) -> subprocess.Popen:
        process = start_executor(agent, tmp_path, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_subscribe_is_json_with_the_ids_and_nothing_unacknowledged(agent, executor_of):
    executor_of()
    call = agent.subscribes.get(timeout=30)
    assert call == {"type": "SUBSCRIBE", "framework_id": {"value": FW}, "executor_id": {"value": EX},
                    "subscribe": {"unacknowledged_tasks": [], "unacknowledged_updates": []}}
    assert agent.headers[0]["Accept"] == "application/json"


def test_tasks_share_the_executor_and_run_from_the_preimported_fork_server(agent, executor_of, tmp_path):
    executor = executor_of()
    agent.subscribes.get(timeout=30)
    agent.launch("t1", "exit_0")
    agent.launch("t2", "exit_3")
    for task_id in ("t1", "t2"):
        agent.wait_update(task_id, "TASK_STARTING")
        agent.wait_update(task_id, "TASK_RUNNING")
    assert agent.wait_update("t1", "TASK_FINISHED")["message"] == "Command exited with status 0"
    assert agent.wait_update("t2", "TASK_FAILED")["message"] == "Command exited with status 3"
    reports = {task_id: probe_report(tmp_path, task_id) for task_id in ("t1", "t2")}
    assert reports["t1"]["ppid"] == reports["t2"]["ppid"] != executor.pid  # one fork server for both
    for task_id, report in reports.items():
        assert report["preimported"] is True
        assert report["pgid"] == report["pid"] == report["sid"]  # its own session and process group
        assert report["cwd"] == str(tmp_path / "tasks" / task_id)
        assert report["marker"] == task_id and report["mesos_task_id"] == task_id
        assert report["has_token"] and not report["token_in_environ"] and not report["token_in_cmdline"]
        stderr = (tmp_path / "tasks" / task_id / "stderr").read_text().splitlines()
        assert stderr[0] == f"Starting task {task_id}"
    assert (tmp_path / "tasks" / "t2" / "stderr").read_text().splitlines()[-1] == "Command exited with status 3"
    uuids = [c["update"]["status"]["uuid"] for c in agent.calls if c["type"] == "UPDATE"]
    assert len(uuids) == len(set(uuids)) == 6
    executor_log = (tmp_path / "stderr").read_text() + (tmp_path / "stdout").read_text()
    assert TOKEN not in executor_log and "eyJ" not in executor_log


def test_a_killed_task_is_killed_while_another_runs_on(agent, executor_of, tmp_path):
    executor_of()
    agent.subscribes.get(timeout=30)
    agent.launch("victim", "child_sleep")
    agent.launch("other", "sleep")
    agent.wait_update("victim", "TASK_RUNNING")
    agent.wait_update("other", "TASK_RUNNING")
    victim = probe_report(tmp_path, "victim")
    grandchild = grandchild_pid(tmp_path, "victim")
    agent.send({"type": "KILL", "kill": {"task_id": {"value": "victim"}}})
    agent.wait_update("victim", "TASK_KILLING")
    status = agent.wait_update("victim", "TASK_KILLED")
    assert status["message"] == "Command terminated with signal Terminated"
    wait_gone(victim["pid"])
    wait_gone(grandchild)  # the whole process group
    other = probe_report(tmp_path, "other")
    assert alive(other["pid"])
    agent.launch("after", "exit_0")
    agent.wait_update("after", "TASK_FINISHED")


def test_kill_escalates_to_sigkill_after_the_grace(agent, executor_of, tmp_path):
    executor_of()
    agent.subscribes.get(timeout=30)
    launch_running(agent, tmp_path, "stubborn", "ignore_term", kill_grace=1.0)
    started = time.monotonic()
    agent.send({"type": "KILL", "kill": {"task_id": {"value": "stubborn"}}})
    status = agent.wait_update("stubborn", "TASK_KILLED")
    assert time.monotonic() - started >= 1.0
    assert status["message"] == "Command terminated with signal Killed"
    assert "got SIGTERM" in (tmp_path / "tasks" / "stubborn" / "stdout").read_text()


def test_a_bad_payload_fails_that_task_only(agent, executor_of, tmp_path):
    executor_of()
    agent.subscribes.get(timeout=30)
    agent.launch("bad", "exit_0", data="bm90IGpzb24=")  # base64 of "not json"
    agent.launch("good", "exit_0")
    status = agent.wait_update("bad", "TASK_FAILED")
    assert status["message"] == "Failed to launch task: task.data is not JSON"
    agent.wait_update("good", "TASK_FINISHED")
    assert (tmp_path / "tasks" / "bad" / "stderr").read_text().strip() == status["message"]


def test_the_real_worker_path_fails_a_workload_it_cannot_read(agent, executor_of, tmp_path):
    executor_of(entry=None)  # the production entry: airflow_mesos.worker.run_workload_json
    agent.subscribes.get(timeout=30)
    agent.launch("unreadable", "exit_0")  # not a valid ExecuteTask: no dag_rel_path, bundle_info ...
    status = agent.wait_update("unreadable", "TASK_FAILED", timeout=90)
    assert status["message"] == "Command exited with status 2"
    stderr = (tmp_path / "tasks" / "unreadable" / "stderr").read_text()
    assert "airflow-mesos worker: the workload is not valid" in stderr and TOKEN not in stderr


def test_an_idle_executor_exits_cleanly(agent, executor_of):
    executor = executor_of(idle_timeout=1.0)
    agent.subscribes.get(timeout=30)
    agent.launch("only", "exit_0")
    agent.wait_update("only", "TASK_FINISHED")
    assert executor.wait(timeout=30) == 0


def test_shutdown_kills_the_tasks_and_exits(agent, executor_of, tmp_path):
    executor = executor_of()
    agent.subscribes.get(timeout=30)
    report = launch_running(agent, tmp_path, "long", "sleep")
    agent.send({"type": "SHUTDOWN"})
    agent.wait_update("long", "TASK_KILLED")
    assert executor.wait(timeout=30) == 0
    wait_gone(report["pid"])


def test_killing_the_executor_process_kills_its_tasks(agent, executor_of, tmp_path):
    executor = executor_of()
    agent.subscribes.get(timeout=30)
    report = launch_running(agent, tmp_path, "orphan?", "child_sleep")
    os.kill(executor.pid, signal.SIGKILL)
    executor.wait()
    wait_gone(report["pid"])


def test_after_losing_a_checkpointing_agent_it_resubscribes_with_what_is_unacknowledged(executor_of, tmp_path):
    agent = AgentDouble(auto_ack=False)
    try:
        start_executor(agent, tmp_path, extra_env={"MESOS_CHECKPOINT": "1", "MESOS_RECOVERY_TIMEOUT": "1mins",
                                                   "MESOS_SUBSCRIPTION_BACKOFF_MAX": "100ms"})
        agent.subscribes.get(timeout=30)
        agent.launch("t1", "sleep")
        running = agent.wait_update("t1", "TASK_RUNNING")
        agent.close_stream()
        again = agent.subscribes.get(timeout=30)
        assert [t["task_id"]["value"] for t in again["subscribe"]["unacknowledged_tasks"]] == ["t1"]
        assert [u["status"]["state"] for u in again["subscribe"]["unacknowledged_updates"]] == [
            "TASK_STARTING", "TASK_RUNNING"]
        assert again["subscribe"]["unacknowledged_updates"][-1]["status"]["uuid"] == running["uuid"]
    finally:
        agent.close()


def test_a_fork_server_that_dies_fails_its_tasks_and_the_next_task_gets_a_new_one(agent, executor_of, tmp_path):
    executor_of()
    agent.subscribes.get(timeout=30)
    report = launch_running(agent, tmp_path, "doomed", "child_sleep")
    grandchild = grandchild_pid(tmp_path, "doomed")
    os.kill(report["ppid"], signal.SIGKILL)  # the fork server
    status = agent.wait_update("doomed", "TASK_FAILED")
    assert status["message"] == "Command terminated with signal Killed"
    wait_gone(report["pid"])
    wait_gone(grandchild)  # what the task started, too
    agent.launch("next", "exit_0")
    agent.wait_update("next", "TASK_FINISHED")
    assert probe_report(tmp_path, "next")["ppid"] != report["ppid"]


def test_what_a_finished_task_left_in_its_process_group_goes_with_it(agent, executor_of, tmp_path):
    executor_of(entry="tests.integration.warm_entries:leave_behind")
    agent.subscribes.get(timeout=30)
    agent.launch("messy", "exit_0")
    agent.wait_update("messy", "TASK_FINISHED")
    left = json.loads((tmp_path / "tasks" / "messy" / "stdout").read_text().splitlines()[0])["left_behind"]
    wait_gone(left)
