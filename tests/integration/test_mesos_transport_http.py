"""HttpxTransport and SchedulerDriver over real HTTP, against a stub master in a thread."""

from __future__ import annotations

import base64
import datetime
import json
import socket
import ssl
import threading

import pytest

from airflow_mesos.mesos import SchedulerDriver, events
from airflow_mesos.mesos.errors import MesosConnectionError, RateLimitedError, api_error
from airflow_mesos.mesos.recordio import RecordIODecoder, encode
from airflow_mesos.mesos.transport import MAX_ERROR_BODY, HttpxTransport

from tests.support.driver_fakes import next_event, wait_until
from tests.support.stub_master import StubMaster

pytestmark = pytest.mark.integration

INFO = {"user": "airflow", "name": "airflow-mesos"}


def rec(event: dict) -> bytes:
    return encode(json.dumps(event).encode())


def subscribed_record(framework_id="F-0000", interval=15.0) -> bytes:
    return rec({"type": "SUBSCRIBED", "subscribed": {"framework_id": {"value": framework_id},
                                                    "heartbeat_interval_seconds": interval}})


HEARTBEAT = rec({"type": "HEARTBEAT"})


def test_stream_survives_silence_longer_than_the_request_timeout_and_splits_records():
    def subscribe(w, request):
        w.start(headers={"Mesos-Stream-Id": "sid-1"})
        data = subscribed_record() + HEARTBEAT
        w.chunk(data[:5])
        w.hold(0.6)  # longer than the 0.3 s timeout given to subscribe(): must not break the stream
        w.chunk(data[5:])
        w.finish()

    with StubMaster(subscribe=subscribe) as master:
        transport = HttpxTransport()
        try:
            stream = transport.subscribe(master.url + "/api/v1/scheduler", b'{"type":"SUBSCRIBE"}',
                                         {"Content-Type": "application/json"}, timeout=0.3)
            assert stream.status == 200 and stream.headers["mesos-stream-id"] == "sid-1"
            decoder = RecordIODecoder()
            records = [r for chunk in stream.iter_chunks() for r in decoder.feed(chunk)]
            decoder.close()
            stream.close()
        finally:
            transport.close()
    assert [json.loads(r)["type"] for r in records] == ["SUBSCRIBED", "HEARTBEAT"]


def test_close_from_another_thread_ends_a_blocked_read():
    def subscribe(w, request):
        w.start(headers={"Mesos-Stream-Id": "sid-1"})
        w.chunk(HEARTBEAT)
        w.hold(30)

    with StubMaster(subscribe=subscribe) as master:
        transport = HttpxTransport()
        try:
            stream = transport.subscribe(master.url + "/api/v1/scheduler", b'{"type":"SUBSCRIBE"}', {}, timeout=5)
            received = []

            def read():
                for chunk in stream.iter_chunks():
                    received.append(chunk)

            reader = threading.Thread(target=read)
            reader.start()
            wait_until(lambda: received, "the first chunk")
            stream.close()
            reader.join(timeout=5)
            assert not reader.is_alive()
            assert received == [HEARTBEAT]
        finally:
            transport.close()


def test_post_reads_a_bounded_body():
    with StubMaster(call_status=400, call_body=b"x" * (MAX_ERROR_BODY * 4)) as master:
        transport = HttpxTransport()
        try:
            response = transport.post(master.url + "/api/v1/scheduler", b'{"type":"KILL"}', {}, timeout=5)
        finally:
            transport.close()
    assert response.status == 400 and len(response.body) == MAX_ERROR_BODY


def test_429_headers_reach_the_typed_error_over_real_http():
    # http.server adds its own Date header; Retry-After in seconds needs none.
    with StubMaster(call_status=429, call_body=b"Too Many Requests", call_headers={"Retry-After": "4"}) as master:
        transport = HttpxTransport()
        try:
            response = transport.post(master.url + "/api/v1/scheduler", b'{"type":"KILL"}', {}, timeout=5)
        finally:
            transport.close()
    assert response.headers["retry-after"] == "4" and "date" in response.headers
    error = api_error(response.status, response.body.decode(), "KILL", headers=response.headers)
    assert isinstance(error, RateLimitedError) and error.retry_after == 4.0


def test_connection_refused_is_a_mesos_connection_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = HttpxTransport()
    try:
        with pytest.raises(MesosConnectionError, match="failed"):
            transport.post(f"http://127.0.0.1:{port}/api/v1/scheduler", b"{}", {}, timeout=2)
        with pytest.raises(MesosConnectionError):
            transport.subscribe(f"http://127.0.0.1:{port}/api/v1/scheduler", b"{}", {}, timeout=2)
    finally:
        transport.close()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory = tmp_path_factory.mktemp("tls")
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.fixture
def tls_master(tls_files):
    cert_file, key_file = tls_files
    master = StubMaster()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    master.server.socket = context.wrap_socket(master.server.socket, server_side=True)
    with master:
        yield "https://" + master.hostport


def test_tls_is_verified_by_default(tls_master):
    transport = HttpxTransport()
    try:
        with pytest.raises(MesosConnectionError, match="(?i)certificate"):
            transport.post(tls_master + "/api/v1/scheduler", b"{}", {}, timeout=5)
    finally:
        transport.close()


def test_tls_with_a_ca_file(tls_master, tls_files):
    transport = HttpxTransport(ca_file=tls_files[0])
    try:
        assert transport.post(tls_master + "/api/v1/scheduler", b"{}", {}, timeout=5).status == 202
    finally:
        transport.close()


def test_tls_verification_off_only_on_request(tls_master, tls_files):
    transport = HttpxTransport(verify=False)
    try:
        assert transport.post(tls_master + "/api/v1/scheduler", b"{}", {}, timeout=5).status == 202
    finally:
        transport.close()
    with pytest.raises(ValueError, match="pick one"):
        HttpxTransport(verify=False, ca_file=tls_files[0])


def test_driver_end_to_end_redirect_auth_calls_and_watchdog_reconnect():
    """A non-leader redirects to the leader; the leader's first stream goes silent after
    SUBSCRIBED, so the watchdog must reconnect; the second stream heartbeats."""
    attempts = []

    def leader_subscribe(w, request):
        attempts.append(request)
        w.start(headers={"Mesos-Stream-Id": f"sid-{len(attempts)}"})
        w.chunk(subscribed_record(interval=0.1))
        if len(attempts) == 1:
            w.hold(30)  # silent: no heartbeats at all
            return
        while not w.stop.is_set() and w.chunk(HEARTBEAT):
            w.hold(0.05)

    with StubMaster(subscribe=leader_subscribe) as leader:
        def follower_subscribe(w, request):
            w.start(status=307, headers={"Location": f"//{leader.hostport}/api/v1/scheduler"})
            w.finish()

        with StubMaster(subscribe=follower_subscribe) as follower:
            driver = SchedulerDriver(INFO, follower.url, principal="airflow", secret="s3cret",
                                     heartbeat_misses=2, backoff_initial=0.05, backoff_max=0.1,
                                     request_timeout=5, watchdog_poll_seconds=0.02)
            driver.start()
            try:
                next_event(driver, events.Subscribed)
                assert "no heartbeat" in next_event(driver, events.Disconnected).reason
                next_event(driver, events.Subscribed)
                assert driver.stream_id == "sid-2" and driver.master_url == leader.url
                driver.kill("t1", "S1")
            finally:
                driver.stop()
            auth = "Basic " + base64.b64encode(b"airflow:s3cret").decode()
            (kill,) = leader.calls()
            assert kill.body["type"] == "KILL"
            assert kill.headers["mesos-stream-id"] == "sid-2"
            assert kill.headers["authorization"] == auth
            assert attempts[1].body["framework_id"] == {"value": "F-0000"}
            assert follower.subscribes()[0].headers["authorization"] == auth
            assert "mesos-stream-id" not in attempts[0].headers
