"""What a warm task may set for itself: Airflow's import-time settings are its executor's."""

from __future__ import annotations

import pytest

from airflow_mesos.warm.runner import import_time_conflict

EXECUTOR = {"AIRFLOW_HOME": "/opt/airflow", "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "3",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://api/execution/", "PATH": "/bin"}


@pytest.mark.parametrize("task", [
    {},
    {"MY_VAR": "anything", "PATH": "/usr/bin"},  # not Airflow's: the task's own environment
    {"AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://other/execution/"},  # read when the task runs
    {"AIRFLOW__CORE__DAGS_FOLDER": "/dags"},  # re-read in each task
    {"AIRFLOW_HOME": "/opt/airflow", "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "3"},  # the executor's own
])
def test_what_a_warm_task_may_set(task):
    assert import_time_conflict(task, EXECUTOR) is None


@pytest.mark.parametrize(("task", "name", "how"), [
    ({"AIRFLOW_HOME": "/elsewhere"}, "AIRFLOW_HOME", "another value"),
    ({"AIRFLOW_CONFIG": "/x.cfg"}, "AIRFLOW_CONFIG", "unset"),
    ({"AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "1"}, "AIRFLOW__WORKERS__EXECUTION_API_RETRIES", "another value"),
    ({"AIRFLOW__API__SSL_CERT": "/secret/cert.pem"}, "AIRFLOW__API__SSL_CERT", "unset"),
])
def test_an_import_time_setting_of_its_own_is_refused_by_name_without_its_value(task, name, how):
    problem = import_time_conflict(task, EXECUTOR)
    assert problem is not None and f"the task sets {name}, but" in problem and how in problem
    assert all(value not in problem for value in task.values())
