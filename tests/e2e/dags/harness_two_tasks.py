"""Two independent tasks: one prints the marker from the run's conf and succeeds, one fails.

Used by tests/e2e to prove a deployment runs tasks, records their states and
serves their logs.  No retries, so each task has exactly one try.
"""

from __future__ import annotations

from airflow.sdk import dag, get_current_context, task


@dag(dag_id="harness_two_tasks", schedule=None, catchup=False, default_args={"retries": 0}, tags=["e2e"])
def harness_two_tasks():
    @task
    def print_marker():
        marker = get_current_context()["dag_run"].conf.get("marker", "no-marker-in-conf")
        print(f"harness marker: {marker}")

    @task
    def fail_on_purpose():
        raise RuntimeError("this task fails on purpose")

    print_marker()
    fail_on_purpose()


harness_two_tasks()
