"""What scripts/run-local prints about a DAG run."""

from __future__ import annotations

from airflow_mesos.localrun import progress
from airflow_mesos.status.model import QueuedTaskInstance, WaitingTask


def ti(task_id: str, state: str | None, map_index: int = -1, **extra) -> dict:
    return {"task_id": task_id, "map_index": map_index, "state": state, **extra}


def test_the_progress_line_counts_done_then_moving_then_not_started():
    tis = [ti("a", "success"), ti("b", "failed"), ti("c", "running"), ti("d", "queued"), ti("e", "queued"),
           ti("f", None), ti("g", "scheduled"), ti("h", "deferred")]
    assert progress.progress_line("etl", tis) == (
        "etl: 2/8 tasks done (1 success, 1 failed) · 1 running · 2 queued · 1 scheduled · 1 deferred"
        " · 1 not scheduled yet")
    assert progress.progress_line("etl", []) == "etl: 0/0 tasks done"


def test_waiting_lines_are_this_runs_queued_tasks_with_their_reasons():
    def waiting(dag_id, run_id, task_id, reason, map_index=-1):
        return WaitingTask(QueuedTaskInstance(dag_id, run_id, task_id, map_index, 1), reason)

    lines = progress.waiting_lines([waiting("etl", "r1", "big", "needs 8 cpus; the largest offer has 4"),
                                    waiting("etl", "r1", "fan", None, map_index=2),
                                    waiting("etl", "r2", "other_run", "x"), waiting("other", "r1", "x", "y")],
                                   "etl", "r1")
    assert lines == ["  waiting for Mesos: big: needs 8 cpus; the largest offer has 4",
                     "  waiting for Mesos: fan[2]: no offer tried yet"]


SLAVES = {"slaves": [{"id": "S0", "hostname": "127.0.0.1", "attributes": {"rack": "r1", "zone": "a"}},
                     {"id": "S1", "hostname": "127.0.0.2", "attributes": {}}]}
TASKS = {"tasks": [{"id": "m-1", "slave_id": "S0"}, {"id": "m-2", "slave_id": "S1"}]}


def test_placements_name_the_agent_and_its_attributes():
    where = progress.placements({("a", -1): "m-1", ("b", 0): "m-2", ("c", -1): None, ("d", -1): "m-gone"},
                                TASKS, SLAVES)
    assert where == {("a", -1): "127.0.0.1 (rack=r1 zone=a)", ("b", 0): "127.0.0.2"}


def test_the_result_lists_each_task_where_it_ran_and_the_exit_code_follows_the_run():
    run = {"dag_run_id": "manual_1", "state": "success"}
    tis = [ti("b", "success", 0, duration=1.25), ti("a", "success", duration=0.5)]
    lines = progress.result_lines("etl", run, tis, {("a", -1): "127.0.0.1 (rack=r1)"})
    assert lines == ["DAG run etl / manual_1: success; 2/2 tasks done (2 success)",
                     "  a: success on agent 127.0.0.1 (rack=r1) in 0.5 s",
                     "  b[0]: success in 1.2 s"]
    assert progress.exit_code(run) == 0
    assert progress.exit_code({"state": "failed"}) == 1
