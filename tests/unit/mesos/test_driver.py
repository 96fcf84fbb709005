"""SchedulerDriver against a scripted fake transport and a FakeClock (no network, no sleeping)."""

from __future__ import annotations

import base64
import json
import queue

import pytest

from airflow_mesos.clock import FakeClock
from airflow_mesos.mesos import SchedulerDriver, events
from airflow_mesos.mesos.errors import (
    BadRequestError,
    MesosApiError,
    ServiceUnavailableError,
    FrameworkNotSubscribedError,
    MesosConnectionError,
    MesosError,
    NotLeaderError,
    NotSubscribed,
    RateLimitedError,
    UnauthorizedError,
)
from airflow_mesos.mesos.transport import Response

from tests.support.driver_fakes import HEARTBEAT, FakeStream, FakeTransport, frame, next_event, subscribed, wait_until

INFO = {"user": "airflow", "name": "airflow-mesos", "roles": ["airflow"],
        "capabilities": [{"type": "MULTI_ROLE"}], "failover_timeout": 3600.0}
M1, M2 = "http://m1:5050", "http://m2:5050"


@pytest.fixture
def transport():
    return FakeTransport()


@pytest.fixture
def clock():
    return FakeClock(start=1000.0)


@pytest.fixture
def make_driver(transport, clock):
    drivers = []

    def make(master=M1, **kwargs) -> SchedulerDriver:
        kwargs.setdefault("backoff_jitter", 0.0)
        kwargs.setdefault("watchdog_poll_seconds", 0.005)
        driver = SchedulerDriver(INFO, master, transport=transport, clock=clock, **kwargs)
        drivers.append(driver)
        return driver

    yield make
    transport.released = True
    for driver in drivers:
        driver.stop()


def start_subscribed(make_driver, transport, **kwargs) -> tuple[SchedulerDriver, FakeStream]:
    driver = make_driver(**kwargs)
    stream = FakeStream(stream_id="stream-1")
    transport.script(stream)
    driver.start()
    stream.send(subscribed("F-0000"))
    next_event(driver, events.Subscribed)
    return driver, stream


def test_subscribe_request_shape(make_driver, transport):
    driver, _ = start_subscribed(make_driver, transport)
    (request,) = transport.subscribes
    assert request.url == "http://m1:5050/api/v1/scheduler"
    assert request.body == {"type": "SUBSCRIBE", "subscribe": {"framework_info": INFO}}
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert "Mesos-Stream-Id" not in request.headers and "Authorization" not in request.headers
    assert driver.connected and driver.framework_id == "F-0000" and driver.stream_id == "stream-1"
    assert driver.master_url == M1


def test_calls_carry_the_stream_id_and_go_to_the_subscribed_master(make_driver, transport):
    driver, _ = start_subscribed(make_driver, transport)
    driver.decline(["O1"], refuse_seconds=30)
    driver.launch(["O2"], [{"name": "t", "task_id": {"value": "t1"}, "agent_id": {"value": "S1"}}])
    driver.revive(["airflow"])
    driver.suppress()
    driver.kill("t1", "S1", grace_period_seconds=2)
    driver.reconcile()
    assert [post.url for post in transport.posts] == ["http://m1:5050/api/v1/scheduler"] * 6
    assert all(post.headers["Mesos-Stream-Id"] == "stream-1" for post in transport.posts)
    assert [post.body["type"] for post in transport.posts] == [
        "DECLINE", "ACCEPT", "REVIVE", "SUPPRESS", "KILL", "RECONCILE"]
    assert transport.posts[0].body == {"framework_id": {"value": "F-0000"}, "type": "DECLINE",
                                       "decline": {"offer_ids": [{"value": "O1"}],
                                                   "filters": {"refuse_seconds": 30.0}}}
    assert transport.posts[1].body["accept"]["operations"][0]["type"] == "LAUNCH"
    assert transport.posts[4].body["kill"]["kill_policy"] == {"grace_period": {"nanoseconds": 2_000_000_000}}
    assert transport.posts[5].body["reconcile"] == {"tasks": []}


def test_launch_with_no_tasks_declines(make_driver, transport):
    driver, _ = start_subscribed(make_driver, transport)
    driver.launch(["O1"], [], refuse_seconds=5)
    assert transport.posts[0].body["type"] == "DECLINE"


def test_calls_before_subscribed_raise_and_send_nothing(make_driver, transport):
    driver = make_driver()
    with pytest.raises(NotSubscribed, match="cannot send DECLINE"):
        driver.decline(["O1"])
    stream = FakeStream()
    transport.script(stream)
    driver.start()
    wait_until(lambda: transport.subscribes, "the SUBSCRIBE")
    with pytest.raises(NotSubscribed, match="KILL"):
        driver.kill("t1")  # stream may be open but SUBSCRIBED has not arrived
    assert transport.posts == []


def test_acknowledge_only_updates_with_a_uuid(make_driver, transport):
    driver, stream = start_subscribed(make_driver, transport)
    uuid = bytes(range(16))
    stream.send(frame({"type": "UPDATE", "update": {"status": {
        "task_id": {"value": "t1"}, "state": "TASK_RUNNING", "agent_id": {"value": "S1"},
        "uuid": base64.b64encode(uuid).decode()}}}))
    stream.send(frame({"type": "UPDATE", "update": {"status": {
        "task_id": {"value": "t2"}, "state": "TASK_LOST", "source": "SOURCE_MASTER"}}}))
    with_uuid = next_event(driver, events.Update).status
    without_uuid = next_event(driver, events.Update).status
    assert driver.acknowledge(with_uuid) is True
    assert driver.acknowledge(without_uuid) is False
    (post,) = transport.posts
    assert post.body["acknowledge"] == {"agent_id": {"value": "S1"}, "task_id": {"value": "t1"},
                                        "uuid": base64.b64encode(uuid).decode()}


def test_basic_auth_header_on_subscribe_and_calls_and_secret_hidden(make_driver, transport):
    driver, _ = start_subscribed(make_driver, transport, principal="airflow", secret="hunter2")
    driver.revive()
    expected = "Basic " + base64.b64encode(b"airflow:hunter2").decode()
    assert transport.subscribes[0].headers["Authorization"] == expected
    assert transport.posts[0].headers["Authorization"] == expected
    assert transport.subscribes[0].body["subscribe"]["framework_info"]["principal"] == "airflow"
    assert "hunter2" not in repr(driver)
    assert "hunter2" not in repr(driver._auth)


def test_conflicting_principal_is_refused_up_front():
    with pytest.raises(ValueError, match="principal"):
        SchedulerDriver({**INFO, "principal": "other"}, M1, principal="airflow", secret="x",
                        transport=FakeTransport())
    with pytest.raises(ValueError, match="secret given without principal"):
        SchedulerDriver(INFO, M1, secret="x", transport=FakeTransport())


def test_events_arrive_in_stream_order_and_malformed_ones_are_skipped(make_driver, transport):
    driver, stream = start_subscribed(make_driver, transport)
    stream.send(frame({"type": "RESCIND", "rescind": {"offer_id": {"value": "O1"}}})
                + frame({"type": "UPDATE", "update": {}})  # malformed: no status
                + b"9\nnot json!" + HEARTBEAT
                + frame({"type": "INVERSE_OFFERS", "inverse_offers": {"inverse_offers": []}})
                + frame({"type": "ERROR", "error": {"message": "oops"}})[:7])
    stream.send(frame({"type": "ERROR", "error": {"message": "oops"}})[7:])
    assert next_event(driver, events.Rescind).offer_id == "O1"
    assert isinstance(next_event(driver, events.Heartbeat, skip=()), events.Heartbeat)
    assert next_event(driver, events.Unknown).type == "INVERSE_OFFERS"
    assert next_event(driver, events.Error).message == "oops"
    assert driver.malformed_events == 2


def test_heartbeat_loss_reconnects_with_the_same_framework_id(make_driver, transport, clock):
    driver, first = start_subscribed(make_driver, transport, heartbeat_misses=5)
    first.send(HEARTBEAT)
    next_event(driver, events.Heartbeat, skip=())
    second = FakeStream(stream_id="stream-2")
    transport.script(second)
    clock.advance(5 * 15.0 + 1)  # five heartbeat intervals of silence
    disconnected = next_event(driver, events.Disconnected)
    assert "no heartbeat" in disconnected.reason
    assert first.closed.is_set()
    wait_until(lambda: len(transport.subscribes) == 2, "the re-SUBSCRIBE")
    resubscribe = transport.subscribes[1].body
    assert resubscribe["framework_id"] == {"value": "F-0000"}
    assert resubscribe["subscribe"]["framework_info"]["id"] == {"value": "F-0000"}
    assert clock.sleeps == [1.0]  # first backoff step
    second.send(subscribed("F-0000"))
    next_event(driver, events.Subscribed)
    assert driver.stream_id == "stream-2" and driver.connected


def test_heartbeats_keep_the_stream_alive(make_driver, transport, clock):
    driver, stream = start_subscribed(make_driver, transport, heartbeat_misses=2)
    for _ in range(5):
        clock.advance(20.0)  # < 2 x 15 s since the last heartbeat
        stream.send(HEARTBEAT)
        next_event(driver, events.Heartbeat, skip=())
    assert driver.connected and len(transport.subscribes) == 1 and not stream.closed.is_set()


def test_backoff_sequence_across_failed_attempts(make_driver, transport, clock):
    driver = make_driver(backoff_initial=1.0, backoff_max=15.0)
    transport.script(*[MesosConnectionError("refused")] * 6)
    final = FakeStream()
    transport.script(final)
    driver.start()
    wait_until(lambda: len(transport.subscribes) == 7, "seven SUBSCRIBE attempts")
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
    final.send(subscribed())
    next_event(driver, events.Subscribed)


def test_follows_a_protocol_relative_307_to_the_leader(make_driver, transport, clock):
    driver = make_driver(master=M1)
    redirect = FakeStream(status=307, headers={"location": "//m2:5050/api/v1/scheduler"})
    leader = FakeStream(stream_id="s-leader")
    transport.script(redirect, leader)
    driver.start()
    leader.send(subscribed())
    next_event(driver, events.Subscribed)
    assert [r.url for r in transport.subscribes] == [M1 + "/api/v1/scheduler", M2 + "/api/v1/scheduler"]
    assert clock.sleeps == []  # a redirect is not a failure
    driver.revive()
    assert transport.posts[0].url == M2 + "/api/v1/scheduler"


def test_master_list_failover(make_driver, transport, clock):
    driver = make_driver(master=f"{M1},{M2}")
    stream = FakeStream()
    transport.script(MesosConnectionError("connection refused"), stream)
    driver.start()
    stream.send(subscribed())
    next_event(driver, events.Subscribed)
    assert [r.url for r in transport.subscribes] == [M1 + "/api/v1/scheduler", M2 + "/api/v1/scheduler"]
    assert driver.master_url == M2


def test_subscribe_refused_with_401_is_surfaced_and_retried(make_driver, transport, clock):
    driver = make_driver()
    stream = FakeStream()
    transport.script(FakeStream(status=401, body=b"Unauthorized"), stream)
    driver.start()
    refused = next_event(driver, events.SubscribeRefused)
    assert (refused.status, refused.message) == (401, "Unauthorized")
    stream.send(subscribed())
    next_event(driver, events.Subscribed)
    assert clock.sleeps == [1.0]


def test_subscribe_without_stream_id_is_retried(make_driver, transport, clock):
    driver = make_driver()
    broken = FakeStream()
    del broken.headers["mesos-stream-id"]
    good = FakeStream()
    transport.script(broken, good)
    driver.start()
    good.send(subscribed())
    next_event(driver, events.Subscribed)
    assert len(transport.subscribes) == 2


@pytest.mark.parametrize("status, body, error_type", [
    (401, b"Unauthorized", UnauthorizedError),
    (403, b"Framework is not subscribed", FrameworkNotSubscribedError),
    (307, b"", NotLeaderError),
    (400, b"Failed to validate scheduler::Call: Expecting 'kill' to be present", BadRequestError),
    (503, b"No leader elected", ServiceUnavailableError),
    (500, b"boom", MesosApiError),
])
def test_call_errors_are_typed(make_driver, transport, status, body, error_type):
    driver, _ = start_subscribed(make_driver, transport)
    transport.post_responses.append(Response(status, {"location": "//m2:5050/api/v1/scheduler"}, body))
    with pytest.raises(error_type) as caught:
        driver.kill("t1")
    assert (caught.value.status, caught.value.call_type) == (status, "KILL")
    assert caught.value.message == body.decode()


def test_429_is_rate_limited_with_the_masters_retry_after(make_driver, transport):
    driver, _ = start_subscribed(make_driver, transport)
    transport.post_responses.append(Response(429, {"retry-after": "Sun, 06 Nov 1994 08:49:47 GMT",
                                                   "date": "Sun, 06 Nov 1994 08:49:37 GMT"}, b"Too Many Requests"))
    transport.post_responses.append(Response(429, {}, b""))
    with pytest.raises(RateLimitedError) as caught:
        driver.decline(["O1"])
    assert (caught.value.status, caught.value.call_type, caught.value.retry_after) == (429, "DECLINE", 10.0)
    with pytest.raises(RateLimitedError) as caught:
        driver.revive()
    assert caught.value.retry_after is None


def test_offers_event_keeps_its_good_offers_and_lists_the_malformed(make_driver, transport):
    driver, stream = start_subscribed(make_driver, transport)
    good = {"id": {"value": "O1"}, "agent_id": {"value": "S1"}, "hostname": "h1"}
    bad = {"id": {"value": "O2"}, "agent_id": {"value": "S2"}}  # no hostname
    stream.send(frame({"type": "OFFERS", "offers": {"offers": [good, bad]}}))
    offers = next_event(driver, events.Offers)
    assert [o.id for o in offers.offers] == ["O1"]
    assert [(m.offer_id, m.agent_id) for m in offers.malformed] == [("O2", "S2")]
    assert (driver.malformed_offers, driver.malformed_events) == (1, 0)


def test_403_is_also_a_not_subscribed_error(make_driver, transport):
    driver, _ = start_subscribed(make_driver, transport)
    transport.post_responses.append(Response(403, {}, b"Framework is not subscribed"))
    with pytest.raises(NotSubscribed):
        driver.revive()


def test_stream_end_and_connection_errors_reconnect(make_driver, transport, clock):
    driver, first = start_subscribed(make_driver, transport)
    second, third = FakeStream(stream_id="s2"), FakeStream(stream_id="s3")
    transport.script(second, third)
    first.end()
    assert "closed the event stream" in next_event(driver, events.Disconnected).reason
    second.send(subscribed())
    next_event(driver, events.Subscribed)
    second.end(MesosConnectionError("connection reset"))
    assert "connection reset" in next_event(driver, events.Disconnected).reason
    third.send(subscribed())
    next_event(driver, events.Subscribed)
    assert driver.stream_id == "s3"
    assert clock.sleeps == [1.0, 1.0]  # backoff resets after each successful SUBSCRIBED


def test_truncated_record_at_stream_end_reconnects(make_driver, transport):
    driver, first = start_subscribed(make_driver, transport)
    transport.script(FakeStream(stream_id="s2"))
    first.send(b"100\n{\"type\"")
    first.end()
    assert "truncated" in next_event(driver, events.Disconnected).reason


def test_framework_removed_is_terminal(make_driver, transport):
    driver, stream = start_subscribed(make_driver, transport)
    stream.send(frame({"type": "ERROR", "error": {"message": "Framework has been removed"}}))
    assert next_event(driver, events.Error).message == "Framework has been removed"
    removed = next_event(driver, events.FrameworkRemoved)
    assert "Framework has been removed" in removed.message
    wait_until(lambda: not driver._runner.is_alive(), "the subscription thread to end")
    assert len(transport.subscribes) == 1
    assert not driver.connected
    with pytest.raises(NotSubscribed):
        driver.revive()


def test_failed_over_is_terminal_so_two_schedulers_never_take_the_framework_back_and_forth(make_driver, transport):
    driver, stream = start_subscribed(make_driver, transport)
    stream.send(frame({"type": "ERROR", "error": {"message": "Framework failed over"}}))
    assert next_event(driver, events.Error).message == "Framework failed over"
    assert "Framework failed over" in next_event(driver, events.FailedOver).message
    wait_until(lambda: not driver._runner.is_alive(), "the subscription thread to end")
    assert len(transport.subscribes) == 1
    assert not driver.connected
    with pytest.raises(NotSubscribed):
        driver.revive()


def test_other_errors_reconnect(make_driver, transport):
    driver, first = start_subscribed(make_driver, transport)
    second = FakeStream(stream_id="s2")
    transport.script(second)
    first.send(frame({"type": "ERROR", "error": {"message": "Framework is not subscribed"}}))
    assert next_event(driver, events.Error).message == "Framework is not subscribed"
    assert "Framework is not subscribed" in next_event(driver, events.Disconnected).reason
    second.send(subscribed())
    next_event(driver, events.Subscribed)


def test_stop_without_failover_sends_teardown_and_stops(make_driver, transport):
    driver, stream = start_subscribed(make_driver, transport)
    driver.stop(failover=False)
    assert [post.body for post in transport.posts] == [{"framework_id": {"value": "F-0000"}, "type": "TEARDOWN"}]
    assert stream.closed.is_set()
    assert not driver._runner.is_alive() and not driver._watchdog.is_alive()
    assert len(transport.subscribes) == 1
    assert not transport.closed  # an injected transport belongs to the caller


def test_teardown_then_stop(make_driver, transport):
    driver, stream = start_subscribed(make_driver, transport)
    # Like the master: TEARDOWN closes the stream before the call even returns.
    transport.on_post = lambda request: stream.end()
    driver.teardown()
    assert transport.posts[0].body["type"] == "TEARDOWN"
    assert not driver._runner.is_alive()
    assert len(transport.subscribes) == 1  # no re-subscription after our own teardown
    leftovers = []
    while not driver.events.empty():
        leftovers.append(driver.events.get_nowait())
    assert not any(isinstance(event, events.Disconnected) for event in leftovers)
    with pytest.raises(NotSubscribed):
        driver.revive()


def test_teardown_when_not_subscribed_raises(make_driver):
    driver = make_driver()
    with pytest.raises(NotSubscribed):
        driver.teardown()


def test_stop_with_failover_keeps_the_framework(make_driver, transport):
    driver, stream = start_subscribed(make_driver, transport)
    driver.stop()
    assert transport.posts == [] and stream.closed.is_set()
    assert driver.framework_id == "F-0000"  # for a later scheduler to re-subscribe with
    with pytest.raises(queue.Empty):
        while True:  # no Disconnected after our own stop
            assert not isinstance(driver.events.get_nowait(), events.Disconnected)


def test_known_framework_id_is_used_on_the_first_subscribe(make_driver, transport):
    driver, _ = start_subscribed(make_driver, transport, framework_id="F-0000")
    body = transport.subscribes[0].body
    assert body["framework_id"] == {"value": "F-0000"}
    assert body["subscribe"]["framework_info"]["id"] == {"value": "F-0000"}


def test_start_twice_or_after_stop_is_an_error(make_driver, transport):
    driver, _ = start_subscribed(make_driver, transport)
    with pytest.raises(MesosError, match="already"):
        driver.start()
    stopped = make_driver()
    stopped.stop()
    with pytest.raises(MesosError, match="already"):
        stopped.start()


def test_subscribe_503_no_leader_is_retried(make_driver, transport, clock):
    driver = make_driver()
    stream = FakeStream()
    transport.script(FakeStream(status=503, body=b"No leader elected"), stream)
    driver.start()
    assert next_event(driver, events.SubscribeRefused).status == 503
    stream.send(subscribed())
    next_event(driver, events.Subscribed)


def test_a_refused_accept_never_echoes_a_tasks_secret_data(make_driver, transport):
    """A master that quotes the refused TaskInfo in its 400: the warm payload and SECRET values are scrubbed."""
    from airflow_mesos.mesos import calls

    driver, _ = start_subscribed(make_driver, transport)
    token = "eyJhbGciOiJIUzUxMiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl"
    data = base64.b64encode(json.dumps({"token": token}).encode()).decode()
    secret = base64.b64encode(token.encode()).decode()
    task = {"name": "t", "task_id": {"value": "t1"}, "agent_id": {"value": "S1"}, "data": data,
            "executor": {"executor_id": {"value": "E"}, "command": {"value": "python3"}}}
    command_task = {"name": "c", "task_id": {"value": "t2"}, "agent_id": {"value": "S1"},
                    "command": {"value": "x", "environment": {"variables": [
                        {"name": "TOKEN", "type": "SECRET", "secret": {"type": "VALUE", "value": {"data": secret}}}]}}}
    echoed = f"Failed to validate: {data} / {secret} / {token}".encode()
    transport.post_responses.append(Response(400, {}, echoed))
    with pytest.raises(MesosApiError) as info:
        driver.launch(["O1"], [task, command_task])
    assert token not in str(info.value) and data not in str(info.value) and secret not in str(info.value)
    assert "<redacted>" in str(info.value)
    transport.post_responses.append(Response(400, {}, f"bad task: {token}".encode()))
    with pytest.raises(MesosApiError) as info:
        driver.launch(["O1"], [task])  # only the warm task: its token is found inside the payload
    assert token not in str(info.value)
    shown = json.dumps(calls.redacted(transport.posts[-1].body))
    assert token not in shown and data not in shown and secret not in shown
