"""The end-to-end harness itself, proven with Airflow's own LocalExecutor.

One deployment (api-server, dag-processor, scheduler on a fresh PostgreSQL
database) serves the module.  One run of ``harness_two_tasks`` is checked from
several sides; then the scheduler is killed and restarted and schedules again;
the last test stops the deployment and checks that nothing of it is left.  The
tests run in file order and share the deployment, as the MesosExecutor's
end-to-end tests will.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid

import pytest

from tests.e2e.airflow_harness import HarnessError

DAG_ID = "harness_two_tasks"


@pytest.fixture(scope="module")
def deployment(airflow_deployment):
    return airflow_deployment(executor="LocalExecutor", dag_ids=[DAG_ID])


def run_to_the_end(deployment) -> tuple[str, str, dict]:
    """Trigger the two-task DAG with a fresh marker and wait until the run ended: (run id, marker, run)."""
    marker = f"marker-{uuid.uuid4().hex}"
    run_id = deployment.trigger(DAG_ID, conf={"marker": marker})
    return run_id, marker, deployment.wait_for_dag_run(DAG_ID, run_id, timeout=120)


@pytest.fixture(scope="module")
def finished_run(deployment):
    return run_to_the_end(deployment)


def test_the_run_fails_because_one_task_fails(deployment, finished_run):
    run_id, _, run = finished_run
    assert run["state"] == "failed"
    tis = deployment.task_instances(DAG_ID, run_id)
    assert [(ti.task_id, ti.state, ti.try_number, ti.map_index) for ti in tis] == [
        ("fail_on_purpose", "failed", 1, -1),
        ("print_marker", "success", 1, -1),
    ]
    # TI.executor names only an executor the task asked for (these use the default), and the
    # LocalExecutor reports no external id.
    assert [(ti.executor, ti.external_executor_id) for ti in tis] == [(None, None), (None, None)]


def test_the_task_log_is_served_through_rest_in_both_forms(deployment, finished_run):
    run_id, marker, _ = finished_run
    as_json = deployment.client.task_log(DAG_ID, run_id, "print_marker", 1, full_content=True)
    assert f"harness marker: {marker}" in as_json.text
    assert all(isinstance(record, dict) and "event" in record for record in as_json.content)
    assert as_json.continuation_token is None  # the task has finished: this is the whole log

    as_ndjson = deployment.client.task_log(DAG_ID, run_id, "print_marker", 1, full_content=True, ndjson=True)
    assert f"harness marker: {marker}" in as_ndjson.text

    failed = deployment.client.task_log(DAG_ID, run_id, "fail_on_purpose", 1, full_content=True)
    assert "this task fails on purpose" in failed.text
    assert marker not in failed.text


def test_the_event_log_records_the_trigger_and_each_task(deployment, finished_run):
    run_id, marker, _ = finished_run
    events = deployment.client.event_logs(dag_id=DAG_ID)
    triggers = [e for e in events if e["event"] == "trigger_dag_run"]
    assert any(marker in e["extra"] for e in triggers), triggers
    task_events = {(e["task_id"], e["event"]) for e in deployment.client.event_logs(dag_id=DAG_ID, run_id=run_id)}
    assert {
        ("print_marker", "running"),
        ("print_marker", "success"),
        ("fail_on_purpose", "running"),
        ("fail_on_purpose", "failed"),
    } <= task_events


def test_a_killed_scheduler_restarts_and_schedules_again(deployment):
    killed = deployment.pid("scheduler")
    assert deployment.stop_component("scheduler", sig=signal.SIGKILL) == -signal.SIGKILL
    assert deployment.surviving_processes(session=killed) == []

    restarted = deployment.start_component("scheduler")  # waits for a new running SchedulerJob

    assert restarted != killed
    run_id, _, run = run_to_the_end(deployment)
    assert run["state"] == "failed"
    assert {ti.task_id: ti.state for ti in deployment.task_instances(DAG_ID, run_id)} == {
        "print_marker": "success",
        "fail_on_purpose": "failed",
    }


def test_waiting_on_a_run_that_cannot_start_fails_with_the_task_and_scheduler_state(deployment):
    deployment.client.set_paused(DAG_ID, True)  # a paused DAG's run stays queued
    run_id = deployment.client.trigger_dag_run(DAG_ID, conf={"marker": "never-runs"})

    with pytest.raises(HarnessError) as caught:
        deployment.wait_for_dag_run(DAG_ID, run_id, timeout=1)

    message = str(caught.value)
    assert f"DAG run {DAG_ID}/{run_id} is still 'queued'" in message
    assert "Task instances:\n" in message
    assert "--- scheduler log ends:\n" in message


def sessions_in_ps(sessions: set[int]) -> set[int]:
    """Pids of live processes in these sessions, as ps (not the harness) sees them."""
    listing = subprocess.run(["ps", "-e", "-o", "pid=,sid=,stat="], capture_output=True, text=True, check=True)
    rows = (line.split() for line in listing.stdout.splitlines())
    return {int(pid) for pid, sid, stat in rows if int(sid) in sessions and not stat.startswith("Z")}


def test_stopping_leaves_no_process_and_drops_the_database(deployment):
    pids = list(deployment.started_pids)
    assert len(pids) >= len(deployment.components)
    before = sessions_in_ps(set(pids))
    running = set(deployment.surviving_processes())
    after = sessions_in_ps(set(pids))
    # The harness sees what the components started too (LocalExecutor workers, the log server), as ps
    # does; the dag-processor's short-lived parsing processes may come or go between the looks.
    assert before & after <= running <= before | after
    assert len(running) > len(deployment.components)
    assert deployment.database_exists()

    deployment.stop()

    assert deployment.surviving_processes() == []
    assert sessions_in_ps(set(pids)) == set()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # no process is left in any component's group
    assert not deployment.database_exists()
