"""The launch planner: TaskInfo -> RunSpec and docker create kwargs, without Docker."""

from __future__ import annotations

import base64

import pytest

from airflow_mesos.local.agent import AgentSpec, terminal_update
from airflow_mesos.local.allocator import Resources
from airflow_mesos.local.launch_planner import (
    LaunchError,
    cpu_limits,
    docker_command,
    docker_create_kwargs,
    memory_limits,
    mesos_command,
    plan_run,
    process_argv,
)
from airflow_mesos.local.process_containerizer import ExitInfo

SANDBOX = "/work/slaves/A-S0/frameworks/F/executors/t/runs/c1"


def task(**extra) -> dict:
    info = {
        "name": "t", "task_id": {"value": "t"}, "agent_id": {"value": "A-S0"},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}, "allocation_info": {"role": "airflow"}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 64.0}},
            {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31001}]}},
        ],
        "command": {"value": "echo hi"},
    }
    info.update(extra)
    return info


def plan(info: dict):
    return plan_run(info, framework_id="F", agent_id="A-S0", container_id="c1", sandbox_dir=SANDBOX,
                       agent_endpoint="127.0.0.1:5051")


def docker(**docker_info):
    return {"type": "DOCKER", "docker": {"image": "img", **docker_info}}


MESOS = {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": "img"}}}}


@pytest.mark.parametrize(
    "command, expected",
    [
        ({"value": "echo $X"}, (["/bin/sh"], ["-c", "echo $X"])),  # shell default true: MESOS-1770 sh override
        ({"shell": False, "value": "run", "arguments": ["a", "b"]}, (None, ["run", "a", "b"])),  # keeps ENTRYPOINT
        ({"shell": False}, (None, None)),  # image default CMD
    ],
)
def test_docker_command_follows_run_options(command, expected):
    assert docker_command(command) == expected


def test_shell_without_value_is_refused():
    with pytest.raises(LaunchError, match="Shell specified but no command value provided"):
        docker_command({"shell": True})


def test_mesos_and_process_commands():
    assert mesos_command({"value": "ls"}) == (["/bin/sh", "-c"], ["ls"])
    assert mesos_command({"shell": False, "value": "/bin/echo", "arguments": ["echo", "x"]}) == (["/bin/echo"], ["x"])
    assert process_argv({"value": "ls -l"}) == (["/bin/sh", "-c", "ls -l"], None)
    assert process_argv({"shell": False, "value": "/bin/echo", "arguments": ["echo", "x"]}) == (["echo", "x"], "/bin/echo")


def test_kind_is_chosen_by_container_type():
    assert plan(task()).kind == "process"
    assert plan(task(container={"type": "MESOS"})).kind == "process"
    assert plan(task(container=docker())).kind == "docker"
    assert plan(task(container=MESOS)).kind == "mesos"


def test_environment_has_mesos_variables_and_task_values_win_except_sandbox():
    info = task(container=MESOS, command={"value": "env", "environment": {"variables": [
        {"name": "A", "value": "1"}, {"name": "MESOS_SANDBOX", "value": "/nope"}]}})
    env = plan(info).environment
    assert env["A"] == "1"
    assert env["MESOS_SANDBOX"] == "/mnt/mesos/sandbox"
    assert env["MESOS_TASK_ID"] == "t" and env["MESOS_FRAMEWORK_ID"] == "F"
    assert env["MESOS_AGENT_ENDPOINT"] == "127.0.0.1:5051"
    assert env["MESOS_ALLOCATION_ROLE"] == "airflow"
    assert plan(task()).environment["MESOS_SANDBOX"] == SANDBOX


SECRET_VAR = {"name": "PW", "type": "SECRET", "secret": {"type": "VALUE", "value": {"data": base64.b64encode(b"hunter2").decode()}}}


def test_value_secret_is_resolved_but_never_printed():
    p = plan(task(container=MESOS, command={"value": "x", "environment": {"variables": [SECRET_VAR]}}))
    assert p.secrets["PW"].reveal() == "hunter2"
    assert "PW" not in p.environment
    assert "hunter2" not in repr(p)


def test_reference_secret_fails_like_the_default_resolver():
    var = {"name": "PW", "type": "SECRET", "secret": {"type": "REFERENCE", "reference": {"name": "/db/pw"}}}
    with pytest.raises(LaunchError, match="Default secret resolver cannot resolve references"):
        plan(task(container=MESOS, command={"value": "x", "environment": {"variables": [var]}}))


def test_secret_env_is_refused_for_docker_containers():
    with pytest.raises(LaunchError, match="secrets are not supported by the Docker containerizer") as err:
        plan(task(container=docker(), command={"value": "x", "environment": {"variables": [SECRET_VAR]}}))
    assert "hunter2" not in str(err.value) and "'PW'" in str(err.value)


@pytest.mark.parametrize(
    "docker_info, message",
    [
        ({"network": "HOST", "port_mappings": [{"host_port": 31000, "container_port": 80}]},
         "Port mappings are only supported for bridge and user-defined networks"),
        ({"network": "BRIDGE", "port_mappings": [{"host_port": 40000, "container_port": 80}]},
         r"Port \[40000\] not included in resources"),
        ({"network": "USER"}, "No network info found in container info"),
        ({"parameters": [{"key": "cpuset-cpus", "value": "0"}]}, "docker parameter 'cpuset-cpus' is not supported"),
    ],
)
def test_docker_run_option_checks(docker_info, message):
    with pytest.raises(LaunchError, match=message):
        plan(task(container=docker(**docker_info)))


def test_bridge_port_mapping_and_user_network():
    p = plan(task(container=docker(network="BRIDGE", port_mappings=[{"host_port": 31001, "container_port": 80}])))
    assert p.network == "bridge"
    assert docker_create_kwargs(p, agent_id="A-S0", sandbox_dir=SANDBOX)["ports"] == {"80/tcp": 31001}
    u = plan(task(container={**docker(network="USER"), "network_infos": [{"name": "net1"}]}))
    assert u.network == "net1"


def test_volumes_host_path_docker_volume_and_relative_paths():
    volumes = [
        {"container_path": "/data", "host_path": "/srv/data", "mode": "RO"},
        {"container_path": "logs", "mode": "RW", "source": {"type": "HOST_PATH", "host_path": {"path": "/var/log/x"}}},
        {"container_path": "/vol", "mode": "RW", "source": {"type": "DOCKER_VOLUME", "docker_volume": {
            "driver": "rexray", "name": "pg", "driver_options": {"parameter": [{"key": "size", "value": "16"}]}}}},
    ]
    mesos = plan(task(container={**MESOS, "volumes": volumes}))
    assert [(m.kind, m.source, m.target, m.read_only) for m in mesos.mounts] == [
        ("bind", "/srv/data", "/data", True),
        ("bind", "/var/log/x", "/mnt/mesos/sandbox/logs", False),
        ("volume", "pg", "/vol", False),
    ]
    assert mesos.mounts[2].driver == "rexray" and mesos.mounts[2].driver_options == (("size", "16"),)
    dock = plan(task(container={**docker(), "volumes": volumes}))
    assert dock.mounts[2].driver_options == ()  # ignored by the Docker containerizer
    kwargs = docker_create_kwargs(dock, agent_id="A-S0", sandbox_dir=SANDBOX)
    assert kwargs["mounts"][0] == {"Type": "bind", "Source": SANDBOX, "Target": "/mnt/mesos/sandbox", "ReadOnly": False}
    assert kwargs["mounts"][3]["VolumeOptions"]["DriverConfig"]["Name"] == "rexray"


def test_two_volume_drivers_are_refused_for_docker():
    volumes = [{"container_path": f"/v{i}", "mode": "RW", "source": {"type": "DOCKER_VOLUME", "docker_volume": {
        "driver": d, "name": f"n{i}"}}} for i, d in enumerate(["local", "rexray"])]
    with pytest.raises(LaunchError, match="Only one volume driver is supported"):
        plan(task(container={**docker(), "volumes": volumes}))


def test_process_task_volumes_become_sandbox_links_and_absolute_paths_are_refused():
    p = plan(task(container={"type": "MESOS", "volumes": [{"container_path": "in", "host_path": "/srv", "mode": "RO"}]}))
    assert p.sandbox_links == [("in", "/srv")]
    with pytest.raises(LaunchError, match="needs a container image"):
        plan(task(container={"type": "MESOS", "volumes": [{"container_path": "/in", "host_path": "/srv", "mode": "RO"}]}))


def test_resource_limits_mapping():
    assert cpu_limits(0.5) == {"cpu_shares": 512, "cpu_period": 100000, "cpu_quota": 50000}
    assert cpu_limits(0.0001)["cpu_shares"] == 2 and cpu_limits(0.0001)["cpu_quota"] == 1000
    assert memory_limits(64) == {"mem_limit": 64 << 20, "memswap_limit": 64 << 20}
    assert memory_limits(4)["mem_limit"] == 32 << 20


def test_create_kwargs_name_labels_and_limits():
    kwargs = docker_create_kwargs(plan(task(container=docker(parameters=[{"key": "label", "value": "a=b"}]))),
                                  agent_id="A-S0", sandbox_dir=SANDBOX)
    assert kwargs["name"] == "mesos-c1"
    assert kwargs["labels"]["airflow-mesos.local"] == "1" and kwargs["labels"]["a"] == "b"
    assert kwargs["labels"]["airflow-mesos.local.task-id"] == "t"
    assert kwargs["network_mode"] == "host" and kwargs["mem_limit"] == 64 << 20
    assert kwargs["entrypoint"] == ["/bin/sh"] and kwargs["command"] == ["-c", "echo hi"]


def test_secret_shim_wraps_the_image_default_and_keeps_secrets_out_of_env():
    p = plan(task(container=MESOS, command={"shell": False, "environment": {"variables": [SECRET_VAR]}}))
    kwargs = docker_create_kwargs(p, agent_id="A-S0", sandbox_dir=SANDBOX,
                                  image_config={"Entrypoint": None, "Cmd": ["/bin/sh"]}, shim=("/s/env", "/bin/busybox"))
    assert kwargs["entrypoint"][0] == "/.mesos-secrets/busybox" and kwargs["command"] == ["/bin/sh"]
    assert "PW" not in kwargs["environment"] and "hunter2" not in repr(kwargs)
    assert {"Type": "bind", "Source": "/s/env", "Target": "/.mesos-secrets/env", "ReadOnly": True} in kwargs["mounts"]


def test_kill_policy_grace_defaults():
    assert plan(task()).kill_grace == 3.0
    assert plan(task(container=docker())).kill_grace == 0.0
    assert plan(task(container=docker(), kill_policy={"grace_period": {"nanoseconds": 2_000_000_000}})).kill_grace == 2.0


@pytest.mark.parametrize(
    "info, killed, expected",
    [
        (ExitInfo(exit_code=0), False, ("TASK_FINISHED", None, "Command exited with status 0")),
        # No reason for a non-zero exit: the executors' reaped() sends none (REASON_COMMAND_EXECUTOR_FAILED is unused).
        (ExitInfo(exit_code=3), False, ("TASK_FAILED", None, "Command exited with status 3")),
        (ExitInfo(signal=15), True, ("TASK_KILLED", None, "Command terminated with signal Terminated")),
        (ExitInfo(exit_code=137, oom_killed=True), False,
         ("TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", "Memory limit exceeded: Requested: 64MB")),
    ],
)
def test_terminal_update_decision(info, killed, expected):
    out = terminal_update("Command", info, killed=killed, mem_mb=64)
    assert (out["state"], out.get("reason"), out["message"]) == expected


def test_a_task_killed_for_its_max_completion_time_failed():
    out = terminal_update("Container", ExitInfo(exit_code=137), killed=True, mem_mb=64, completion_timed_out=True)
    assert (out["state"], out["reason"], out["message"]) == (
        "TASK_FAILED", "REASON_MAX_COMPLETION_TIME_REACHED", "Container exited with status 137")


def test_overdue_tasks_and_the_next_completion_deadline(tmp_path):
    from airflow_mesos.local.agent_records import AgentTask, next_completion_deadline, overdue
    from airflow_mesos.local.launch_planner import max_completion_seconds

    def agent_task(deadline, **state):
        return AgentTask("F", {"task_id": {"value": "t"}}, "c", tmp_path, 0, completion_deadline=deadline, **state)

    soon, later, none, ended = agent_task(10.0), agent_task(20.0), agent_task(None), agent_task(5.0, terminated=True)
    tasks = [soon, later, none, ended]
    assert overdue(tasks, 9.9) == [] and overdue(tasks, 10.0) == [soon] and overdue(tasks, 30) == [soon, later]
    assert next_completion_deadline(tasks) == 10.0
    soon.completion_timed_out = True
    assert overdue(tasks, 30) == [later] and next_completion_deadline(tasks) == 20.0
    assert max_completion_seconds({"max_completion_time": {"nanoseconds": 1_500_000_000}}) == 1.5
    assert max_completion_seconds({"max_completion_time": {"nanoseconds": 0}}) is None
    assert max_completion_seconds({}) is None


def test_agent_spec_resources_and_attributes():
    spec = AgentSpec(cpus=1, mem=512, gpus=0, attributes={"rack": "r1", "level": 2})
    names = [r["name"] for r in spec.resources()]
    assert names == ["cpus", "mem", "disk", "ports"]
    assert AgentSpec(gpus=1).resources()[-1]["name"] == "gpus"
    assert spec.attribute_list() == [{"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
                                     {"name": "level", "type": "SCALAR", "scalar": {"value": 2.0}}]
    assert Resources.from_json(spec.resources()).to_state_model()["ports"] == "[31000-32000]"
