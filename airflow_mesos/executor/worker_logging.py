"""The scheduler's remote logging settings, as environment for the workers it launches.

A worker uploads its try's log at the end (``airflow.sdk.log.upload_to_remote``) when
its own configuration says ``[logging] remote_logging``; the connection it uploads
with comes from the Execution API.  So that turning remote logging on in the
scheduler is enough, the executor hands its tasks these settings as plain
environment variables (none is a secret: a folder URL, a connection *id*, booleans).
``[mesos] env`` and a task's ``env`` still win, for a worker that must differ.

Pure: the configuration is read through the function passed in.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["FORWARDED_OPTIONS", "remote_logging_env"]

FORWARDED_OPTIONS = ("remote_logging", "remote_base_log_folder", "remote_log_conn_id", "delete_local_logs")
"""``[logging]`` options a worker needs to upload its log; only while ``remote_logging`` is on."""

_TRUE = frozenset({"true", "t", "1", "yes", "y", "on"})


def remote_logging_env(get: Callable[[str, str], str | None]) -> dict[str, str]:
    """``{"AIRFLOW__LOGGING__REMOTE_LOGGING": "True", ...}`` when ``[logging] remote_logging`` is on, else ``{}``.

    :param get: ``get(section, key)``: the option's value, or ``None`` when it is not set.
    """
    if str(get("logging", "remote_logging") or "").strip().lower() not in _TRUE:
        return {}
    env = {}
    for option in FORWARDED_OPTIONS:
        value = get("logging", option)
        if value is not None and str(value) != "":
            env[f"AIRFLOW__LOGGING__{option.upper()}"] = str(value)
    env["AIRFLOW__LOGGING__REMOTE_LOGGING"] = "True"
    return env
