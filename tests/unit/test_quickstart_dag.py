"""dags/example_mesos_quickstart.py, the DAG scripts/run-local runs where tasks are processes."""

from pathlib import Path

import pytest

DAG_FILE = Path(__file__).resolve().parents[2] / "dags" / "example_mesos_quickstart.py"


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.dags["example_mesos_quickstart"]


def test_each_task_asks_mesos_for_its_own_size_and_placement(dag):
    mesos = {t.task_id: t.executor_config.get("mesos") for t in dag.tasks}
    assert mesos["extract"]["cpus"] == 0.25 and mesos["extract"]["constraints"] == [["rack", "IS", "r1"]]
    assert mesos["square"]["constraints"] == [["hostname", "UNIQUE"]]
    assert mesos["total"]["cpus"] == 1 and mesos["total"]["constraints"] == [["rack", "IS", "r2"]]
    assert mesos["report"] is None  # the [mesos] defaults


def test_no_task_mounts_a_volume_so_it_also_runs_as_processes(dag):
    assert all(not (t.executor_config.get("mesos") or {}).get("volumes") for t in dag.tasks)
