"""The benchmarks that need real parts run at tiny sizes and print their tables: the driver against the
embedded cluster with process tasks, and the MesosExecutor in a scheduler-like process.  No speed is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


def quick(script: str, tmp_path: Path, *extra: str) -> tuple[str, dict]:
    out = tmp_path / "section.json"
    run = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick", "--json", str(out), *extra],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return run.stdout, json.loads(out.read_text())


@pytest.mark.parametrize(("cluster", "words"), [("process", "the cluster in a process of its own"),
                                               ("in-process", "the cluster in the benchmark's process")])
def test_the_driver_benchmark_runs_every_task_and_prints_its_table(tmp_path, cluster, words):
    stdout, section = quick("driver_throughput.py", tmp_path, "--paced-revive-intervals", "0.5", "--cluster", cluster)
    assert "short process tasks over 2 agents" in stdout and words in stdout
    rows = section["tables"][0]["rows"]
    assert [row[0] for row in rows] == ["burst", "paced, revive_min_interval 0.5 s"]
    assert all(row[-1] == 0 for row in rows)  # no task failed or went missing
    assert any("launches accepted per second" in f["name"] for f in section["figures"])


def test_the_executor_benchmark_measures_memory_and_loop_time(tmp_path):
    stdout, section = quick("executor_loop.py", tmp_path)
    assert "resident memory of this process" in stdout and "heartbeat (scheduler thread)" in stdout
    names = " ".join(f["name"] for f in section["figures"])
    assert "scheduler RSS" in names and "time per scheduler loop" in names
