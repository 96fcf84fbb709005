"""The scheduler's Mesos health endpoint: ``GET /health`` on ``[mesos] health_check_port``.

Airflow's own scheduler health check (port 8974) says whether the scheduler's
job heartbeats; it cannot see that the scheduler lost Mesos, and a scheduler
that lost Mesos places no task.  This endpoint answers 503 with the reason when
the executor has been without a Mesos subscription for longer than
``[mesos] health_disconnect_threshold``, when another scheduler took the
framework over, or when Airflow's scheduler loop stopped calling the executor,
so Marathon restarts such a scheduler.  :func:`judge_health` is pure.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


def judge_health(*, now: float, connected: bool, disconnected_since: float | None, disconnect_reason: str | None,
                 taken_over: str | None, last_loop: float | None, threshold: float, framework_id: str | None,
                 master: str | None) -> tuple[bool, dict[str, Any]]:
    """``(healthy, details)``; ``details["reason"]`` says why when unhealthy."""
    details: dict[str, Any] = {"connected": connected, "framework_id": framework_id, "master": master}
    reason = None
    if taken_over:
        reason = f"another scheduler took the Mesos framework over: {taken_over}"
    elif not connected and disconnected_since is not None and now - disconnected_since > threshold:
        reason = (f"not subscribed to a Mesos master for {now - disconnected_since:.0f} s "
                  f"({disconnect_reason or 'no reason known'})")
    elif last_loop is not None and now - last_loop > threshold:
        reason = f"Airflow's scheduler loop has not called the executor for {now - last_loop:.0f} s"
    if not connected and disconnect_reason:
        details["disconnect_reason"] = disconnect_reason
    details["status"] = "healthy" if reason is None else "unhealthy"
    if reason is not None:
        details["reason"] = reason
    return reason is None, details


class HealthServer:
    """A tiny HTTP server in a daemon thread; ``probe()`` gives ``(healthy, details)``."""

    def __init__(self, port: int, probe: Callable[[], tuple[bool, dict[str, Any]]], host: str = "0.0.0.0") -> None:
        self._probe = probe
        probe_ref = probe

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                if self.path.split("?")[0] not in ("/health", "/"):
                    self.send_error(404)
                    return
                try:
                    healthy, details = probe_ref()
                except Exception as exc:  # the endpoint must answer even if the probe breaks
                    healthy, details = False, {"status": "unhealthy", "reason": f"health probe failed: {exc}"}
                body = json.dumps(details).encode()
                self.send_response(200 if healthy else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:  # Marathon probes often; keep the scheduler log clean
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="mesos-executor-health", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("Mesos health endpoint on port %d (/health)", self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
