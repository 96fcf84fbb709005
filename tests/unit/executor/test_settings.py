"""``[mesos]`` parsed into MesosSettings: every option, its default, its errors, and no secret in plain."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from airflow_mesos.exceptions import AirflowMesosError
from airflow_mesos.executor.settings import DictConf, MasterAddress, Secret, SettingsError, load_settings
from airflow_mesos.executor.task_config import DockerVolume, HostPathVolume
from airflow_mesos.mesos.detector import ZooKeeperSpec, parse_master_spec
from airflow_mesos.provider import MESOS_CONFIG_OPTIONS

CORE = {"execution_api_server_url": "http://airflow-api:8080/execution/", "dags_folder": "/opt/airflow/dags"}


def load(mesos=None, core=CORE, **kwargs):
    kwargs.setdefault("default_user", lambda: "scheduler-user")
    kwargs.setdefault("default_python", "/usr/bin/python3.11")
    return load_settings(DictConf({"mesos": mesos or {}, "core": core}), **kwargs)


def error_of(mesos=None, core=CORE) -> str:
    with pytest.raises(SettingsError) as info:
        load(mesos, core)
    return str(info.value)


def test_defaults_are_the_documented_ones():
    s = load()
    assert s.master == "http://127.0.0.1:5050" and s.master.spec == ("http://127.0.0.1:5050",)
    assert (s.framework_name, s.role, s.roles, s.default_role) == ("airflow", "*", ("*",), "*")
    assert (s.principal, s.secret, s.secret_value(), s.ca_file) == (None, None, None, None)
    assert s.checkpoint is True and s.failover_timeout == 604800
    assert (s.container_type, s.image, s.force_pull) == ("mesos", "airflow-mesos/airflow:0.1.0", False)
    assert (s.cpus, s.mem, s.disk, s.gpus) == (1.0, 1024.0, 1024.0, 0)
    assert (s.network, s.volumes, dict(s.env)) == ("host", (), {})
    assert (s.refuse_seconds, s.revive_min_interval) == (5, 0.5)
    assert s.task_api_url == CORE["execution_api_server_url"]
    assert (s.framework_user, s.python, s.dags_folder) == ("scheduler-user", "/usr/bin/python3.11", "/opt/airflow/dags")
    assert (s.unreachable_grace, s.kill_grace_period, s.token_remint_fraction) == (300, 30, 0.5)
    assert s.allow_plain_token_for_docker is False
    assert (s.request_timeout, s.task_log_max_bytes) == (30, 1048576)


def test_the_documented_defaults_written_out_give_the_same_settings():
    # What Airflow's conf returns for an unset option is the provider default: same result as a fake without it.
    documented = {name: o["default"] for name, o in MESOS_CONFIG_OPTIONS.items() if o["default"] is not None}
    assert load(documented) == load()


def test_every_option_is_a_field():
    fields = {f.name for f in dataclasses.fields(load())}
    assert fields == set(MESOS_CONFIG_OPTIONS)


def test_process_facts_default_to_this_process():
    import getpass
    import sys

    s = load_settings(DictConf({"core": CORE}))
    assert s.framework_user == getpass.getuser() and s.python == sys.executable


@pytest.mark.parametrize(
    "option, text, attribute, expected",
    [
        ("master", "http://m1:5050, http://m2:5050", "master", "http://m1:5050,http://m2:5050"),
        ("master", "m1,m2:5051", "master", "http://m1:5050,http://m2:5051"),
        ("framework_name", "airflow-prod", "framework_name", "airflow-prod"),
        ("role", " airflow , airflow-gpu ", "roles", ("airflow", "airflow-gpu")),
        ("role", "airflow,airflow-gpu", "default_role", "airflow"),
        ("role", "eng/airflow", "roles", ("eng/airflow",)),
        ("principal", "airflow", "principal", "airflow"),
        ("ca_file", "/etc/ssl/ca.pem", "ca_file", "/etc/ssl/ca.pem"),
        ("checkpoint", "false", "checkpoint", False),
        ("checkpoint", "0", "checkpoint", False),
        ("checkpoint", "T", "checkpoint", True),
        ("failover_timeout", "86400", "failover_timeout", 86400.0),
        ("failover_timeout", "0", "failover_timeout", 0.0),
        ("container_type", "process", "container_type", "process"),
        ("container_type", "MESOS", "container_type", "mesos"),
        ("image", "registry:5000/airflow:1", "image", "registry:5000/airflow:1"),
        ("force_pull", "True", "force_pull", True),
        ("cpus", "0.25", "cpus", 0.25),
        ("mem", "4096", "mem", 4096.0),
        ("disk", "0", "disk", 0.0),
        ("gpus", "2", "gpus", 2),
        ("gpus", "2.0", "gpus", 2),  # as Airflow's getint reads it
        ("network", "airflow-net", "network", "airflow-net"),
        ("refuse_seconds", "0.5", "refuse_seconds", 0.5),
        ("revive_min_interval", "10", "revive_min_interval", 10.0),
        ("task_api_url", "https://api.example.com/execution/", "task_api_url", "https://api.example.com/execution/"),
        ("framework_user", "airflow", "framework_user", "airflow"),
        ("python", "/opt/venv/bin/python", "python", "/opt/venv/bin/python"),
        ("dags_folder", "/srv/dags", "dags_folder", "/srv/dags"),
        ("unreachable_grace", "900", "unreachable_grace", 900.0),
        ("kill_grace_period", "5", "kill_grace_period", 5.0),
        ("token_remint_fraction", "1", "token_remint_fraction", 1.0),
        ("token_remint_fraction", "0", "token_remint_fraction", 0.0),
        ("request_timeout", "2.5", "request_timeout", 2.5),
        ("task_log_max_bytes", "4096", "task_log_max_bytes", 4096),
        ("env", '{"TZ": "UTC", "PIP_INDEX_URL": "https://pypi/simple"}', "env",
         {"TZ": "UTC", "PIP_INDEX_URL": "https://pypi/simple"}),
    ],
)
def test_option_is_parsed(option, text, attribute, expected):
    value = getattr(load({option: text}), attribute)
    assert (dict(value) if attribute == "env" else value) == expected


def test_docker_with_the_opt_in():
    s = load({"container_type": "docker", "allow_plain_token_for_docker": "True"})
    assert (s.container_type, s.allow_plain_token_for_docker) == ("docker", True)


def test_empty_values_are_unset():
    s = load({"cpus": "", "principal": " ", "env": "", "volumes": ""})
    assert (s.cpus, s.principal, dict(s.env), s.volumes) == (1.0, None, {}, ())


def test_zookeeper_master_keeps_its_credentials_out_of_sight():
    s = load({"master": "zk://airflow:zk-pass@zk1:2181,zk2:2181/mesos"})
    assert isinstance(s.master.spec, ZooKeeperSpec)
    for shown in (repr(s), str(s), str(s.master), repr(s.master), f"{s.master}", "%s" % s.master):
        assert "zk-pass" not in shown
    assert str(s.master) == "zk://***@zk1:2181,zk2:2181/mesos"
    # The driver parses the real text (string operations see it).
    spec = parse_master_spec(s.master)
    assert spec.credentials == "airflow:zk-pass" and spec.hosts == "zk1:2181,zk2:2181"
    assert pickle.loads(pickle.dumps(s.master)).spec == s.master.spec


def test_master_without_credentials_shows_as_is():
    s = load({"master": "zk://zk1:2181/mesos"})
    assert str(s.master) == "zk://zk1:2181/mesos" and isinstance(s.master, MasterAddress)


def test_secret_never_shows():
    s = load({"principal": "airflow", "secret": "s3cr3t-value\n"})
    assert s.secret_value() == "s3cr3t-value"  # a secret_cmd's trailing newline is not part of it
    assert "s3cr3t-value" not in repr(s) and "s3cr3t-value" not in str(s)
    assert repr(s.secret) == str(s.secret) == "Secret('***')"
    assert s.secret == Secret("s3cr3t-value") and s.secret.reveal() == "s3cr3t-value"


def test_settings_are_frozen():
    s = load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.cpus = 3
    with pytest.raises(TypeError):
        s.env["X"] = "y"


def test_settings_copy_pickle_and_asdict_without_revealing_anything():
    import copy

    s = load({"master": "zk://u:zk-pass@zk1:2181/mesos", "principal": "p", "secret": "s3cr3t-value",
              "env": '{"TZ": "UTC"}', "volumes": '["/a:/b"]'})
    assert copy.deepcopy(s) == s and pickle.loads(pickle.dumps(s)) == s
    as_dict = dataclasses.asdict(s)
    assert as_dict["env"] == {"TZ": "UTC"} and as_dict["secret"] == Secret("s3cr3t-value")
    assert "s3cr3t-value" not in repr(as_dict) and "zk-pass" not in repr(as_dict)
    with pytest.raises(TypeError):
        s.env.update(X="y")


def test_volumes_in_every_form():
    s = load({"volumes": '["/srv/data:/data:ro", "/srv/x:/x", '
                         '{"host_path": "/var/cache/", "container_path": "/cache/"}, '
                         '{"docker_volume": "pgdata", "driver": "rexray", "driver_options": {"size": "10"}, '
                         '"container_path": "/pg", "mode": "rw"}]'})
    assert s.volumes == (
        HostPathVolume(host_path="/srv/data", container_path="/data", mode="RO"),
        HostPathVolume(host_path="/srv/x", container_path="/x", mode="RW"),
        HostPathVolume(host_path="/var/cache", container_path="/cache", mode="RW"),
        DockerVolume(docker_volume="pgdata", driver="rexray", driver_options={"size": "10"}, container_path="/pg"),
    )


def test_volumes_as_a_plain_comma_list_of_short_forms():
    s = load({"volumes": "/srv/data:/data:RO, /logs:/opt/airflow/logs"})
    assert [(v.host_path, v.container_path, v.mode) for v in s.volumes] == [
        ("/srv/data", "/data", "RO"), ("/logs", "/opt/airflow/logs", "RW")]


def test_default_role_is_first_and_all_are_subscribed():
    s = load({"role": "airflow,gpu,*"})
    assert (s.roles, s.default_role, s.role) == (("airflow", "gpu", "*"), "airflow", "airflow,gpu,*")


@pytest.mark.parametrize(
    "mesos, message",
    [
        ({"cpus": "abc"}, "[mesos] cpus: expected a number > 0, got 'abc'"),
        ({"cpus": "0"}, "[mesos] cpus: expected a number > 0, got '0'"),
        ({"cpus": "inf"}, "[mesos] cpus: expected a number > 0, got 'inf'"),
        ({"mem": "-5"}, "[mesos] mem: expected a number > 0, got '-5'"),
        ({"disk": "-1"}, "[mesos] disk: expected a number >= 0, got '-1'"),
        ({"gpus": "1.5"}, "[mesos] gpus: expected a whole number >= 0, got '1.5'"),
        ({"gpus": "-1"}, "[mesos] gpus: expected a whole number >= 0, got '-1'"),
        ({"failover_timeout": "-1"}, "[mesos] failover_timeout: expected a number >= 0, got '-1'"),
        ({"refuse_seconds": "soon"}, "[mesos] refuse_seconds: expected a number >= 0, got 'soon'"),
        ({"revive_min_interval": "-2"}, "[mesos] revive_min_interval: expected a number >= 0, got '-2'"),
        ({"unreachable_grace": "x"}, "[mesos] unreachable_grace: expected a number >= 0, got 'x'"),
        ({"kill_grace_period": "-1"}, "[mesos] kill_grace_period: expected a number >= 0, got '-1'"),
        ({"token_remint_fraction": "1.5"}, "[mesos] token_remint_fraction: expected a number from 0 to 1, got '1.5'"),
        ({"request_timeout": "0"}, "[mesos] request_timeout: expected a number > 0, got '0'"),
        ({"task_log_max_bytes": "1MB"}, "[mesos] task_log_max_bytes: expected a whole number >= 1, got '1MB'"),
        ({"checkpoint": "yes"}, "[mesos] checkpoint: expected True or False, got 'yes'"),
        ({"force_pull": "maybe"}, "[mesos] force_pull: expected True or False, got 'maybe'"),
        ({"allow_plain_token_for_docker": "2"}, "[mesos] allow_plain_token_for_docker: expected True or False, got '2'"),
        ({"container_type": "podman"}, "[mesos] container_type: expected one of mesos, docker, process, got 'podman'"),
        ({"image": "my image"}, "[mesos] image: an image name has no whitespace, got 'my image'"),
        ({"network": "my net"}, "[mesos] network: a network name has no whitespace, got 'my net'"),
        ({"secret": "s"}, "[mesos] secret: set without [mesos] principal; authentication needs both"),
        ({"role": "a,,b"}, "[mesos] role: a role name must not be empty (in 'a,,b')"),
        ({"role": "-x"}, "[mesos] role: role '-x': a role name (or part) must not start with '-' (in '-x')"),
        ({"role": "a/../b"}, "[mesos] role: role 'a/../b': '..' is not allowed as (a part of) a role name"),
        ({"role": "a b"}, "[mesos] role: role 'a b': a role name must not contain whitespace"),
        ({"role": "a,b,a"}, "[mesos] role: 'a' listed twice (in 'a,b,a')"),
        ({"master": "ftp://m1"}, "[mesos] master: master URL 'ftp://m1': scheme must be http or https"),
        ({"master": "zk://zk1/mesos"}, "[mesos] master: ZooKeeper host 'zk1' in the master address: expected host:port"),
        ({"master": "zk://zk1:2181"}, "[mesos] master: ZooKeeper master address 'zk://zk1:2181': expected"),
        ({"master": "http://m1:5050/somewhere"}, "[mesos] master: master URL 'http://m1:5050/somewhere': expected only"),
        ({"task_api_url": "airflow-api:8080"},
         "[mesos] task_api_url: expected an http(s) URL such as http://airflow-api:8080/execution/, got "
         "'airflow-api:8080'"),
        ({"dags_folder": "dags"}, "[mesos] dags_folder: expected an absolute path (as tasks see it), got 'dags'"),
        ({"volumes": '[{"host_path": "/a"'}, "[mesos] volumes: not valid JSON ("),
        ({"volumes": '{"host_path": "/a", "container_path": "/b"}'}, "[mesos] volumes: expected a JSON list"),
        ({"volumes": '["/a"]'}, "[mesos] volumes[0]: expected 'host_path:container_path[:ro|rw]', got '/a'"),
        ({"volumes": '["/a:/b:rx"]'}, "[mesos] volumes[0]: the mode after the second ':' must be ro or rw"),
        ({"volumes": '["a:/b"]'}, "[mesos] volumes[0].host_path: host_path must be an absolute path on the agent"),
        ({"volumes": '["/a:b"]'}, "[mesos] volumes[0].container_path: container_path must be an absolute path"),
        ({"volumes": '[{"host_path": "/a", "container_path": "/b", "mode": "ro", "size": 1}]'},
         "[mesos] volumes[0].size: unknown key"),
        ({"volumes": '[{"host_path": "/a", "contanier_path": "/b"}]'},
         "[mesos] volumes[0].contanier_path: unknown key (did you mean 'container_path'?)"),
        ({"volumes": '["/a:/b", "/c:/b/"]'}, "[mesos] volumes: volumes [0] and [1] both mount at container_path '/b'"),
        ({"env": "TZ=UTC"}, "[mesos] env: not valid JSON"),
        ({"env": '["TZ"]'}, "[mesos] env: expected a JSON object such as {\"TZ\": \"UTC\"}, got a JSON list"),
        ({"env": '{"N": 3}'}, "[mesos] env.N: Input should be a valid string"),
        ({"env": '{"A=B": "c"}'}, "[mesos] env: 'A=B' is not an environment variable name"),
        ({"gpus": "1", "container_type": "docker", "allow_plain_token_for_docker": "True"},
         "[mesos] gpus: GPUs need the Mesos containerizer (container_type 'mesos' or 'process')"),
        ({"image": "", "container_type": "mesos"}, None),  # empty = unset: the default image
    ],
)
def test_option_errors_name_the_option(mesos, message):
    if message is None:
        assert load(mesos).image == "airflow-mesos/airflow:0.1.0"
        return
    assert message in error_of(mesos)


def test_the_error_is_the_package_error_and_a_value_error():
    with pytest.raises(AirflowMesosError):
        load({"cpus": "abc"})
    with pytest.raises(ValueError):
        load({"cpus": "abc"})


def test_every_problem_is_reported_in_option_order():
    with pytest.raises(SettingsError) as info:
        load({"task_log_max_bytes": "0", "cpus": "abc", "master": "ftp://x", "gpus": "x"})
    problems = info.value.problems
    assert [p.split(":")[0] for p in problems] == ["[mesos] master", "[mesos] cpus", "[mesos] gpus",
                                                   "[mesos] task_log_max_bytes"]
    assert str(info.value) == "; ".join(problems)


@pytest.mark.parametrize(
    "name",
    [
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD",
        "AIRFLOW__CORE__FERNET_KEY_SECRET",
        "AIRFLOW__API_AUTH__JWT_SECRET_CMD",
        "AIRFLOW__API__SECRET_KEY_SECRET",
        "AIRFLOW__CORE__SQL_ALCHEMY_CONN",
        "airflow__core__fernet_key",
        "AIRFLOW__TEAM1___API_AUTH__JWT_SECRET",
        "AIRFLOW__MESOS__SECRET",
    ],
)
def test_env_refuses_airflows_secrets_and_says_why(name):
    message = error_of({"env": f'{{"{name}": "the-actual-secret"}}'})
    assert f"[mesos] env.{name}: {name} is Airflow's secret" in message
    assert "tasks never get" in message and "Execution API URL and its token" in message
    assert "the-actual-secret" not in message


def test_docker_without_the_opt_in_is_refused_with_the_reason():
    message = error_of({"container_type": "docker"})
    assert message.startswith("[mesos] container_type: 'docker' needs [mesos] allow_plain_token_for_docker = True")
    assert "Mesos secrets work only with the Mesos containerizer" in message and "docs/secrets.md" in message


def test_task_api_url_falls_back_to_the_core_option_and_is_required():
    assert load({"task_api_url": "http://other:8080/execution/"}).task_api_url == "http://other:8080/execution/"
    assert load(core={**CORE}).task_api_url == CORE["execution_api_server_url"]
    message = error_of(core={"dags_folder": "/d"})
    assert message.startswith("[mesos] task_api_url: not set, and neither is [core] execution_api_server_url")
    assert "core.execution_api_server_url" not in message
    bad_core = error_of(core={"execution_api_server_url": "localhost:8080", "dags_folder": "/d"})
    assert "[mesos] task_api_url (from [core] execution_api_server_url): expected an http(s) URL" in bad_core


def test_dags_folder_falls_back_to_the_core_option_and_is_required():
    assert load({"dags_folder": "/srv/dags"}).dags_folder == "/srv/dags"
    message = error_of(core={"execution_api_server_url": "http://a:8080/execution/"})
    assert message == "[mesos] dags_folder: not set, and neither is [core] dags_folder"


def test_a_failing_secret_command_is_reported_without_its_output():
    class FailingConf(DictConf):
        def get(self, section, key, **kwargs):
            if key == "secret":
                raise RuntimeError("Cannot execute cat /x. Output: half-a-secret")
            return super().get(section, key, **kwargs)

    with pytest.raises(SettingsError) as info:
        load_settings(FailingConf({"mesos": {"principal": "p"}, "core": CORE}))
    assert str(info.value).startswith("[mesos] secret: could not be read (RuntimeError")
    assert "half-a-secret" not in str(info.value)
