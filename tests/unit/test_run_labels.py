"""The run id that labels a run's containers comes from AIRFLOW_MESOS_RUN_ID, checked where it is read."""

from __future__ import annotations

import pytest

from airflow_mesos.run_labels import RUN_LABEL, InvalidRunId, run_id, run_labels


def test_run_label_carries_the_id_from_the_environment():
    assert run_labels({"AIRFLOW_MESOS_RUN_ID": "run-4242-Xy9.a_b"}) == {RUN_LABEL: "run-4242-Xy9.a_b"}
    assert RUN_LABEL == "airflow-mesos.run"


@pytest.mark.parametrize("environ", [{}, {"AIRFLOW_MESOS_RUN_ID": ""}])
def test_no_run_id_means_no_run_label(environ):
    assert run_id(environ) is None
    assert run_labels(environ) == {}


@pytest.mark.parametrize("value", ["-starts-with-dash", "has space", "a=b", "comma,separated", "x" * 129, "é"])
def test_a_run_id_no_label_filter_could_match_is_refused_naming_the_variable(value):
    with pytest.raises(InvalidRunId, match=r"AIRFLOW_MESOS_RUN_ID=.*expected 1-128 letters"):
        run_labels({"AIRFLOW_MESOS_RUN_ID": value})
