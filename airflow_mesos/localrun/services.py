"""The processes ``scripts/run-local`` starts besides Airflow: each one in a session of its own.

:class:`Child` starts a command as the leader of a new session (so its own process group) with its
output in a log file, and stops it with its whole session: first its own stop signal, then SIGKILL
for anything left in the session.  Each child also gets a signal when the process that started it
dies without stopping it (``PR_SET_PDEATHSIG``), so a run killed with SIGKILL leaves nothing behind
for long either.

:class:`ThrowawayPostgres` (``initdb`` + ``postgres`` on loopback, as the ``postgres`` user when run as
root) and :class:`MotoS3` (``python -m moto.server`` with buckets) are built on it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from airflow_mesos.exceptions import AirflowMesosError

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class ServiceError(AirflowMesosError):
    """A service did not start; the message ends with the tail of its log."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def tail(path: Path, lines: int = 30) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 32 * 1024))
            return b"\n".join(handle.read().splitlines()[-lines:]).decode(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"


def session_processes(session: int) -> list[int]:
    """Live processes (not zombies) whose session id is ``session``, found in ``/proc``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # Fields after the parenthesised command: state, ppid, pgrp, session, ...
            state, _, _, sid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:4]
        except (OSError, ValueError):
            continue
        if state != "Z" and int(sid) == session:
            found.append(int(entry.name))
    return found


class Child:
    """One command this run started, the leader of its own session.

    :param stop_signal: what asks it to stop (postgres: SIGINT, its fast shutdown).
    :param user: run as this user (and its group), e.g. ``postgres``; None: as we are.
    """

    def __init__(self, name: str, argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None, stop_signal: int = signal.SIGTERM, user: str | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.stop_signal = stop_signal
        self.user = user
        self.process: subprocess.Popen | None = None

    def __repr__(self) -> str:
        return f"Child({self.name}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> Child:
        death_signal = self.stop_signal

        def in_child() -> None:
            # After the uid change (Popen sets it first), so the kernel keeps it.
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, death_signal)

        ids: dict = {}
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            ids = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=in_child, **ids)
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_running(self, what: str) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise ServiceError(f"{self.name} exited with code {self.process.returncode} while {what}; its log "
                               f"({self.log_path}) ends:\n{tail(self.log_path)}")

    def leftovers(self) -> list[int]:
        """Processes still alive in the child's session."""
        return session_processes(self.pid) if self.pid else []

    def stop(self, timeout: float = 20.0) -> list[int]:
        """Stop signal to its process group, wait, then SIGKILL what is left of its session.

        :return: the pids that survived even SIGKILL (normally none).
        """
        if self.process is None:
            return []
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, self.stop_signal)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + timeout
        while self.leftovers() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self.leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        deadline = time.monotonic() + 5
        while (left := self.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left


def wait_until(condition, what: str, *, timeout: float, child: Child | None = None, interval: float = 0.2):
    """Poll ``condition`` until it returns something truthy; fail at once if ``child`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if child is not None:
            child.check_running(f"waiting for {what}")
        if time.monotonic() >= deadline:
            log_hint = f"; {child.name}'s log ends:\n{tail(child.log_path)}" if child else ""
            raise ServiceError(f"timed out after {timeout:g} s waiting for {what}{log_hint}")
        time.sleep(interval)


def postgres_bin() -> Path:
    """The newest PostgreSQL server binaries Debian installed (``/usr/lib/postgresql/<version>/bin``)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parent.parent.name.split(".")])
    if not found:
        raise ServiceError("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql; "
                           "scripts/run-local installs it)")
    return found[-1].parent


class ThrowawayPostgres:
    """A PostgreSQL server of this run only: a fresh cluster in ``directory``, on a free loopback port.

    Trust authentication on 127.0.0.1 and a socket in ``directory``; ``fsync`` off (nothing here is kept).
    When we are root it runs as the ``postgres`` user, as initdb refuses root.
    """

    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        self.directory = Path(directory)
        self.port = port or free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.child: Child | None = None

    @property
    def dsn(self) -> str:
        """The superuser URL (libpq form; no password: trust on loopback)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 60.0) -> ThrowawayPostgres:
        import psycopg2

        bin_dir = postgres_bin()
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.user is not None:
            shutil.chown(self.directory, self.user, self.user)
        data = self.directory / "data"
        initdb = Child("initdb", [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                                  "-E", "UTF8", "--no-sync"],
                       log_path=self.directory / "initdb.log", user=self.user).start()
        if initdb.process.wait(timeout) != 0:
            raise ServiceError(f"initdb failed; its log ends:\n{tail(initdb.log_path)}")
        self.child = Child("postgres", [str(bin_dir / "postgres"), "-D", str(data), "-p", str(self.port),
                                        "-k", str(self.directory), "-c", "listen_addresses=127.0.0.1",
                                        "-c", "fsync=off", "-c", "full_page_writes=off"],
                           log_path=self.directory / "postgres.log", stop_signal=signal.SIGINT,
                           user=self.user).start()

        def accepts() -> bool:
            try:
                psycopg2.connect(self.dsn, connect_timeout=2).close()
            except psycopg2.OperationalError:
                return False
            return True

        wait_until(accepts, f"PostgreSQL on 127.0.0.1:{self.port}", timeout=timeout, child=self.child)
        return self

    def create_database(self, name: str) -> str:
        """A database of its own on this server; returns its libpq URL."""
        import psycopg2

        connection = psycopg2.connect(self.dsn)
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> list[int]:
        return self.child.stop(timeout=30) if self.child else []


class MotoS3:
    """An S3-compatible server (moto's server mode) on a free loopback port, with buckets.

    moto accepts any key pair, so the keys below are no secrets.
    """

    ACCESS_KEY = "airflow-mesos-local"
    SECRET_KEY = "airflow-mesos-local-secret"
    REGION = "us-east-1"

    def __init__(self, log_path: Path, *, port: int | None = None, env: Mapping[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.child = Child("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                           log_path=log_path, env=env)

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.ACCESS_KEY,
                            aws_secret_access_key=self.SECRET_KEY, region_name=self.REGION)

    def connection_json(self) -> str:
        """An Airflow ``aws`` connection to this server (``AIRFLOW_CONN_<ID>``)."""
        import json

        return json.dumps({"conn_type": "aws", "login": self.ACCESS_KEY, "password": self.SECRET_KEY,
                           "extra": {"region_name": self.REGION, "endpoint_url": self.endpoint}})

    def start(self, buckets: Sequence[str] = (), timeout: float = 60.0) -> MotoS3:
        try:
            import boto3  # noqa: F401  (moto[server] brings it; say so before starting anything)
            import moto  # noqa: F401
        except ImportError as exc:
            raise ServiceError(f"the S3 server needs moto[server] in this virtualenv ({exc.name} is missing); "
                               "scripts/run-local installs it") from None
        self.child.start()
        client = self.client()

        def answers() -> bool:
            try:
                client.list_buckets()
            except Exception:  # botocore's connection errors share no useful base class
                return False
            return True

        wait_until(answers, f"the S3 server on {self.endpoint}", timeout=timeout, child=self.child)
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        return self

    def stop(self) -> list[int]:
        return self.child.stop(timeout=15)
