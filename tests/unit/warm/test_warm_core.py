"""The warm executor's pure core: events in, instructions out, time passed in."""

from __future__ import annotations

import itertools
import signal

import pytest

from airflow_mesos.warm import core as c
from airflow_mesos.warm.payload import TaskPayload, encode_task_data
from airflow_mesos.warm.protocol import (
    AcknowledgedEvent,
    ErrorEvent,
    HeartbeatEvent,
    KillEvent,
    LaunchEvent,
    LaunchGroupEvent,
    MessageEvent,
    ShutdownEvent,
    SubscribedEvent,
    UnknownEvent,
)

FW, EX = "fw-1", "ex-1"
WORKLOAD = '{"type": "ExecuteTask", "ti": {"id": "x"}}'


def config(**overrides) -> c.CoreConfig:
    values = dict(framework_id=FW, executor_id=EX, checkpoint=False, recovery_timeout=900.0,
                  subscription_backoff_max=2.0, shutdown_grace=5.0, idle_timeout=60.0)
    values.update(overrides)
    return c.CoreConfig(**values)


class Harness:
    """A core with counting uuids, a fixed backoff share and a clock the test moves."""

    def __init__(self, random: float = 0.5, **overrides) -> None:
        counter = itertools.count(1)
        self.core = c.WarmExecutorCore(config(**overrides), new_uuid=lambda: f"u{next(counter)}",
                                       random=lambda: random)
        self.now = 100.0
        self.out = self.core.start(self.now)

    def __call__(self, event, at: float | None = None) -> list[c.Instruction]:
        if at is not None:
            self.now = at
        return self.core.handle(event, self.now, 1_700_000_000.0 + self.now)

    def tick_to(self, at: float) -> list[c.Instruction]:
        return self(c.Tick(), at=at)

    def subscribed(self, capabilities=("TASK_KILLING_STATE",)) -> list[c.Instruction]:
        return self(SubscribedEvent(frozenset(capabilities), "agent-host", "cid", {}))

    def launch(self, task_id: str, **task_fields) -> list[c.Instruction]:
        info = {"task_id": {"value": task_id}, "name": task_id,
                "data": encode_task_data(TaskPayload(WORKLOAD, "the-token", {"A": "1"}))}
        info.update(task_fields)
        return self(LaunchEvent(task_id, info))

    def run(self, task_id: str, pid: int = 4242, **task_fields) -> None:
        self.launch(task_id, **task_fields)
        self(c.TaskStarted(task_id, pid))

    def ack_all(self) -> None:
        for uuid in self.core.unacknowledged_uuids:
            self(AcknowledgedEvent("?", uuid))


def updates(out) -> list[tuple[str, str]]:
    return [(i.task_id, i.state) for i in out if isinstance(i, c.SendUpdate)]


def of(out, kind):
    return [i for i in out if isinstance(i, kind)]


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.subscribed()
    return harness


# --- subscribing ----------------------------------------------------------------------------------


def test_start_subscribes_with_nothing_unacknowledged():
    harness = Harness()
    (sub,) = harness.out
    assert isinstance(sub, c.Subscribe)
    assert sub.call == {"type": "SUBSCRIBE", "framework_id": {"value": FW}, "executor_id": {"value": EX},
                        "subscribe": {"unacknowledged_tasks": [], "unacknowledged_updates": []}}


def test_subscribe_answered_503_is_retried_every_second():
    harness = Harness()
    assert not of(harness(c.SubscribeFailed("unavailable", "503 Agent has not finished recovery")), c.Subscribe)
    assert harness.core.next_wakeup() == pytest.approx(101.0)
    assert of(harness.tick_to(101.0), c.Subscribe)


def test_subscribe_refused_exits():
    harness = Harness()
    out = harness(c.SubscribeFailed("refused", "400 Executor cannot be found"))
    (exit_,) = of(out, c.Exit)
    assert exit_.code == c.EXIT_AGENT_LOST and "Executor cannot be found" in exit_.reason


def test_no_agent_at_start_exits_as_the_v1_library_does():
    harness = Harness(checkpoint=True)
    (exit_,) = of(harness(c.SubscribeFailed("connection", "connection refused")), c.Exit)
    assert "cannot reach the agent" in exit_.reason


# --- launching ---------------------------------------------------------------------------------------


def test_launch_reports_starting_then_running(h):
    out = h.launch("t1")
    assert updates(out) == [("t1", "TASK_STARTING")]
    (start,) = of(out, c.StartTask)
    assert start.task_id == "t1" and start.payload.token == "the-token" and start.payload.environment == {"A": "1"}
    assert updates(h(c.TaskStarted("t1", 4242))) == [("t1", "TASK_RUNNING")]


def test_the_process_is_started_before_the_starting_update_goes_out(h):
    # The edge carries instructions out in order and POSTs each update before the next instruction.
    out = h.launch("t1")
    kinds = [type(i) for i in out if isinstance(i, (c.StartTask, c.SendUpdate))]
    assert kinds == [c.StartTask, c.SendUpdate]


def test_every_update_has_a_fresh_uuid_and_its_status_says_who_sent_it(h):
    out = h.launch("t1") + h(c.TaskStarted("t1", 1))
    sends = of(out, c.SendUpdate)
    assert [s.uuid for s in sends] == ["u1", "u2"]
    status = sends[0].call["update"]["status"]
    assert status == {"task_id": {"value": "t1"}, "state": "TASK_STARTING", "source": "SOURCE_EXECUTOR",
                      "executor_id": {"value": EX}, "uuid": "u1", "timestamp": 1_700_000_100.0}
    assert sends[0].call["framework_id"] == {"value": FW} and sends[0].call["type"] == "UPDATE"


@pytest.mark.parametrize(("data", "words"), [
    (None, "task.data is empty"),
    ("!!!", "task.data is not base64"),
    ("e30=", "task.data.version"),  # {} : no version
])
def test_bad_payload_fails_that_task_with_the_payload_error(h, data, words):
    out = h.launch("bad", data=data)
    assert not of(out, c.StartTask)
    ((task_id, state),) = updates(out)
    assert (task_id, state) == ("bad", "TASK_FAILED")
    message = of(out, c.SendUpdate)[0].call["update"]["status"]["message"]
    assert message.startswith("Failed to launch task: ") and words in message
    (release,) = of(out, c.ReleaseTask)
    assert release.line == message  # the same words land in the task's stderr


def test_bad_payload_spares_the_other_tasks(h):
    h.run("good")
    h.launch("bad", data=None)
    assert h.core.live_task_ids == ["good"]


def test_duplicate_task_id_is_refused_without_a_second_process_or_an_update(h):
    h.run("t1")
    out = h.launch("t1")
    assert not of(out, c.StartTask) and not updates(out)
    assert "refused" in of(out, c.Log)[0].message


def test_a_task_id_that_cannot_be_a_directory_fails(h):
    out = h.launch("../escape")
    assert updates(out) == [("../escape", "TASK_FAILED")] and not of(out, c.StartTask)


def test_start_failure_fails_the_task(h):
    h.launch("t1")
    out = h(c.TaskStartFailed("t1", "fork failed"))
    assert updates(out) == [("t1", "TASK_FAILED")]
    assert of(out, c.ReleaseTask)[0].line == "Failed to launch task: fork failed"


def test_launch_group_is_not_supported(h):
    out = h(LaunchGroupEvent(("a", "b")))
    assert updates(out) == [("a", "TASK_FAILED"), ("b", "TASK_FAILED")]


# --- exits -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "sig", "state", "message"), [
    (0, None, "TASK_FINISHED", "Command exited with status 0"),
    (1, None, "TASK_FAILED", "Command exited with status 1"),
    (None, signal.SIGSEGV, "TASK_FAILED", f"Command terminated with signal {signal.strsignal(signal.SIGSEGV)}"),
])
def test_exit_is_reported_as_the_command_executor_reports_it(h, code, sig, state, message):
    h.run("t1")
    out = h(c.TaskExited("t1", code, sig))
    assert updates(out) == [("t1", state)]
    assert of(out, c.SendUpdate)[0].call["update"]["status"]["message"] == message
    assert of(out, c.ReleaseTask) == [c.ReleaseTask("t1", message)]


def test_max_completion_time_kills_without_grace_and_fails(h):
    h.run("t1", max_completion_time={"nanoseconds": 30 * 10**9})
    assert h.core.next_wakeup() == pytest.approx(130.0)
    out = h.tick_to(130.0)
    assert of(out, c.SignalTask) == [c.SignalTask("t1", signal.SIGTERM), c.SignalTask("t1", signal.SIGKILL)]
    assert not updates(out)  # no TASK_KILLING: this kill ends FAILED
    out = h(c.TaskExited("t1", None, signal.SIGKILL))
    status = of(out, c.SendUpdate)[0].call["update"]["status"]
    assert status["state"] == "TASK_FAILED" and status["reason"] == "REASON_MAX_COMPLETION_TIME_REACHED"


# --- kill ---------------------------------------------------------------------------------------------------


def test_kill_sends_killing_and_sigterm_then_sigkill_after_the_tasks_grace(h):
    h.run("t1", kill_policy={"grace_period": {"nanoseconds": 10 * 10**9}})
    out = h(KillEvent("t1"), at=200.0)
    assert updates(out) == [("t1", "TASK_KILLING")]
    assert of(out, c.SignalTask) == [c.SignalTask("t1", signal.SIGTERM)]
    assert h.core.next_wakeup() == pytest.approx(210.0)
    assert not of(h.tick_to(209.9), c.SignalTask)
    assert of(h.tick_to(210.0), c.SignalTask) == [c.SignalTask("t1", signal.SIGKILL)]
    out = h(c.TaskExited("t1", None, signal.SIGKILL))
    assert updates(out) == [("t1", "TASK_KILLED")]


def test_the_kill_events_policy_overrides_the_tasks(h):
    h.run("t1", kill_policy={"grace_period": {"nanoseconds": 10 * 10**9}})
    h(KillEvent("t1", grace_seconds=1.0), at=200.0)
    assert h.core.next_wakeup() == pytest.approx(201.0)


def test_without_any_policy_the_grace_is_the_default(h):
    h.run("t1")
    h(KillEvent("t1"), at=200.0)
    assert h.core.next_wakeup() == pytest.approx(200.0 + c.DEFAULT_KILL_GRACE_SECONDS)


def test_a_second_kill_with_a_shorter_grace_brings_sigkill_forward(h):
    h.run("t1")
    h(KillEvent("t1", grace_seconds=30.0), at=200.0)
    out = h(KillEvent("t1", grace_seconds=5.0), at=202.0)
    assert not updates(out) and not of(out, c.SignalTask)  # no second KILLING, no second SIGTERM
    assert h.core.next_wakeup() == pytest.approx(205.0)
    h(KillEvent("t1", grace_seconds=60.0), at=203.0)  # a longer one changes nothing
    assert h.core.next_wakeup() == pytest.approx(205.0)
    out = h(KillEvent("t1", grace_seconds=0.0), at=204.0)
    assert of(out, c.SignalTask) == [c.SignalTask("t1", signal.SIGKILL)]


def test_a_task_that_ends_on_sigterm_is_killed_without_sigkill(h):
    h.run("t1")
    h(KillEvent("t1"), at=200.0)
    out = h(c.TaskExited("t1", None, signal.SIGTERM), at=201.0)
    assert updates(out) == [("t1", "TASK_KILLED")]
    assert not of(h.tick_to(210.0), c.SignalTask)


def test_a_task_killed_with_exit_0_is_still_killed(h):
    h.run("t1")
    h(KillEvent("t1"))
    assert updates(h(c.TaskExited("t1", 0))) == [("t1", "TASK_KILLED")]


def test_no_killing_state_for_a_framework_without_the_capability():
    harness = Harness()
    harness.subscribed(capabilities=())
    harness.run("t1")
    out = harness(KillEvent("t1"))
    assert not updates(out) and of(out, c.SignalTask) == [c.SignalTask("t1", signal.SIGTERM)]


def test_kill_while_starting_applies_once_the_process_is_there(h):
    h.launch("t1")
    assert not of(h(KillEvent("t1", grace_seconds=2.0), at=200.0), c.SignalTask)
    out = h(c.TaskStarted("t1", 7), at=200.5)
    assert updates(out) == [("t1", "TASK_KILLING")]  # never RUNNING
    assert of(out, c.SignalTask) == [c.SignalTask("t1", signal.SIGTERM)]
    assert h.core.next_wakeup() == pytest.approx(202.5)


def test_kill_of_an_unknown_task_is_ignored(h):
    out = h(KillEvent("nope"))
    assert not of(out, c.SignalTask) and not updates(out)


def test_a_killed_task_is_killed_while_the_others_run(h):
    h.run("a")
    h.run("b")
    h(KillEvent("a"))
    h(c.TaskExited("a", None, signal.SIGTERM))
    assert h.core.live_task_ids == ["b"]
    assert updates(h(c.TaskExited("b", 0))) == [("b", "TASK_FINISHED")]


# --- acknowledgements and reconnection -------------------------------------------------------------------


def test_acknowledged_drops_the_update_and_a_terminated_task(h):
    h.run("t1")
    h(c.TaskExited("t1", 0))
    assert h.core.unacknowledged_uuids == ["u1", "u2", "u3"]
    h(AcknowledgedEvent("t1", "u1"))
    h(AcknowledgedEvent("t1", "u2"))
    assert h.core.held_task_ids == ["t1"]
    h(AcknowledgedEvent("t1", "u3"))
    assert h.core.unacknowledged_uuids == [] and h.core.held_task_ids == []


def test_an_unknown_acknowledgement_is_logged(h):
    assert "unknown update" in of(h(AcknowledgedEvent("t1", "zzz")), c.Log)[0].message


def test_an_update_the_agent_did_not_take_is_resent_until_acknowledged(h):
    out = h.launch("t1")
    (send,) = of(out, c.SendUpdate)
    h(c.UpdateSendFailed(send.uuid, "503 Service Unavailable", retryable=True), at=100.0)
    assert h.core.next_wakeup() == pytest.approx(100.0 + c.UPDATE_RETRY_SECONDS)
    (again,) = of(h.tick_to(101.0), c.SendUpdate)
    assert again.uuid == send.uuid and again.call == send.call  # the same update, the same uuid
    h(c.UpdateSendFailed(send.uuid, "503", retryable=True))
    h(AcknowledgedEvent("t1", send.uuid))
    assert not of(h.tick_to(110.0), c.SendUpdate)


def test_resubscribe_carries_unacknowledged_tasks_and_updates():
    harness = Harness(checkpoint=True)
    harness.subscribed()
    harness.run("acked")
    harness.run("fresh")
    acked_uuids = [u for u in harness.core.unacknowledged_uuids][:2]
    for uuid in acked_uuids:
        harness(AcknowledgedEvent("acked", uuid))
    out = harness(c.StreamClosed("EOF"))
    (sub,) = of(out, c.Subscribe)
    body = sub.call["subscribe"]
    assert [t["task_id"]["value"] for t in body["unacknowledged_tasks"]] == ["fresh"]
    assert [(u["status"]["task_id"]["value"], u["status"]["state"]) for u in body["unacknowledged_updates"]] == [
        ("fresh", "TASK_STARTING"), ("fresh", "TASK_RUNNING")]


def test_updates_while_disconnected_wait_for_the_next_subscribe():
    harness = Harness(checkpoint=True)
    harness.subscribed()
    harness.run("t1")
    harness.ack_all()
    harness(c.StreamClosed("EOF"))
    harness(c.SubscribeFailed("connection", "refused"))
    out = harness(c.TaskExited("t1", 0))
    assert not of(out, c.SendUpdate)  # not subscribed: not sent
    (sub,) = of(harness.tick_to(harness.core.next_wakeup()), c.Subscribe)
    (update,) = sub.call["subscribe"]["unacknowledged_updates"]
    assert update["status"]["state"] == "TASK_FINISHED"
    harness.subscribed()
    assert harness.core.live_task_ids == []


def test_reconnection_backs_off_within_the_recovery_timeout():
    harness = Harness(checkpoint=True, recovery_timeout=10.0, subscription_backoff_max=4.0, random=0.25)
    harness.subscribed()
    harness.run("t1")
    assert of(harness(c.StreamClosed("EOF"), at=200.0), c.Subscribe)  # at once
    harness(c.SubscribeFailed("connection", "refused"), at=200.1)
    assert harness.core.next_wakeup() == pytest.approx(201.1)  # 0.25 of 4 s
    assert of(harness.tick_to(201.1), c.Subscribe)
    harness(c.SubscribeFailed("connection", "refused"), at=201.2)
    assert harness.core.live_task_ids == ["t1"]  # still waiting for the agent
    out = harness.tick_to(210.0)
    assert of(out, c.SignalTask) == [c.SignalTask("t1", signal.SIGTERM)]
    (exit_,) = of(harness(c.TaskExited("t1", None, signal.SIGTERM)), c.Exit)
    assert "MESOS_RECOVERY_TIMEOUT" in exit_.reason and exit_.code == c.EXIT_AGENT_LOST


def test_reconnected_in_time_carries_on():
    harness = Harness(checkpoint=True, recovery_timeout=10.0)
    harness.subscribed()
    harness.run("t1")
    harness(c.StreamClosed("EOF"), at=200.0)
    harness.subscribed()
    assert not of(harness.tick_to(300.0), c.SignalTask)
    assert harness.core.exited is None


def test_without_checkpointing_a_disconnection_kills_the_tasks_and_exits(h):
    h.run("t1")
    out = h(c.StreamClosed("EOF"))
    assert of(out, c.SignalTask) == [c.SignalTask("t1", signal.SIGTERM)]
    out = h(c.TaskExited("t1", None, signal.SIGTERM))
    assert of(out, c.Exit)[0].code == c.EXIT_AGENT_LOST


# --- shutdown and idle ---------------------------------------------------------------------------------------


def test_shutdown_kills_every_task_within_the_shutdown_grace_and_exits_when_acknowledged(h):
    h.run("a")
    h.run("b")
    h.ack_all()
    out = h(ShutdownEvent(), at=200.0)
    assert of(out, c.SignalTask) == [c.SignalTask("a", signal.SIGTERM), c.SignalTask("b", signal.SIGTERM)]
    assert updates(out) == [("a", "TASK_KILLING"), ("b", "TASK_KILLING")]
    assert h.core.next_wakeup() == pytest.approx(200.0 + 5.0 - c.SHUTDOWN_MARGIN_SECONDS)
    h(c.TaskExited("a", None, signal.SIGTERM))
    assert of(h.tick_to(203.0), c.SignalTask) == [c.SignalTask("b", signal.SIGKILL)]
    out = h(c.TaskExited("b", None, signal.SIGKILL))
    assert updates(out) == [("b", "TASK_KILLED")] and not of(out, c.Exit)  # waits for the acknowledgements
    *first, last = h.core.unacknowledged_uuids
    for uuid in first:
        assert not of(h(AcknowledgedEvent("?", uuid)), c.Exit)
    out = h(AcknowledgedEvent("b", last))
    assert of(out, c.Exit) == [c.Exit(c.EXIT_OK, "the agent asked for SHUTDOWN")]


def test_shutdown_with_a_task_that_will_not_die_exits_at_the_grace_period(h):
    h.run("stuck")
    h(ShutdownEvent(), at=200.0)
    h.tick_to(203.0)  # SIGKILL
    out = h.tick_to(205.0)
    (exit_,) = of(out, c.Exit)
    assert "shutdown grace period" in exit_.reason


def test_launch_during_shutdown_fails(h):
    h.run("a")
    h(ShutdownEvent())
    out = h.launch("late")
    assert updates(out) == [("late", "TASK_FAILED")] and not of(out, c.StartTask)


def test_idle_executor_exits_after_the_idle_timeout(h):
    assert h.core.next_wakeup() == pytest.approx(160.0)
    assert not of(h.tick_to(159.9), c.Exit)
    assert of(h.tick_to(160.0), c.Exit) == [c.Exit(c.EXIT_OK, "no task for 60 s (AIRFLOW_MESOS_WARM_IDLE_TIMEOUT)")]


def test_idle_is_counted_from_the_last_task_and_not_while_one_runs(h):
    h.run("t1")
    assert not of(h.tick_to(500.0), c.Exit)
    h(c.TaskExited("t1", 0), at=500.0)
    h.ack_all()
    assert not of(h.tick_to(559.0), c.Exit)
    assert of(h.tick_to(560.0), c.Exit)


def test_idle_exit_waits_for_the_last_acknowledgement():
    harness = Harness(idle_timeout=0.0)
    harness.subscribed()
    harness.run("t1")
    out = harness(c.TaskExited("t1", 0), at=200.0)
    assert not of(out, c.Exit)
    harness.ack_all()
    assert harness.core.exited == c.Exit(c.EXIT_OK, "no task for 0 s (AIRFLOW_MESOS_WARM_IDLE_TIMEOUT)")


def test_a_launch_while_going_idle_keeps_the_executor(h):
    h.run("t1")
    h(c.TaskExited("t1", 0), at=200.0)  # unacknowledged: the idle exit waits
    h.tick_to(260.0)
    assert h.core.exited is None
    out = h.launch("t2")
    assert of(out, c.StartTask)
    h.ack_all()
    assert h.core.exited is None


def test_nothing_happens_after_exit(h):
    h.tick_to(160.0)
    assert h.core.exited is not None
    assert h.launch("t1") == []


# --- the rest ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event", [MessageEvent(b"secret stuff"), ErrorEvent("bad call"), HeartbeatEvent(),
                                   UnknownEvent("FUTURE")])
def test_message_error_heartbeat_and_unknown_change_nothing(h, event):
    h.run("t1")
    out = h(event)
    assert not of(out, c.SignalTask) and not updates(out) and h.core.live_task_ids == ["t1"]
    assert all("secret" not in log.message for log in of(out, c.Log))


def test_heartbeat_calls_every_30_minutes_while_subscribed(h):
    h.run("t1")
    (call,) = of(h.tick_to(100.0 + c.HEARTBEAT_CALL_SECONDS), c.SendCall)
    assert call.call["type"] == "HEARTBEAT"


def test_the_token_is_in_no_log_and_no_instruction_repr(h):
    out = h.launch("t1", data=None) + h.launch("t2") + h(c.TaskStarted("t2", 1))
    assert all("the-token" not in repr(i) for i in out)


def test_even_an_idle_timeout_of_0_waits_for_the_first_task():
    harness = Harness(idle_timeout=0.0)
    harness.subscribed()
    assert harness.core.next_wakeup() == pytest.approx(100.0 + c.FIRST_TASK_GRACE_SECONDS)
    assert harness.core.exited is None
    harness.run("first")
    harness(c.TaskExited("first", 0), at=101.0)
    harness.ack_all()
    assert harness.core.exited is not None  # after a task, 0 means at once


def test_a_tasks_later_updates_wait_behind_one_that_is_sent_again(h):
    out = h.launch("t1")
    (starting,) = of(out, c.SendUpdate)
    h(c.UpdateSendFailed(starting.uuid, "503", retryable=True), at=100.0)
    assert h.core.waits_for_resend(starting.uuid)
    assert not of(h(c.TaskStarted("t1", 5), at=100.5), c.SendUpdate)  # RUNNING waits behind STARTING
    out = h.tick_to(101.0)
    assert [(s.state, s.uuid == starting.uuid) for s in of(out, c.SendUpdate)] == [
        ("TASK_STARTING", True), ("TASK_RUNNING", False)]


def test_updates_of_a_task_decided_together_wait_behind_the_one_that_failed(h):
    h.run("t1")
    h.ack_all()
    out = h(KillEvent("t1", grace_seconds=5.0)) + h(c.TaskExited("t1", None, signal.SIGTERM))
    killing, killed = of(out, c.SendUpdate)
    h(c.UpdateSendFailed(killing.uuid, "503", retryable=True), at=100.0)
    assert h.core.waits_for_resend(killed.uuid)  # the edge skips it; it goes out after KILLING
    assert [s.state for s in of(h.tick_to(101.0), c.SendUpdate)] == ["TASK_KILLING", "TASK_KILLED"]
