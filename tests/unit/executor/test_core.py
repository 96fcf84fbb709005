"""The executor core: stimuli in, instructions out, time passed in.  No I/O, no threads."""

from __future__ import annotations

import base64

import pytest

from airflow_mesos.executor import core as c
from airflow_mesos.executor.matcher import TaskDemand
from airflow_mesos.executor.states import MAX_EXECUTOR_RELAUNCHES, Outcome
from airflow_mesos.mesos.events import TaskStatus, parse_offer

UUID = base64.b64encode(b"0123456789abcdef").decode()


def offer(offer_id="O1", agent="S1", cpus=4.0, mem=4096.0, hostname="agent1", attributes=()):
    return parse_offer({
        "id": {"value": offer_id}, "agent_id": {"value": agent}, "hostname": hostname,
        "framework_id": {"value": "F"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}, "role": "*"},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}, "role": "*"},
                      {"name": "disk", "type": "SCALAR", "scalar": {"value": 10000}, "role": "*"}],
        "attributes": [{"name": k, "type": "TEXT", "text": {"value": v}} for k, v in attributes],
    })


def work(task_id="t1", cpus=1.0, mem=256.0, priority=1, sequence=1, group="d.t"):
    demand = TaskDemand(task_id=task_id, group=group, priority=priority, sequence=sequence, cpus=cpus, mem=mem,
                        disk=10.0)
    return c.Work(key=("key", task_id), demand=demand, payload={"workload": task_id})


def status(task_id="t1", state="TASK_RUNNING", reason=None, message=None, uuid=True, agent="S1"):
    return TaskStatus(task_id=task_id, state=state, reason=reason, message=message, agent_id=agent,
                      uuid=base64.b64decode(UUID) if uuid else None)


def of(kind, instructions):
    return [i for i in instructions if isinstance(i, kind)]


@pytest.fixture
def core():
    return c.ExecutorCore(c.CorePolicy(refuse_seconds=5, revive_min_interval=2, unreachable_grace=60,
                                       token_lifetime=600, token_remint_fraction=0.5, reconcile_interval=10))


@pytest.fixture
def connected(core):
    core.subscribed("F-1", now=0)
    return core


def launched(core, task_id="t1", now=1.0):
    core.submit(work(task_id), now)
    out = core.offers([offer()], now)
    assert of(c.Launch, out), out
    return out


def test_submit_before_connecting_waits_with_the_reason(core):
    assert not of(c.WaitReason, core.submit(work(), now=0))  # the batch's end gives the reasons
    out = core.end_of_batch(now=0)
    assert of(c.WaitReason, out)[0].reason.startswith("not connected to the Mesos master")
    assert core.phase("t1") is c.Phase.WAITING


def test_a_task_of_a_batch_gets_its_first_reason_at_the_end_of_the_batch_and_only_once(connected):
    connected.submit(work("t1"), now=1)
    connected.submit(work("t2"), now=1)
    out = connected.end_of_batch(now=1)
    assert [(w.task_id, w.reason) for w in of(c.WaitReason, out)] == [
        ("t1", "waiting for offers from Mesos"), ("t2", "waiting for offers from Mesos")]
    assert not of(c.WaitReason, connected.end_of_batch(now=2))


def test_subscribing_persists_the_framework_id_once_and_suppresses_when_idle(core):
    out = core.subscribed("F-1", now=0)
    assert of(c.PersistFrameworkId, out) == [c.PersistFrameworkId("F-1")]
    assert of(c.Suppress, out) == [c.Suppress()]
    assert not of(c.PersistFrameworkId, core.subscribed("F-1", now=1))


def test_subscribing_with_waiting_work_asks_for_offers_not_suppression(core):
    core.submit(work(), now=0)
    out = core.subscribed("F-1", now=0)
    assert not of(c.Suppress, out)
    assert of(c.WaitReason, out)[0].reason == "waiting for offers from Mesos"


def test_offer_launches_waiting_work_then_suppresses(core):
    connected = core
    connected.submit(work("t1"), now=1)
    connected.submit(work("t2"), now=1)
    connected.subscribed("F-1", now=1)
    out = connected.offers([offer("O1"), offer("O2", agent="S2")], now=2)
    launches = of(c.Launch, out)
    assert len(launches) == 1 and {t.work.task_id for t in launches[0].tasks} == {"t1", "t2"}
    assert of(c.Decline, out) == [c.Decline(("O2",), 5)]
    assert of(c.Suppress, out) == [c.Suppress()]
    assert connected.phase("t1") is c.Phase.LAUNCHING
    assert connected.tasks_launched == 2 and connected.offers_received == 2


def test_offers_with_nothing_waiting_are_declined_for_long(connected):
    out = connected.offers([offer()], now=1)
    assert of(c.Decline, out) == [c.Decline(("O1",), connected.policy.idle_refuse_seconds)]


def test_unreadable_offers_are_declined(connected):
    connected.submit(work(), now=1)
    out = connected.offers([offer()], now=1, unreadable=["BAD"])
    assert of(c.Decline, out) == [c.Decline(("BAD",), 5)]


def test_a_task_that_does_not_fit_waits_with_the_matchers_reason(connected):
    connected.submit(work("big", cpus=8), now=1)
    out = connected.offers([offer(cpus=4)], now=1)
    assert of(c.WaitReason, out)[-1].reason == "needs 8 cpus; the largest offer has 4"
    assert of(c.Decline, out)
    # The same reason again is not news.
    assert not of(c.WaitReason, connected.offers([offer("O2", cpus=4)], now=2))


def test_starting_is_acknowledged_at_once_running_is_reported_and_acknowledged_later(connected):
    launched(connected)
    out = connected.update(status(state="TASK_STARTING"), now=2)
    assert [type(i) for i in out] == [c.Acknowledge]
    assert connected.phase("t1") is c.Phase.STARTING
    out = connected.update(status(state="TASK_RUNNING"), now=3)
    assert [type(i) for i in out] == [c.Report]
    assert out[0].outcome is Outcome.RUNNING and out[0].status.uuid is not None and out[0].info == "t1"
    # A resent RUNNING is acknowledged but not reported twice.
    assert [type(i) for i in connected.update(status(state="TASK_RUNNING"), now=4)] == [c.Acknowledge]


def test_finished_reports_success_and_forgets_the_task(connected):
    launched(connected)
    out = connected.update(status(state="TASK_FINISHED"), now=5)
    report = of(c.Report, out)[0]
    assert report.outcome is Outcome.SUCCESS and report.status is not None
    assert connected.phase("t1") is None


def test_failure_reports_state_reason_and_message(connected):
    launched(connected)
    out = connected.update(status(state="TASK_FAILED", reason="REASON_CONTAINER_LAUNCH_FAILED",
                                  message="Failed to launch container: no such image"), now=5)
    report = of(c.Report, out)[0]
    assert report.outcome is Outcome.FAILED and not report.worker_started
    assert report.info == ("TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED: the container could not be launched): "
                           "Failed to launch container: no such image")


def test_lost_after_running_says_the_worker_had_started(connected):
    launched(connected)
    connected.update(status(state="TASK_RUNNING"), now=3)
    report = of(c.Report, connected.update(status(state="TASK_LOST", reason="REASON_AGENT_REMOVED"), now=4))[0]
    assert report.outcome is Outcome.FAILED and report.worker_started


def test_stale_offer_puts_the_task_back_without_spending_a_try(connected):
    launched(connected)
    out = connected.update(status(state="TASK_DROPPED", reason="REASON_INVALID_OFFERS", uuid=False), now=3)
    assert not of(c.Report, out)
    assert connected.phase("t1") is c.Phase.WAITING
    assert of(c.Revive, out)  # suppressed after the launch; the task wants offers again
    assert of(c.WaitReason, out)[0].reason.startswith("relaunching: TASK_DROPPED")


def test_a_task_whose_executor_ended_before_it_ran_is_placed_again_then_fails(connected):
    launched(connected)
    ended = {"state": "TASK_FAILED", "reason": "REASON_EXECUTOR_TERMINATED", "message": "Executor terminated"}
    for attempt in range(MAX_EXECUTOR_RELAUNCHES):
        out = connected.update(status(**ended), now=3 + attempt)
        assert of(c.Acknowledge, out) and not of(c.Report, out)
        assert connected.phase("t1") is c.Phase.WAITING
        assert of(c.WaitReason, out)[0].reason.startswith("relaunching: TASK_FAILED (REASON_EXECUTOR_TERMINATED")
        assert of(c.Launch, connected.offers([offer()], 3.5 + attempt))
    report = of(c.Report, connected.update(status(**ended), now=9))[0]
    assert report.outcome is Outcome.FAILED and "REASON_EXECUTOR_TERMINATED" in report.info


def test_a_running_task_whose_executor_ended_fails_its_try(connected):
    launched(connected)
    connected.update(status(state="TASK_RUNNING"), now=3)
    report = of(c.Report, connected.update(status(state="TASK_FAILED", reason="REASON_EXECUTOR_TERMINATED"),
                                           now=4))[0]
    assert report.outcome is Outcome.FAILED and report.worker_started


def test_revoking_a_waiting_task_drops_it_silently(connected):
    connected.submit(work(), now=1)
    out = connected.revoke("t1", now=2)
    assert not of(c.Report, out) and not of(c.Kill, out)
    assert connected.phase("t1") is None


def test_revoking_a_launched_task_kills_it_with_the_grace_and_reports_nothing(connected):
    launched(connected)
    assert connected.revoke("t1", now=2) == [c.Kill("t1", "S1", connected.policy.kill_grace_period)]
    out = connected.update(status(state="TASK_KILLED"), now=3)
    assert of(c.Acknowledge, out) and not of(c.Report, out)


def test_unreachable_waits_for_the_grace_then_fails_and_kills(connected):
    launched(connected)
    connected.update(status(state="TASK_RUNNING"), now=2)
    connected.update(status(state="TASK_UNREACHABLE", reason="REASON_AGENT_DISCONNECTED"), now=10)
    assert connected.phase("t1") is c.Phase.UNREACHABLE
    assert not of(c.Report, connected.tick(now=69))
    out = connected.tick(now=70)
    assert of(c.Kill, out) == [c.Kill("t1", "S1", connected.policy.kill_grace_period)]
    assert "unreachable for more than 60 s" in of(c.Report, out)[0].info


def test_unreachable_task_that_comes_back_keeps_running(connected):
    launched(connected)
    connected.update(status(state="TASK_RUNNING"), now=2)
    connected.update(status(state="TASK_UNREACHABLE"), now=10)
    out = connected.update(status(state="TASK_RUNNING"), now=30)
    assert not of(c.Report, out)  # RUNNING was reported already
    assert not connected.tick(now=200)
    assert connected.phase("t1") is c.Phase.RUNNING


def test_revive_at_most_once_per_interval(connected):
    # Suppressed (nothing waits) at t=0.
    out = connected.submit(work("t1"), now=0.5)
    assert not of(c.Revive, out)  # within 2 s of the last revive (the subscription): deferred
    assert of(c.Revive, connected.tick(now=2.5)) == [c.Revive()]
    connected.offers([offer()], now=3)  # t1 launched; suppressed again
    assert of(c.Revive, connected.submit(work("t2"), now=5)) == [c.Revive()]


def test_token_is_reminted_when_the_task_waited_past_the_safe_share(connected):
    connected.submit(work("old"), now=0)
    connected.submit(work("new"), now=299)
    launch = of(c.Launch, connected.offers([offer()], now=301))[0]
    remint = {t.work.task_id: t.remint_token for t in launch.tasks}
    assert remint == {"old": True, "new": False}


def test_failed_accept_puts_tasks_back_to_wait(connected):
    launched(connected)
    out = connected.launch_failed(["t1"], "HTTP 503", now=2)
    assert connected.phase("t1") is c.Phase.WAITING
    assert "launch did not reach Mesos (HTTP 503)" in of(c.WaitReason, out)[0].reason


def test_invalid_task_fails_without_having_run(connected):
    launched(connected)
    report = of(c.Report, connected.invalid_task("t1", "bad volume"))[0]
    assert report.outcome is Outcome.FAILED and report.info == "bad volume" and not report.worker_started


def test_update_of_an_unknown_task_is_acknowledged_and_kept_for_adoption(connected):
    out = connected.update(status("old", state="TASK_FINISHED"), now=1)
    assert of(c.Acknowledge, out)
    report = of(c.Report, connected.adopt(work("old"), now=2))[0]
    assert report.outcome is Outcome.SUCCESS and report.status is None  # acknowledged already


def test_adoption_reconciles_and_asks_again_until_answered(connected):
    out = connected.adopt(work("a"), now=1)
    assert of(c.Reconcile, out) == [c.Reconcile((("a", None),))]
    assert not of(c.Reconcile, connected.tick(now=5))
    assert of(c.Reconcile, connected.tick(now=11)) == [c.Reconcile((("a", None),))]
    connected.update(status("a", state="TASK_RUNNING"), now=12)
    assert not of(c.Reconcile, connected.tick(now=30))
    assert connected.phase("a") is c.Phase.RUNNING


def test_resubscribing_reconciles_the_launched_tasks(connected):
    launched(connected)
    connected.disconnected("stream lost", now=2)
    out = connected.subscribed("F-1", now=3)
    assert of(c.Reconcile, out) == [c.Reconcile((("t1", "S1"),))]


def test_disconnect_changes_the_reason_of_waiting_tasks(connected):
    connected.submit(work("big", cpus=99), now=1)
    out = connected.disconnected("connection refused", now=2)
    assert of(c.WaitReason, out)[0].reason == "not connected to the Mesos master (connection refused)"


def test_framework_removed_fails_every_launched_task(connected):
    launched(connected)
    connected.submit(work("w"), now=1)
    out = connected.framework_removed("Framework has been removed", now=2)
    reports = of(c.Report, out)
    assert [r.task_id for r in reports] == ["t1"] and reports[0].outcome is Outcome.FAILED
    assert connected.phase("w") is c.Phase.WAITING and connected.framework_id is None


def test_the_same_try_submitted_twice_is_kept_once(connected):
    connected.submit(work(), now=1)
    assert connected.submit(work(), now=2) == []
    assert connected.waiting_count() == 1


# --- issue 8: reconciliation, take-over, unwanted tasks, placement timeout ------------------------------

def reconcile_status(task_id, state, reason="REASON_RECONCILIATION"):
    return TaskStatus(task_id=task_id, state=state, reason=reason, source="SOURCE_MASTER", agent_id="S1")


def test_reconciliation_is_asked_again_with_backoff_until_answered(connected):
    launched(connected)
    connected.update(status(state="TASK_RUNNING"), now=2)
    connected.disconnected("lost", now=3)
    assert of(c.Reconcile, connected.subscribed("F-1", now=10)) == [c.Reconcile((("t1", "S1"),))]
    assert not of(c.Reconcile, connected.tick(now=19))
    assert of(c.Reconcile, connected.tick(now=20)) == [c.Reconcile((("t1", "S1"),))]
    assert not of(c.Reconcile, connected.tick(now=39))  # the interval doubled
    assert of(c.Reconcile, connected.tick(now=40))
    connected.update(reconcile_status("t1", "TASK_RUNNING"), now=41)
    assert not of(c.Reconcile, connected.tick(now=200))


def test_unknown_right_after_subscribing_is_doubted_then_believed(core):
    core.subscribed("F-1", now=0)
    launched(core, now=1)
    core.update(status(state="TASK_RUNNING"), now=2)
    # MESOS-6250: right after a (master) failover reconciliation may not know a task that runs.
    out = core.update(reconcile_status("t1", "TASK_UNKNOWN"), now=5)
    assert not of(c.Report, out) and core.phase("t1") is c.Phase.RUNNING
    assert of(c.Reconcile, core.tick(now=16))  # asked again
    out = core.update(reconcile_status("t1", "TASK_UNKNOWN"), now=core.policy.reconcile_grace + 1)
    assert of(c.Report, out)[0].outcome is Outcome.FAILED


def test_a_lost_agent_is_not_doubted(connected):
    launched(connected)
    connected.update(status(state="TASK_RUNNING"), now=2)
    out = connected.update(status(state="TASK_LOST", reason="REASON_AGENT_REMOVED"), now=3)
    assert of(c.Report, out)[0].outcome is Outcome.FAILED


def test_unreachable_tasks_are_reconciled_now_and_then(connected):
    launched(connected)
    connected.update(status(state="TASK_RUNNING"), now=2)
    connected.update(status(state="TASK_UNREACHABLE"), now=3)
    assert of(c.Reconcile, connected.tick(now=4)) == [c.Reconcile((("t1", "S1"),))]
    assert not of(c.Reconcile, connected.tick(now=5))
    assert of(c.Reconcile, connected.tick(now=15))


def test_implicit_reconciliation_on_a_period(connected):
    assert not of(c.Reconcile, connected.tick(now=10))
    assert of(c.Reconcile, connected.tick(now=connected.policy.implicit_reconcile_interval)) == [c.Reconcile(())]


def test_unclaimed_running_tasks_are_listed_and_killed_when_unwanted(connected):
    connected.update(status("stray", state="TASK_RUNNING"), now=1)
    connected.update(status("done", state="TASK_FINISHED"), now=1)
    assert connected.unclaimed_live() == {"stray": "S1"}
    assert connected.kill_unwanted("stray") == [c.Kill("stray", "S1", connected.policy.kill_grace_period)]
    assert connected.unclaimed_live() == {}


def test_a_known_task_airflow_no_longer_wants_is_killed_and_leaves_the_running_set(connected):
    launched(connected)
    out = connected.kill_unwanted("t1")
    assert of(c.Kill, out) and of(c.Report, out)[0].outcome is Outcome.FAILED
    assert connected.phase("t1") is None


def test_taken_over_stops_placing_and_says_why(connected):
    connected.submit(work(), now=1)
    out = connected.failed_over("Framework failed over", now=2)
    assert "another scheduler took over the framework" in of(c.WaitReason, out)[0].reason
    assert not connected.connected and connected.taken_over == "Framework failed over"


def test_a_task_no_agent_can_ever_hold_fails_after_the_placement_timeout():
    core = c.ExecutorCore(c.CorePolicy(placement_timeout=60))
    core.subscribed("F-1", now=0)
    core.set_capacity([offer("cap-1", cpus=4), offer("cap-2", agent="S2", cpus=4)])
    core.submit(work("huge", cpus=64), now=0)
    core.submit(work("busy", cpus=3), now=0)  # fits an agent: it only waits for resources
    assert not of(c.Report, core.tick(now=59))
    reports = of(c.Report, core.tick(now=61))
    assert [r.task_id for r in reports] == ["huge"]
    assert "no agent can ever run this task (needs 64 cpus; the largest agent has 4)" in reports[0].info
    assert core.phase("busy") is c.Phase.WAITING


def test_a_waiting_task_airflow_no_longer_wants_is_dropped_without_a_kill_and_offers_are_suppressed(connected):
    connected.submit(work("w"), now=1)
    connected.tick(now=5)  # the deferred revive
    out = connected.kill_unwanted("w")
    assert not of(c.Kill, out)
    assert "never launched" in of(c.Report, out)[0].info
    assert of(c.Suppress, out) and connected.phase("w") is None
