import base64
import json

import pytest

from airflow_mesos.mesos import events
from airflow_mesos.mesos.errors import MalformedEvent

UUID = bytes(range(16))
B64_UUID = base64.b64encode(UUID).decode()


def record(event: dict) -> bytes:
    return json.dumps(event).encode()


OFFER = {
    "id": {"value": "M-O1"}, "framework_id": {"value": "F"}, "agent_id": {"value": "M-S1"},
    "hostname": "agent1", "allocation_info": {"role": "airflow"},
    "resources": [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}, "role": "*"},
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.2}, "role": "airflow"},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 1024.0}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": 512.0},
         "reservations": [{"type": "STATIC", "role": "a"}, {"type": "DYNAMIC", "role": "a/b"}]},
        {"name": "disk", "type": "SCALAR", "scalar": {"value": 50000.0}},
        {"name": "gpus", "type": "SCALAR", "scalar": {"value": 2}},
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31005, "end": 32000},
                                                                  {"begin": 31000, "end": 31004}]}},
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 40000, "end": 40000}]}},
        {"name": "zones", "type": "SET", "set": {"item": ["a", "b"]}},
    ],
    "attributes": [
        {"name": "rack", "type": "TEXT", "text": {"value": "r1"}},
        {"name": "level", "type": "SCALAR", "scalar": {"value": 3}},
        {"name": "ids", "type": "RANGES", "ranges": {"range": [{"begin": 1, "end": 2}]}},
        {"name": "tags", "type": "SET", "set": {"item": ["x"]}},
    ],
}


def test_subscribed():
    event = events.parse_event(record({"type": "SUBSCRIBED", "subscribed": {
        "framework_id": {"value": "F-0000"}, "heartbeat_interval_seconds": 15.0,
        "master_info": {"id": "m", "port": 5050}}}))
    assert event == events.Subscribed("F-0000", 15.0, {"id": "m", "port": 5050}, raw={})
    assert event.raw["type"] == "SUBSCRIBED"


def test_offers_are_nested_under_offers_offers_and_typed():
    event = events.parse_event(record({"type": "OFFERS", "offers": {"offers": [OFFER]}}))
    assert isinstance(event, events.Offers)
    (offer,) = event.offers
    assert (offer.id, offer.agent_id, offer.hostname) == ("M-O1", "M-S1", "agent1")
    assert offer.cpus == 0.3  # fixed point: not 0.30000000000000004
    assert offer.mem == 1536.0 and offer.disk == 50000.0 and offer.gpus == 2.0
    assert offer.scalars_by_role == {("cpus", "*"): 0.1, ("cpus", "airflow"): 0.2, ("mem", "*"): 1024.0,
                                     ("mem", "a/b"): 512.0, ("disk", "*"): 50000.0, ("gpus", "*"): 2.0}
    assert offer.ports == ((31000, 32000), (40000, 40000))
    assert offer.sets == {"zones": frozenset({"a", "b"})}
    assert offer.attributes == {"rack": "r1", "level": 3.0, "ids": ((1, 2),), "tags": frozenset({"x"})}
    assert offer.role == "airflow"
    assert offer.raw is OFFER or offer.raw == OFFER


def test_offer_without_resources_is_empty_not_an_error():
    offer = events.parse_offer({"id": {"value": "O"}, "agent_id": {"value": "S"}, "hostname": "h"})
    assert offer.cpus == 0.0 and offer.ports == () and offer.allocation_info is None


def test_rescind():
    assert events.parse_event(record({"type": "RESCIND", "rescind": {"offer_id": {"value": "O1"}}})).offer_id == "O1"


def test_update_full_task_status():
    status = {"task_id": {"value": "t1"}, "state": "TASK_RUNNING", "reason": "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED",
              "message": "ok", "source": "SOURCE_EXECUTOR", "agent_id": {"value": "S1"},
              "executor_id": {"value": "t1"}, "uuid": B64_UUID, "timestamp": 1700000000.5, "healthy": True,
              "data": base64.b64encode(b"hello").decode(),
              "container_status": {"network_infos": [{"ip_addresses": [{"ip_address": "172.17.0.2"}]}]}}
    event = events.parse_event(record({"type": "UPDATE", "update": {"status": status}}))
    assert event.status == events.TaskStatus(
        task_id="t1", state="TASK_RUNNING", reason="REASON_TASK_HEALTH_CHECK_STATUS_UPDATED", message="ok",
        source="SOURCE_EXECUTOR", agent_id="S1", executor_id="t1", uuid=UUID, timestamp=1700000000.5,
        healthy=True, data=b"hello", container_status=status["container_status"])
    assert event.status.raw == status
    assert not event.status.is_terminal


def test_update_from_master_has_no_uuid():
    event = events.parse_event(record({"type": "UPDATE", "update": {"status": {
        "task_id": {"value": "t1"}, "state": "TASK_LOST", "source": "SOURCE_MASTER",
        "reason": "REASON_RECONCILIATION"}}}))
    assert event.status.uuid is None and event.status.agent_id is None
    assert event.status.is_terminal


def test_message_data_is_decoded():
    event = events.parse_event(record({"type": "MESSAGE", "message": {
        "agent_id": {"value": "S1"}, "executor_id": {"value": "E1"}, "data": base64.b64encode(b"\x00hi").decode()}}))
    assert (event.agent_id, event.executor_id, event.data) == ("S1", "E1", b"\x00hi")


def test_failure_agent_lost_and_executor_terminated():
    lost = events.parse_event(record({"type": "FAILURE", "failure": {"agent_id": {"value": "S1"}}}))
    assert lost.agent_lost and not lost.executor_terminated and lost.status is None
    exited = events.parse_event(record({"type": "FAILURE", "failure": {
        "agent_id": {"value": "S1"}, "executor_id": {"value": "E1"}, "status": 1}}))
    assert exited.executor_terminated and not exited.agent_lost and exited.status == 1


def test_error_message_is_under_error():
    event = events.parse_event(record({"type": "ERROR", "error": {"message": "Framework failed over"}}))
    assert event == events.Error("Framework failed over", raw={})


def test_heartbeat():
    assert isinstance(events.parse_event(b'{"type":"HEARTBEAT"}'), events.Heartbeat)


@pytest.mark.parametrize("kind", ["INVERSE_OFFERS", "UPDATE_OPERATION_STATUS", "SOMETHING_FROM_MESOS_2"])
def test_unknown_types_are_forwarded_not_fatal(kind):
    event = events.parse_event(record({"type": kind, "whatever": {}}))
    assert event == events.Unknown(kind, raw={})
    assert event.raw["whatever"] == {}


def test_one_malformed_offer_does_not_drop_the_good_ones_of_the_same_event():
    second = {**OFFER, "id": {"value": "M-O2"}, "agent_id": {"value": "M-S2"}, "hostname": "agent2"}
    no_hostname = {key: value for key, value in OFFER.items() if key != "hostname"} | {"id": {"value": "M-O3"}}
    event = events.parse_event(record({"type": "OFFERS", "offers": {"offers": [
        OFFER, no_hostname, second, {"id": "not-an-OfferID", "agent_id": {"value": "M-S4"}}, "junk"]}}))
    assert [(o.id, o.hostname) for o in event.offers] == [("M-O1", "agent1"), ("M-O2", "agent2")]
    assert [(m.offer_id, m.agent_id) for m in event.malformed] == [("M-O3", "M-S1"), (None, "M-S4"), (None, None)]
    problems = [m.problem for m in event.malformed]
    assert problems[0] == "malformed OFFERS event at 'offers.offers[1].hostname': required field is missing"
    assert "'offers.offers[3].id'" in problems[1] and "'offers.offers[4]'" in problems[2]
    assert event.malformed[0].raw is event.raw["offers"]["offers"][1]
    assert "raw" not in repr(event.malformed[0])


@pytest.mark.parametrize(
    "offer, path",
    [
        ({"id": {"value": "O"}, "agent_id": {"value": "S"},
          "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": "lots"}}]},
         "offers.offers[0].hostname"),
        ({"id": {"value": "O"}, "agent_id": {"value": "S"}, "hostname": "h",
          "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": "lots"}}]},
         "offers.offers[0].resources[0].scalar.value"),
        ({"id": {"value": "O"}, "agent_id": {"value": "S"}, "hostname": "h",
          "resources": [{"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 9, "end": 1}]}}]},
         "offers.offers[0].resources[0].ranges.range[0]"),
    ],
)
def test_a_malformed_offer_names_its_field_path_and_keeps_its_ids(offer, path):
    event = events.parse_event(record({"type": "OFFERS", "offers": {"offers": [offer]}}))
    assert event.offers == ()
    (bad,) = event.malformed
    assert (bad.offer_id, bad.agent_id) == ("O", "S")
    assert bad.problem.startswith(f"malformed OFFERS event at {path!r}: ")


def test_offers_without_malformed_ones_and_the_old_constructor():
    event = events.parse_event(record({"type": "OFFERS", "offers": {"offers": [OFFER]}}))
    assert event.malformed == ()
    assert events.parse_event(record({"type": "OFFERS", "offers": {}})) == events.Offers(offers=(), raw={})
    assert events.Offers(offers=()).malformed == ()


@pytest.mark.parametrize(
    "data, event_type, path",
    [
        # not JSON at all
        (b"{not json", "?", ""),
        # JSON, but not an object
        (b"[1,2]", "?", ""),
        (b'{"subscribed":{}}', "?", "type"),
        (b'{"type":5}', "?", "type"),
        (b'{"type":"SUBSCRIBED"}', "SUBSCRIBED", "subscribed"),
        (b'{"type":"SUBSCRIBED","subscribed":{"framework_id":{}}}', "SUBSCRIBED", "subscribed.framework_id.value"),
        (b'{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"F"},"heartbeat_interval_seconds":"15"}}',
         "SUBSCRIBED", "subscribed.heartbeat_interval_seconds"),
        # the docs' wrong shape: offers directly as a list
        (b'{"type":"OFFERS","offers":[]}', "OFFERS", "offers"),
        (b'{"type":"OFFERS","offers":{"offers":{"id":{"value":"O"}}}}', "OFFERS", "offers.offers"),
        (b'{"type":"RESCIND","rescind":{"offer_id":"O1"}}', "RESCIND", "rescind.offer_id"),
        (b'{"type":"UPDATE","update":{"status":{"task_id":{"value":"t"}}}}', "UPDATE", "update.status.state"),
        (b'{"type":"UPDATE","update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","uuid":"%%%"}}}',
         "UPDATE", "update.status.uuid"),
        (b'{"type":"UPDATE","update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING","healthy":"yes"}}}',
         "UPDATE", "update.status.healthy"),
        (b'{"type":"MESSAGE","message":{"agent_id":{"value":"S"},"executor_id":{"value":"E"}}}',
         "MESSAGE", "message.data"),
        (b'{"type":"FAILURE","failure":{"status":true}}', "FAILURE", "failure.status"),
        # the docs' wrong shape: message at top level
        (b'{"type":"ERROR","message":"boom"}', "ERROR", "error"),
    ],
)
def test_malformed_events_name_the_event_type_and_field_path(data, event_type, path):
    with pytest.raises(MalformedEvent) as caught:
        events.parse_event(data)
    assert (caught.value.event_type, caught.value.path) == (event_type, path)
    assert event_type in str(caught.value)


def test_malformed_event_is_picklable():
    import pickle

    error = MalformedEvent("UPDATE", "update.status", "required field is missing")
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN"])
def test_non_finite_numbers_are_malformed_not_a_crash(literal):
    record = ('{"type":"OFFERS","offers":{"offers":[{"id":{"value":"o"},"framework_id":{"value":"f"},'
              '"agent_id":{"value":"a"},"hostname":"h","resources":[{"name":"ports","type":"RANGES",'
              '"ranges":{"range":[{"begin":1,"end":%s}]}}]}]}}' % literal)
    (bad,) = events.parse_event(record).malformed
    assert "finite" in bad.problem and "ranges.range[0].end" in bad.problem and bad.offer_id == "o"
