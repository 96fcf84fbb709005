"""The benchmark scripts run and print their tables (tiny sizes); the page writer keeps the hand-written parts.

No figure is judged here: benchmarks print speed, tests never assert it.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture(scope="module")
def benchlib():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import airflow_fanout
        import benchlib
        import run_all

        yield benchlib, run_all, airflow_fanout
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_the_matcher_benchmark_prints_its_tables_and_figures_with_targets(tmp_path):
    out = tmp_path / "matcher.json"
    run = subprocess.run([sys.executable, str(BENCHMARKS / "matcher.py"), "--quick", "--json", str(out)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "the matcher: best of 1" in run.stdout and "baselines on the same input" in run.stdout
    assert "growth:" in run.stdout
    section = json.loads(out.read_text())
    names = [f["name"] for f in section["figures"]]
    assert any("share of offered cpus used" in name for name in names)
    assert all(f["target"] for f in section["figures"] if f["met"] is not None)
    # Both baselines placed tasks in the cell where the queue is larger than the offers.
    rows = {(r[0], r[1]): r for r in section["tables"][1]["rows"]}
    assert rows[(200, 5)][2] == 5  # one task per offer: as many as there are offers


def test_the_airflow_benchmark_has_help_and_splits_a_mesos_task_into_its_phases(benchlib):
    run = subprocess.run([sys.executable, str(BENCHMARKS / "airflow_fanout.py"), "--help"], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0 and "--variants" in run.stdout
    _, _, airflow_fanout = benchlib
    t0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)

    def at(seconds):
        return t0 + datetime.timedelta(seconds=seconds)

    rows = [("square", i, "success", 1, at(0), at(4 + i), at(6 + i), f"mesos-{i}") for i in range(3)]
    rows.append(("total", -1, "success", 1, at(10), at(11), at(12), "mesos-t"))
    statuses = {f"mesos-{i}": {"first": at(1).timestamp(), "TASK_RUNNING": at(2).timestamp(),
                               "TASK_FINISHED": at(7 + i).timestamp()} for i in range(3)}
    result = airflow_fanout.analyse("docker", {"state": "success", "wall": 12.0, "rows": rows, "statuses": statuses,
                                               "cpu": 10.0})
    assert result["q2s_p50"] == 5.0 and result["tasks"] == 4 and result["failed"] == 0
    assert result["cpu_per_task"] == 2.5
    phases = result["phases"]
    assert phases["queued -> launched"][0] == 1.0
    assert phases["launched -> TASK_RUNNING"][0] == 1.0
    assert phases["TASK_RUNNING -> worker start"][0] == 3.0  # 2 s, 3 s, 4 s
    assert phases["end -> TASK_FINISHED"][0] == 1.0


def test_the_page_is_rewritten_between_its_markers_only(benchlib, tmp_path):
    lib, run_all, _ = benchlib
    section = lib.Section("matcher", "1. The matcher alone", "benchmarks/matcher.py",
                          tables=[lib.Table("t", ["a", "b|c"], [[1, "x|y"]])],
                          figures=[lib.Figure("f", 49.0, "ms", "< 50 ms", True, "n")],
                          load_before=(0.5, 0.4, 0.3), load_after=(0.6, 0.5, 0.4), seconds=3.0)
    from dataclasses import asdict

    machine = {"cpu": "a CPU", "cores": 2, "memory_gib": 24.0, "kernel": "6", "python": "3.11", "airflow": "3.3.2"}
    results = {"machine": machine, "sections": {"matcher": {**asdict(section), "date": "d", "commit": "c"}}}
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"# Benchmarks\n\nintro\n\n{run_all.BEGIN}\nold\n{run_all.END}\n\n## Before and after\nkept\n")
    run_all.write_page(doc, run_all.render(results))
    text = doc.read_text()
    assert "intro" in text and "## Before and after\nkept" in text and "old" not in text
    assert "| matcher | f | 49.0 ms | < 50 ms | met | n |" in text
    assert "load before 0.50 / 0.40 / 0.30" in text
    assert "x\\|y" in text  # a pipe in a cell does not split the table


def test_cpu_by_component_counts_a_busy_child_for_its_component_and_a_fork_servers_children_as_tasks():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import proc_cpu
    finally:
        sys.path.remove(str(BENCHMARKS))
    before = proc_cpu.snapshot()
    # A stand-in fork server (named as the real one is on its command line) whose forked child burns CPU
    # and is reaped: the child's CPU is the tasks', not the fork server's.
    script = ("import os, time\n"
              "pid = os.fork()\n"
              "if pid == 0:\n"
              "    end = time.process_time() + 0.3\n"
              "    while time.process_time() < end: pass\n"
              "    os._exit(0)\n"
              "os.waitpid(pid, 0)\n"
              "print('reaped', flush=True)\n"
              "input()\n")
    child = subprocess.Popen([sys.executable, "-c", script, "airflow_mesos.warm.forkserver"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "reaped\n"  # the fork has been reaped; the stand-in still lives
        used = proc_cpu.used_between(before, proc_cpu.snapshot())
    finally:
        child.communicate("\n", timeout=30)
    assert used.get(proc_cpu.TASKS, 0.0) >= 0.25
    assert used.get("warm: fork server", 0.0) < 0.25
