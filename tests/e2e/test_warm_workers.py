"""Warm workers end to end, on the shared ``mesos_airflow``: the fan-out runs green with every task in a warm
executor, for ``process`` and ``mesos``; the token is in no argv, ``docker inspect`` or endpoint; a warm
task's log is read from its executor's sandbox; killing the executor fails its task and Airflow retries it.

The tasks ask for warm workers themselves (``mesos_dags/mesos_warm.py``), whatever ``[mesos] warm_workers``
says (on by default).
"""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from airflow_mesos.executor.sandbox_logs import read_task_logs
from tests.e2e.test_mesos_executor import _by_task, _log_text, _master_tasks
from tests.support.token_search import argv_texts, docker_texts, endpoint_texts, token_leaks
from tests.support.warm_processes import warm_executor_pids

WIDTH = 40


@pytest.mark.parametrize("container_type", ["process", "mesos"])
def test_the_fanout_runs_green_in_warm_workers(mesos_airflow, mesos_cluster, docker_client, container_type):
    deployment, cluster = mesos_airflow, mesos_cluster
    dag_id = f"mesos_warm_fanout_{container_type}"
    started = time.monotonic()
    run_id = deployment.trigger(dag_id)
    # While the run goes on, the warm executors' containers (mesos) and every process are searched for a
    # token a few times: a running executor holds its tasks' tokens, and must show none of them.
    leaks: dict[str, list[str]] = {}

    def done_or_checked():
        leaks.update(token_leaks({**docker_texts(docker_client), **argv_texts()}))
        return deployment.client.dag_run(dag_id, run_id)["state"] in ("success", "failed")

    for _ in range(5):
        if done_or_checked():
            break
        time.sleep(3)
    run = deployment.wait_for_dag_run(dag_id, run_id, timeout=900)
    wall = time.monotonic() - started
    tis = _by_task(deployment, dag_id, run_id)
    assert run["state"] == "success", sorted({str(ti.state) for ti in tis.values()})
    squares = [ti for (task_id, _), ti in tis.items() if task_id == "square"]
    assert len(squares) == WIDTH and all(ti.state == "success" for ti in squares)
    assert f"{WIDTH} warm tasks; the sum of their squares is {sum(n * n for n in range(WIDTH))}" in _log_text(
        deployment, dag_id, run_id, "total")
    assert not leaks, leaks

    # Every try ran in a warm executor of its kind: one executor id (the same ExecutorInfo everywhere), at
    # most one executor per agent at a time, far fewer executors than tasks.
    ids = {ti.external_executor_id for ti in tis.values()}
    tasks = {t["id"]: t for t in _master_tasks(cluster) if t["id"] in ids}
    assert set(tasks) == ids
    executor_ids = {t["executor_id"] for t in tasks.values()}
    assert len(executor_ids) == 1 and next(iter(executor_ids)).startswith(f"airflow-warm-{container_type}-")
    # The tasks have no container of their own: a mesos one runs inside its executor's.
    assert not [t["id"] for t in tasks.values() if t.get("container")]

    # A warm task's stdout is in tasks/<task id>/ of its executor's sandbox: read through the master and
    # the agent as the api-server reads a running try.
    some = tis[("square", 3)].external_executor_id
    messages, logs = read_task_logs(cluster.master_url, some)
    assert any("shared (warm-worker) executor" in m for m in messages), messages
    assert "E2E-MARKER warm square 3" in "".join(logs), (messages, logs)
    print(f"\n{dag_id}: {len(tis)} task instances in {wall:.0f} s wall time, executors {executor_ids}")


def test_no_token_in_endpoints_docker_inspect_or_argv_after_warm_runs(mesos_airflow, mesos_cluster, docker_client):
    # Runs after the warm fan-outs above (module order): their executors and tasks are all there to search.
    endpoints = endpoint_texts(mesos_cluster, ("/master/state", "/master/tasks", "/master/frameworks"),
                               params={"limit": 1000})
    texts = {**endpoints, **docker_texts(docker_client), **argv_texts(),
             "scheduler log": mesos_airflow.log_path("scheduler").read_text(errors="replace")}
    assert not token_leaks(texts)


def test_killing_a_warm_executor_fails_its_task_and_airflow_retries_it(mesos_airflow, mesos_cluster):
    deployment, cluster = mesos_airflow, mesos_cluster
    dag_id = "mesos_warm_kill"
    run_id = deployment.trigger(dag_id)

    def first_try_running():
        ti = _by_task(deployment, dag_id, run_id).get(("hold", -1))
        if ti is None or ti.state != "running" or ti.try_number != 1 or not ti.external_executor_id:
            return False
        task = {t["id"]: t for t in _master_tasks(cluster)}.get(ti.external_executor_id)
        return task is not None and task["state"] == "TASK_RUNNING"

    deployment._wait(first_try_running, f"{dag_id}.hold running its first try", timeout=300)
    ti = _by_task(deployment, dag_id, run_id)[("hold", -1)]
    task = {t["id"]: t for t in _master_tasks(cluster)}[ti.external_executor_id]
    agent = cluster.agents[task["slave_id"]]
    state = httpx.get(f"http://{agent.bind_address}:{agent.port}/state", timeout=10).json()
    sandbox = next(e["directory"] for f in state["frameworks"] for e in f["executors"]
                   if e["id"] == task["executor_id"])
    pids = warm_executor_pids(task["executor_id"], sandbox)
    assert pids, f"no process of executor {task['executor_id']} in {sandbox}"
    os.kill(pids[0], signal.SIGKILL)

    run = deployment.wait_for_dag_run(dag_id, run_id, timeout=300)
    ti = _by_task(deployment, dag_id, run_id)[("hold", -1)]
    assert run["state"] == "success" and ti.try_number == 2, (run["state"], ti.try_number)
    assert "E2E-MARKER warm hold try 2" in _log_text(deployment, dag_id, run_id, "hold", try_number=2)
    events = deployment.client.event_logs(dag_id=dag_id, run_id=run_id)
    failed = " ".join(str(e.get("extra")) for e in events if e.get("event") == "mesos task failed")
    assert "REASON_EXECUTOR_TERMINATED" in failed and task["executor_id"] in failed, failed
