"""``dns wait-for`` against real TCP listeners on 127.0.0.1."""

from __future__ import annotations

import io
import socket
import threading

import pytest

from airflow_mesos.cli import EXIT_FAILED, EXIT_OK, main
from airflow_mesos.dns import WaitTimeout, wait_for

pytestmark = pytest.mark.integration


def free_port() -> int:
    """A port that nothing listens on (bound to find it, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LateListener:
    """Starts listening on ``port`` once ``start_now`` is set (by the first failed attempt)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.start_now = threading.Event()
        self.accepted = threading.Event()
        self.sock: socket.socket | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if not self.start_now.wait(10):
            return
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen()
        self.sock.settimeout(10)
        try:
            conn, _ = self.sock.accept()
            conn.close()
            self.accepted.set()
        except OSError:
            pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.start_now.set()
        self.thread.join(timeout=12)
        if self.sock is not None:
            self.sock.close()


def test_wait_for_a_listener_that_starts_late():
    port = free_port()
    errors = []
    with LateListener(port) as listener:

        def on_attempt(attempt, error):
            errors.append(error)
            listener.start_now.set()  # the port was refused at least once; now bring it up

        result = wait_for("localhost", port, timeout=10, interval=0.05, on_attempt=on_attempt)
        assert listener.accepted.wait(5)
    assert result.attempts >= 2
    assert errors and "Connection refused" in errors[0] and str(port) in errors[0]


def test_wait_for_times_out_with_a_clear_message():
    port = free_port()
    with pytest.raises(WaitTimeout) as info:
        wait_for("127.0.0.1", port, timeout=0.3, interval=0.05)
    message = str(info.value)
    assert f"127.0.0.1:{port} did not accept a TCP connection within 0.3s" in message
    assert "last error: connect to 127.0.0.1" in message and "refused" in message


def test_wait_for_an_unresolvable_name():
    with pytest.raises(WaitTimeout) as info:
        wait_for("postgres-airflow.marathon.invalid", 5432, timeout=0.2, interval=0.1)
    assert "cannot resolve postgres-airflow.marathon.invalid" in str(info.value)


def test_cli_wait_for():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        out, err = io.StringIO(), io.StringIO()
        assert main(["dns", "wait-for", f"127.0.0.1:{port}", "--timeout", "5"], stdout=out, stderr=err) == EXIT_OK
        assert f"127.0.0.1:{port} is accepting connections" in out.getvalue()

    port = free_port()
    out, err = io.StringIO(), io.StringIO()
    code = main(["dns", "wait-for", f"127.0.0.1:{port}", "--timeout", "0.2", "--interval", "0.05", "-v"],
                stdout=out, stderr=err)
    assert code == EXIT_FAILED
    assert f"127.0.0.1:{port} did not accept a TCP connection within 0.2s" in err.getvalue()
    assert "waiting for 127.0.0.1" in err.getvalue()  # -v reports attempts


def test_cli_dns_name():
    out = io.StringIO()
    assert main(["dns", "name", "/airflow/postgres"], stdout=out) == EXIT_OK
    assert out.getvalue().splitlines()[0] == "A    postgres-airflow.marathon.mesos"
    assert "SRV  _postgres-airflow._tcp.marathon.mesos" in out.getvalue()
