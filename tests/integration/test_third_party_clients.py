"""Someone else's Mesos client against the embedded master: pymesos (douban/pymesos 0.3.15).

The embedded cluster is the test oracle for Mesos v1 HTTP clients, so it must
speak Mesos' protocol, not our driver's dialect.  pymesos is a widely used
Python client with its own HTTP/1.1 and chunked parsing, its own RecordIO
handling and its own ZooKeeper detector.

pymesos cannot be pip-installed on Python 3.11 (its http-parser dependency
fails to build its C extension), so the fixture downloads the released sdists
from PyPI and puts their pure-Python parts (pymesos, http_parser's pure-Python
parser, addict) on the scheduler process' path.  Nothing of theirs is kept in
this repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
import zipfile
from pathlib import Path

import pytest

from airflow_mesos.local import AgentSpec, LocalCluster

pytestmark = pytest.mark.integration

CLIENT = Path(__file__).with_name("clients") / "pymesos_scheduler.py"
RELEASES = ["pymesos==0.3.15", "http-parser==0.9.0", "addict==2.4.0"]


@pytest.fixture(scope="session")
def pymesos_path() -> Path:
    """A directory holding importable pymesos, http_parser (pure Python) and addict; cached in the venv."""
    target = Path(sys.prefix) / "third-party-clients" / "pymesos-0.3.15"
    if (target / "pymesos" / "scheduler.py").exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        downloads, staging = Path(tmp, "dl"), Path(tmp, "site")
        result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(downloads),
                                 *RELEASES], capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            pytest.fail(f"could not download {RELEASES} from the package index: {result.stderr[-2000:]}")
        staging.mkdir()
        for archive in downloads.iterdir():
            if archive.suffix == ".whl":
                with zipfile.ZipFile(archive) as wheel:
                    wheel.extractall(staging)
            else:
                with tarfile.open(archive) as sdist:
                    sdist.extractall(Path(tmp, "src"), filter="data")
        src = Path(tmp, "src")
        shutil.copytree(next(src.glob("pymesos-*")) / "pymesos", staging / "pymesos")
        # Only the pure-Python parser: http_parser.http falls back to it when the C module is absent.
        shutil.copytree(next(src.glob("http-parser-*")) / "http_parser", staging / "http_parser",
                        ignore=shutil.ignore_patterns("*.so", "*.c", "*.h", "*.pyx", "*.gyp", "__pycache__"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(staging), str(target))
    return target


def run_pymesos(pymesos_path: Path, master: str, *args: str, timeout: float = 90.0) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=str(pymesos_path))
    result = subprocess.run([sys.executable, str(CLIENT), master, *args], capture_output=True, text=True,
                            env=env, timeout=timeout)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0, f"pymesos scheduler failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-3000:]}"
    return lines


def updates(lines: list[dict], task_id: str) -> list[dict]:
    return [line for line in lines if line["event"] == "update" and line["task_id"] == task_id]


@pytest.fixture
def cluster(tmp_path, docker_client, busybox_image):
    # Unacknowledged updates come back after half a second: a client that did not acknowledge would see repeats.
    with LocalCluster([AgentSpec(cpus=2, mem=1024)], work_dir=tmp_path, docker_client=docker_client,
                      heartbeat_interval=1.0, allocation_interval=0.2, status_update_retry_interval=0.5) as c:
        yield c


def test_pymesos_runs_tasks_reconciles_and_kills(cluster, pymesos_path, busybox_image):
    host_port = cluster.master_url.removeprefix("http://")
    lines = run_pymesos(pymesos_path, host_port, "--image", busybox_image)

    registered = next(line for line in lines if line["event"] == "registered")
    assert registered["framework_id"].endswith("-0000")
    final = next(line for line in lines if line["event"] == "final")
    assert final["finished"]
    assert final["tasks"] == {"py-short": "TASK_FINISHED", "py-docker": "TASK_FINISHED",
                              "py-mesos": "TASK_FINISHED", "py-long": "TASK_KILLED"}
    for task_id in ("py-short", "py-docker", "py-mesos"):
        states = [u["state"] for u in updates(lines, task_id)]
        assert states[-3:] == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"], (task_id, states)
        # pymesos acknowledged every agent update, so none was delivered twice.
        assert len(states) == 3, (task_id, states)
    reconciled = [u for u in updates(lines, "py-long") if u["reason"] == "REASON_RECONCILIATION"]
    assert reconciled and reconciled[0]["state"] == "TASK_RUNNING" and not reconciled[0]["has_uuid"]
    assert reconciled[0]["source"] == "SOURCE_MASTER"

    # pymesos stops with TEARDOWN: the master removed the framework and kept its tasks' final states.
    state = cluster.master.state()
    framework = next(f for f in state["completed_frameworks"] if f["id"] == registered["framework_id"])
    assert {t["id"]: t["state"] for t in framework["completed_tasks"]} == final["tasks"]


def test_pymesos_finds_the_leader_through_zookeeper(tmp_path, docker_client, busybox_image, zk_hosts, pymesos_path):
    path = f"/mesos-pymesos-{uuid.uuid4().hex[:8]}"
    with LocalCluster([AgentSpec(cpus=2, mem=1024)], work_dir=tmp_path, docker_client=docker_client,
                      heartbeat_interval=1.0, allocation_interval=0.2, zk=f"zk://{zk_hosts}{path}"):
        lines = run_pymesos(pymesos_path, f"zk://{zk_hosts}{path}")
    final = next(line for line in lines if line["event"] == "final")
    assert final["tasks"] == {"py-short": "TASK_FINISHED", "py-long": "TASK_KILLED"}


def test_pymesos_authenticates_with_http_basic(tmp_path, docker_client, busybox_image, pymesos_path):
    with LocalCluster([AgentSpec(cpus=2, mem=1024)], work_dir=tmp_path, docker_client=docker_client,
                      heartbeat_interval=1.0, allocation_interval=0.2, credentials={"airflow": "pymesos-pw"}) as c:
        lines = run_pymesos(pymesos_path, c.master_url.removeprefix("http://"),
                            "--principal", "airflow", "--secret", "pymesos-pw")
    final = next(line for line in lines if line["event"] == "final")
    assert final["tasks"] == {"py-short": "TASK_FINISHED", "py-long": "TASK_KILLED"}
