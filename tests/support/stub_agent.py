"""An in-process agent stub implementing the Agent interface, for testing the master alone."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class StubSpec:
    hostname: str = "127.0.0.1"
    cpus: float = 2.0
    mem: float = 2048.0
    disk: float = 1024.0
    ports: list = field(default_factory=lambda: [(31000, 32000)])
    gpus: int = 0
    attributes: dict = field(default_factory=dict)

    def resources(self) -> list[dict]:
        out = [{"name": n, "type": "SCALAR", "scalar": {"value": float(v)}, "role": "*"}
               for n, v in (("cpus", self.cpus), ("mem", self.mem), ("disk", self.disk))]
        out.append({"name": "ports", "type": "RANGES", "role": "*",
                    "ranges": {"range": [{"begin": b, "end": e} for b, e in self.ports]}})
        if self.gpus:
            out.append({"name": "gpus", "type": "SCALAR", "scalar": {"value": float(self.gpus)}, "role": "*"})
        return out

    def attribute_list(self) -> list[dict]:
        return [{"name": k, "type": "TEXT", "text": {"value": v}} if isinstance(v, str)
                else {"name": k, "type": "SCALAR", "scalar": {"value": float(v)}} for k, v in self.attributes.items()]


class _Health(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class StubAgent:
    """Runs nothing: tasks go RUNNING at once and finish when the test says so."""

    def __init__(self, *, agent_id, spec, work_dir, docker_client=None, status_update_retry_interval=10.0, clock=None):
        self.id, self.spec = agent_id, spec
        self.tasks: dict[tuple[str, str], dict] = {}
        self.launched: list[tuple[dict, dict]] = []
        self.killed: list[tuple[str, str, dict | None]] = []
        self.acks: list[tuple[str, str, bytes]] = []
        self.shutdowns: list[str] = []
        self.port = 0
        self._server = None
        self._lock = threading.Lock()

    def _serve(self, port: int) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Health)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # serve_forever looks at shutdown() only between polls: at its default 0.5 s every test's
        # teardown waited that long for each stub agent.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def pid(self) -> str:
        return f"slave(1)@127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, master) -> None:
        self.master = master
        self._serve(0)

    def _emit(self, framework_id: str, task_id: str, state: str) -> None:
        status = {"task_id": {"value": task_id}, "state": state, "source": "SOURCE_EXECUTOR",
                  "agent_id": {"value": self.id}, "executor_id": {"value": task_id}, "timestamp": time.time(),
                  "uuid": base64.b64encode(uuid.uuid4().bytes).decode()}
        threading.Thread(target=self.master.status_update, args=(self.id, framework_id, status), daemon=True).start()

    def launch(self, framework_info: dict, task_info: dict) -> None:
        fid, tid = framework_info["id"]["value"], task_info["task_id"]["value"]
        with self._lock:
            self.launched.append((framework_info, task_info))
            self.tasks[(fid, tid)] = {"framework_id": fid, "task_id": tid, "state": "TASK_RUNNING"}
        self._emit(fid, tid, "TASK_RUNNING")

    def finish(self, framework_id: str, task_id: str, state: str = "TASK_FINISHED") -> None:
        with self._lock:
            self.tasks.pop((framework_id, task_id), None)
        self._emit(framework_id, task_id, state)

    def kill(self, framework_id, task_id, kill_policy=None) -> None:
        self.killed.append((framework_id, task_id, kill_policy))
        if (framework_id, task_id) in self.tasks:
            self.finish(framework_id, task_id, "TASK_KILLED")

    def acknowledge(self, framework_id, task_id, uuid_bytes) -> None:
        self.acks.append((framework_id, task_id, uuid_bytes))

    def shutdown_framework(self, framework_id) -> None:
        self.shutdowns.append(framework_id)
        with self._lock:
            for key in [k for k in self.tasks if k[0] == framework_id]:
                del self.tasks[key]

    def crash(self) -> None:
        with self._lock:
            self.tasks.clear()
        self._server.shutdown()
        self._server.server_close()

    def restart(self) -> None:
        """Back on the same port, re-registered with no tasks before it returns (as ``Agent.restart``)."""
        self._serve(self.port)
        self.master.agent_reregistered(self.id, [])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def live_tasks(self) -> list[dict]:
        with self._lock:
            return list(self.tasks.values())
