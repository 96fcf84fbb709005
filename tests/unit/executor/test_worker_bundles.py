"""The scheduler's ``[core] load_examples`` as the workers' environment."""

from __future__ import annotations

import json

import pytest

from airflow_mesos.executor.worker_bundles import bundles_env


def conf(**core):
    return lambda section, key: core.get(key) if section == "core" else None


@pytest.mark.parametrize("value", ["False", "True", " false "])
def test_the_schedulers_value_is_handed_over_as_it_is(value):
    assert bundles_env(conf(load_examples=value)) == {"AIRFLOW__CORE__LOAD_EXAMPLES": value.strip()}


@pytest.mark.parametrize("value", [None, "", "  "])
def test_an_unset_value_is_left_to_the_workers_default(value):
    assert bundles_env(conf(load_examples=value)) == {}


def test_every_task_gets_the_schedulers_load_examples(airflow_conf, monkeypatch):
    from airflow_mesos.executor import MesosExecutor

    monkeypatch.setenv("AIRFLOW__LOGGING__REMOTE_LOGGING", "False")
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    monkeypatch.setenv("AIRFLOW__MESOS__ENV", json.dumps({"TZ": "UTC"}))
    executor = MesosExecutor()
    assert executor._shared_env() == {"AIRFLOW__CORE__LOAD_EXAMPLES": "False", "TZ": "UTC"}


def test_mesos_env_wins_over_the_schedulers_value(airflow_conf, monkeypatch):
    from airflow_mesos.executor import MesosExecutor

    monkeypatch.setenv("AIRFLOW__LOGGING__REMOTE_LOGGING", "False")
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    monkeypatch.setenv("AIRFLOW__MESOS__ENV", json.dumps({"AIRFLOW__CORE__LOAD_EXAMPLES": "True"}))
    assert MesosExecutor()._shared_env() == {"AIRFLOW__CORE__LOAD_EXAMPLES": "True"}
