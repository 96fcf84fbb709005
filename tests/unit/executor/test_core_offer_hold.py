"""Offers held while nothing waits (``CorePolicy.offer_hold_seconds``): a task queued meanwhile launches into
them at once; unused ones are declined and offers suppressed once the hold is over."""

from __future__ import annotations

import pytest

from airflow_mesos.executor import core as c
from airflow_mesos.mesos.events import parse_offer

from .test_core import of, offer, work

HOLD = 3.0


@pytest.fixture
def holding():
    """A core that ran a task already: subscribed (idle, so suppressed), revived for the first task, which
    took the offer it came with.  Offers flow; nothing waits; nothing is held."""
    core = c.ExecutorCore(c.CorePolicy(refuse_seconds=5, revive_min_interval=2, offer_hold_seconds=HOLD,
                                       held_batch_seconds=0))
    core.subscribed("F-1", now=-10)
    assert of(c.Revive, core.submit(work("first"), now=-5))
    assert not of(c.Revive, core.end_of_batch(now=-5))  # the batch's REVIVE went out with its submit
    assert of(c.Launch, core.offers([offer("O0", agent="S0")], now=-5))
    assert core.held_offer_ids() == [] and core.waiting_count() == 0
    return core


def test_offers_that_nothing_waits_for_are_held_not_declined(holding):
    out = holding.offers([offer("O1"), offer("O2", agent="S2")], now=1)
    assert out == []  # no DECLINE, no SUPPRESS
    assert holding.held_offer_ids() == ["O1", "O2"]


def test_a_batch_queued_while_offers_are_held_launches_into_them_at_once(holding):
    holding.offers([offer("O1", cpus=4), offer("O2", agent="S2", cpus=4)], now=1)
    for i in range(3):
        assert not of(c.Launch, holding.submit(work(f"t{i}"), now=2))  # nothing until the batch is in
    out = holding.end_of_batch(now=2)
    [launch] = of(c.Launch, out)
    assert launch.offer.id == "O1" and [t.work.task_id for t in launch.tasks] == ["t0", "t1", "t2"]
    assert not of(c.WaitReason, out)  # placed at once: no wait to tell of
    # Everything placed: the other offer stays held for what comes next; nothing declined or revived.
    assert not of(c.Decline, out) and not of(c.Revive, out) and not of(c.Suppress, out)
    assert holding.held_offer_ids() == ["O2"]
    assert holding.phase("t0") is c.Phase.LAUNCHING


def test_what_the_held_offers_cannot_take_gets_a_revive_and_the_unused_ones_are_declined(holding):
    holding.offers([offer("O1", cpus=2)], now=1)
    holding.submit(work("small", cpus=1), now=2)
    holding.submit(work("big", cpus=8), now=2)
    out = holding.end_of_batch(now=2)
    assert [t.work.task_id for t in of(c.Launch, out)[0].tasks] == ["small"]  # last REVIVE at -5
    # The offer was accepted (its leftover comes back only after the ACCEPT's filter): ask for offers now.
    assert of(c.Revive, out) == [c.Revive()]
    assert holding.held_offer_ids() == []
    assert holding.phase("big") is c.Phase.WAITING


def test_held_offers_that_do_not_fit_are_declined_when_the_task_must_wait(holding):
    holding.offers([offer("O1", cpus=2), offer("O2", agent="S2", cpus=2)], now=1)
    holding.submit(work("big", cpus=8), now=2)
    out = holding.end_of_batch(now=2)
    assert of(c.Decline, out) == [c.Decline(("O1", "O2"), 5)]
    assert holding.held_offer_ids() == []
    assert of(c.Revive, out) == [c.Revive()]
    # Offers that come later meet the waiting task with the usual decline.
    out = holding.offers([offer("O3", cpus=2)], now=3)
    assert of(c.Decline, out) == [c.Decline(("O3",), 5)] and holding.held_offer_ids() == []


def test_a_revive_held_back_by_revive_min_interval_goes_out_at_a_later_tick(holding):
    holding.offers([offer("O1", cpus=1)], now=-4.5)
    holding.submit(work("a", cpus=1), now=-4)
    holding.submit(work("b", cpus=1), now=-4)
    out = holding.end_of_batch(now=-4)
    assert of(c.Launch, out) and not of(c.Revive, out)  # 1 s after the last REVIVE: too soon
    assert not of(c.Revive, holding.tick(now=-3.5))
    assert of(c.Revive, holding.tick(now=-2.5)) == [c.Revive()]


def test_a_held_back_revive_is_due_when_revive_min_interval_is_over_not_at_a_tick(holding):
    holding.offers([offer("O1", cpus=1)], now=-4.5)
    holding.submit(work("a", cpus=1), now=-4)
    holding.submit(work("b", cpus=1), now=-4)
    assert not of(c.Revive, holding.end_of_batch(now=-4))  # the last REVIVE was at -5, revive_min_interval 2
    assert not holding.revive_due(now=-3.01) and holding.deferred_revive(now=-3.01) == []
    assert holding.revive_due(now=-3)
    assert holding.deferred_revive(now=-3) == [c.Revive()]
    assert not holding.revive_due(now=-2.5) and not of(c.Revive, holding.tick(now=-2.5))  # sent once


def test_a_held_back_revive_is_dropped_when_nothing_waits_any_more(holding):
    holding.offers([offer("O1", cpus=1)], now=-4.5)
    holding.submit(work("a", cpus=1), now=-4)
    holding.submit(work("b", cpus=1), now=-4)
    holding.end_of_batch(now=-4)
    holding.revoke("b", now=-3.5)  # the one that waited
    assert holding.deferred_revive(now=-2) == []
    assert not holding.revive_due(now=-1)


def test_held_offers_are_declined_for_long_and_offers_suppressed_after_the_hold(holding):
    holding.offers([offer("O1")], now=1)
    holding.offers([offer("O2", agent="S2")], now=2)
    assert not of(c.Decline, holding.tick(now=1 + HOLD - 0.1))
    out = holding.tick(now=1 + HOLD)
    assert of(c.Decline, out) == [c.Decline(("O1",), holding.policy.idle_refuse_seconds)]
    assert not of(c.Suppress, out)  # O2 is still held
    out = holding.tick(now=2 + HOLD)
    assert of(c.Decline, out) == [c.Decline(("O2",), holding.policy.idle_refuse_seconds)]
    assert of(c.Suppress, out) == [c.Suppress()]
    assert holding.offers_declined == 2


def test_new_offers_while_tasks_wait_are_matched_together_with_none_held(holding):
    # Held offers only exist while nothing waits: a task that did not fit them had them declined.
    holding.submit(work("t1", cpus=3), now=1)
    out = holding.offers([offer("O1", cpus=2), offer("O2", agent="S2", cpus=4)], now=1)
    [launch] = of(c.Launch, out)
    assert launch.offer.id == "O2"
    # Everything placed now: the unused offer is held.
    assert not of(c.Decline, out) and holding.held_offer_ids() == ["O1"]


def test_a_task_queued_with_no_offer_in_hand_revives_though_offers_are_not_suppressed(holding):
    # Between tasks of a busy stretch offers are not suppressed, but the last ones were taken or declined with
    # a filter: only a REVIVE brings their resources back before it ends.
    out = holding.submit(work("t1"), now=1)
    assert not of(c.Revive, out)
    assert of(c.Revive, holding.end_of_batch(now=1)) == [c.Revive()]


def test_a_batch_that_revived_on_submit_does_not_revive_again(holding):
    assert of(c.Suppress, holding.tick(now=0))  # idle long enough: suppressed
    out = holding.submit(work("t1"), now=1)
    assert of(c.Revive, out) == [c.Revive()]
    assert not of(c.Revive, holding.end_of_batch(now=1))
    assert not of(c.Revive, holding.tick(now=2))


def test_a_rescinded_or_disconnected_offer_is_never_used(holding):
    holding.offers([offer("O1"), offer("O2", agent="S2")], now=1)
    holding.rescinded("O1")
    assert holding.held_offer_ids() == ["O2"]
    holding.disconnected("master gone", now=2)
    assert holding.held_offer_ids() == []
    holding.submit(work(), now=3)
    assert not of(c.Launch, holding.end_of_batch(now=3))
    holding.subscribed("F-1", now=4)
    assert holding.held_offer_ids() == []


def test_a_rescind_of_the_last_held_offer_leaves_suppression_to_the_next_tick(holding):
    holding.offers([offer("O1")], now=1)
    assert holding.rescinded("O1") == []
    assert of(c.Suppress, holding.tick(now=1.5)) == [c.Suppress()]  # the last launch was at -5


def test_between_the_tasks_of_a_busy_stretch_offers_are_not_suppressed(holding):
    # The fixture's task launched at -5 and took its offer whole: nothing waits, nothing is held.
    assert not of(c.Suppress, holding.tick(now=-5 + HOLD - 0.5))
    holding.submit(work("next"), now=-5 + HOLD - 0.4)
    assert of(c.Launch, holding.offers([offer("O1")], now=-5 + HOLD - 0.3))
    assert not of(c.Suppress, holding.tick(now=-5 + HOLD + 0.5))  # busy again 0.8 s ago
    assert of(c.Suppress, holding.tick(now=-5 + 2 * HOLD))


def test_without_a_hold_offers_that_nothing_waits_for_are_declined_at_once():
    core = c.ExecutorCore(c.CorePolicy(refuse_seconds=5, offer_hold_seconds=0))
    core.subscribed("F-1", now=0)
    out = core.offers([offer("O1")], now=1)
    assert of(c.Decline, out) == [c.Decline(("O1",), core.policy.idle_refuse_seconds)]
    assert core.held_offer_ids() == [] and core.end_of_batch(now=1) == []


def test_a_held_offer_that_lists_an_executor_that_died_is_declined_without_a_filter(holding):
    raw = dict(offer("O1", agent="S1").raw)
    raw["executor_ids"] = [{"value": "airflow-warm-process-1"}]
    holding.offers([parse_offer(raw), offer("O2", agent="S2")], now=1)
    out = holding.executor_failed("S1", "airflow-warm-process-1", 9, now=2)
    assert of(c.Decline, out) == [c.Decline(("O1",), 0.0)]
    assert holding.held_offer_ids() == ["O2"]


def test_tasks_queued_one_by_one_go_into_the_held_offers_as_one_batch():
    core = c.ExecutorCore(c.CorePolicy(refuse_seconds=5, revive_min_interval=2, offer_hold_seconds=HOLD,
                                       held_batch_seconds=0.1))
    core.subscribed("F-1", now=-10)
    core.submit(work("first"), now=-5)
    core.end_of_batch(now=-5)
    core.offers([offer("O0", agent="S0"), offer("O1", agent="S1")], now=-5)  # first placed; O1 held
    core.submit(work("a"), now=1.0)
    assert core.end_of_batch(now=1.0) == []  # the batch is open: no launch, no reason, no REVIVE yet
    assert not core.placement_due(1.05)
    core.submit(work("b"), now=1.05)
    assert core.end_of_batch(now=1.05) == []
    assert core.placement_due(1.1)
    out = core.end_of_batch(now=1.1)
    [launch] = of(c.Launch, out)
    assert launch.offer.id == "O1" and [t.work.task_id for t in launch.tasks] == ["a", "b"]
    assert not core.placement_due(2.0)


def test_offers_that_come_while_a_held_batch_is_open_place_it_at_once():
    core = c.ExecutorCore(c.CorePolicy(refuse_seconds=5, offer_hold_seconds=HOLD, held_batch_seconds=0.1))
    core.subscribed("F-1", now=-10)
    core.submit(work("first"), now=-5)
    core.end_of_batch(now=-5)
    core.offers([offer("O0", agent="S0"), offer("O1", agent="S1")], now=-5)
    core.submit(work("a"), now=1.0)
    core.end_of_batch(now=1.0)
    [launch] = of(c.Launch, core.offers([offer("O2", agent="S2", cpus=1)], now=1.02))
    assert [t.work.task_id for t in launch.tasks] == ["a"] and not core.placement_due(1.2)
