"""The MesosExecutor in this process with warm workers, against a real embedded cluster: many workloads share
one executor per agent (launched with an ExecutorInfo, no command), the token is only in what the executor
gets, and killing the executor's process fails its tasks with REASON_EXECUTOR_TERMINATED, after which the
next task starts a new executor.

(The full Airflow deployment with warm workers is in tests/e2e/test_warm_workers.py.)
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import types
import uuid

import httpx
import pytest

from airflow_mesos.local import LocalCluster
from airflow_mesos.local.agent import AgentSpec
from tests.integration import test_mesos_executor_edge as edge
from tests.integration.test_mesos_executor_edge import SilentMaster
from tests.support.warm_processes import warm_executor_pids

# The edge module's fixtures, used here as they are: the Airflow database, the [mesos] environment, executors.
airflow_db = edge.airflow_db
mesos_env = edge.mesos_env
executor_factory = edge.executor_factory

pytestmark = pytest.mark.integration

TOKEN = "warm-test-token-" + uuid.uuid4().hex
WARM_PROCESS = {"mesos": {"cpus": 0.25, "mem": 128, "disk": 0, "warm": True, "container_type": "process"}}


def workload(task_id: str, executor_config=WARM_PROCESS):
    from airflow.executors.workloads import BundleInfo, ExecuteTask
    from airflow.executors.workloads.task import TaskInstanceDTO

    ti = TaskInstanceDTO(id=uuid.uuid4(), task_id=task_id, dag_id="warm", run_id="r", try_number=1,
                         dag_version_id=uuid.uuid4(), map_index=-1, pool_slots=1, priority_weight=1,
                         queue="default", external_executor_id=str(uuid.uuid4()), executor_config=executor_config)
    return ExecuteTask(token=TOKEN, ti=ti, dag_rel_path="warm.py", bundle_info=BundleInfo(name="dags-folder"),
                       log_path=f"warm/{task_id}.log")


def pump(executor, until, timeout: float, what: str) -> dict:
    """Heartbeat the executor like Airflow's loop until ``until(events)`` holds; the events by key, in order."""
    seen: dict = {}
    deadline = time.monotonic() + timeout
    stop = threading.Event()
    while time.monotonic() < deadline:
        executor.heartbeat()
        for key, (state, info) in executor.get_event_buffer().items():
            seen.setdefault(key, []).append((str(state), info))
        if until(seen):
            return seen
        stop.wait(0.1)
    raise AssertionError(f"timed out waiting for {what}: {seen}")


def master_tasks(cluster) -> dict[str, dict]:
    """The master's task records by id.  A task that is placed again after nothing of it ran (TASK_DROPPED when
    its executor ended under it) keeps its id, so an id can have a completed record beside the live one, which
    /tasks lists first: the live one wins."""
    tasks = httpx.get(cluster.master_url + "/master/tasks", params={"limit": 1000}, timeout=10).json()["tasks"]
    out: dict[str, dict] = {}
    for task in tasks:
        if task["id"] not in out or out[task["id"]]["state"] == "TASK_DROPPED":
            out[task["id"]] = task
    return out


@pytest.fixture
def hanging_api():
    """An Execution API that accepts connections and never answers: the workers stay RUNNING."""
    api = SilentMaster()
    yield api
    api.close()


def test_many_warm_workloads_share_one_executor_and_the_token_stays_in_data(mesos_env, executor_factory):
    with LocalCluster([AgentSpec(cpus=4, mem=4096)], allocation_interval=0.2) as cluster:
        mesos_env(cluster.master_url, revive_min_interval="0.2", warm_idle_timeout="5")
        executor = executor_factory()
        executor.housekeeping_seconds = 3600  # no TI rows: keep the periodic "unwanted" check away
        executor.start()
        works = [workload(f"t{i}") for i in range(6)]
        for work in works:
            executor.queue_workload(work, session=None)
        # Each worker starts, finds no Execution API at 127.0.0.1:9 and fails: RUNNING, then FAILED.
        seen = pump(executor, lambda s: len(s) == 6 and all(v[-1][0] == "failed" for v in s.values()), 180,
                    "every warm workload to run and end")
        assert all([state for state, _ in v] == ["running", "failed"] for v in seen.values()), seen

        tasks = master_tasks(cluster)
        ours = [tasks[w.ti.external_executor_id] for w in works]
        executor_ids = {t["executor_id"] for t in ours}
        assert len(executor_ids) == 1 and next(iter(executor_ids)).startswith("airflow-warm-process-"), executor_ids
        # The token went to the executor in TaskInfo.data only: no endpoint shows it.
        agent = next(iter(cluster.agents.values()))
        texts = [httpx.get(cluster.master_url + path, timeout=10).text
                 for path in ("/master/state", "/master/tasks", "/master/frameworks")]
        texts.append(httpx.get(f"http://{agent.bind_address}:{agent.port}/state", timeout=10).text)
        assert not [text for text in texts if TOKEN in text]
        state = json.loads(texts[-1])
        warm = [e for f in state["frameworks"] + state.get("completed_frameworks", [])
                for e in f.get("executors", []) + f.get("completed_executors", []) if e["id"] in executor_ids]
        listed = {t["id"] for e in warm for t in e.get("tasks", []) + e.get("completed_tasks", [])}
        assert listed >= {w.ti.external_executor_id for w in works}


def test_killing_the_executor_fails_its_tasks_and_a_new_task_starts_a_new_one(mesos_env, executor_factory,
                                                                              hanging_api):
    with LocalCluster([AgentSpec(cpus=4, mem=4096)], allocation_interval=0.2) as cluster:
        mesos_env(cluster.master_url, revive_min_interval="0.2", task_api_url=hanging_api.url + "/execution/",
                  kill_grace_period="5")
        executor = executor_factory()
        executor.housekeeping_seconds = 3600
        executor.start()
        first, second = workload("a"), workload("b")
        for work in (first, second):
            executor.queue_workload(work, session=None)
        pump(executor, lambda s: len(s) == 2 and all(v[-1][0] == "running" for v in s.values()), 120,
             "both warm workloads RUNNING")
        executor_id = master_tasks(cluster)[first.ti.external_executor_id]["executor_id"]
        pids = warm_executor_pids(executor_id)
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)

        keys = {first.ti.key, second.ti.key}
        seen = pump(executor, lambda s: keys <= set(s) and all(s[k][-1][0] == "failed" for k in keys), 90,
                    "the killed executor's tasks to fail")
        for work in (first, second):
            info = seen[work.ti.key][-1][1]
            assert "REASON_EXECUTOR_TERMINATED" in info and executor_id in info, info

        third = workload("c")
        executor.queue_workload(third, session=None)
        seen = pump(executor, lambda s: s.get(third.ti.key, [("", "")])[-1][0] == "running", 120,
                    "a new task in a new executor")
        # The Mesos task Airflow was told of (RUNNING's info). Its first launch may have crossed the old executor's
        # end on the agent (TASK_DROPPED, REASON_EXECUTOR_TERMINATED: placed again, under the same id, without
        # spending a try), which a loaded machine makes likely.
        third_task = seen[third.ti.key][-1][1]
        assert master_tasks(cluster)[third_task]["executor_id"] == executor_id
        new_pids = warm_executor_pids(executor_id)
        assert len(new_pids) == 1 and new_pids != pids

        # Revoking a warm task kills it as a command task is killed: the executor ends it TASK_KILLED, and Airflow
        # hears nothing more of it.
        executor.revoke_task(ti=types.SimpleNamespace(key=third.ti.key, external_executor_id=third_task))
        deadline = time.monotonic() + 60
        while master_tasks(cluster)[third_task]["state"] != "TASK_KILLED":
            assert time.monotonic() < deadline, master_tasks(cluster)[third_task]["state"]
            executor.heartbeat()
            time.sleep(0.2)
        assert third.ti.key not in executor.running and executor.get_event_buffer() == {}
