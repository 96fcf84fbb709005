"""executor_config={"mesos": {...}}: the schema, its error messages, resolution against [mesos], the DAG helper."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from airflow_mesos.exceptions import AirflowMesosError
from airflow_mesos.executor.constraints import Constraint
from airflow_mesos.executor.settings import DictConf, load_settings
from airflow_mesos.executor.task_config import (
    DockerVolume,
    HostPathVolume,
    TaskConfig,
    TaskConfigError,
    TaskSpec,
    mesos_executor_config,
    parse_executor_config,
    resolve,
)

CORE = {"execution_api_server_url": "http://airflow-api:8080/execution/", "dags_folder": "/opt/airflow/dags"}


def settings(**mesos):
    return load_settings(DictConf({"mesos": mesos, "core": CORE}), default_user=lambda: "u", default_python="/py")


def error_of(executor_config) -> TaskConfigError:
    with pytest.raises(TaskConfigError) as info:
        parse_executor_config(executor_config)
    return info.value


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    "executor_config",
    [None, {}, {"mesos": None}, {"mesos": {}}, {"KubernetesExecutor": {"request_memory": "1Gi"}},
     {"pod_override": object(), "mesos": {}}],
)
def test_no_mesos_options_means_defaults(executor_config):
    assert parse_executor_config(executor_config) == TaskConfig()
    assert all(value is None for value in TaskConfig().model_dump().values())


def test_every_field_parses():
    config = parse_executor_config({"KubernetesExecutor": {"x": 1}, "mesos": {
        "cpus": 2, "mem": 4096.5, "disk": 0, "gpus": 1, "image": "registry:5000/train:1.4", "force_pull": True,
        "container_type": "mesos", "env": {"TZ": "UTC"}, "role": "gpu",
        "constraints": [["rack", "is", "r1"], ["@hostname", "UNIQUE"], ["zone", "MAX_PER", 2]],
        "volumes": [{"host_path": "/srv/data/", "container_path": "/data", "mode": "ro"},
                    {"docker_volume": "pgdata", "driver": "rexray", "driver_options": {"size": "10"},
                     "container_path": "/pg"}],
    }})
    assert (config.cpus, config.mem, config.disk, config.gpus) == (2.0, 4096.5, 0.0, 1)
    assert (config.image, config.force_pull, config.container_type, config.role) == (
        "registry:5000/train:1.4", True, "mesos", "gpu")
    assert config.env == {"TZ": "UTC"}
    assert config.constraints == (Constraint("rack", "IS", "r1"), Constraint("hostname", "UNIQUE"),
                                  Constraint("zone", "MAX_PER", "2"))
    assert config.volumes == (
        HostPathVolume(host_path="/srv/data", container_path="/data", mode="RO"),
        DockerVolume(docker_volume="pgdata", driver="rexray", driver_options={"size": "10"}, container_path="/pg",
                     mode="RW"),
    )


def test_the_briefs_example_message():
    error = error_of({"mesos": {"cpus": -1, "cpu": 2}})
    assert str(error) == ("executor_config.mesos.cpus: Input should be greater than 0 (got -1); "
                          "executor_config.mesos.cpu: unknown key (did you mean 'cpus'?)")
    assert error.problems == (("executor_config.mesos.cpus", "Input should be greater than 0 (got -1)"),
                              ("executor_config.mesos.cpu", "unknown key (did you mean 'cpus'?)"))
    assert isinstance(error, AirflowMesosError) and isinstance(error, ValueError)


@pytest.mark.parametrize(
    "mesos, expected",
    [
        ({"cpus": 0}, "executor_config.mesos.cpus: Input should be greater than 0 (got 0)"),
        ({"cpus": "2"}, "executor_config.mesos.cpus: Input should be a valid number (got '2')"),
        ({"cpus": True}, "executor_config.mesos.cpus: Input should be a valid number (got True)"),
        ({"mem": float("nan")}, "executor_config.mesos.mem: Input should be a finite number (got nan)"),
        ({"mem": 0}, "executor_config.mesos.mem: Input should be greater than 0 (got 0)"),
        ({"disk": -1}, "executor_config.mesos.disk: Input should be greater than or equal to 0 (got -1)"),
        ({"gpus": 1.5}, "executor_config.mesos.gpus: Input should be a valid integer (got 1.5)"),
        ({"gpus": -1}, "executor_config.mesos.gpus: Input should be greater than or equal to 0 (got -1)"),
        ({"image": ""}, "executor_config.mesos.image: an image name must not be empty or contain whitespace"),
        ({"image": 3}, "executor_config.mesos.image: Input should be a valid string (got 3)"),
        ({"force_pull": "yes"}, "executor_config.mesos.force_pull: Input should be a valid boolean (got 'yes')"),
        ({"container_type": "dokcer"},
         "executor_config.mesos.container_type: Input should be 'mesos', 'docker' or 'process' (got 'dokcer')"),
        ({"role": "-gpu"}, "executor_config.mesos.role: role '-gpu': a role name (or part) must not start with '-'"),
        ({"imgae": "x"}, "executor_config.mesos.imgae: unknown key (did you mean 'image'?)"),
        ({"memory": 1}, "executor_config.mesos.memory: unknown key (did you mean 'mem'?)"),
        ({"priority": 1}, "executor_config.mesos.priority: unknown key; expected one of cpus, mem, disk, gpus, image"),
        ({"constraints": [["rack", "IS", "r1"], ["host", "MAX_PER", "x"]]},
         "executor_config.mesos.constraints[1][2]: MAX_PER needs a whole number >= 1, got 'x'"),
        ({"constraints": [["rack", "NEAR", "r1"]]}, "executor_config.mesos.constraints[0][1]: unknown operator 'NEAR'"),
        ({"constraints": "rack:IS:r1"},
         "executor_config.mesos.constraints: expected a list of [field, operator, value] lists, got 'rack:IS:r1'"),
        ({"env": {"N": 1}}, "executor_config.mesos.env.N: Input should be a valid string"),
        ({"env": ["TZ=UTC"]}, "executor_config.mesos.env: Input should be a valid dictionary"),
        ({"volumes": "/a:/b"}, "executor_config.mesos.volumes: Input should be a valid tuple (got '/a:/b')"),
        ({"volumes": ["/a:/b"]},  # the short form is for [mesos] volumes only
         "executor_config.mesos.volumes[0]: a volume is an object with exactly one of 'host_path'"),
        ({"volumes": [{"container_path": "/b"}]},
         "executor_config.mesos.volumes[0]: a volume is an object with exactly one of 'host_path'"),
        ({"volumes": [{"host_path": "/a", "docker_volume": "v", "container_path": "/b"}]},
         "executor_config.mesos.volumes[0]: a volume is an object with exactly one of"),
        ({"volumes": [{"host_path": "/a"}]}, "executor_config.mesos.volumes[0].container_path: Field required"),
        ({"volumes": [{"host_path": "a", "container_path": "/b"}]},
         "executor_config.mesos.volumes[0].host_path: host_path must be an absolute path on the agent (got 'a')"),
        ({"volumes": [{"host_path": "/a", "container_path": "b"}]},
         "executor_config.mesos.volumes[0].container_path: container_path must be an absolute path in the container"),
        ({"volumes": [{"host_path": "/a:x", "container_path": "/b"}]},
         "executor_config.mesos.volumes[0].host_path: host_path must not contain ':'"),
        ({"volumes": [{"host_path": "/a", "container_path": "/b", "mode": "rx"}]},
         "executor_config.mesos.volumes[0].mode: mode must be 'RO' (read-only) or 'RW' (read-write), got 'rx'"),
        ({"volumes": [{"docker_volume": "v", "contaner_path": "/b"}]},
         "executor_config.mesos.volumes[0].contaner_path: unknown key (did you mean 'container_path'?)"),
        ({"volumes": [{"docker_volume": "v", "container_path": "/b", "driver_options": {"size": 10}}]},
         "executor_config.mesos.volumes[0].driver_options.size: Input should be a valid string"),
        ({"volumes": [{"docker_volume": "my vol", "container_path": "/b"}]},
         "executor_config.mesos.volumes[0].docker_volume: docker_volume (the volume's name) must not contain"),
        ({"volumes": [{"host_path": "/a", "container_path": "/b"}, {"docker_volume": "v", "container_path": "/b/"}]},
         "executor_config.mesos.volumes: volumes [0] and [1] both mount at container_path '/b'"),
    ],
)
def test_bad_fields_are_named(mesos, expected):
    assert expected in str(error_of({"mesos": mesos}))


def test_several_bad_fields_are_all_named():
    message = str(error_of({"mesos": {"cpus": "2", "gpus": 0.5, "constraints": [["a"]], "imag": "x",
                                      "volumes": [{"host_path": "/a", "container_path": "/b", "mode": "x"}]}}))
    for path in ("executor_config.mesos.cpus:", "executor_config.mesos.gpus:",
                 "executor_config.mesos.constraints[0]:", "executor_config.mesos.imag: unknown key (did you mean",
                 "executor_config.mesos.volumes[0].mode:"):
        assert path in message


@pytest.mark.parametrize(
    "name",
    ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET",
     "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY_CMD", "AIRFLOW__API__SECRET_KEY_SECRET",
     "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET", "AIRFLOW__API_AUTH__JWT_SECRET_CMD"],
)
def test_task_env_refuses_airflows_secrets(name):
    message = str(error_of({"mesos": {"env": {"TZ": "UTC", name: "postgresql://u:pw@db/airflow"}}}))
    assert message.startswith(f"executor_config.mesos.env.{name}: {name} is Airflow's secret")
    assert "needs only the Execution API URL and its token" in message
    assert "pw@db" not in message


def test_evident_misspellings_of_the_mesos_key_are_errors():
    for key in ("Mesos", "MESOS", "MesosExecutor", "mesos_executor"):
        assert str(error_of({key: {"cpus": 1}})) == f"executor_config.{key}: unknown key (did you mean 'mesos'?)"


def test_non_dicts_are_refused():
    assert str(error_of([1])) == "executor_config: expected a dict such as {'mesos': {...}}, got list"
    assert str(error_of({"mesos": [1]})) == (
        "executor_config.mesos: expected a dict of options such as {'cpus': 2}, got list")


def test_secret_looking_values_are_not_echoed():
    message = str(error_of({"mesos": {"env": {"PASSWORD": 12345678}}}))
    assert "12345678" not in message


# --------------------------------------------------------------------------- resolution


def test_resolve_fills_every_field_from_the_settings():
    spec = resolve(TaskConfig(), settings(volumes='["/srv:/srv:ro"]', env='{"TZ": "UTC"}', role="airflow,gpu"))
    assert spec == TaskSpec(cpus=1.0, mem=1024.0, disk=1024.0, gpus=0, image="airflow-mesos/airflow:0.1.0",
                            force_pull=False, container_type="mesos",
                            volumes=(HostPathVolume(host_path="/srv", container_path="/srv", mode="RO"),),
                            env={"TZ": "UTC"}, constraints=(), role="airflow", warm=True)


def test_resolve_prefers_the_task_and_merges_volumes_and_env():
    s = settings(
        volumes='["/srv/data:/data:ro", "/srv/logs:/logs", "/srv/cache:/cache"]',
        env='{"TZ": "UTC", "LANG": "C.UTF-8"}', role="airflow,gpu",
    )
    config = parse_executor_config({"mesos": {
        "cpus": 4, "mem": 8192, "disk": 0, "gpus": 2, "image": "train:2", "force_pull": True, "role": "gpu",
        "env": {"TZ": "Europe/Paris", "EPOCHS": "3"}, "constraints": [["rack", "IS", "r1"]],
        "volumes": [{"host_path": "/fast/data", "container_path": "/data/", "mode": "RW"},
                    {"docker_volume": "scratch", "container_path": "/scratch"}],
    }})
    spec = resolve(config, s)
    assert (spec.cpus, spec.mem, spec.disk, spec.gpus, spec.image, spec.force_pull, spec.role) == (
        4.0, 8192.0, 0.0, 2, "train:2", True, "gpu")
    # The task's /data replaces the default one; the other defaults stay, the task's come after them.
    assert [v.container_path for v in spec.volumes] == ["/logs", "/cache", "/data", "/scratch"]
    assert spec.volumes[2] == HostPathVolume(host_path="/fast/data", container_path="/data", mode="RW")
    assert dict(spec.env) == {"TZ": "Europe/Paris", "LANG": "C.UTF-8", "EPOCHS": "3"}
    assert spec.constraints == (Constraint("rack", "IS", "r1"),)
    assert dict(s.env) == {"TZ": "UTC", "LANG": "C.UTF-8"}  # the settings are not touched


def test_a_process_task_has_no_image():
    spec = resolve(parse_executor_config({"mesos": {"container_type": "process", "image": "ignored:1"}}), settings())
    assert (spec.container_type, spec.image) == ("process", None)


def test_task_spec_is_frozen():
    spec = resolve(TaskConfig(), settings())
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.cpus = 2
    with pytest.raises(TypeError):
        spec.env["X"] = "1"


@pytest.mark.parametrize(
    "mesos, options, expected",
    [
        ({"role": "gpu"}, {"role": "airflow"},
         "executor_config.mesos.role: 'gpu' is not one of the framework's roles ('airflow'); add it to [mesos] role"),
        ({"container_type": "docker"}, {},
         "executor_config.mesos.container_type: 'docker' needs [mesos] allow_plain_token_for_docker = True"),
        ({"gpus": 1, "container_type": "docker"}, {"allow_plain_token_for_docker": "True"},
         "executor_config.mesos.gpus: 1 GPU(s) need the Mesos containerizer, but "
         "executor_config.mesos.container_type is 'docker'"),
        ({"container_type": "docker"}, {"allow_plain_token_for_docker": "True", "gpus": "1"},
         "[mesos] gpus: 1 GPU(s) need the Mesos containerizer, but executor_config.mesos.container_type is 'docker'"),
        ({"container_type": "mesos"}, {"container_type": "process", "image": ""}, None),
        ({"volumes": [{"host_path": "/a", "container_path": "/b"}]}, {"container_type": "process"},
         "executor_config.mesos.volumes: container_type 'process' ([mesos] container_type) runs the task"),
    ],
)
def test_resolve_refuses_what_cannot_launch(mesos, options, expected):
    s = settings(**options)
    config = parse_executor_config({"mesos": mesos})
    if expected is None:
        # No image anywhere: settings allow it for process tasks, a task switching to a container cannot.
        s = dataclasses.replace(s, image="")
        expected = "executor_config.mesos.container_type: 'mesos' runs a container image: set executor_config.mesos.image"
    with pytest.raises(TaskConfigError) as info:
        resolve(config, s)
    assert expected in str(info.value)


def test_process_tasks_take_none_of_the_default_volumes():
    spec = resolve(parse_executor_config({"mesos": {"container_type": "process"}}), settings(volumes='["/a:/b"]'))
    assert spec.volumes == ()
    spec = resolve(parse_executor_config({"mesos": {}}), settings(volumes='["/a:/b"]'))
    assert [v.container_path for v in spec.volumes] == ["/b"]


def test_docker_with_the_opt_in_resolves():
    spec = resolve(parse_executor_config({"mesos": {"container_type": "docker"}}),
                   settings(allow_plain_token_for_docker="True"))
    assert spec.container_type == "docker"


# --------------------------------------------------------------------------- the DAG helper


def test_helper_returns_a_plain_json_dict_that_parses_back():
    executor_config = mesos_executor_config(
        cpus=2, mem=4096, image="registry:5000/train:1.4", constraints=[["rack", "is", "r1"], ["@hostname", "UNIQUE"]],
        volumes=[{"host_path": "/srv/data", "container_path": "/data", "mode": "ro"}], env={"TZ": "UTC"},
    )
    assert executor_config == {"mesos": {
        "cpus": 2.0, "mem": 4096.0, "image": "registry:5000/train:1.4", "env": {"TZ": "UTC"},
        "constraints": [["rack", "IS", "r1"], ["hostname", "UNIQUE"]],
        "volumes": [{"host_path": "/srv/data", "container_path": "/data", "mode": "RO"}],
    }}
    assert json.loads(json.dumps(executor_config)) == executor_config
    assert mesos_executor_config(**executor_config["mesos"]) == executor_config
    assert parse_executor_config(executor_config) == parse_executor_config(
        {"mesos": {"cpus": 2, "mem": 4096, "image": "registry:5000/train:1.4", "env": {"TZ": "UTC"},
                   "constraints": [["rack", "IS", "r1"], ["hostname", "UNIQUE"]],
                   "volumes": [{"host_path": "/srv/data", "container_path": "/data", "mode": "RO"}]}})
    assert mesos_executor_config() == {"mesos": {}}


def test_helper_fails_at_parse_time_with_the_field_named():
    with pytest.raises(TaskConfigError, match=r"executor_config.mesos.cpu: unknown key \(did you mean 'cpus'\?\)"):
        mesos_executor_config(cpu=2)
    with pytest.raises(TaskConfigError, match=r"executor_config.mesos.constraints\[0\]\[1\]: unknown operator"):
        mesos_executor_config(constraints=[["rack", "NEAR", "r1"]])
    with pytest.raises(TaskConfigError, match=r"executor_config.mesos.env.AIRFLOW__CORE__FERNET_KEY: "):
        mesos_executor_config(env={"AIRFLOW__CORE__FERNET_KEY": "k"})


def test_the_schema_modules_import_nothing_of_airflow():
    code = ("import sys, airflow_mesos.executor.task_config, airflow_mesos.executor.settings; "
            "print([m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
