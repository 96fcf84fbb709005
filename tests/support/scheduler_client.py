"""A minimal Mesos v1 scheduler client for testing the embedded master.

Written against the protocol with http.client and our own RecordIO parsing, on
purpose independent of airflow_mesos.mesos, so the master stays an honest oracle.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from typing import Callable
from urllib.parse import urlsplit

import httpx


class RecordIOParser:
    """Incremental RecordIO decoder: feed bytes in any chunking, get complete records."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        records = []
        while True:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                return records
            size = int(self._buffer[:newline])
            if len(self._buffer) < newline + 1 + size:
                return records
            records.append(self._buffer[newline + 1:newline + 1 + size])
            self._buffer = self._buffer[newline + 1 + size:]


class RecordIOStream:
    """A streaming POST (a scheduler or operator SUBSCRIBE) whose RecordIO events a background thread collects.

    ``wait_for`` hands out each event at most once, so waiting twice for the same kind waits for a new one;
    ``events`` keeps all of them in arrival order.
    """

    def __init__(self, master_url: str, path: str, call: dict, headers: dict[str, str] | None = None) -> None:
        self.master_url = master_url
        parts = urlsplit(master_url)
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self._conn.request("POST", path, body=json.dumps(call),
                           headers={"Content-Type": "application/json", "Accept": "application/json",
                                    **(headers or {})})
        self.response = self._conn.getresponse()
        self.status = self.response.status
        self.headers = dict(self.response.getheaders())
        self.events: list[dict] = []
        self._taken: set[int] = set()
        self._cond = threading.Condition()
        self.ended = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _on_event(self, event: dict) -> None:
        """Called with the condition held, before the event is published."""

    def _read(self) -> None:
        parser = RecordIOParser()
        try:
            while True:
                data = self.response.read1(65536)
                if not data:
                    break
                for record in parser.feed(data):
                    event = json.loads(record)
                    with self._cond:
                        self._on_event(event)
                        self.events.append(event)
                        self._cond.notify_all()
        except (OSError, http.client.HTTPException, ValueError, AttributeError):
            pass  # closed by the test (http.client raises AttributeError when its socket is gone mid-read)
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[dict], bool], timeout: float = 20.0, what: str = "event") -> dict:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index, event in enumerate(self.events):
                    if index not in self._taken and predicate(event):
                        self._taken.add(index)
                        return event
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {what} within {timeout}s; got {[e.get('type') for e in self.events]}")
                self._cond.wait(remaining)

    def wait_ended(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.ended:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("stream did not end")
                self._cond.wait(remaining)

    def close(self) -> None:
        try:
            self._conn.sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError):
            pass
        self._conn.close()
        self._reader.join(timeout=5)


class SchedulerClient(RecordIOStream):
    """A test scheduler: its SUBSCRIBE stream, and calls that go out on their own requests with its stream id."""

    def __init__(self, master_url: str, framework_info: dict, *, framework_id: str | None = None,
                 auth: tuple[str, str] | None = None, suppressed_roles: list[str] | None = None) -> None:
        call: dict = {"type": "SUBSCRIBE", "subscribe": {"framework_info": dict(framework_info)}}
        if framework_id:
            call["framework_id"] = {"value": framework_id}
            call["subscribe"]["framework_info"]["id"] = {"value": framework_id}
        if suppressed_roles is not None:
            call["subscribe"]["suppressed_roles"] = suppressed_roles
        headers = {}
        self.auth = auth
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        self.framework_id: str | None = framework_id
        super().__init__(master_url, "/api/v1/scheduler", call, headers)
        self.stream_id = self.response.getheader("Mesos-Stream-Id")

    def _on_event(self, event: dict) -> None:
        if event.get("type") == "SUBSCRIBED":
            self.framework_id = event["subscribed"]["framework_id"]["value"]

    def event(self, kind: str, timeout: float = 20.0) -> dict:
        return self.wait_for(lambda e: e.get("type") == kind, timeout, kind)

    def update(self, task_id: str, state: str | None = None, timeout: float = 20.0) -> dict:
        def match(e: dict) -> bool:
            if e.get("type") != "UPDATE":
                return False
            status = e["update"]["status"]
            return status["task_id"]["value"] == task_id and (state is None or status["state"] == state)

        return self.wait_for(match, timeout, f"UPDATE {task_id} {state}")["update"]["status"]

    def call(self, body: dict, *, stream_id: str | None = None) -> httpx.Response:
        body = {"framework_id": {"value": self.framework_id}, **body}
        headers = {"Mesos-Stream-Id": stream_id or self.stream_id}
        auth = httpx.BasicAuth(*self.auth) if self.auth else None
        return httpx.post(self.master_url + "/api/v1/scheduler", json=body, headers=headers, auth=auth, timeout=10)

    def ack(self, status: dict) -> httpx.Response:
        return self.call({"type": "ACKNOWLEDGE", "acknowledge": {
            "agent_id": status["agent_id"], "task_id": status["task_id"], "uuid": status["uuid"]}})

def framework_info(name: str = "test", *, capabilities: tuple[str, ...] = ("MULTI_ROLE", "PARTITION_AWARE"),
                   roles: tuple[str, ...] = ("test",), failover_timeout: float | None = 60.0, **extra) -> dict:
    info: dict = {"user": "nobody", "name": name, "capabilities": [{"type": c} for c in capabilities]}
    if "MULTI_ROLE" in capabilities:
        info["roles"] = list(roles)
    elif roles:
        info["role"] = roles[0]
    if failover_timeout is not None:
        info["failover_timeout"] = failover_timeout
    info.update(extra)
    return info


def launch_call(offer: dict, tasks: list[dict], filters: dict | None = None) -> dict:
    accept: dict = {"offer_ids": [offer["id"]], "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]}
    if filters is not None:
        accept["filters"] = filters
    return {"type": "ACCEPT", "accept": accept}


def command_task(offer: dict, task_id: str, command: str = "echo hi", cpus: float = 0.1, mem: float = 32.0,
                 **extra) -> dict:
    task = {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
                          {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}],
            "command": {"value": command}}
    task.update(extra)
    return task
