"""The runtime loop with its seams filled: a scripted transport for the agent, a runner that runs nothing.

What is checked is the edge's own work: the calls it sends (body, headers), that an
UPDATE refused with 503 goes out again, that events of a replaced stream are
dropped, and that it exits when the core says so.
"""

from __future__ import annotations

import json
import queue
import threading

from airflow_mesos.mesos.errors import MesosConnectionError
from airflow_mesos.mesos.recordio import encode
from airflow_mesos.mesos.transport import Response
from airflow_mesos.warm.core import TaskExited, TaskStarted
from airflow_mesos.warm.payload import TaskPayload, encode_task_data
from airflow_mesos.warm.runtime import WarmExecutor
from airflow_mesos.warm.settings import settings_from_env

ENV = {"MESOS_FRAMEWORK_ID": "fw", "MESOS_EXECUTOR_ID": "ex", "MESOS_AGENT_ENDPOINT": "agent:5051",
       "MESOS_SANDBOX": "/nowhere", "AIRFLOW_MESOS_WARM_IDLE_TIMEOUT": "0",
       "MESOS_EXECUTOR_AUTHENTICATION_TOKEN": "agent-secret"}
SUBSCRIBED = {"type": "SUBSCRIBED", "subscribed": {"framework_info": {"capabilities": []},
                                                   "agent_info": {"hostname": "h"}}}


class Stream:
    def __init__(self, status: int = 200, body: bytes = b"") -> None:
        self.status, self.headers, self._body = status, {}, body
        self.records: queue.Queue = queue.Queue()
        self.closed = threading.Event()

    def iter_chunks(self):
        while True:
            record = self.records.get()
            if record is None or self.closed.is_set():
                return
            yield encode(json.dumps(record).encode())

    def read_error_body(self, limit: int = 4096) -> bytes:
        return self._body

    def close(self) -> None:
        self.closed.set()
        self.records.put(None)


class ScriptedAgent:
    """A Transport: SUBSCRIBEs get the next scripted stream; every UPDATE is acknowledged on the newest stream,
    except those ``refuse`` answers 503 to (once each)."""

    def __init__(self, streams: list[Stream], refuse: int = 0) -> None:
        self.streams = streams
        self.opened: list[Stream] = []
        self.calls: list[tuple[dict, dict]] = []
        self.refuse = refuse
        self.lock = threading.Lock()

    def subscribe(self, url, body, headers, timeout):
        with self.lock:
            self.calls.append((json.loads(body), dict(headers)))
            if not self.streams:
                raise MesosConnectionError("no more streams")
            stream = self.streams.pop(0)
            self.opened.append(stream)
        return stream

    def post(self, url, body, headers, timeout):
        call = json.loads(body)
        with self.lock:
            self.calls.append((call, dict(headers)))
            if call["type"] == "UPDATE" and self.refuse:
                self.refuse -= 1
                return Response(503, {}, b"Agent has not finished recovery")
            stream = self.opened[-1]
        if call["type"] == "UPDATE":
            status = call["update"]["status"]
            stream.records.put({"type": "ACKNOWLEDGED", "acknowledged": {"task_id": status["task_id"],
                                                                         "uuid": status["uuid"]}})
        return Response(202)

    def close(self) -> None:
        pass


class InstantRunner:
    """Every task starts and exits 0 at once."""

    def __init__(self, sandbox, environment, report) -> None:
        self.report, self.environment = report, environment
        self.started: list[str] = []

    def start_server(self) -> None:
        pass

    def start(self, task_id: str, payload: TaskPayload) -> None:
        self.started.append(task_id)
        self.report(TaskStarted(task_id, 1000 + len(self.started)))
        self.report(TaskExited(task_id, 0))

    def signal(self, task_id, sig) -> None:
        pass

    def release(self, task_id, line) -> None:
        pass

    def close(self) -> None:
        pass


def launch(task_id: str) -> dict:
    data = encode_task_data(TaskPayload('{"type": "ExecuteTask"}', "workload-token", {}))
    return {"type": "LAUNCH", "launch": {"task": {"task_id": {"value": task_id}, "data": data}}}


def run(agent: ScriptedAgent, env: dict = ENV) -> tuple[int, WarmExecutor]:
    executor = WarmExecutor(settings_from_env(env), {"PATH": "/bin"}, transport=agent, runner_factory=InstantRunner)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(executor.run()), daemon=True)
    thread.start()
    thread.join(30)
    assert not thread.is_alive(), "the executor did not exit"
    return result[0], executor


def test_a_task_runs_and_the_idle_executor_exits_with_the_calls_as_the_agent_wants_them(caplog):
    caplog.set_level("DEBUG")
    stream = Stream()
    stream.records.put(SUBSCRIBED)
    stream.records.put(launch("t1"))
    agent = ScriptedAgent([stream])
    code, executor = run(agent)
    assert code == 0 and executor.runner.started == ["t1"]
    (subscribe, subscribe_headers), *rest = agent.calls
    assert subscribe["type"] == "SUBSCRIBE"
    assert subscribe_headers == {"Content-Type": "application/json", "Accept": "application/json",
                                 "Authorization": "Bearer agent-secret"}
    states = [c["update"]["status"]["state"] for c, _ in rest if c["type"] == "UPDATE"]
    assert states == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    assert "workload-token" not in caplog.text and "agent-secret" not in caplog.text


def test_an_update_refused_with_503_goes_out_again_with_its_uuid():
    stream = Stream()
    stream.records.put(SUBSCRIBED)
    stream.records.put(launch("t1"))
    agent = ScriptedAgent([stream], refuse=1)
    code, _ = run(agent)
    updates = [c["update"]["status"] for c, _ in agent.calls if c["type"] == "UPDATE"]
    # Refused, then sent again with its uuid, and the task's later updates only after it.
    assert [u["state"] for u in updates] == ["TASK_STARTING", "TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"]
    assert updates[0]["uuid"] == updates[1]["uuid"] and code == 0


def test_a_lost_stream_without_checkpointing_ends_the_executor():
    stream = Stream()
    stream.records.put(SUBSCRIBED)
    stream.records.put(None)  # the agent closes the stream
    code, _ = run(ScriptedAgent([stream]), {**ENV, "AIRFLOW_MESOS_WARM_IDLE_TIMEOUT": "600"})
    assert code == 1


def test_a_checkpointing_executor_resubscribes_and_ignores_the_old_stream():
    first, second = Stream(), Stream()
    first.records.put(SUBSCRIBED)
    first.records.put(None)
    second.records.put(SUBSCRIBED)
    second.records.put(launch("after"))
    agent = ScriptedAgent([first, second])
    env = {**ENV, "MESOS_CHECKPOINT": "1", "MESOS_RECOVERY_TIMEOUT": "1mins", "MESOS_SUBSCRIPTION_BACKOFF_MAX": "0"}
    code, executor = run(agent, env)
    assert code == 0 and executor.runner.started == ["after"]
    assert [c["type"] for c, _ in agent.calls].count("SUBSCRIBE") == 2
