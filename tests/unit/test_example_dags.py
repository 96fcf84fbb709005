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
