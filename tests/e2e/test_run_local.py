"""`scripts/run-local --once`, the README's main command, end to end, as a person runs it.

It installs nothing here (the suite's setup did), joins the shared dockerd, starts PostgreSQL, the S3
server, the embedded Mesos cluster and Airflow with the MesosExecutor, runs the example DAG as Docker
containers and exits with its result.  Afterwards nothing it started may be left: no process in any of the
sessions it reported, no process carrying its deployment's marker, no container or volume of its run, no
working folder, and its PostgreSQL (so its metadata database) gone.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from airflow_mesos.localrun.deployment import MARKER_VAR
from airflow_mesos.localrun.services import session_processes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run_local(tmp_path_factory):
    """The output and exit code of one `scripts/run-local --once`."""
    out = tmp_path_factory.mktemp("run-local") / "output.txt"
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_MESOS_RUN_ID"}
    with open(out, "wb") as handle:
        result = subprocess.run([str(ROOT / "scripts" / "run-local"), "--once", "--timeout", "600"], cwd=ROOT,
                                env=env, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT,
                                timeout=1500)
    return result.returncode, out.read_text(errors="replace")


def _one(pattern: str, text: str) -> re.Match:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"no line matching {pattern!r} in:\n{text}"
    return match


def test_the_example_dag_runs_green_in_containers_and_the_command_says_where_to_look(run_local):
    code, text = run_local
    assert code == 0, text
    assert "tasks run as Docker containers of airflow-mesos/airflow:" in text
    assert re.search(r"^\[..:..:..\] image airflow-mesos/airflow:\S+: (up to date|built)", text, re.MULTILINE), text
    dag_id = _one(r"triggered (\S+) \(run ", text).group(1)
    assert dag_id in ("example_mesos_resources", "example_mesos_quickstart")
    # Progress while it runs, then the result with the agents the tasks ran on.
    assert re.search(rf"{dag_id}: \d+/\d+ tasks done", text)
    result = _one(rf"DAG run {dag_id} / (\S+): (\w+); (\d+)/(\d+) tasks done \((\d+) success\)", text)
    assert result.group(2) == "success" and result.group(3) == result.group(4) == result.group(5), text
    assert re.search(r"^\[..:..:..\]   \S+: success on agent 127\.0\.0\.\d \(rack=r\d", text, re.MULTILINE), text
    ui = _one(r"Airflow UI: (http://127\.0\.0\.1:\d+)  login: admin / (\S+)", text)
    assert len(ui.group(2)) >= 16
    # Three agents of different sizes and attributes, one with a GPU, on distinct loopback hosts.
    agents = re.findall(r"agent \S+: http://(127\.0\.0\.\d):\d+ \((cpus [^)]*)\)", text)
    assert [host for host, _ in agents] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"], text
    assert len({spec for _, spec in agents}) == 3 and sum("gpus 1" in spec for _, spec in agents) == 1
    assert "rack=r1" in agents[0][1] and "rack=r2" in agents[1][1]


def test_nothing_it_started_is_left(run_local, docker_client):
    code, text = run_local
    assert "stopped everything it started" in text and "left behind" not in text, text
    pids = {int(p) for p in re.findall(r"\(pid (\d+)", text)}
    assert len(pids) >= 7, text  # postgres, moto, mesos and four Airflow components
    assert {pid: session_processes(pid) for pid in pids if session_processes(pid)} == {}

    deployment = _one(r"created the metadata database (\S+)", text).group(1)
    assert _one(r"dropped the metadata database (\S+)", text).group(1) == deployment
    marker = f"{MARKER_VAR}={deployment}\0".encode()
    marked = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "environ").read_bytes():
                marked.append(int(entry.name))
        except OSError:
            continue
    assert marked == []

    run_id = _one(r"run (\S+): working folder (\S+)", text).group(1)
    workdir = Path(_one(r"run \S+: working folder (\S+)", text).group(1))
    assert not workdir.exists()
    assert docker_client.containers.list(all=True, filters={"label": f"airflow-mesos.run={run_id}"}) == []
    assert not [v for v in docker_client.volumes.list() if run_id in v.name]

    # Its PostgreSQL, which held the metadata database, no longer listens.
    port = int(_one(r"PostgreSQL on 127\.0\.0\.1:(\d+)", text).group(1))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
