"""Airflow 3.3 with the MesosExecutor against the embedded Mesos cluster, end to end.

Real parts only: the api-server, scheduler and dag-processor are real ``airflow``
processes on a real PostgreSQL; the scheduler's MesosExecutor talks HTTP to an
embedded Mesos master (in this test process); its agents run each task as a real
Docker container (``container_type = mesos``, the project image) or as a plain
process (``process``).  One deployment serves every test of this module; each
test triggers its own DAG runs (``mesos_dags/``).
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.token_search import TOKEN_PATTERN, argv_texts, docker_texts, endpoint_texts, token_leaks


def _by_task(deployment, dag_id, run_id):
    return {(ti.task_id, ti.map_index): ti for ti in deployment.task_instances(dag_id, run_id)}


def _log_text(deployment, dag_id, run_id, task_id, map_index=-1, try_number=1) -> str:
    return deployment.client.task_log(dag_id, run_id, task_id, try_number, map_index=map_index).text


@pytest.mark.parametrize("container_type", ["mesos", "process"])
def test_a_dozen_tasks_run_green_through_mesos_offers(mesos_airflow, mesos_cluster, container_type):
    deployment, cluster = mesos_airflow, mesos_cluster
    dag_id = f"mesos_dozen_{container_type}"
    run_id = deployment.trigger(dag_id)

    # While slow_log runs, its output is read from the Mesos sandbox through Airflow's REST API.
    def slow_log_running():
        tis = _by_task(deployment, dag_id, run_id)
        ti = tis.get(("slow_log", -1))
        return ti is not None and ti.state == "running" and "E2E-MARKER slow started" in _log_text(
            deployment, dag_id, run_id, "slow_log")

    deployment._wait(slow_log_running, f"{dag_id}.slow_log running with its log readable", timeout=240)
    if container_type == "mesos":
        # Its container, inspected while it runs (the agent removes containers once they exit): the token
        # is in no part of it, though the worker inside has it.
        import docker

        task_id = _by_task(deployment, dag_id, run_id)[("slow_log", -1)].external_executor_id
        # A command task's container is its own; a warm task runs in its executor's container, which the
        # agent labels with the executor's id (the same id on each agent that runs one).
        [task] = [t for t in _master_tasks(cluster) if t["id"] == task_id]
        owner = task.get("executor_id") or task_id
        running = docker.from_env().containers.list(filters={"label": [f"airflow-mesos.local.task-id={owner}",
                                                                       f"airflow-mesos.local.agent-id={task['slave_id']}"]})
        assert len(running) == 1, owner
        assert not TOKEN_PATTERN.search(json.dumps(running[0].attrs))
    run = deployment.wait_for_dag_run(dag_id, run_id, timeout=300)
    tis = _by_task(deployment, dag_id, run_id)
    assert run["state"] == "success", {k: v.state for k, v in tis.items()}
    assert len(tis) == 13 and all(ti.state == "success" for ti in tis.values())

    # Each try ran as the Mesos task whose id Airflow pre-assigned; the worker reports the task's state
    # through the Execution API before its process exits, so the Mesos tasks finish a moment later.
    ids = {ti.external_executor_id for ti in tis.values()}

    def all_finished():
        states = {t["id"]: t["state"] for t in _master_tasks(cluster) if t["id"] in ids}
        return len(states) == len(ids) and set(states.values()) == {"TASK_FINISHED"}

    deployment._wait(all_finished, f"the Mesos tasks of {dag_id} to finish", timeout=60)
    mesos_tasks = {t["id"]: t for t in _master_tasks(cluster)}
    agents = {a.id: a.spec for a in cluster.agents.values()}
    r2 = mesos_tasks[tis[("on_rack_r2", -1)].external_executor_id]
    assert agents[r2["slave_id"]].attributes["rack"] == "r2"
    spread_agents = {mesos_tasks[tis[("spread", i)].external_executor_id]["slave_id"] for i in (0, 1)}
    assert len(spread_agents) == 2  # hostname UNIQUE
    big = mesos_tasks[tis[("big", -1)].external_executor_id]
    assert _scalar(big, "cpus") == 2 and _scalar(big, "mem") == 1024

    # Why a task waited is in its event log (the executor writes those rows itself); a task placed at once into an
    # offer in hand ([mesos] offer_hold_seconds) waited for nothing and has none.  Which tasks waited depends on
    # when offers came, so only the rows' form is checked here; test_mesos_ui_plugin follows a task that must wait.
    waiting = [e for e in deployment.client.event_logs(dag_id=dag_id, run_id=run_id) if e.get("event") == "mesos waiting"]
    assert all(e["task_id"] in {name for name, _ in tis} and e.get("extra") for e in waiting), waiting

    # Every task's output is in its log after it ended.
    assert "E2E-MARKER slow done" in _log_text(deployment, dag_id, run_id, "slow_log")
    for i in range(6):
        assert f"E2E-MARKER small {i}" in _log_text(deployment, dag_id, run_id, "small", map_index=i)
    expected = "hello from the host" if container_type == "mesos" else "no volume for a process"
    assert expected in _log_text(deployment, dag_id, run_id, "with_volume")
    assert "E2E-MARKER own image" in _log_text(deployment, dag_id, run_id, "own_image")


def test_invalid_executor_configs_fail_only_their_task_with_the_field_named(mesos_airflow):
    deployment = mesos_airflow
    run_id = deployment.trigger("mesos_bad_configs")
    run = deployment.wait_for_dag_run("mesos_bad_configs", run_id, timeout=240)
    tis = _by_task(deployment, "mesos_bad_configs", run_id)
    assert run["state"] == "failed"
    assert tis[("good_one", -1)].state == "success" and tis[("good_two", -1)].state == "success"
    expected = {
        "negative_cpus": "executor_config.mesos.cpus",
        "typo_key": "executor_config.mesos.cpu",
        "unknown_operator": "unknown operator 'NEAR'",
        "docker_without_opt_in": "allow_plain_token_for_docker",
    }
    events = deployment.client.event_logs(dag_id="mesos_bad_configs", run_id=run_id)
    for task_id, words in expected.items():
        assert tis[(task_id, -1)].state == "failed", task_id
        extras = " ".join(str(e.get("extra") or "") for e in events if e.get("task_id") == task_id)
        assert "invalid Mesos task configuration" in extras and words in extras, (task_id, extras)


def test_a_task_whose_image_does_not_exist_fails_with_the_mesos_reason_in_its_log(mesos_airflow):
    deployment = mesos_airflow
    run_id = deployment.trigger("mesos_bad_image")
    run = deployment.wait_for_dag_run("mesos_bad_image", run_id, timeout=240)
    assert run["state"] == "failed"
    text = _log_text(deployment, "mesos_bad_image", run_id, "missing_image")
    assert "TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED: the container could not be launched)" in text, text
    events = deployment.client.event_logs(dag_id="mesos_bad_image", run_id=run_id)
    assert any("REASON_CONTAINER_LAUNCH_FAILED" in str(e.get("extra")) for e in events)


def test_no_token_or_secret_in_mesos_endpoints_docker_argv_or_the_scheduler_log(mesos_airflow, mesos_cluster,
                                                                               docker_client):
    deployment, cluster = mesos_airflow, mesos_cluster
    # Runs after the DAGs above (module order): their tasks' traces are all there to search.
    texts = {**endpoint_texts(cluster, ("/master/state", "/master/tasks", "/master/frameworks", "/state.json")),
             **docker_texts(docker_client), **argv_texts()}
    texts["scheduler log"] = deployment.log_path("scheduler").read_text(errors="replace")
    assert not token_leaks(texts)
    secrets = [deployment.env["AIRFLOW__CORE__FERNET_KEY"], deployment.env["AIRFLOW__API_AUTH__JWT_SECRET"],
               deployment.database_url]
    assert not [where for where, text in texts.items() if any(s in text for s in secrets)
                and not where.startswith("argv")]


def _master_tasks(cluster) -> list[dict]:
    data = httpx.get(cluster.master_url + "/master/tasks", params={"limit": 1000}, timeout=10).json()
    return data["tasks"]


def _scalar(task: dict, name: str) -> float:
    return float(task["resources"][name])
