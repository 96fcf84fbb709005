"""A small custom executor for the embedded agent's conformance tests, written from executor.proto.

Launched by the agent as a host process (or in a container) with the agent's MESOS_* environment; it speaks
the v1 executor HTTP API and does what its TaskInfos' ``data`` (base64 JSON) asks, so a test can drive it:

- ``{"run": seconds}``: TASK_RUNNING, then TASK_FINISHED after that long (a KILL ends it as TASK_KILLED);
- ``{"fail": true}``: TASK_RUNNING, then TASK_FAILED;
- ``{"stay": true}``: TASK_RUNNING and no more (until a KILL or SHUTDOWN);
- ``{"exit": code}``: the executor itself exits with that code once the task is RUNNING.

Its ExecutorInfo's environment sets its manner: ``CONFORMANCE_MODE`` is ``normal``, ``never_subscribe``
(sleeps without subscribing), ``subscribe_on_go`` (subscribes once a file ``go`` is in its sandbox), ``ignore_shutdown`` (SHUTDOWN is recorded, nothing else) or ``resubscribe``
(after its first UPDATE it ignores the ACKNOWLEDGED, drops the connection and SUBSCRIBEs again with its
unacknowledged task and update).  Every event it gets and its MESOS_* environment go to files in its sandbox
(``events.jsonl``, ``environment.json``); each task writes ``tasks/<task_id>/stdout``.  A MESSAGE is answered
with a MESSAGE of ``echo:`` + its data.  Never prints a TaskInfo's data.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

from airflow_mesos.mesos.recordio import RecordIODecoder

AGENT = os.environ["MESOS_AGENT_ENDPOINT"]
FRAMEWORK_ID = os.environ["MESOS_FRAMEWORK_ID"]
EXECUTOR_ID = os.environ["MESOS_EXECUTOR_ID"]
SANDBOX = Path(os.environ["MESOS_SANDBOX"])
MODE = os.environ.get("CONFORMANCE_MODE", "normal")
URL = f"http://{AGENT}/api/v1/executor"
IDS = {"framework_id": {"value": FRAMEWORK_ID}, "executor_id": {"value": EXECUTOR_ID}}

lock = threading.Lock()
tasks: dict[str, dict] = {}            # task id -> TaskInfo, not yet acknowledged as terminal
unacked: dict[str, dict] = {}          # uuid -> Update, sent and not acknowledged
finished: set[str] = set()
client = httpx.Client(timeout=10)


def record(kind: str, **fields) -> None:
    with lock, open(SANDBOX / "events.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"event": kind, **fields}) + "\n")


def call(body: dict) -> None:
    response = client.post(URL, json={**IDS, **body}, headers={"Accept": "application/json"})
    if response.status_code != 202:
        record("call_refused", type=body["type"], status=response.status_code, body=response.text)


def update(task_id: str, state: str, message: str | None = None) -> None:
    status = {"task_id": {"value": task_id}, "state": state, "source": "SOURCE_EXECUTOR",
              "uuid": base64.b64encode(uuid.uuid4().bytes).decode(), "executor_id": {"value": EXECUTOR_ID},
              "timestamp": time.time()}
    if message:
        status["message"] = message
    with lock:
        unacked[status["uuid"]] = {"status": status}
        if state in ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED"):
            finished.add(task_id)
    call({"type": "UPDATE", "update": {"status": status}})


def run_task(task: dict, kill: threading.Event) -> None:
    task_id = task["task_id"]["value"]
    spec = json.loads(base64.b64decode(task.get("data", "") or base64.b64encode(b"{}")) or b"{}")
    directory = SANDBOX / "tasks" / task_id
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "stdout").write_text(f"task {task_id} ran in executor {EXECUTOR_ID}\n")
    update(task_id, "TASK_RUNNING")
    if "exit" in spec:
        time.sleep(0.2)
        os._exit(int(spec["exit"]))
    if spec.get("fail"):
        update(task_id, "TASK_FAILED", "asked to fail")
        return
    if spec.get("stay"):
        kill.wait()
        update(task_id, "TASK_KILLED", "killed")
        return
    if kill.wait(float(spec.get("run", 0))):
        update(task_id, "TASK_KILLED", "killed")
    else:
        update(task_id, "TASK_FINISHED", "done")


kills: dict[str, threading.Event] = {}


def subscribe_once(resubscribing: bool) -> str:
    """One SUBSCRIBE connection: handle its events until it ends; returns why it ended."""
    with lock:
        body = {"type": "SUBSCRIBE", "subscribe": {"unacknowledged_tasks": list(tasks.values()),
                                                   "unacknowledged_updates": list(unacked.values())}}
    dropped_once = False
    with client.stream("POST", URL, json={**IDS, **body}, timeout=None,
                       headers={"Accept": "application/json"}) as response:
        record("subscribe_response", status=response.status_code, resubscribing=resubscribing,
               content_type=response.headers.get("content-type"))
        if response.status_code != 200:
            return "refused"
        decoder = RecordIODecoder()
        for chunk in response.iter_raw():
            for raw in decoder.feed(chunk):
                event = json.loads(raw)
                kind = event["type"]
                if kind == "SUBSCRIBED":
                    sub = event["subscribed"]
                    record("SUBSCRIBED", executor_id=sub["executor_info"]["executor_id"]["value"],
                           framework_id=sub["framework_info"]["id"]["value"],
                           agent_id=sub["agent_info"]["id"]["value"], container_id=sub["container_id"]["value"])
                elif kind == "LAUNCH":
                    task = event["launch"]["task"]
                    task_id = task["task_id"]["value"]
                    record("LAUNCH", task_id=task_id, has_data="data" in task)
                    with lock:
                        tasks[task_id] = task
                    kills[task_id] = threading.Event()
                    threading.Thread(target=run_task, args=(task, kills[task_id]), daemon=True).start()
                elif kind == "KILL":
                    task_id = event["kill"]["task_id"]["value"]
                    record("KILL", task_id=task_id, kill_policy=event["kill"].get("kill_policy"))
                    if task_id in kills:
                        kills[task_id].set()
                elif kind == "ACKNOWLEDGED":
                    ack = event["acknowledged"]
                    record("ACKNOWLEDGED", task_id=ack["task_id"]["value"], uuid=ack["uuid"])
                    if MODE == "resubscribe" and not resubscribing and not dropped_once:
                        dropped_once = True
                        return "drop"   # pretend the ACK never came: reconnect and resend
                    with lock:
                        unacked.pop(ack["uuid"], None)
                        if ack["task_id"]["value"] in finished:
                            tasks.pop(ack["task_id"]["value"], None)
                elif kind == "MESSAGE":
                    data = base64.b64decode(event["message"]["data"])
                    record("MESSAGE", data=data.decode())
                    call({"type": "MESSAGE", "message": {"data": base64.b64encode(b"echo:" + data).decode()}})
                elif kind == "SHUTDOWN":
                    record("SHUTDOWN")
                    if MODE != "ignore_shutdown":
                        for task_id, event_ in list(kills.items()):
                            if task_id not in finished:
                                event_.set()
                        time.sleep(0.5)
                        return "shutdown"
                elif kind == "HEARTBEAT":
                    record("HEARTBEAT")
                elif kind == "ERROR":
                    record("ERROR", message=event["error"]["message"])
                else:
                    record(kind)
    return "ended"


def main() -> int:
    env = {k: v for k, v in os.environ.items() if k.startswith(("MESOS_", "LIBPROCESS_", "CONFORMANCE_"))}
    (SANDBOX / "environment.json").write_text(json.dumps(env, sort_keys=True))
    if MODE == "never_subscribe":
        time.sleep(3600)
        return 0
    if MODE == "subscribe_on_go":
        # Subscribes once the test creates the file "go" in the sandbox (it does what it must before).
        while not (SANDBOX / "go").exists():
            time.sleep(0.05)
    resubscribing = False
    while True:
        why = subscribe_once(resubscribing)
        record("stream_ended", why=why)
        if why == "drop":
            resubscribing = True
            continue
        if why == "shutdown":
            return 0
        if MODE == "ignore_shutdown":
            time.sleep(3600)
        return 0


if __name__ == "__main__":
    sys.exit(main())
