"""What the agent tells a warm executor through its environment.  Pure: parses a mapping.

The agent starts an executor with ``MESOS_*`` variables (``src/slave/slave.cpp``
``executorEnvironment``; read by the v1 executor library, ``src/executor/executor.cpp``):

- ``MESOS_FRAMEWORK_ID``, ``MESOS_EXECUTOR_ID``: who we are, in every call;
- ``MESOS_AGENT_ENDPOINT`` (``host:port``) or ``MESOS_SLAVE_PID`` (``slave(1)@ip:port``):
  where ``/api/v1/executor`` is;
- ``MESOS_SANDBOX`` (in the container) or ``MESOS_DIRECTORY`` (on the host): the sandbox;
- ``MESOS_CHECKPOINT`` (``1`` when the framework checkpoints) and then
  ``MESOS_RECOVERY_TIMEOUT`` and ``MESOS_SUBSCRIPTION_BACKOFF_MAX``: whether and how
  long to wait for a restarting agent;
- ``MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD``: how long a SHUTDOWN may take;
- ``MESOS_EXECUTOR_AUTHENTICATION_TOKEN`` (optional): a bearer token for the calls.

and ours, from the ExecutorInfo's command environment:

- ``AIRFLOW_MESOS_WARM_IDLE_TIMEOUT``: seconds without a task after which the
  executor exits (default :data:`DEFAULT_IDLE_TIMEOUT`; ``0`` exits as soon as
  the last task is done).

Durations are Mesos' ``Duration::parse`` form (``5secs``, ``15mins``, ``100ms``);
a plain number is taken as seconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from airflow_mesos.exceptions import AirflowMesosError

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_SHUTDOWN_GRACE",
    "IDLE_TIMEOUT_VAR",
    "ExecutorSettings",
    "SettingsError",
    "parse_duration",
    "settings_from_env",
]

IDLE_TIMEOUT_VAR = "AIRFLOW_MESOS_WARM_IDLE_TIMEOUT"
AUTH_TOKEN_VAR = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"

DEFAULT_IDLE_TIMEOUT = 60.0
"""A minute: long enough that the tasks of one DAG run, arriving a scheduler loop or an offer apart,
land in the running executor; short enough that an agent gives its executor's resources back soon
after the work stops."""

DEFAULT_SHUTDOWN_GRACE = 5.0
"""Mesos' ``DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD``; used only when the agent did not say (a hand start)."""

EXECUTOR_API_PATH = "/api/v1/executor"

_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "secs": 1.0, "mins": 60.0, "hrs": 3600.0,
          "days": 86400.0, "weeks": 604800.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-z]*)\s*$")


class SettingsError(AirflowMesosError, ValueError):
    """The executor's environment is missing a variable or has one it cannot read; the message names it."""


def parse_duration(name: str, text: str) -> float:
    """Seconds in ``text`` (``"5secs"``, ``"1.5mins"``, ``"250ms"``, or a plain number of seconds).

    :raises SettingsError: naming ``name`` when ``text`` is not a duration.
    """
    match = _DURATION.match(text)
    unit = match.group(2) if match else None
    if match is None or (unit and unit not in _UNITS):
        raise SettingsError(f"{name}={text!r} is not a duration (a number and one of {', '.join(_UNITS)})")
    return float(match.group(1)) * _UNITS.get(unit or "secs", 1.0)


@dataclass(frozen=True)
class ExecutorSettings:
    framework_id: str
    executor_id: str
    agent_url: str
    """``http://host:port/api/v1/executor`` (or under ``/slave(1)`` when only the PID was given)."""
    sandbox: str
    checkpoint: bool
    recovery_timeout: float
    subscription_backoff_max: float
    shutdown_grace: float
    idle_timeout: float
    auth_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        # The auth token is a credential for the agent's API: never shown.
        return (f"ExecutorSettings(framework_id={self.framework_id!r}, executor_id={self.executor_id!r}, "
                f"agent_url={self.agent_url!r}, sandbox={self.sandbox!r}, checkpoint={self.checkpoint}, "
                f"recovery_timeout={self.recovery_timeout}, "
                f"subscription_backoff_max={self.subscription_backoff_max}, "
                f"shutdown_grace={self.shutdown_grace}, idle_timeout={self.idle_timeout}, "
                f"auth_token={'<set>' if self.auth_token else None})")


def _required(env: Mapping[str, str], name: str, why: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set ({why}); this command runs as a Mesos executor, started by an agent")
    return value


def _agent_url(env: Mapping[str, str]) -> str:
    endpoint = env.get("MESOS_AGENT_ENDPOINT", "").strip()
    if endpoint:
        if "://" in endpoint:
            return endpoint.rstrip("/") + EXECUTOR_API_PATH
        return f"http://{endpoint}{EXECUTOR_API_PATH}"
    pid = env.get("MESOS_SLAVE_PID", "").strip()
    if pid:
        process_id, at, address = pid.partition("@")
        if not at or not process_id or not address:
            raise SettingsError(f"MESOS_SLAVE_PID={pid!r} is not of the form 'slave(1)@host:port'")
        # The v1 executor library's URL: the agent process' id, then the API path.
        return f"http://{address}/{process_id}{EXECUTOR_API_PATH}"
    raise SettingsError("neither MESOS_AGENT_ENDPOINT nor MESOS_SLAVE_PID is set (where the agent's executor API "
                        "is); this command runs as a Mesos executor, started by an agent")


def settings_from_env(env: Mapping[str, str]) -> ExecutorSettings:
    """The settings in ``env`` (the executor's environment).

    :raises SettingsError: naming the first variable that is missing or malformed.
    """
    framework_id = _required(env, "MESOS_FRAMEWORK_ID", "every call names the framework")
    executor_id = _required(env, "MESOS_EXECUTOR_ID", "every call names the executor")
    agent_url = _agent_url(env)
    sandbox = env.get("MESOS_SANDBOX", "").strip() or _required(env, "MESOS_DIRECTORY", "the tasks' logs go there")
    checkpoint = env.get("MESOS_CHECKPOINT", "").strip() == "1"
    recovery_timeout = backoff_max = 0.0
    if checkpoint:
        # As the v1 library: a checkpointing framework's executor must know how long to wait for its agent.
        recovery_timeout = parse_duration(
            "MESOS_RECOVERY_TIMEOUT", _required(env, "MESOS_RECOVERY_TIMEOUT", "MESOS_CHECKPOINT=1"))
        backoff_max = parse_duration(
            "MESOS_SUBSCRIPTION_BACKOFF_MAX", _required(env, "MESOS_SUBSCRIPTION_BACKOFF_MAX", "MESOS_CHECKPOINT=1"))
    grace_text = env.get("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "").strip()
    shutdown_grace = (parse_duration("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", grace_text) if grace_text
                      else DEFAULT_SHUTDOWN_GRACE)
    idle_text = env.get(IDLE_TIMEOUT_VAR, "").strip()
    idle_timeout = parse_duration(IDLE_TIMEOUT_VAR, idle_text) if idle_text else DEFAULT_IDLE_TIMEOUT
    return ExecutorSettings(
        framework_id=framework_id,
        executor_id=executor_id,
        agent_url=agent_url,
        sandbox=sandbox,
        checkpoint=checkpoint,
        recovery_timeout=recovery_timeout,
        subscription_backoff_max=backoff_max,
        shutdown_grace=shutdown_grace,
        idle_timeout=idle_timeout,
        auth_token=env.get(AUTH_TOKEN_VAR) or None,
    )
