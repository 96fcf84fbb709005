"""The provider metadata: the [mesos] section as Airflow 3.3.2 reads it (schema, defaults, sensitive secret, CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_mesos.executor.settings import load_settings
from airflow_mesos.provider import MESOS_CONFIG_OPTIONS, get_cli_commands, get_provider_info

OPTION_NAMES = [
    "master", "framework_name", "role", "principal", "secret", "ca_file", "checkpoint", "failover_timeout",
    "container_type", "image", "force_pull", "cpus", "mem", "disk", "gpus", "network", "volumes", "env",
    "refuse_seconds", "revive_min_interval", "offer_hold_seconds", "task_api_url", "framework_user", "python", "dags_folder",
    "unreachable_grace", "partition_aware", "reconcile_grace", "adopt_timeout", "placement_timeout",
    "health_check_port", "health_disconnect_threshold", "kill_grace_period", "token_remint_fraction", "allow_plain_token_for_docker",
    "request_timeout", "task_log_max_bytes", "warm_workers", "warm_executor_cpus", "warm_executor_mem",
    "warm_idle_timeout",
]


def test_the_option_names_are_the_published_ones():
    assert list(get_provider_info()["config"]["mesos"]["options"]) == OPTION_NAMES


@pytest.mark.parametrize("name", OPTION_NAMES)
def test_every_option_is_fully_described(name):
    option = get_provider_info()["config"]["mesos"]["options"][name]
    assert isinstance(option["description"], str) and len(option["description"]) > 20
    assert option["version_added"] == "0.1.0"
    assert option["type"] in ("string", "integer", "float", "boolean")
    assert option["default"] is None or isinstance(option["default"], str)
    assert isinstance(option["example"], str) and option["example"]
    assert option.get("sensitive", False) is (name == "secret")


def test_typed_defaults_parse_as_their_type():
    for name, option in MESOS_CONFIG_OPTIONS.items():
        default = option["default"]
        if default is None or option["type"] == "string":
            continue
        if option["type"] == "boolean":
            assert default in ("True", "False"), name
        elif option["type"] == "integer":
            int(default)
        else:
            float(default)


def test_the_section_has_a_description_and_validates_against_airflows_schema():
    import jsonschema

    import airflow

    info = get_provider_info()
    assert info["config"]["mesos"]["description"]
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)


def test_the_cli_hint_names_an_importable_function():
    from airflow.providers_manager import import_string  # what Airflow uses to load the "cli" entries

    (name,) = get_provider_info()["cli"]
    assert import_string(name) is get_cli_commands
    assert [group.name for group in get_cli_commands()] == ["mesos"]  # airflow mesos status


def test_get_provider_info_hands_out_copies():
    first = get_provider_info()
    first["config"]["mesos"]["options"]["cpus"]["default"] = "99"
    assert get_provider_info()["config"]["mesos"]["options"]["cpus"]["default"] == "1.0"


# --------------------------------------------------------------------------- Airflow's own conf


def test_airflow_registers_the_secret_as_sensitive(airflow_conf):
    assert ("mesos", "secret") in airflow_conf.sensitive_config_values
    assert airflow_conf.is_sensitive_option("mesos", "secret")


def test_airflow_returns_the_provider_defaults(airflow_conf):
    assert airflow_conf.get("mesos", "master") == "http://127.0.0.1:5050"
    assert airflow_conf.getfloat("mesos", "cpus") == 1.0
    assert airflow_conf.getboolean("mesos", "checkpoint") is True
    assert airflow_conf.get("mesos", "principal", fallback=None) is None


def test_secret_cmd_env_var_works_as_for_airflows_own_options(airflow_conf, monkeypatch):
    monkeypatch.setenv("AIRFLOW__MESOS__SECRET_CMD", "echo x")
    monkeypatch.setenv("AIRFLOW__MESOS__PRINCIPAL", "airflow")
    assert airflow_conf.get("mesos", "secret") == "x\n"  # Airflow keeps the command's newline ...
    settings = load_settings(airflow_conf)
    assert settings.secret_value() == "x"  # ... which is not part of the secret
    assert settings.principal == "airflow"


def test_secret_cmd_in_the_config_file_works(airflow_conf):
    from airflow.configuration import AirflowConfigParser

    parser = AirflowConfigParser()
    parser.read_string("[mesos]\nprincipal = airflow\nsecret_cmd = echo from-file\n")
    assert parser.get("mesos", "secret") == "from-file\n"


def test_team_scoped_secret_cmd_env_var_works(airflow_conf, monkeypatch):
    from airflow.executors.base_executor import ExecutorConf

    monkeypatch.setenv("AIRFLOW__TEAM1___MESOS__SECRET_CMD", "echo team-secret")
    monkeypatch.setenv("AIRFLOW__TEAM1___MESOS__PRINCIPAL", "team1")
    monkeypatch.setenv("AIRFLOW__TEAM1___CORE__EXECUTION_API_SERVER_URL", "http://team1-api:8080/execution/")
    settings = load_settings(ExecutorConf("team1"))
    assert (settings.principal, settings.secret_value()) == ("team1", "team-secret")
    assert settings.task_api_url == "http://team1-api:8080/execution/"


def test_config_list_shows_the_section(tmp_path):
    # The one slow test: the real CLI in a fresh AIRFLOW_HOME.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__MESOS__CPUS="3", AIRFLOW__MESOS__SECRET="hunter2-secret")
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run(
        [str(airflow), "config", "list", "--section", "mesos", "--show-values", "--hide-sensitive",
         "--include-descriptions"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "[mesos]"
    for name in OPTION_NAMES:
        assert any(line.lstrip("# ").startswith(f"{name} =") for line in lines), name
    assert "cpus = 3" in lines and "secret = < hidden >" in lines
    assert "master = http://127.0.0.1:5050" in lines
    assert "hunter2-secret" not in result.stdout + result.stderr
    assert "define the 'cli' section" not in result.stdout + result.stderr
