"""The TaskInfo of a workload: golden JSON per container type, and no secret in plain anywhere."""

from __future__ import annotations

import base64
import json

import pytest

from airflow_mesos.executor.matcher import ResourceShare
from airflow_mesos.executor.taskinfo import TaskInfoError, VolumeMount, WorkerTask, build_task_info, split_token
from airflow_mesos.worker import TOKEN_VAR, WORKLOAD_VAR

TOKEN = "eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJ0aS0xIn0.c2lnbmF0dXJlLW5vdC1yZWFs"
WORKLOAD = {"token": TOKEN, "ti": {"id": "0199-ti", "dag_id": "d", "task_id": "t"}, "dag_rel_path": "d.py",
            "bundle_info": {"name": "dags-folder", "version": None}, "log_path": "dag_id=d/x.log",
            "type": "ExecuteTask"}
OFFER_RAW = {
    "id": {"value": "O1"},
    "agent_id": {"value": "S1"},
    "hostname": "agent1",
    "allocation_info": {"role": "airflow"},
    "resources": [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4}, "allocation_info": {"role": "airflow"}},
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 2}, "allocation_info": {"role": "airflow"},
         "reservations": [{"type": "STATIC", "role": "airflow"}]},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 4096}, "allocation_info": {"role": "airflow"}},
        {"name": "disk", "type": "SCALAR", "scalar": {"value": 10000}, "allocation_info": {"role": "airflow"}},
    ],
}
SHARES = (ResourceShare("cpus", 1.5, "airflow"), ResourceShare("cpus", 0.5, "*"), ResourceShare("mem", 512, "*"),
          ResourceShare("disk", 256, "*"))


def worker_task(**overrides) -> WorkerTask:
    stripped, token = split_token(json.dumps(WORKLOAD))
    fields = dict(task_id="9b2c", name="airflow d.t run1 try 1", agent_id="S1", resources=SHARES,
                  container_type="mesos", workload_json=stripped, token=token,
                  execution_api_url="http://api:8080/execution/", dags_folder="/opt/airflow/dags",
                  image="airflow-mesos/airflow:0.1.0", env={"TZ": "UTC"}, labels={"airflow.dag_id": "d"},
                  kill_grace_seconds=20)
    fields.update(overrides)
    return WorkerTask(**fields)


def env_of(info: dict) -> dict[str, dict]:
    return {v["name"]: v for v in info["command"]["environment"]["variables"]}


def test_mesos_container_golden():
    info = build_task_info(worker_task(), OFFER_RAW)
    stripped = json.dumps({k: v for k, v in WORKLOAD.items() if k != "token"}, separators=(",", ":"), sort_keys=True)
    assert info == {
        "name": "airflow d.t run1 try 1",
        "task_id": {"value": "9b2c"},
        "agent_id": {"value": "S1"},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.5}, "allocation_info": {"role": "airflow"},
             "reservations": [{"type": "STATIC", "role": "airflow"}]},
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "allocation_info": {"role": "airflow"}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 512}, "allocation_info": {"role": "airflow"}},
            {"name": "disk", "type": "SCALAR", "scalar": {"value": 256}, "allocation_info": {"role": "airflow"}},
        ],
        "command": {
            "shell": False,
            "value": "python3",
            "arguments": ["python3", "-m", "airflow_mesos.worker"],
            "environment": {"variables": [
                {"name": "TZ", "type": "VALUE", "value": "UTC"},
                {"name": "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "type": "VALUE",
                 "value": "http://api:8080/execution/"},
                {"name": "AIRFLOW__CORE__DAGS_FOLDER", "type": "VALUE", "value": "/opt/airflow/dags"},
                {"name": WORKLOAD_VAR, "type": "VALUE", "value": stripped},
                {"name": TOKEN_VAR, "type": "SECRET",
                 "secret": {"type": "VALUE", "value": {"data": base64.b64encode(TOKEN.encode()).decode()}}},
            ]},
        },
        "kill_policy": {"grace_period": {"nanoseconds": 20_000_000_000}},
        "container": {"type": "MESOS",
                      "mesos": {"image": {"type": "DOCKER", "docker": {"name": "airflow-mesos/airflow:0.1.0"},
                                          "cached": True}}},
        "labels": {"labels": [{"key": "airflow.dag_id", "value": "d"}]},
    }


@pytest.mark.parametrize("container_type", ["mesos", "process"])
def test_no_token_db_url_or_key_in_plain_anywhere(container_type):
    info = build_task_info(worker_task(container_type=container_type, image=None if container_type == "process"
                                       else "img"), OFFER_RAW)
    text = json.dumps(info)
    assert TOKEN not in text
    # Each part of the JWT on its own is not there either (the only form is the secret's base64 data).
    for part in TOKEN.split("."):
        assert part not in text
    for forbidden in ("SQL_ALCHEMY_CONN", "sql_alchemy_conn", "FERNET", "fernet", "JWT_SECRET", "jwt_secret",
                      "SECRET_KEY", "postgresql://"):
        assert forbidden not in text
    assert all(TOKEN not in arg for arg in info["command"]["arguments"])
    assert env_of(info)[TOKEN_VAR]["type"] == "SECRET"
    assert "token" not in json.loads(env_of(info)[WORKLOAD_VAR]["value"])


def test_process_task_runs_the_configured_python_without_a_container():
    info = build_task_info(worker_task(container_type="process", image=None, python="/venv/bin/python"), OFFER_RAW)
    assert "container" not in info
    assert info["command"]["value"] == "/venv/bin/python"
    assert info["command"]["arguments"] == ["/venv/bin/python", "-m", "airflow_mesos.worker"]


def test_docker_container_keeps_the_image_entrypoint_and_takes_the_token_plainly_only_when_told():
    info = build_task_info(worker_task(container_type="docker", token_as_plain_env=True, force_pull=True), OFFER_RAW)
    assert info["container"] == {"type": "DOCKER", "docker": {"image": "airflow-mesos/airflow:0.1.0",
                                                              "force_pull_image": True, "network": "HOST"}}
    assert info["command"]["arguments"] == ["-m", "airflow_mesos.worker"]
    assert env_of(info)[TOKEN_VAR] == {"name": TOKEN_VAR, "type": "VALUE", "value": TOKEN}


def test_volumes_host_path_and_docker_volume_with_driver():
    volumes = (VolumeMount("/data", "RO", host_path="/srv/data"),
               VolumeMount("/pg", "RW", docker_volume="pgdata", driver="rexray", driver_options={"size": "10"}))
    info = build_task_info(worker_task(volumes=volumes), OFFER_RAW)
    assert info["container"]["volumes"] == [
        {"container_path": "/data", "host_path": "/srv/data", "mode": "RO"},
        {"container_path": "/pg", "mode": "RW", "source": {"type": "DOCKER_VOLUME", "docker_volume": {
            "name": "pgdata", "driver": "rexray", "driver_options": {"parameter": [{"key": "size", "value": "10"}]}}}},
    ]


def test_named_network_for_mesos_containers():
    info = build_task_info(worker_task(network="airflow-net"), OFFER_RAW)
    assert info["container"]["network_infos"] == [{"name": "airflow-net"}]


def test_force_pull_turns_off_the_image_cache():
    info = build_task_info(worker_task(force_pull=True), OFFER_RAW)
    assert info["container"]["mesos"]["image"]["cached"] is False


@pytest.mark.parametrize(("overrides", "words"), [
    ({"container_type": "process", "image": None, "volumes": (VolumeMount("/d", host_path="/x"),)},
     r"volumes \(/d\) need a container"),
    ({"container_type": "mesos", "image": None}, "needs an image"),
    ({"container_type": "docker", "resources": (ResourceShare("gpus", 1, "*"),)}, "gpus need container_type"),
    ({"container_type": "kubernetes"}, "is not one of mesos, docker, process"),
])
def test_combinations_that_cannot_run_say_why(overrides, words):
    with pytest.raises(TaskInfoError, match=words):
        build_task_info(worker_task(**overrides), OFFER_RAW)


def test_repr_never_shows_the_token():
    assert TOKEN not in repr(worker_task())


def test_offer_without_allocation_info_gives_resources_without_it():
    raw = {"resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 4}, "role": "*"}]}
    info = build_task_info(worker_task(resources=(ResourceShare("cpus", 1, "*"),)), raw)
    assert info["resources"] == [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1}, "role": "*"}]
