"""Task logs through Airflow's REST API where no remote logging is set, on the shared ``mesos_airflow``.

The task of ``mesos_log_in_sandbox_only`` writes its log file into a folder of its own
container, which the api-server never sees, so its log can only come from Mesos: while
it runs through the executor's ``get_task_log``, after it ended through our task log
handler (``airflow_mesos.logging_config``), both from the task's Mesos sandbox.  Without
that handler Airflow would ask a log server on the task's host and show "Could not read
served logs".
"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_mesos_executor import _by_task, _log_text

DAG_ID = "mesos_log_in_sandbox_only"


def test_a_task_log_that_only_the_sandbox_has_reads_while_running_and_after_the_end(mesos_airflow):
    deployment = mesos_airflow
    run_id = deployment.trigger(DAG_ID)

    def running_with_its_log():
        ti = _by_task(deployment, DAG_ID, run_id).get(("private_log", -1))
        return ti is not None and ti.state == "running" and "E2E-MARKER private log started" in _log_text(
            deployment, DAG_ID, run_id, "private_log")

    deployment._wait(running_with_its_log, f"{DAG_ID}.private_log running with its log readable", timeout=240)
    run = deployment.wait_for_dag_run(DAG_ID, run_id, timeout=240)
    assert run["state"] == "success"

    ti = _by_task(deployment, DAG_ID, run_id)[("private_log", -1)]
    log = deployment.client.task_log(DAG_ID, run_id, "private_log", full_content=True)
    text = log.text
    assert "E2E-MARKER private log started" in text and "E2E-MARKER private log done" in text, text
    # (The worker reports success before its process exits: the Mesos task may still be TASK_RUNNING here.)
    assert f"Reading the sandbox of Mesos task {ti.external_executor_id} (TASK_" in text, text
    assert "Could not read served logs" not in text
    # The task's own log lines are structured records, as the worker wrote them (not one blob of JSON text).
    records = [r for r in log.content if isinstance(r, dict) and "E2E-MARKER private log done" in str(r.get("event"))]
    assert records and records[0].get("timestamp"), log.content
    # And the api-server's log folder really has no file of this try: the sandbox was the only source.
    base = Path(deployment.env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"])
    assert not list(base.glob(f"dag_id={DAG_ID}/run_id={run_id}/**/*.log"))
