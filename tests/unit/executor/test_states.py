"""The Mesos state -> Airflow outcome table: one row per Mesos TaskState."""

from __future__ import annotations

import pytest

from airflow_mesos.executor.states import MAX_EXECUTOR_RELAUNCHES, REASONS, STATE_TABLE, Outcome, describe, judge
from airflow_mesos.mesos.events import TaskStatus

# Every TaskState of include/mesos/v1/mesos.proto, and what it must mean.
ROWS = [
    ("TASK_STAGING", None, Outcome.PENDING),
    ("TASK_STARTING", None, Outcome.PENDING),
    ("TASK_RUNNING", None, Outcome.RUNNING),
    ("TASK_KILLING", None, Outcome.PENDING),
    ("TASK_FINISHED", None, Outcome.SUCCESS),
    ("TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", Outcome.FAILED),
    ("TASK_FAILED", "REASON_CONTAINER_LIMITATION_MEMORY", Outcome.FAILED),
    ("TASK_KILLED", None, Outcome.FAILED),
    ("TASK_ERROR", "REASON_TASK_INVALID", Outcome.FAILED),
    ("TASK_LOST", "REASON_AGENT_REMOVED", Outcome.FAILED),
    ("TASK_DROPPED", "REASON_AGENT_DISCONNECTED", Outcome.FAILED),
    ("TASK_UNREACHABLE", "REASON_AGENT_DISCONNECTED", Outcome.UNREACHABLE),
    ("TASK_GONE", "REASON_AGENT_REMOVED", Outcome.FAILED),
    ("TASK_GONE_BY_OPERATOR", None, Outcome.FAILED),
    ("TASK_UNKNOWN", "REASON_RECONCILIATION", Outcome.FAILED),
    # A launch on an offer that went stale ran nothing: place it again instead of spending a try.
    ("TASK_DROPPED", "REASON_INVALID_OFFERS", Outcome.RELAUNCH),
    ("TASK_LOST", "REASON_INVALID_OFFERS", Outcome.RELAUNCH),
]


@pytest.mark.parametrize(("state", "reason", "outcome"), ROWS)
def test_each_state_has_its_outcome(state, reason, outcome):
    assert judge(TaskStatus(task_id="t", state=state, reason=reason)).outcome is outcome


def test_the_table_covers_every_mesos_task_state():
    proto_states = {"TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_FINISHED", "TASK_FAILED",
                    "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_UNREACHABLE", "TASK_GONE",
                    "TASK_GONE_BY_OPERATOR", "TASK_UNKNOWN"}
    assert set(STATE_TABLE) == proto_states
    assert {row[0] for row in ROWS} == proto_states


def test_a_state_from_a_newer_mesos_waits_rather_than_guessing():
    assert judge(TaskStatus(task_id="t", state="TASK_FROBNICATED")).outcome is Outcome.PENDING


def test_summary_names_state_reason_in_words_and_message():
    verdict = judge(TaskStatus(task_id="t", state="TASK_FAILED", reason="REASON_CONTAINER_LAUNCH_FAILED",
                               message="Failed to launch container: no such image"))
    assert verdict.summary == ("TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED: the container could not be launched): "
                               "Failed to launch container: no such image")


def test_summary_without_reason_says_what_the_state_means():
    assert describe("TASK_KILLED") == "TASK_KILLED (the task was killed)"
    assert describe("TASK_FAILED", "REASON_SOMETHING_NEW", "x") == "TASK_FAILED (REASON_SOMETHING_NEW): x"


def test_every_reason_has_words_and_a_summary_uses_them():
    assert all(code.startswith("REASON_") and text.strip() for code, text in REASONS.items())
    for code, text in REASONS.items():
        assert text in describe("TASK_FAILED", code)


@pytest.mark.parametrize("state", ["TASK_FAILED", "TASK_LOST", "TASK_DROPPED", "TASK_GONE"])
def test_an_executor_that_ended_before_the_task_ran_places_it_again_a_few_times(state):
    ended = TaskStatus(task_id="t", state=state, reason="REASON_EXECUTOR_TERMINATED")
    assert judge(ended).outcome is Outcome.RELAUNCH
    assert judge(ended, executor_relaunches=MAX_EXECUTOR_RELAUNCHES - 1).outcome is Outcome.RELAUNCH
    # An executor that dies at every start: the try fails with the reason instead of looping.
    assert judge(ended, executor_relaunches=MAX_EXECUTOR_RELAUNCHES).outcome is Outcome.FAILED
    # Once the worker ran it may have done work: losing its executor fails the try.
    assert judge(ended, started=True).outcome is Outcome.FAILED
