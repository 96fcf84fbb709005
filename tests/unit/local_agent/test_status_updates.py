"""The agent's status update stream: order, one in flight, acks, doubling retries."""

from __future__ import annotations

import base64

import pytest

from airflow_mesos.local.constants import is_terminal
from airflow_mesos.local.status_updates import StatusUpdateManager, encode_uuid, new_uuid


def status(state: str) -> dict:
    return {"state": state, "uuid": encode_uuid(new_uuid())}


def test_only_the_head_is_sent_and_the_next_after_its_ack():
    m = StatusUpdateManager(retry_interval=10)
    first = m.add("f", "t", status("TASK_STARTING"))
    second = m.add("f", "t", status("TASK_RUNNING"))
    assert m.due(0.0) == [first]
    assert m.due(1.0) == []
    assert m.acknowledge("f", "t", first.uuid) is first
    assert m.due(1.0) == [second]


def test_unacknowledged_head_is_resent_with_doubling_backoff_capped():
    m = StatusUpdateManager(retry_interval=10, max_retry_interval=35)
    head = m.add("f", "t", status("TASK_RUNNING"))
    sent_at = [now for now in range(0, 200) if m.due(float(now))]
    # first send, then +10, +20, then capped at 35
    assert sent_at[:5] == [0, 10, 30, 65, 100]
    assert m.head("f", "t") is head


def test_stale_or_foreign_ack_is_ignored():
    m = StatusUpdateManager(retry_interval=1)
    head = m.add("f", "t", status("TASK_RUNNING"))
    assert m.acknowledge("f", "t", new_uuid()) is None
    assert m.acknowledge("other", "t", head.uuid) is None
    assert m.head("f", "t") is head


def test_streams_of_different_tasks_are_independent():
    m = StatusUpdateManager(retry_interval=5)
    a = m.add("f", "a", status("TASK_RUNNING"))
    b = m.add("f", "b", status("TASK_RUNNING"))
    assert m.due(0.0) == [a, b]
    m.acknowledge("f", "a", a.uuid)
    assert m.due(5.0) == [b]


def test_next_deadline_and_empty_manager():
    m = StatusUpdateManager(retry_interval=5)
    assert m.next_deadline() is None
    u = m.add("f", "t", status("TASK_RUNNING"))
    assert m.next_deadline() == float("-inf")
    m.due(100.0)
    assert m.next_deadline() == 105.0
    m.acknowledge("f", "t", u.uuid)
    assert m.next_deadline() is None and len(m) == 0



def test_resume_sends_every_head_now_and_restarts_the_backoff():
    m = StatusUpdateManager(retry_interval=10, max_retry_interval=600)
    sent = m.add("f", "sent", status("TASK_RUNNING"))
    for now in (0.0, 10.0, 30.0):  # three sends unanswered: the next one is due at 70
        assert m.due(now) == [sent]
    never_sent = m.add("f", "never", status("TASK_FINISHED"))
    m.resume()
    assert m.due(31.0) == [sent, never_sent]
    assert m.due(40.0) == []
    assert m.due(41.0) == [sent, never_sent]  # again from the first interval (10 s), not 80 s


def test_drop_framework_and_clear():
    m = StatusUpdateManager(retry_interval=5)
    m.add("f", "t", status("TASK_RUNNING"))
    m.add("g", "t", status("TASK_RUNNING"))
    assert m.drop_framework("f") == 1
    assert [u.framework_id for u in m.pending()] == ["g"]
    m.clear()
    assert m.pending() == []


def test_uuid_is_16_bytes_base64_and_retry_interval_must_be_positive():
    assert len(base64.b64decode(encode_uuid(new_uuid()))) == 16
    with pytest.raises(ValueError, match="positive"):
        StatusUpdateManager(retry_interval=0)


@pytest.mark.parametrize(
    "state, terminal",
    [("TASK_FINISHED", True), ("TASK_FAILED", True), ("TASK_KILLED", True), ("TASK_ERROR", True),
     ("TASK_LOST", True), ("TASK_RUNNING", False), ("TASK_KILLING", False), ("TASK_STARTING", False),
     ("TASK_UNREACHABLE", False)],
)
def test_terminal_states_as_mesos(state, terminal):
    assert is_terminal(state) is terminal
