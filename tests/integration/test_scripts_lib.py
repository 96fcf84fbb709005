"""scripts/lib.sh: runs at the same time share one dockerd; each removes only its own containers; the last
one to leave stops the daemon (and only a daemon these scripts started).

Two real ``bash`` sessions source lib.sh and take their steps when the test says so. They use a dockerd of
their own (a private DOCKER_DIR and data root), and each runs in a network namespace of its own: a second
dockerd in the host's namespace would claim the host's docker0 bridge, which the suite's daemon uses.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DONE = "@@step-exit-status "

# One line per step from the test; the session answers with the step's output, then DONE and its status.
SESSION = f"""
source scripts/lib.sh
make_container() {{ "$VENV/bin/python" -c "$MAKE_CONTAINER_PY"; }}
while IFS= read -r step; do
    eval "$step"
    echo "{DONE}$?"
done
"""

# A created (never started) container of the empty image, labelled as this package labels its containers.
MAKE_CONTAINER_PY = """
import docker
from airflow_mesos.run_labels import PROJECT_LABEL, run_labels
container = docker.from_env().containers.create("am-lib-test-empty:1", ["/none"], network_mode="none",
                                                labels={PROJECT_LABEL: "test_scripts_lib", **run_labels()})
print(container.name)
"""


class Session:
    """``bash -c 'source scripts/lib.sh; ...'`` in its own network namespace, one step at a time."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(["unshare", "--net", "bash", "-c", SESSION], cwd=ROOT, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def step(self, command: str, timeout: float = 60.0) -> str:
        """Run one shell command in the session; its output (lib.sh logs too). Fails unless it exits 0."""
        self.send(command)
        return self.result(command, timeout)

    def send(self, command: str) -> None:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def result(self, command: str, timeout: float = 60.0) -> str:
        output: list[str] = []
        while True:
            line = self._lines.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"session ended during {command!r}: {output}")
            if line.startswith(DONE):
                assert line == f"{DONE}0", (command, output)
                return "\n".join(output)
            output.append(line)

    def end(self, timeout: float = 60.0) -> str:
        """services_stop, as the scripts' EXIT trap runs it, then exit; the output of the stop."""
        out = self.step("services_stop", timeout)
        self.proc.stdin.close()
        assert self.proc.wait(timeout) == 0
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def private_docker():
    """A DOCKER_DIR and data root of our own; whatever daemon the sessions left there is stopped afterwards."""
    if os.geteuid() != 0:
        pytest.fail("lib.sh starts dockerd, which needs root; run the suite with scripts/test as root")
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to give the test's dockerd a network namespace of its own")
    docker_dir = Path(tempfile.mkdtemp(prefix="am-lib-", dir="/tmp"))  # short: unix socket paths are limited
    data = Path(tempfile.mkdtemp(prefix="am-lib-test-data-", dir="/var/tmp"))
    env = {**os.environ, "AIRFLOW_MESOS_DOCKER_DIR": str(docker_dir), "AIRFLOW_MESOS_DOCKER_DATA": str(data),
           "MAKE_CONTAINER_PY": MAKE_CONTAINER_PY}
    env.pop("DOCKER_HOST", None)
    yield docker_dir, env
    owner = docker_dir / "dockerd.owner"
    if owner.exists():  # the test failed before the last session stopped the daemon it started
        pid = int(owner.read_text().split()[0])
        subprocess.run(["bash", "-c", f"source {ROOT}/scripts/lib.sh; terminate_pid {pid} 15; rm -rf \"$RUN_DIR\""])
    shutil.rmtree(docker_dir, ignore_errors=True)
    shutil.rmtree(data, ignore_errors=True)


def test_two_runs_share_a_dockerd_and_the_last_one_out_stops_it(private_docker):
    import docker

    docker_dir, env = private_docker
    first, second = Session(env), Session(env)
    try:
        assert "starting dockerd" in first.step("start_dockerd")
        assert "sharing it" in second.step("start_dockerd")
        owner_pid = int((docker_dir / "dockerd.owner").read_text().split()[0])
        assert len(list((docker_dir / "users").iterdir())) == 2

        client = docker.DockerClient(base_url=f"unix://{docker_dir}/docker.sock")
        client.api.import_image_from_data(empty_tar(), repository="am-lib-test-empty", tag="1")
        foreign = client.containers.create("am-lib-test-empty:1", ["/none"], network_mode="none",
                                           labels={"airflow-mesos.local": "made-by-no-run"})
        first_container = first.step("make_container").splitlines()[-1]
        second_container = second.step("make_container").splitlines()[-1]

        stopped = first.end()
        assert "removed 1 container(s) this run left behind" in stopped
        assert "leaving dockerd running: 1 other run(s) still use it" in stopped
        # The second run still has its daemon and its container; only the first run's container is gone.
        names = second.step("\"$VENV/bin/python\" -c 'import docker; "
                            "print(*sorted(c.name for c in docker.from_env().containers.list(all=True)))'")
        assert sorted(names.split()) == sorted([second_container, foreign.name])
        assert first_container not in names
        client.close()

        stopped = second.end()
        assert "removed 1 container(s) this run left behind" in stopped
        assert f"stopping dockerd (pid {owner_pid}): no other run uses it" in stopped
        assert not running(owner_pid)
        assert not (docker_dir / "dockerd.owner").exists()
        assert list((docker_dir / "users").iterdir()) == []
    finally:
        first.kill()
        second.kill()


def test_runs_that_start_and_stop_at_the_same_moment_start_one_daemon_and_stop_it_once(private_docker):
    docker_dir, env = private_docker
    sessions = [Session(env), Session(env)]
    try:
        for session in sessions:  # both ask before either hears back: the lock decides who starts it
            session.send("start_dockerd")
        started = [session.result("start_dockerd") for session in sessions]
        assert sorted("starting dockerd" in out for out in started) == [False, True], started
        assert sorted("sharing it" in out for out in started) == [False, True], started
        owner_pid = int((docker_dir / "dockerd.owner").read_text().split()[0])

        for session in sessions:
            session.send("services_stop")
        stopped = [session.result("services_stop") for session in sessions]
        assert sorted("stopping dockerd" in out for out in stopped) == [False, True], stopped
        assert sorted("leaving dockerd running: 1 other run(s) still use it" in out for out in stopped) == \
            [False, True], stopped
        assert not running(owner_pid)
        assert list((docker_dir / "users").iterdir()) == []
    finally:
        for session in sessions:
            session.kill()


def running(pid: int) -> bool:
    """The process exists and has not exited (a zombie waiting for its parent has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def empty_tar() -> bytes:
    return bytes(10240)  # a tar archive with no members: two zero blocks, padded to a record
