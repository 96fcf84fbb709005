"""Waiting on a DAG run: a poll the api-server answers too late is asked again, and the deadline still holds."""

from __future__ import annotations

import httpx
import pytest

from airflow_mesos.clock import FakeClock
from airflow_mesos.localrun.deployment import AirflowDeployment, DeploymentError


class SlowThenAnswering:
    """Stands in for the REST client: the first polls time out, then the run has the given state."""

    def __init__(self, timeouts: int, state: str) -> None:
        self.timeouts, self.state, self.polls = timeouts, state, 0

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        self.polls += 1
        if self.polls <= self.timeouts:
            raise httpx.ReadTimeout("timed out")
        return {"dag_id": dag_id, "dag_run_id": run_id, "state": self.state}


def deployment(tmp_path, clock, client) -> AirflowDeployment:
    d = AirflowDeployment(pg_dsn="postgresql://postgres@127.0.0.1:1/postgres", workdir=tmp_path / "w",
                          dags_folder=tmp_path, clock=clock)
    d.client = client
    return d


def test_timed_out_polls_are_asked_again_until_the_run_ends(tmp_path):
    client = SlowThenAnswering(timeouts=3, state="success")
    run = deployment(tmp_path, FakeClock(), client).wait_for_dag_run("d", "r", timeout=60)
    assert run["state"] == "success" and client.polls == 4


def test_a_run_that_never_answers_in_time_fails_at_the_deadline_saying_so(tmp_path, monkeypatch):
    client = SlowThenAnswering(timeouts=10**6, state="running")
    d = deployment(tmp_path, FakeClock(), client)
    monkeypatch.setattr(d, "task_instances", lambda dag_id, run_id: [])
    with pytest.raises(DeploymentError, match=r"is still unknown \(the api-server's answer timed out: ReadTimeout\)"):
        d.wait_for_dag_run("d", "r", timeout=5)
