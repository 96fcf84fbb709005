"""The executor's environment, as the agent sets it."""

from __future__ import annotations

import pytest

from airflow_mesos.warm.settings import DEFAULT_IDLE_TIMEOUT, SettingsError, parse_duration, settings_from_env

BASE = {"MESOS_FRAMEWORK_ID": "fw", "MESOS_EXECUTOR_ID": "ex", "MESOS_AGENT_ENDPOINT": "10.0.0.1:5051",
        "MESOS_SANDBOX": "/sandbox"}


@pytest.mark.parametrize(("text", "seconds"), [
    ("5secs", 5.0), ("1.5mins", 90.0), ("250ms", 0.25), ("2hrs", 7200.0), ("1days", 86400.0), ("1weeks", 604800.0),
    ("10us", 1e-5), ("3", 3.0), ("0", 0.0),
])
def test_durations_in_mesos_form(text, seconds):
    assert parse_duration("X", text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "five", "5 parsecs", "-1secs"])
def test_a_bad_duration_names_the_variable(text):
    with pytest.raises(SettingsError, match="X="):
        parse_duration("X", text)


def test_the_plain_environment():
    s = settings_from_env(BASE)
    assert (s.framework_id, s.executor_id, s.sandbox) == ("fw", "ex", "/sandbox")
    assert s.agent_url == "http://10.0.0.1:5051/api/v1/executor"
    assert not s.checkpoint and s.shutdown_grace == 5.0 and s.idle_timeout == DEFAULT_IDLE_TIMEOUT


def test_the_agent_pid_when_there_is_no_endpoint():
    env = {k: v for k, v in BASE.items() if k != "MESOS_AGENT_ENDPOINT"}
    assert settings_from_env({**env, "MESOS_SLAVE_PID": "slave(1)@10.0.0.2:5051"}).agent_url == \
        "http://10.0.0.2:5051/slave(1)/api/v1/executor"


def test_checkpointing_needs_the_recovery_settings():
    with pytest.raises(SettingsError, match="MESOS_RECOVERY_TIMEOUT is not set"):
        settings_from_env({**BASE, "MESOS_CHECKPOINT": "1"})
    s = settings_from_env({**BASE, "MESOS_CHECKPOINT": "1", "MESOS_RECOVERY_TIMEOUT": "15mins",
                           "MESOS_SUBSCRIPTION_BACKOFF_MAX": "2secs"})
    assert s.checkpoint and s.recovery_timeout == 900.0 and s.subscription_backoff_max == 2.0


def test_idle_timeout_and_shutdown_grace():
    s = settings_from_env({**BASE, "AIRFLOW_MESOS_WARM_IDLE_TIMEOUT": "15",
                           "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": "10secs"})
    assert s.idle_timeout == 15.0 and s.shutdown_grace == 10.0
    with pytest.raises(SettingsError, match="AIRFLOW_MESOS_WARM_IDLE_TIMEOUT"):
        settings_from_env({**BASE, "AIRFLOW_MESOS_WARM_IDLE_TIMEOUT": "soon"})


@pytest.mark.parametrize("missing", ["MESOS_FRAMEWORK_ID", "MESOS_EXECUTOR_ID", "MESOS_AGENT_ENDPOINT"])
def test_a_missing_variable_is_named(missing):
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        settings_from_env(env)


def test_the_auth_token_is_never_shown():
    s = settings_from_env({**BASE, "MESOS_EXECUTOR_AUTHENTICATION_TOKEN": "hunter2"})
    assert s.auth_token == "hunter2" and "hunter2" not in repr(s)
