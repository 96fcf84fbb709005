"""A tiny stand-in for a Mesos master's scheduler endpoint, on stdlib http.server in a thread.

Each test gives it a ``subscribe`` function that writes the streaming answer (chunked
RecordIO) through a :class:`StreamWriter`; other calls are recorded and answered 202 (or
with a scripted status).  Not a Mesos master: only enough HTTP to test the transport and
the driver's real-network behaviour.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Recorded:
    path: str
    headers: dict
    body: dict


class StreamWriter:
    """Writes one chunked HTTP answer."""

    def __init__(self, handler: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        self._handler = handler
        self.stop = stop

    def start(self, status: int = 200, headers: dict | None = None) -> None:
        self._handler.send_response(status)
        self._handler.send_header("Content-Type", "application/json")
        self._handler.send_header("Transfer-Encoding", "chunked")
        for key, value in (headers or {}).items():
            self._handler.send_header(key, value)
        self._handler.end_headers()

    def chunk(self, data: bytes) -> bool:
        """Send one HTTP chunk; False once the client has gone."""
        try:
            self._handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self._handler.wfile.flush()
            return True
        except OSError:
            return False

    def finish(self) -> None:
        try:
            self._handler.wfile.write(b"0\r\n\r\n")
            self._handler.wfile.flush()
        except OSError:
            pass

    def hold(self, seconds: float) -> None:
        """Stay silent (but connected) for up to ``seconds`` or until the server stops."""
        self.stop.wait(seconds)


@dataclass
class StubMaster:
    subscribe: Callable[[StreamWriter, Recorded], None] | None = None
    call_status: int = 202
    call_body: bytes = b""
    call_headers: dict = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                body = json.loads(raw) if raw else {}
                recorded = Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with stub._lock:
                    stub.requests.append(recorded)
                if body.get("type") == "SUBSCRIBE" and stub.subscribe is not None:
                    self.close_connection = True
                    stub.subscribe(StreamWriter(self, stub._stop), recorded)
                    return
                self.send_response(stub.call_status)
                self.send_header("Content-Length", str(len(stub.call_body)))
                for key, value in stub.call_headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(stub.call_body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="stub-master", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def hostport(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def subscribes(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.body.get("type") == "SUBSCRIBE"]

    def calls(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.body.get("type") != "SUBSCRIBE"]

    def __enter__(self) -> StubMaster:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
