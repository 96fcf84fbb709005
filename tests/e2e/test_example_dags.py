"""The shipped example DAGs (``dags/``) run green through the MesosExecutor, on the shared ``mesos_airflow``.

``mesos_dags/`` links to them, and their folder is mounted into the task containers, so
the workers read the very files in ``dags/``.  ``example_clickstream`` needs S3 and a
warehouse: it runs in ``test_remote_logging.py``, beside the S3-compatible server.
"""

from __future__ import annotations

import time

import httpx

from tests.e2e.test_mesos_executor import _by_task, _log_text, _master_tasks, _scalar


def test_the_resources_example_gets_its_resources_image_volumes_and_placement(mesos_airflow, mesos_cluster):
    deployment, cluster = mesos_airflow, mesos_cluster
    dag_id = "example_mesos_resources"
    run_id = deployment.trigger(dag_id)
    run = deployment.wait_for_dag_run(dag_id, run_id, timeout=300)
    tis = _by_task(deployment, dag_id, run_id)
    assert run["state"] == "success", {k: str(v) for k, v in tis.items()}
    assert len(tis) == 5 and all(ti.state == "success" for ti in tis.values())

    tasks = _mesos_tasks(cluster, {ti.external_executor_id for ti in tis.values()})
    racks = {a.id: a.spec.attributes.get("rack") for a in cluster.agents.values()}
    extract = tasks[tis[("extract", -1)].external_executor_id]
    assert racks[extract["slave_id"]] == "r1"
    transform = tasks[tis[("transform", -1)].external_executor_id]
    assert (_scalar(transform, "cpus"), _scalar(transform, "mem"), _scalar(transform, "disk")) == (1, 1024, 512)
    assert _container_of(cluster, transform)["type"] == "MESOS"
    _assert_never_two_at_once_on_one_agent([tasks[tis[("publish", i)].external_executor_id] for i in (0, 1)])

    # The read-only host folder and the scratch volume were there for the transform step.
    assert "read 3 reference files from /reference; wrote /scratch/" in _log_text(deployment, dag_id, run_id,
                                                                                 "transform")
    assert "publishing 3 sizes to dashboard" in _log_text(deployment, dag_id, run_id, "publish", map_index=1)


def test_the_fanout_example_runs_200_packed_process_tasks(mesos_airflow, mesos_cluster):
    deployment, cluster = mesos_airflow, mesos_cluster
    dag_id = "example_mesos_fanout"
    started = time.monotonic()
    run_id = deployment.trigger(dag_id)
    run = deployment.wait_for_dag_run(dag_id, run_id, timeout=1200)
    wall = time.monotonic() - started
    tis = _by_task(deployment, dag_id, run_id)
    squares = [ti for (task_id, _), ti in tis.items() if task_id == "square"]
    assert run["state"] == "success", sorted({ti.state for ti in tis.values()}, key=str)
    assert len(squares) == 200 and all(ti.state == "success" for ti in squares)
    # sum(n * n for n in range(200))
    assert "200 tasks; the sum of their squares is 2646700" in _log_text(deployment, dag_id, run_id, "total")

    tasks = _mesos_tasks(cluster, {ti.external_executor_id for ti in squares})
    assert all("container" not in t and _scalar(t, "cpus") == 0.1 for t in tasks.values())
    print(f"\nexample_mesos_fanout: {len(tis)} task instances in {wall:.0f} s wall time")


def _assert_never_two_at_once_on_one_agent(tasks: list[dict]) -> None:
    """``hostname UNIQUE`` as Marathon (and our matcher) mean it: an agent runs at most one instance at a time.
    Instances that ended count no more, so two mapped tries may share an agent one after the other: the
    second one's first status then comes after the first one's last.  (In six recorded runs they never
    overlapped: the first ran in half a second on the agent whose warm executor was up, the second started
    seconds later on the other, unless that first agent was offered again first.)"""
    def span(task: dict) -> tuple[float, float]:
        stamps = [s["timestamp"] for s in task["statuses"]]
        return min(stamps), max(stamps)

    timeline = {t["id"]: (t["slave_id"], [(s["state"], round(s["timestamp"], 3)) for s in t["statuses"]])
                for t in tasks}
    first, second = sorted(tasks, key=lambda t: span(t)[0])
    if first["slave_id"] == second["slave_id"]:
        assert span(first)[1] <= span(second)[0], f"two instances at once on one agent: {timeline}"


def _container_of(cluster, task: dict) -> dict:
    """A task's ContainerInfo: its own (a command task), or its executor's (a warm task runs in its executor's
    container), from the master's executors of the framework while that executor still runs."""
    if "container" in task:
        return task["container"]
    state = httpx.get(cluster.master_url + "/master/state", timeout=10).json()
    executors = {(e["executor_id"], e["slave_id"]): e for f in state["frameworks"] for e in f.get("executors", [])}
    executor = executors.get((task["executor_id"], task["slave_id"]))
    assert executor is not None, f"task {task['id']} has no container and its executor is gone"
    return executor["container"]


def _mesos_tasks(cluster, ids: set[str]) -> dict[str, dict]:
    """The Mesos master's records of the tasks ``ids`` (where they ran, with what)."""
    tasks = {t["id"]: t for t in _master_tasks(cluster) if t["id"] in ids}
    assert set(tasks) == ids, f"unknown to the master: {ids - set(tasks)}"
    return tasks
