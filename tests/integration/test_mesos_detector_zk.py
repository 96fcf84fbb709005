"""Leader detection through a real ZooKeeper: masters are ephemeral sequential
``json.info_`` nodes; the lowest sequence leads; losing it moves to the next."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from kazoo.client import KazooClient

from airflow_mesos.mesos import SchedulerDriver, events
from airflow_mesos.mesos.detector import ZooKeeperDetector, parse_master_spec

pytestmark = pytest.mark.integration

WAIT = 10.0


def master_info(host: str, port: int) -> bytes:
    return json.dumps({"id": f"{host}-{port}", "ip": 16777343, "port": port, "pid": f"master@{host}:{port}",
                       "hostname": host, "version": "1.11.0",
                       "address": {"hostname": host, "ip": "127.0.0.1", "port": port}}).encode()


@pytest.fixture
def zk(zk_hosts):
    client = KazooClient(hosts=zk_hosts)
    client.start(timeout=10)
    root = f"/mesos-test-{uuid.uuid4().hex}"
    yield client, root
    if client.exists(root):
        client.delete(root, recursive=True)
    client.stop()
    client.close()


def register(client, root, host, port) -> str:
    return client.create(f"{root}/json.info_", master_info(host, port), ephemeral=True, sequence=True,
                         makepath=True)


@pytest.fixture
def detector_for(zk_hosts):
    detectors = []

    def make(root, **kwargs):
        changes = []
        detector = ZooKeeperDetector(parse_master_spec(f"zk://{zk_hosts}{root}"), on_change=changes.append,
                                     **kwargs)
        detector.start()
        detectors.append(detector)
        return detector, changes

    yield make
    for detector in detectors:
        detector.stop()


def test_lowest_sequence_leads_and_deleting_it_moves_to_the_next(zk, detector_for):
    client, root = zk
    first = register(client, root, "m1", 5050)
    second = register(client, root, "m2", 5051)
    register(client, root, "m3", 5052)
    client.create(f"{root}/log_replicas", b"", makepath=True)
    detector, changes = detector_for(root)
    assert detector.leader_url == "http://m1:5050"
    client.delete(first)
    assert detector.wait_for_leader(lambda url: url == "http://m2:5051", WAIT) == "http://m2:5051"
    client.delete(second)
    assert detector.wait_for_leader(lambda url: url == "http://m3:5052", WAIT) == "http://m3:5052"
    # on_change runs on the watcher thread after the waiters are woken, so it may come a moment after the wait.
    deadline = time.monotonic() + WAIT
    while len(changes) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert changes == ["http://m1:5050", "http://m2:5051", "http://m3:5052"]


def test_group_that_does_not_exist_yet_is_watched_until_a_master_appears(zk, detector_for):
    client, root = zk
    detector, changes = detector_for(root, scheme="https")
    assert detector.leader_url is None
    register(client, root, "m9", 6060)
    assert detector.wait_for_leader(lambda url: url is not None, WAIT) == "https://m9:6060"


def test_all_masters_gone_means_no_leader(zk, detector_for):
    client, root = zk
    only = register(client, root, "m1", 5050)
    detector, _ = detector_for(root)
    assert detector.leader_url == "http://m1:5050"
    client.delete(only)
    assert detector.wait_for_leader(lambda url: url is None, WAIT) is None


def test_driver_follows_the_leader_zookeeper_names(zk, zk_hosts):
    """The driver subscribes to the master ZooKeeper names over real HTTP, and moves to the
    next master when the leader's node disappears."""
    from airflow_mesos.mesos.recordio import encode
    from tests.support.stub_master import StubMaster

    client, root = zk

    def subscriber(stream_id):
        def subscribe(w, request):
            w.start(headers={"Mesos-Stream-Id": stream_id})
            w.chunk(encode(json.dumps({"type": "SUBSCRIBED", "subscribed": {
                "framework_id": {"value": "F-zk"}, "heartbeat_interval_seconds": 15.0}}).encode()))
            w.hold(30)
        return subscribe

    with StubMaster(subscribe=subscriber("sid-1")) as first, StubMaster(subscribe=subscriber("sid-2")) as second:
        first_node = register(client, root, *first.server.server_address[:2])
        register(client, root, *second.server.server_address[:2])
        driver = SchedulerDriver({"user": "airflow", "name": "zk-test"}, f"zk://{zk_hosts}{root}",
                                 backoff_initial=0.05, backoff_max=0.2, request_timeout=5)
        driver.start()
        try:
            event = driver.events.get(timeout=WAIT)
            assert isinstance(event, events.Subscribed) and event.framework_id == "F-zk"
            assert driver.master_url == first.url
            client.delete(first_node)
            event = driver.events.get(timeout=WAIT)
            assert isinstance(event, events.Disconnected) and "leading master changed" in event.reason
            event = driver.events.get(timeout=WAIT)
            assert isinstance(event, events.Subscribed)
            assert (driver.master_url, driver.stream_id) == (second.url, "sid-2")
            assert second.subscribes()[0].body["framework_id"] == {"value": "F-zk"}
        finally:
            driver.stop()
