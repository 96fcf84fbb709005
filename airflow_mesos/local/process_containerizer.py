"""Host-process tasks: the command executor's way of running a task with no container image.

The task runs as a child of this Python process in its own session (so a kill
reaches its whole process group), with the sandbox as working directory and
its stdout/stderr written straight into the sandbox files.  Secrets reach the
process through its environment only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from airflow_mesos.local.launch_planner import LaunchError, RunSpec


@dataclass
class ExitInfo:
    """How a task's process/container ended."""

    exit_code: int | None = None  # None when killed by a signal
    signal: int | None = None
    oom_killed: bool = False
    error: str | None = None  # the engine could not tell us (e.g. container vanished)
    extra: dict = field(default_factory=dict)


def describe_exit(prefix: str, info: ExitInfo) -> str:
    """Mesos' ``"<Command|Container> " + WSTRINGIFY(status)`` message."""
    if info.signal is not None:
        try:
            name = signal.strsignal(info.signal) or f"signal {info.signal}"
        except ValueError:
            name = f"signal {info.signal}"
        return f"{prefix} terminated with signal {name}"
    return f"{prefix} exited with status {info.exit_code}"


class ProcessRun:
    """One host process started from a :class:`RunSpec` of kind ``process``."""

    message_prefix = "Command"

    def __init__(self, plan: RunSpec, sandbox: Path) -> None:
        self.plan = plan
        self.sandbox = sandbox
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._destroyed = False

    def prepare(self) -> None:
        """Lay out volume links in the sandbox."""
        for link, target in self.plan.sandbox_links:
            path = self.sandbox / link
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink() or path.exists():
                raise LaunchError(f"volume container_path '{link}' already exists in the sandbox")
            path.symlink_to(target)

    def start(self) -> None:
        env = dict(os.environ)
        env.update(self.plan.environment)
        for name, value in self.plan.secrets.items():
            env[name] = value.reveal()
        with self._lock:
            if self._destroyed:
                raise LaunchError("the agent is shutting down")
            try:
                with open(self.sandbox / "stdout", "ab") as out, open(self.sandbox / "stderr", "ab") as err:
                    self._proc = subprocess.Popen(
                        self.plan.argv, executable=self.plan.executable, cwd=self.sandbox, env=env,
                        stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
                    )
            except OSError as exc:
                # Never echo env: it holds secrets.
                raise LaunchError(f"Failed to execute {self.plan.executable or self.plan.argv[0]!r}: {exc.strerror}") from None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def network_ips(self, agent_ip: str) -> list[str]:
        return [agent_ip]

    def wait(self) -> ExitInfo:
        assert self._proc is not None
        code = self._proc.wait()
        if code < 0:
            return ExitInfo(signal=-code)
        return ExitInfo(exit_code=code)

    def _signal(self, sig: int, *, group_even_if_exited: bool = False) -> None:
        proc = self._proc
        if proc is None or (proc.poll() is not None and not group_even_if_exited):
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            proc.send_signal(sig)

    def kill(self, grace: float) -> None:
        """SIGTERM the process group, then SIGKILL after ``grace`` seconds (blocks up to ``grace``)."""
        proc = self._proc
        if proc is None:
            return
        self._signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        self._signal(signal.SIGKILL)

    def destroy(self) -> None:
        """SIGKILL at once (agent crash / teardown)."""
        with self._lock:
            self._destroyed = True
        # Orphans left in the session die too, as on a host reboot.
        self._signal(signal.SIGKILL, group_even_if_exited=True)

    def cleanup(self) -> None:
        pass
