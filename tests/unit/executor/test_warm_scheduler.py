"""The scheduler side of warm workers: settings, the per-task switch, the ExecutorInfo (deterministic, no
secret), the warm TaskInfo (token only in ``data``), the matcher's executor accounting, the core's FAILURE
handling, the states of tasks that die with their executor, and where their sandbox logs are."""

from __future__ import annotations

import base64
import json

import pytest

from airflow_mesos.executor import core as c
from airflow_mesos.executor.matcher import ExecutorDemand, MatchInputError, ResourceShare, TaskDemand, match
from airflow_mesos.executor.settings import DictConf, load_settings
from airflow_mesos.executor.states import Outcome, judge
from airflow_mesos.executor.task_config import TaskConfigError, mesos_executor_config, parse_executor_config, resolve
from airflow_mesos.executor.taskinfo import (
    TaskInfoError,
    VolumeMount,
    WarmExecutor,
    WorkerTask,
    build_task_info,
    redacted_task_info,
    split_token,
)
from airflow_mesos.executor.sandbox_logs import TaskLocation, find_task_files, task_files_dir
from airflow_mesos.mesos.errors import MalformedEvent
from airflow_mesos.mesos.events import TaskStatus, parse_event, parse_offer
from airflow_mesos.warm.payload import decode_task_data
from airflow_mesos.worker import TOKEN_VAR
from tests.unit.executor.test_matcher import offer, task

TOKEN = "eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJ3YXJtIn0.d2FybS1zaWduYXR1cmU"
WORKLOAD = {"token": TOKEN, "ti": {"id": "0199-ti", "dag_id": "d", "task_id": "t"}, "dag_rel_path": "d.py",
            "bundle_info": {"name": "dags-folder", "version": None}, "log_path": "dag_id=d/x.log",
            "type": "ExecuteTask"}
OFFER_RAW = {
    "id": {"value": "O1"}, "agent_id": {"value": "S1"}, "hostname": "agent1",
    "allocation_info": {"role": "airflow"},
    "resources": [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 4}, "allocation_info": {"role": "airflow"}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 4096}, "allocation_info": {"role": "airflow"}},
    ],
}
BASE = {"master": "http://m:5050", "task_api_url": "http://api:8080/execution/", "dags_folder": "/opt/airflow/dags",
        "role": "airflow"}


def settings(**mesos):
    return load_settings(DictConf({"mesos": {**BASE, **mesos}}), default_user=lambda: "airflow",
                         default_python="/venv/bin/python")


def warm_executor(**overrides) -> WarmExecutor:
    fields = dict(framework_name="airflow", container_type="mesos", role="airflow", cpus=0.1, mem=256.0,
                  idle_timeout=60.0, python="/venv/bin/python", image="airflow-mesos/airflow:0.1.0",
                  volumes=(VolumeMount(container_path="/opt/airflow/dags", host_path="/srv/dags", mode="RO"),),
                  environment={"AIRFLOW__CORE__DAGS_FOLDER": "/opt/airflow/dags", "TZ": "UTC"})
    fields.update(overrides)
    return WarmExecutor(**fields)


def warm_task(**overrides) -> WorkerTask:
    stripped, token = split_token(json.dumps(WORKLOAD))
    fields = dict(task_id="9b2c", name="airflow d.t run1 try 1", agent_id="S1",
                  resources=(ResourceShare("cpus", 1.0, "*"), ResourceShare("mem", 512, "*")),
                  container_type="mesos", workload_json=stripped, token=token,
                  execution_api_url="http://api:8080/execution/", dags_folder="/opt/airflow/dags",
                  image="airflow-mesos/airflow:0.1.0", env={"TZ": "UTC"}, labels={"airflow.dag_id": "d"},
                  kill_grace_seconds=20, warm=warm_executor(), framework_id="F-0001")
    fields.update(overrides)
    return WorkerTask(**fields)


# --- settings and the per-task switch ------------------------------------------------------------------------


def test_warm_settings_defaults_and_parsing():
    s = settings()
    assert (s.warm_workers, s.warm_executor_cpus, s.warm_executor_mem, s.warm_idle_timeout) == (True, 0.1, 256.0, 60.0)
    assert not settings(warm_workers="False").warm_workers
    s = settings(warm_workers="True", warm_executor_cpus="0.25", warm_executor_mem="384", warm_idle_timeout="0")
    assert (s.warm_workers, s.warm_executor_cpus, s.warm_executor_mem, s.warm_idle_timeout) == (True, 0.25, 384.0, 0.0)


def test_bad_warm_settings_are_named():
    with pytest.raises(Exception) as info:
        settings(warm_workers="maybe", warm_executor_mem="0", warm_idle_timeout="-1")
    text = str(info.value)
    assert "[mesos] warm_workers: expected True or False, got 'maybe'" in text
    assert "[mesos] warm_executor_mem: expected a number > 0, got '0'" in text
    assert "[mesos] warm_idle_timeout: expected a number >= 0, got '-1'" in text


def test_the_task_switch_overrides_the_setting():
    on = settings(warm_workers="True")
    assert resolve(parse_executor_config(None), on).warm is True
    assert resolve(parse_executor_config({"mesos": {"warm": False}}), on).warm is False
    assert resolve(parse_executor_config({"mesos": {"warm": True}}), settings()).warm is True
    assert mesos_executor_config(warm=False) == {"mesos": {"warm": False}}


def test_the_task_switch_is_a_strict_bool():
    with pytest.raises(TaskConfigError, match=r"executor_config\.mesos\.warm: Input should be a valid boolean"):
        parse_executor_config({"mesos": {"warm": "no"}})


def test_docker_and_gpu_tasks_stay_on_the_command_path():
    on = settings(warm_workers="True", allow_plain_token_for_docker="True")
    assert resolve(parse_executor_config({"mesos": {"container_type": "docker"}}), on).warm is False
    assert resolve(parse_executor_config({"mesos": {"gpus": 1}}), on).warm is False


@pytest.mark.parametrize("config, why", [
    ({"container_type": "docker"}, "container_type 'docker' runs every task in a container of its own"),
    ({"gpus": 1}, "1 GPU(s) need a container of the task's own"),
])
def test_asking_for_warm_where_it_cannot_be_is_an_error(config, why):
    s = settings(allow_plain_token_for_docker="True")
    with pytest.raises(TaskConfigError) as info:
        resolve(parse_executor_config({"mesos": {**config, "warm": True}}), s)
    assert "executor_config.mesos.warm: a warm worker cannot run this task" in str(info.value)
    assert why in str(info.value)


def test_a_task_with_airflow_settings_of_its_own_gets_a_fresh_interpreter():
    on = settings(warm_workers="True", env='{"AIRFLOW__CORE__PARALLELISM": "8"}')
    own = {"env": {"AIRFLOW__CORE__PARALLELISM": "4", "TZ": "UTC"}}
    assert resolve(parse_executor_config({"mesos": own}), on).warm is False
    # The same value as the executor's, a per-task option, or no Airflow option at all: warm as configured.
    for env in ({"AIRFLOW__CORE__PARALLELISM": "8"}, {"AIRFLOW__CORE__DAGS_FOLDER": "/elsewhere"}, {"TZ": "UTC"}):
        assert resolve(parse_executor_config({"mesos": {"env": env}}), on).warm is True, env
    with pytest.raises(TaskConfigError) as info:
        resolve(parse_executor_config({"mesos": {**own, "warm": True}}), on)
    assert "executor_config.mesos.warm: a warm worker cannot run this task: the task sets AIRFLOW__CORE__PARALLELISM" \
        in str(info.value)
    assert "'4'" not in str(info.value)


# --- the ExecutorInfo --------------------------------------------------------------------------------------


def test_equal_inputs_give_the_same_id_and_byte_identical_executor_info():
    first, second = warm_executor(), warm_executor()
    assert first.executor_id == second.executor_id
    assert json.dumps(first.executor_info("F-1")).encode() == json.dumps(second.executor_info("F-1")).encode()
    assert first.executor_id.startswith("airflow-warm-mesos-")


@pytest.mark.parametrize("change", [
    {"framework_name": "other"}, {"container_type": "process", "image": None, "volumes": ()},
    {"image": "other:1"}, {"force_pull": True}, {"role": "gpu"}, {"network": "my-net"},
    {"volumes": ()}, {"cpus": 0.2}, {"mem": 512.0}, {"idle_timeout": 30.0}, {"python": "/other/python"},
    {"environment": {"TZ": "CET"}}, {"user": "airflow"},
])
def test_everything_in_the_executor_info_changes_the_id(change):
    base = warm_executor()
    changed = warm_executor(**change)
    if change == {"python": "/other/python"}:
        # A mesos executor runs the image's python3: the scheduler's interpreter is not part of it.
        assert changed.executor_id == base.executor_id
        assert changed.executor_info("F") == base.executor_info("F")
        return
    assert changed.executor_id != base.executor_id


def test_the_framework_id_is_in_the_info_but_not_in_the_id():
    warm = warm_executor()
    assert warm.executor_info("F-1")["framework_id"] == {"value": "F-1"}
    assert warm.executor_info("F-2")["executor_id"] == warm.executor_info("F-1")["executor_id"]


def test_mesos_executor_info_golden():
    warm = warm_executor()
    assert warm.executor_info("F-0001") == {
        "executor_id": {"value": warm.executor_id},
        "framework_id": {"value": "F-0001"},
        "type": "CUSTOM",
        "name": "airflow warm worker (mesos, airflow-mesos/airflow:0.1.0)",
        "source": "airflow-mesos",
        "command": {
            "shell": False, "value": "python3", "arguments": ["python3", "-m", "airflow_mesos.warm"],
            "environment": {"variables": [
                {"name": "AIRFLOW__CORE__DAGS_FOLDER", "type": "VALUE", "value": "/opt/airflow/dags"},
                {"name": "TZ", "type": "VALUE", "value": "UTC"},
                {"name": "AIRFLOW_MESOS_WARM_IDLE_TIMEOUT", "type": "VALUE", "value": "60"},
            ]},
        },
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}, "allocation_info": {"role": "airflow"}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 256.0}, "allocation_info": {"role": "airflow"}},
        ],
        "container": {
            "type": "MESOS",
            "mesos": {"image": {"type": "DOCKER", "docker": {"name": "airflow-mesos/airflow:0.1.0"}, "cached": True}},
            "volumes": [{"container_path": "/opt/airflow/dags", "host_path": "/srv/dags", "mode": "RO"}],
        },
    }


def test_the_executor_user_is_its_commands():
    assert warm_executor(user="airflow").executor_info("F")["command"]["user"] == "airflow"
    assert "user" not in warm_executor().executor_info("F")["command"]


def test_process_executor_runs_the_configured_python_without_a_container():
    info = warm_executor(container_type="process", image=None, volumes=()).executor_info("F")
    assert info["command"]["value"] == "/venv/bin/python"
    assert info["command"]["arguments"] == ["/venv/bin/python", "-m", "airflow_mesos.warm"]
    assert "container" not in info
    assert info["name"] == "airflow warm worker (process)"


@pytest.mark.parametrize("fields, message", [
    ({"container_type": "docker"}, "a warm worker runs with container_type 'mesos' or 'process', not 'docker'"),
    ({"image": None}, "needs an image"),
    ({"container_type": "process", "image": None}, "volumes (/opt/airflow/dags) need a container"),
    ({"mem": 0}, "the warm executor's mem must be a number > 0, got 0"),
    ({"idle_timeout": -1}, "idle_timeout must be a number >= 0"),
])
def test_a_warm_executor_that_cannot_run_is_refused_with_the_reason(fields, message):
    with pytest.raises(TaskInfoError, match=message.replace("(", r"\(").replace(")", r"\)")):
        warm_executor(**fields)


def test_the_executor_info_needs_the_framework_id():
    with pytest.raises(TaskInfoError, match="needs the framework id"):
        warm_executor().executor_info("")


# --- the warm TaskInfo --------------------------------------------------------------------------------------


def test_warm_task_info_golden():
    info = build_task_info(warm_task(), OFFER_RAW)
    data = info.pop("data")
    assert info == {
        "name": "airflow d.t run1 try 1",
        "task_id": {"value": "9b2c"},
        "agent_id": {"value": "S1"},
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}, "allocation_info": {"role": "airflow"}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 512}, "allocation_info": {"role": "airflow"}},
        ],
        "executor": warm_executor().executor_info("F-0001"),
        "kill_policy": {"grace_period": {"nanoseconds": 20_000_000_000}},
        "labels": {"labels": [{"key": "airflow.dag_id", "value": "d"}]},
    }
    payload = decode_task_data(data)
    assert payload.token == TOKEN
    assert json.loads(payload.full_workload_json()) == WORKLOAD
    assert payload.environment == {"TZ": "UTC", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://api:8080/execution/",
                                   "AIRFLOW__CORE__DAGS_FOLDER": "/opt/airflow/dags"}


def test_the_token_is_nowhere_but_in_data():
    info = build_task_info(warm_task(), OFFER_RAW)
    data = info.pop("data")
    text = json.dumps(info)
    assert TOKEN not in text and base64.b64encode(TOKEN.encode()).decode() not in text
    assert TOKEN_VAR not in text
    assert "command" not in info and "container" not in info  # Mesos: executor, not command; its container
    assert TOKEN in base64.b64decode(data).decode()
    assert TOKEN not in repr(warm_task()) and TOKEN not in repr(warm_executor())


def test_redacted_task_info_hides_data_and_secrets():
    warm = redacted_task_info(build_task_info(warm_task(), OFFER_RAW))
    assert warm["data"] == "<redacted>"
    command = redacted_task_info(build_task_info(warm_task(warm=None), OFFER_RAW))
    token_var = [v for v in command["command"]["environment"]["variables"] if v["name"] == TOKEN_VAR][0]
    assert token_var == {"name": TOKEN_VAR, "type": "SECRET", "value": "<redacted>"}
    assert TOKEN not in json.dumps(warm) + json.dumps(command)


@pytest.mark.parametrize("overrides, message", [
    ({"container_type": "process"}, "differs from its warm executor's 'mesos'"),
    ({"resources": (ResourceShare("gpus", 1, "*"),)}, "a task with gpus cannot run in a warm worker"),
    ({"token_as_plain_env": True}, "never in a plain variable"),
    ({"framework_id": None}, "needs the framework id"),
])
def test_a_warm_task_that_cannot_be_described_is_refused(overrides, message):
    with pytest.raises(TaskInfoError, match=message):
        build_task_info(warm_task(**overrides), OFFER_RAW)


def test_the_command_path_is_unchanged_without_a_warm_executor():
    info = build_task_info(warm_task(warm=None, framework_id=None), OFFER_RAW)
    assert info["command"]["arguments"] == ["python3", "-m", "airflow_mesos.worker"]
    assert "executor" not in info and "data" not in info
    assert info["container"]["type"] == "MESOS"


# --- offers: executor_ids -----------------------------------------------------------------------------------


def test_offers_carry_the_frameworks_executors_on_the_agent():
    raw = {"id": {"value": "O1"}, "agent_id": {"value": "S1"}, "hostname": "a",
           "executor_ids": [{"value": "airflow-warm-process-1"}, {"value": "other"}]}
    assert parse_offer(raw).executor_ids == frozenset({"airflow-warm-process-1", "other"})
    assert parse_offer({**raw, "executor_ids": []}).executor_ids == frozenset()
    assert parse_offer({k: v for k, v in raw.items() if k != "executor_ids"}).executor_ids == frozenset()


def test_a_malformed_executor_id_names_its_path():
    raw = {"id": {"value": "O1"}, "agent_id": {"value": "S1"}, "hostname": "a", "executor_ids": [{"value": 3}]}
    with pytest.raises(MalformedEvent, match=r"offer\.executor_ids\[0\]\.value"):
        parse_offer(raw)


def test_failure_and_message_events():
    failure = parse_event({"type": "FAILURE", "failure": {"agent_id": {"value": "S1"},
                                                          "executor_id": {"value": "E1"}, "status": 9}})
    assert (failure.agent_id, failure.executor_id, failure.status, failure.executor_terminated) == ("S1", "E1", 9, True)
    message = parse_event({"type": "MESSAGE", "message": {"agent_id": {"value": "S1"}, "executor_id": {"value": "E1"},
                                                          "data": base64.b64encode(b"hi").decode()}})
    assert (message.executor_id, message.data) == ("E1", b"hi")


# --- the matcher: executor resources ------------------------------------------------------------------------

EXEC = ExecutorDemand("airflow-warm-process-x", 0.1, 256.0)


def warm(task_id, cpus=1.0, mem=128.0, executor=EXEC, **kw):
    plain = task(task_id, cpus, mem, **kw)
    return TaskDemand(task_id=plain.task_id, group=plain.group, priority=plain.priority, sequence=plain.sequence,
                      cpus=plain.cpus, mem=plain.mem, disk=plain.disk, gpus=plain.gpus, role=plain.role,
                      constraints=plain.constraints, executor=executor)


def with_executors(an_offer, *executor_ids):
    raw = dict(an_offer.raw)
    raw["executor_ids"] = [{"value": e} for e in executor_ids]
    return parse_offer(raw)


def test_the_first_task_on_an_agent_pays_for_its_executor_and_the_rest_do_not():
    # 2.1 cpus: the executor (0.1) and two tasks of 1; without the accounting a third would not fit either.
    result = match([warm("a"), warm("b"), warm("c")], [offer("O1", cpus=2.1, mem=4096)])
    [launch] = result.launches
    assert [(a.task_id, a.launches_executor) for a in launch.tasks] == [("a", True), ("b", False)]
    assert "c" in result.waiting
    # The task's own shares only: the executor's are in its ExecutorInfo.
    assert launch.tasks[0].resources == (ResourceShare("cpus", 1.0, "*"), ResourceShare("mem", 128.0, "*"))


def test_where_the_executor_runs_a_task_needs_only_its_own_resources():
    result = match([warm("a"), warm("b")], [with_executors(offer("O1", cpus=2.0), EXEC.executor_id)])
    assert [(a.task_id, a.launches_executor) for a in result.launches[0].tasks] == [("a", False), ("b", False)]
    assert not result.waiting


def test_an_exact_fit_without_room_for_the_executor_waits_with_the_reason():
    result = match([warm("a")], [offer("O1", cpus=1.0, mem=4096)])
    assert result.launches == ()
    assert result.waiting["a"] == ("needs 1.1 cpus; the largest offer has 1 (with 0.1 cpus and 256 MiB mem for its "
                                   "warm executor)")


def test_another_executor_running_there_does_not_count():
    result = match([warm("a")], [with_executors(offer("O1", cpus=1.0), "airflow-warm-mesos-other")])
    assert "a" in result.waiting


def test_the_executor_is_accounted_per_offer_and_per_executor():
    other = ExecutorDemand("airflow-warm-mesos-y", 0.1, 256.0)
    result = match([warm("a"), warm("b", executor=other)], [offer("O1", cpus=4.0, mem=4096)])
    assert [(a.task_id, a.launches_executor) for a in result.launches[0].tasks] == [("a", True), ("b", True)]
    # Two offers of the same agent: each ACCEPT launches it if the other's did not (the cautious side).
    result = match([warm("a"), warm("b")], [offer("O1", cpus=1.1), offer("O2", cpus=1.1)])
    assert sorted(a.launches_executor for launch in result.launches for a in launch.tasks) == [True, True]


def test_best_fit_counts_the_executor_only_where_it_is_not_running():
    # O1 runs the executor and holds the task exactly; O2, with more cpus, would not hold task and executor.
    offers = [offer("O2", cpus=1.05, mem=4096), with_executors(offer("O1", cpus=1.0, mem=128), EXEC.executor_id)]
    result = match([warm("a")], offers)
    assert result.launches[0].offer_id == "O1"
    # Where both hold it, best fit decides as for any task (the least cpus left that holds it).
    offers = [with_executors(offer("O1", cpus=2.0), EXEC.executor_id), offer("O2", cpus=1.1)]
    assert match([warm("a")], offers).launches[0].offer_id == "O2"


def test_the_executor_takes_unreserved_resources_and_the_task_reserved_first():
    reserved = offer("O1", cpus=0.1, mem=256, role="airflow",
                     reserved={("cpus", "airflow"): 1.0, ("mem", "airflow"): 128})
    result = match([warm("a", role="airflow")], [reserved], default_role="airflow")
    [assignment] = result.launches[0].tasks
    assert assignment.launches_executor
    assert assignment.resources == (ResourceShare("cpus", 1.0, "airflow"), ResourceShare("mem", 128.0, "airflow"))
    # All reserved, nothing unreserved: the executor cannot start there.
    only_reserved = offer("O2", cpus=0, mem=0, role="airflow",
                          reserved={("cpus", "airflow"): 4.0, ("mem", "airflow"): 4096})
    assert "a" in match([warm("a", role="airflow")], [only_reserved], default_role="airflow").waiting


def test_constrained_warm_demands_are_accounted_too():
    constrained = warm("a", constraints=[["hostname", "LIKE", "O.*"]])
    result = match([constrained, warm("b", constraints=[["hostname", "LIKE", "O.*"]])], [offer("O1", cpus=2.1)])
    assert [(a.task_id, a.launches_executor) for a in result.launches[0].tasks] == [("a", True), ("b", False)]


def test_command_and_warm_demands_share_offers():
    result = match([task("cmd", 1.0), warm("w", 1.0)], [offer("O1", cpus=2.1, mem=4096)])
    assert [a.task_id for a in result.launches[0].tasks] == ["cmd", "w"]
    result = match([task("cmd", 1.0), warm("w", 1.0)], [offer("O1", cpus=2.0, mem=4096)])
    assert "w" in result.waiting


def test_a_malformed_executor_demand_is_named():
    with pytest.raises(MatchInputError, match="TaskDemand 'a': executor.mem must be a finite number >= 0"):
        warm("a", executor=ExecutorDemand("e", 0.1, -1.0))
    with pytest.raises(MatchInputError, match="executor.executor_id must be a non-empty string"):
        warm("a", executor=ExecutorDemand("", 0.1, 1.0))


def test_many_warm_tasks_fill_offers_with_one_executor_each():
    demands = [warm(f"t{i}", cpus=0.5, mem=128, sequence=i) for i in range(100)]
    offers = [offer(f"O{i}", cpus=2.1, mem=4096) for i in range(10)]
    result = match(demands, offers)
    for launch in result.launches:
        assert [a.launches_executor for a in launch.tasks] == [True] + [False] * (len(launch.tasks) - 1)
        assert sum(a.resources[0].amount for a in launch.tasks) + 0.1 <= 2.1 + 1e-9
    assert len(where_all(result)) == 40


def where_all(result):
    return [a.task_id for launch in result.launches for a in launch.tasks]


# --- the core: FAILURE, and the tasks that die with their executor -----------------------------------------------


def work(task_id, executor=EXEC):
    return c.Work(key=("key", task_id), demand=warm(task_id, executor=executor), payload=None)


def running_core(*task_ids, agent="S-O1"):
    core = c.ExecutorCore(c.CorePolicy(default_role="*"))
    core.subscribed("F-1", 0.0)
    for tid in task_ids:
        core.submit(work(tid), 1.0)
    core.offers([offer("O1", cpus=8.0, mem=8192)], 2.0)
    for tid in task_ids:
        core.update(TaskStatus(task_id=tid, state="TASK_RUNNING", agent_id=agent, uuid=b"u" * 16), 3.0)
    return core


def test_failure_names_the_executors_tasks_and_asks_mesos_about_them():
    core = running_core("a", "b")
    out = core.executor_failed("S-O1", EXEC.executor_id, 9, 10.0)
    assert out[0] == c.ExecutorFailed("S-O1", EXEC.executor_id, 9, ("a", "b"))
    assert out[1] == c.Reconcile((("a", "S-O1"), ("b", "S-O1")))
    # Another agent's executor of the same id, or another executor: not these tasks.
    assert core.executor_failed("S-other", EXEC.executor_id, 9, 10.0)[0].task_ids == ()
    assert core.executor_failed("S-O1", "airflow-warm-mesos-other", 1, 10.0) == [
        c.ExecutorFailed("S-O1", "airflow-warm-mesos-other", 1, ())]


def test_a_task_that_died_with_its_executor_fails_its_try_with_the_executor_named():
    core = running_core("a")
    core.executor_failed("S-O1", EXEC.executor_id, 9, 10.0)
    out = core.update(TaskStatus(task_id="a", state="TASK_FAILED", reason="REASON_EXECUTOR_TERMINATED",
                                 source="SOURCE_AGENT", agent_id="S-O1", executor_id=EXEC.executor_id,
                                 message="Executor terminated", uuid=b"v" * 16), 11.0)
    [report] = [i for i in out if isinstance(i, c.Report)]
    assert report.outcome is Outcome.FAILED
    assert report.info == ("TASK_FAILED (REASON_EXECUTOR_TERMINATED: the task's executor terminated (its process on "
                           "the agent exited and took the task with it)): Executor terminated (warm executor "
                           f"{EXEC.executor_id} terminated with status 9)")
    assert core.phase("a") is None


def test_the_failure_may_come_after_the_tasks_updates():
    core = running_core("a")
    out = core.update(TaskStatus(task_id="a", state="TASK_LOST", reason="REASON_EXECUTOR_TERMINATED",
                                 agent_id="S-O1", uuid=b"v" * 16), 11.0)
    assert [i.outcome for i in out if isinstance(i, c.Report)] == [Outcome.FAILED]
    assert f"(warm executor {EXEC.executor_id})" in [i for i in out if isinstance(i, c.Report)][0].info
    assert core.executor_failed("S-O1", EXEC.executor_id, 9, 12.0) == [c.ExecutorFailed("S-O1", EXEC.executor_id, 9, ())]


def test_revoking_a_warm_task_kills_it_as_any_other():
    core = running_core("a")
    assert core.revoke("a", 5.0) == [c.Kill("a", "S-O1", 30.0)]


@pytest.mark.parametrize("state", ["TASK_FAILED", "TASK_LOST", "TASK_GONE"])
def test_running_tasks_of_a_terminated_executor_fail_and_are_not_relaunched(state):
    # (Tasks that had not run yet are placed again: tests/unit/executor/test_states.py.)
    verdict = judge(TaskStatus(task_id="a", state=state, reason="REASON_EXECUTOR_TERMINATED"), started=True)
    assert verdict.outcome is Outcome.FAILED


def test_executor_registration_timeout_fails_the_try():
    verdict = judge(TaskStatus(task_id="a", state="TASK_FAILED", reason="REASON_EXECUTOR_REGISTRATION_TIMEOUT"))
    assert verdict.outcome is Outcome.FAILED


# --- sandbox logs of warm tasks ------------------------------------------------------------------------------


def location(executor_id="airflow-warm-process-x", task_id="T1"):
    return TaskLocation(task_id=task_id, framework_id="F-1", agent_id="S1", executor_id=executor_id,
                        state="TASK_RUNNING", last_update=1.0)


def agent_state(*executors):
    return {"frameworks": [{"id": "F-1", "executors": list(executors)}]}


def test_a_warm_tasks_files_are_under_tasks_in_its_executors_sandbox():
    warm_executor_state = {"id": "airflow-warm-process-x", "directory": "/work/E1/runs/C1",
                           "tasks": [{"id": "T1"}], "completed_tasks": [{"id": "T0"}]}
    assert find_task_files(agent_state(warm_executor_state), location()) == "/work/E1/runs/C1/tasks/T1"
    # The master did not say which executor: the agent's executor listing the task tells.
    assert find_task_files(agent_state(warm_executor_state), location(executor_id="T0", task_id="T0")) \
        == "/work/E1/runs/C1/tasks/T0"


def test_a_command_tasks_files_are_at_the_top_of_its_sandbox():
    command = {"id": "T1", "directory": "/work/T1/runs/C2", "tasks": [{"id": "T1"}]}
    assert find_task_files(agent_state(command), location(executor_id="T1")) == "/work/T1/runs/C2"
    assert task_files_dir("/d/", location()) == "/d/tasks/T1"
