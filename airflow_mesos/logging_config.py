"""Airflow's logging configuration with the task log handler for Mesos tasks.

Set on the api-server (and, harmlessly, on every other component)::

    [logging]
    logging_config_class = airflow_mesos.logging_config.LOGGING_CONFIG

It is Airflow's default configuration (``airflow.config_templates.airflow_local_settings``,
so every ``[logging]`` option and remote logging work as without it) with one change:
the ``task`` handler is :class:`~airflow_mesos.executor.task_log_handler.MesosTaskHandler`,
which reads a finished Mesos try from its sandbox, with Mesos' word on it, where
Airflow would ask a log server that Mesos tasks do not run.

``REMOTE_TASK_LOG`` and ``DEFAULT_REMOTE_CONN_ID`` are Airflow's own, re-exported:
Airflow looks for them in the module that holds ``logging_config_class``.
"""

from __future__ import annotations

import copy

from airflow.config_templates import airflow_local_settings as _airflow_default

__all__ = ["DEFAULT_REMOTE_CONN_ID", "LOGGING_CONFIG", "REMOTE_TASK_LOG", "TASK_HANDLER_CLASS"]

TASK_HANDLER_CLASS = "airflow_mesos.executor.task_log_handler.MesosTaskHandler"

LOGGING_CONFIG = copy.deepcopy(_airflow_default.DEFAULT_LOGGING_CONFIG)
LOGGING_CONFIG["handlers"]["task"]["class"] = TASK_HANDLER_CLASS

REMOTE_TASK_LOG = _airflow_default.REMOTE_TASK_LOG
DEFAULT_REMOTE_CONN_ID = _airflow_default.DEFAULT_REMOTE_CONN_ID
