"""When the embedded master allocates: every allocation_interval (Mesos' default), or only on demand (no HTTP).

The master runs unstarted here (no server, no ticker thread): the test calls ``tick()`` and
``allocate_now()`` itself and moves a FakeClock, so every round happens exactly when the test says.
"""

from __future__ import annotations

import json
import queue

import pytest

from airflow_mesos.clock import FakeClock
from airflow_mesos.local.event_stream import EventStream
from airflow_mesos.local.master import Master
from tests.support.scheduler_client import framework_info
from tests.support.stub_agent import StubSpec


class AgentHandle:
    """What the allocator reads of an agent; nothing is ever launched on it."""

    def __init__(self, agent_id: str, port: int) -> None:
        self.id, self.spec, self.port = agent_id, StubSpec(), port
        self.pid = f"slave(1)@127.0.0.1:{port}"
        self.url = f"http://127.0.0.1:{port}"


@pytest.fixture
def clock():
    return FakeClock(start=1_700_000_000.0)


def make_master(clock: FakeClock, **options) -> Master:
    master = Master(clock=clock, **options)
    for index in range(2):
        master.add_agent(AgentHandle(master.new_agent_id(), 6000 + index))
    return master


def subscribe(master: Master, name: str) -> EventStream:
    stream = master.subscribe({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info(name)}}, None)
    assert received(stream)[0]["type"] == "SUBSCRIBED"
    return stream


def received(stream: EventStream) -> list[dict]:
    """The events queued on the stream since the last call."""
    events = []
    while True:
        try:
            item = stream.items.get_nowait()
        except queue.Empty:
            return events
        events.append(json.loads(item.split(b"\n", 1)[1]))


def offers_in(events: list[dict]) -> list[dict]:
    return [offer for e in events if e["type"] == "OFFERS" for offer in e["offers"]["offers"]]


def decline_all(master: Master, stream: EventStream, offers: list[dict], refuse_seconds: float) -> None:
    framework = master.records.frameworks[stream.framework_id]
    with master._lock:
        master.dispatch(framework, {"type": "DECLINE", "decline": {
            "offer_ids": [o["id"] for o in offers], "filters": {"refuse_seconds": refuse_seconds}}})


def test_on_demand_master_offers_nothing_until_a_round_is_asked_for(clock):
    master = make_master(clock, allocation_interval=None)
    stream = subscribe(master, "a")
    for _ in range(5):  # neither time nor the SUBSCRIBE nor the new agents start a round
        clock.advance(10)
        master.tick()
    assert offers_in(received(stream)) == []

    made = master.allocate_now()
    assert sorted(o["agent_id"]["value"] for o in made) == sorted(master.records.agents)
    assert {o["framework_id"]["value"] for o in made} == {stream.framework_id}
    assert offers_in(received(stream)) == made
    assert master.allocate_now() == []  # everything is offered already


def test_on_demand_round_sees_every_framework_subscribed_before_it(clock):
    master = make_master(clock, allocation_interval=None)
    first, second = subscribe(master, "first"), subscribe(master, "second")
    made = master.allocate_now()
    # DRF: one agent each, because both were there when the round ran.
    assert sorted(o["framework_id"]["value"] for o in made) == sorted([first.framework_id, second.framework_id])
    assert len({o["agent_id"]["value"] for o in made}) == 2


def test_default_master_allocates_after_a_subscribe_and_then_every_interval(clock):
    master = make_master(clock)  # allocation_interval 1 s, as Mesos
    stream = subscribe(master, "a")
    master.tick()  # the SUBSCRIBE asked for a round at the next tick (Mesos' addFramework -> generateOffers)
    first = offers_in(received(stream))
    assert sorted(o["agent_id"]["value"] for o in first) == sorted(master.records.agents)
    decline_all(master, stream, first, refuse_seconds=0)  # back in the pool at once, but not offered at once
    clock.advance(0.5)
    master.tick()
    assert offers_in(received(stream)) == []
    clock.advance(0.5)
    master.tick()
    again = offers_in(received(stream))
    assert sorted(o["agent_id"]["value"] for o in again) == sorted(master.records.agents)
    assert not {o["id"]["value"] for o in again} & {o["id"]["value"] for o in first}


def test_declined_agents_come_back_exactly_when_the_refuse_filter_expires(clock):
    master = make_master(clock, allocation_interval=None)
    stream = subscribe(master, "a")
    decline_all(master, stream, master.allocate_now(), refuse_seconds=5)
    assert master.allocate_now() == []
    clock.advance(4)
    assert master.allocate_now() == []
    clock.advance(1)
    assert sorted(o["agent_id"]["value"] for o in master.allocate_now()) == sorted(master.records.agents)


@pytest.mark.parametrize("interval", [0, -1.0])
def test_allocation_interval_must_be_positive_or_none(interval):
    with pytest.raises(ValueError, match=f"allocation_interval must be a positive number of seconds or None.*{interval}"):
        Master(allocation_interval=interval)
