"""The scheduler's remote logging settings as the workers' environment."""

from __future__ import annotations

import pytest

from airflow_mesos.executor.worker_logging import remote_logging_env


def conf(**logging):
    return lambda section, key: logging.get(key) if section == "logging" else None


def test_remote_logging_on_gives_the_worker_what_it_needs_to_upload():
    env = remote_logging_env(conf(remote_logging="True", remote_base_log_folder="s3://logs/tasks",
                                  remote_log_conn_id="task_logs_s3", delete_local_logs="False",
                                  remote_task_handler_kwargs='{"x": 1}', base_log_folder="/opt/airflow/logs"))
    assert env == {
        "AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
        "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": "s3://logs/tasks",
        "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "task_logs_s3",
        "AIRFLOW__LOGGING__DELETE_LOCAL_LOGS": "False",
    }


@pytest.mark.parametrize("value", [None, "", "False", "false", "0"])
def test_without_remote_logging_nothing_is_forwarded(value):
    assert remote_logging_env(conf(remote_logging=value, remote_base_log_folder="s3://logs/tasks")) == {}


def test_unset_options_are_left_to_the_workers_defaults():
    env = remote_logging_env(conf(remote_logging="true", remote_base_log_folder="s3://logs/tasks",
                                  remote_log_conn_id=""))
    assert env == {"AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
                   "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": "s3://logs/tasks"}
