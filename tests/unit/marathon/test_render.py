"""Rendering: the shipped files equal the rendered defaults; settings errors name the field."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from airflow_mesos.marathon.errors import SettingsError
from airflow_mesos.marathon.render import group_to_json, render_group
from airflow_mesos.marathon.settings import Settings, load_settings, settings_as_dict
from airflow_mesos.marathon.validate import validate_group

ROOT = Path(__file__).resolve().parents[3]
SHIPPED_GROUP = ROOT / "marathon" / "airflow.json"
SHIPPED_SETTINGS = ROOT / "marathon" / "settings.default.json"
SCHEMA_DIR = ROOT / "airflow_mesos" / "marathon" / "schema"


def apps_by_name(group):
    return {app["id"].rsplit("/", 1)[1]: app for app in group["apps"]}


def test_shipped_group_is_exactly_the_rendered_default():
    assert SHIPPED_GROUP.read_text(encoding="utf-8") == group_to_json(render_group(load_settings()))


def test_shipped_settings_are_the_defaults_and_render_the_same():
    assert json.loads(SHIPPED_SETTINGS.read_text()) == settings_as_dict(Settings())
    assert render_group(load_settings(SHIPPED_SETTINGS)) == render_group(Settings())


def test_rendering_is_deterministic():
    assert group_to_json(render_group(load_settings())) == group_to_json(render_group(load_settings()))


def test_schema_files_are_the_upstream_bytes():
    expected = {
        "AppDefinition.json": "aaeb214488b85cee5f7a43cc2ea4ebb8e57fd30febf3592bd586b332c9749d48",
        "Group.json": "66174db757c74e8d147a4f7f6790ce02341e2fa0d22e012e659156ddbaf9aa45",
    }
    for name, digest in expected.items():
        assert hashlib.sha256((SCHEMA_DIR / name).read_bytes()).hexdigest() == digest


def test_default_group_shape():
    group = render_group(load_settings())
    apps = apps_by_name(group)
    assert list(apps) == ["postgres", "api-server", "scheduler", "dag-processor", "triggerer"]
    pg = apps["postgres"]
    assert pg["instances"] == 1
    assert pg["upgradeStrategy"] == {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}
    assert pg["unreachableStrategy"] == "disabled"
    assert pg["env"]["PGDATA"] == "/var/lib/postgresql/data/pgdata"
    assert pg["container"]["volumes"][0]["external"] == {
        "name": "airflow-pgdata", "provider": "dvdi", "options": {"dvdi/driver": "rexray"}}
    assert pg["env"]["POSTGRES_PASSWORD"] == {"secret": "db-password"}
    assert pg["secrets"] == {"db-password": {"source": "airflow/pg-password"}}
    for role in ("api-server", "scheduler", "dag-processor", "triggerer"):
        app = apps[role]
        assert app["args"] == [role]
        assert app["env"]["AIRFLOW_MESOS_DB_HOST"] == "postgres-airflow.marathon.mesos"
        assert app["env"]["AIRFLOW_MESOS_DB_PASSWORD"] == {"secret": "db-password"}
        assert app["env"]["AIRFLOW__CORE__EXECUTOR"] == "airflow_mesos.executor.MesosExecutor"
        assert app["healthChecks"]
    assert apps["api-server"]["dependencies"] == ["/airflow/postgres"]
    assert apps["api-server"]["healthChecks"][0]["path"] == "/api/v2/monitor/health"
    assert apps["scheduler"]["healthChecks"][0] | {"protocol": "MESOS_HTTP", "path": "/health"} == \
        apps["scheduler"]["healthChecks"][0]
    assert apps["scheduler"]["env"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"
    assert "--job-type TriggererJob --local" in apps["triggerer"]["healthChecks"][0]["command"]["value"]
    for role in ("scheduler", "dag-processor", "triggerer"):
        assert apps[role]["dependencies"] == ["/airflow/api-server"]
    # One Mesos framework subscription at a time: the old scheduler stops before the new one starts.
    assert apps["scheduler"]["upgradeStrategy"] == {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}


def test_no_secret_value_in_the_shipped_group():
    text = SHIPPED_GROUP.read_text()
    assert "postgresql://" not in text and "password=" not in text.lower()


def test_settings_and_overrides_change_the_group():
    settings = load_settings(overrides=[
        "group_id=/data/airflow", "image.tag=2.0.1", "apps.scheduler.instances=2", "mesos_dns.domain=dc1",
        "apps.postgres.image=postgres:16",
    ])
    group = render_group(settings)
    apps = apps_by_name(group)
    assert group["id"] == "/data/airflow"
    assert apps["scheduler"]["container"]["docker"]["image"] == "airflow-mesos/airflow:2.0.1"
    assert apps["scheduler"]["instances"] == 2
    assert apps["api-server"]["env"]["AIRFLOW_MESOS_DB_HOST"] == "postgres-airflow-data.marathon.dc1"
    assert apps["postgres"]["container"]["docker"]["image"] == "postgres:16"
    assert validate_group(group, domain="dc1") == []


def test_env_file_mode_has_no_marathon_secrets_and_validates():
    settings = load_settings(overrides=["secrets.mode=env-file", "secrets.env_file_uri=https://files.example/airflow.env"])
    group = render_group(settings)
    for app in group["apps"]:
        assert "secrets" not in app
        assert app["fetch"] == [{"uri": "https://files.example/airflow.env", "extract": False,
                                 "executable": False, "cache": False}]
        assert not any(isinstance(v, dict) for v in app["env"].values())
    apps = apps_by_name(group)
    assert apps["scheduler"]["env"]["AIRFLOW_MESOS_ENV_FILE"] == "/mnt/mesos/sandbox/airflow.env"
    assert '. "$MESOS_SANDBOX/airflow.env"' in apps["postgres"]["cmd"]
    assert validate_group(group) == []


def test_mesos_containerizer_may_size_the_volume():
    group = render_group(load_settings(overrides=["volume.containerizer=MESOS", "volume.size_gib=20"]))
    external = apps_by_name(group)["postgres"]["container"]["volumes"][0]["external"]
    assert external["size"] == 20
    assert validate_group(group) == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["apps.scheduler.cpus=-1"], "apps.scheduler.cpus: Input should be greater than or equal to 0.001"),
        (["apps.api_server.mem=\"lots\""], "apps.api_server.mem: Input should be a valid integer"),
        (["apps.postgres.instances=2"], "apps.postgres.instances: Input should be less than or equal to 1"),
        (["volume.size_gib=-5", "volume.containerizer=MESOS"], "volume.size_gib: Input should be greater than or equal to 1"),
        (["volume.size_gib=10"], "volume.size_gib: the Docker containerizer cannot size"),
        (["image.tagg=1"], "image.tagg: unknown setting"),
        (["colour=blue"], "colour: unknown setting"),
        (["group_id=airflow"], "group_id: 'airflow' must be absolute"),
        (["group_id=/Airflow"], "group_id: '/Airflow' segment 'Airflow' must be lower-case"),
        (["group_id=/airflow/tasks"], "must not end with a reserved word"),
        (["secrets.mode=env-file"], "secrets.env_file_uri: required when secrets.mode is 'env-file'"),
        (["secrets.mode=vault"], "secrets.mode: Input should be 'marathon' or 'env-file'"),
        (["secrets.mode=env-file", "secrets.env_file_uri=https://u:pw@files/x.env"], "must not carry credentials"),
        (["image.force_pull=\"yes\""], "image.force_pull: Input should be a valid boolean"),
        (["image=3"], "image: Input should be a valid dictionary"),
    ],
)
def test_settings_errors_name_the_field(overrides, message):
    with pytest.raises(SettingsError) as info:
        load_settings(overrides=overrides)
    assert any(message in problem for problem in info.value.problems), info.value.problems
    assert all(problem.endswith("[defaults + --set]") for problem in info.value.problems)


def test_override_syntax_errors():
    with pytest.raises(SettingsError, match="expected KEY=VALUE"):
        load_settings(overrides=["apps.scheduler.cpus"])
    with pytest.raises(SettingsError, match="group_id is not a section"):
        load_settings(overrides=["group_id=/a", "group_id.x=1"])


def test_settings_file_errors_name_the_file(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"image": {"tag": }')
    with pytest.raises(SettingsError, match=r"bad.json:1:\d+: invalid JSON"):
        load_settings(bad_json)
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load_settings(tmp_path / "missing.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"apps": {"triggerer": {"mem": 0}}}')
    with pytest.raises(SettingsError) as info:
        load_settings(wrong)
    assert info.value.problems == [
        f"apps.triggerer.mem: Input should be greater than or equal to 32 (got 0) [{wrong}]"]
