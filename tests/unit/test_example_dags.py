"""The shipped example DAGs import cleanly under Airflow 3.3 and ask the MesosExecutor for resources."""

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))


def test_example_dags_have_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "example_mesos" in dagbag.dags


def test_example_mesos_tasks_carry_mesos_resources(dagbag):
    tasks = {t.task_id: t for t in dagbag.dags["example_mesos"].tasks}
    assert tasks["where_am_i"].executor_config == {"MesosExecutor": {"cpus": 0.25, "mem": 256}}
    assert tasks["add"].executor_config["MesosExecutor"]["mem"] == 384


def test_the_example_dags_are_all_there(dagbag):
    assert {"example_mesos", "example_clickstream", "example_mesos_resources", "example_mesos_fanout"} <= set(
        dagbag.dags)


def test_the_resources_example_asks_mesos_for_its_own_resources_image_volumes_and_placement(dagbag):
    tasks = {t.task_id: t.executor_config["mesos"] for t in dagbag.dags["example_mesos_resources"].tasks
             if t.executor_config}
    assert tasks["extract"]["constraints"] == [["rack", "IS", "r1"]]
    transform = tasks["transform"]
    assert (transform["cpus"], transform["mem"], transform["disk"]) == (1, 1024, 512)
    assert transform["image"]
    kinds = sorted("host_path" if "host_path" in v else "docker_volume" for v in transform["volumes"])
    assert kinds == ["docker_volume", "host_path"]
    assert tasks["publish"]["constraints"] == [["hostname", "UNIQUE"]]


def test_the_fanout_example_is_200_small_process_tasks(dagbag):
    dag = dagbag.dags["example_mesos_fanout"]
    assert dag.params["width"] == 200
    square = dag.get_task("square")
    assert square.executor_config["mesos"]["container_type"] == "process"
    assert square.executor_config["mesos"]["cpus"] <= 0.1
