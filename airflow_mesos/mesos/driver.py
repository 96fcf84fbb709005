"""The Mesos v1 scheduler HTTP driver.

One background thread holds the SUBSCRIBE stream: it finds the leading master, subscribes,
decodes the RecordIO event stream into typed events on :attr:`SchedulerDriver.events`,
and re-subscribes with truncated exponential backoff whenever the stream is lost, until
:meth:`SchedulerDriver.stop`.  A second thread is the heartbeat watchdog: it closes a
stream that stayed silent for ``heartbeat_misses`` heartbeat intervals.  Calls
(ACCEPT, KILL, ACKNOWLEDGE ...) are sent from the caller's thread, each on its own
request, with the stream's ``Mesos-Stream-Id``.

Every connection decision is made by :class:`~airflow_mesos.mesos.connection.ConnectionState`;
this module only runs I/O and threads around it.
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from airflow_mesos import __version__
from airflow_mesos.clock import SYSTEM_CLOCK, Clock, SystemClock
from airflow_mesos.mesos import calls, events
from airflow_mesos.mesos.connection import ConnectionPolicy, ConnectionState, Phase
from airflow_mesos.mesos.detector import ZooKeeperDetector, ZooKeeperSpec, parse_master_spec
from airflow_mesos.mesos.errors import (
    MalformedEvent,
    MesosConnectionError,
    MesosError,
    NotSubscribed,
    RecordIOError,
    api_error,
)
from airflow_mesos.mesos.recordio import DEFAULT_MAX_RECORD_SIZE, RecordIODecoder
from airflow_mesos.mesos.transport import HttpxTransport, StreamResponse, Transport

log = logging.getLogger(__name__)

SCHEDULER_PATH = "/api/v1/scheduler"
FRAMEWORK_REMOVED_MESSAGE = "Framework has been removed"
# master.cpp failoverFramework: the old subscription's last event when another one takes the framework id.
FRAMEWORK_FAILED_OVER_MESSAGE = "Framework failed over"


class BasicAuth:
    """HTTP basic credentials; the secret never appears in ``repr``."""

    __slots__ = ("principal", "_secret")

    def __init__(self, principal: str, secret: str) -> None:
        self.principal = principal
        self._secret = secret

    def header(self) -> str:
        token = base64.b64encode(f"{self.principal}:{self._secret}".encode()).decode("ascii")
        return f"Basic {token}"

    def __repr__(self) -> str:
        return f"BasicAuth(principal={self.principal!r}, secret='***')"


class SchedulerDriver:
    """A Mesos framework's connection to the master (v1 scheduler HTTP API).

    :param framework_info: v1 ``FrameworkInfo`` JSON (``user`` and ``name`` required).
    :param master: ``"http://m1:5050"``, a comma list or list of such URLs, or
        ``"zk://h1:2181,h2:2181/mesos"``.
    :param framework_id: subscribe with this known id (scheduler failover).
    :param principal: HTTP basic auth principal (also set as ``framework_info.principal``).
    :param secret: HTTP basic auth secret; never logged nor shown.
    :param verify: verify the masters' TLS certificates (only turn off on purpose).
    :param ca_file: PEM CA bundle for the masters' certificates.
    :param heartbeat_misses: reconnect after this many silent heartbeat intervals.
    :param backoff_initial: first reconnect delay, seconds; doubles up to ``backoff_max``.
    :param backoff_jitter: fraction of each delay randomly taken off (0 = exact doubling).
    :param request_timeout: timeout of calls, of connecting and of waiting for SUBSCRIBED.
    :param transport: HTTP seam (default :class:`HttpxTransport`).
    :param clock: time seam (default the system clock).
    :param suppressed_roles: roles to subscribe as suppressed.
    :param zk_scheme: scheme of the master URLs found through ZooKeeper.
    :param watchdog_poll_seconds: how often the watchdog checks the stream (real seconds).
    :param rng: randomness for the backoff jitter.
    """

    def __init__(
        self,
        framework_info: Mapping[str, Any],
        master: str | Sequence[str],
        *,
        framework_id: str | None = None,
        principal: str | None = None,
        secret: str | None = None,
        verify: bool = True,
        ca_file: str | None = None,
        heartbeat_misses: int = 5,
        backoff_initial: float = 1.0,
        backoff_max: float = 15.0,
        backoff_jitter: float = 0.2,
        request_timeout: float = 75.0,
        transport: Transport | None = None,
        clock: Clock | None = None,
        suppressed_roles: Sequence[str] | None = None,
        zk_scheme: str = "http",
        watchdog_poll_seconds: float = 0.5,
        max_record_size: int = DEFAULT_MAX_RECORD_SIZE,
        rng: random.Random | None = None,
    ) -> None:
        info = dict(framework_info)
        if secret is not None and principal is None:
            raise ValueError("secret given without principal: HTTP basic auth needs both")
        if principal is not None:
            declared = info.get("principal")
            if declared is not None and declared != principal:
                raise ValueError(
                    f"framework_info.principal {declared!r} differs from principal {principal!r}; "
                    "Mesos refuses a framework whose principal is not the authenticated one"
                )
            info["principal"] = principal
        existing_id = (info.get("id") or {}).get("value") if isinstance(info.get("id"), Mapping) else None
        if framework_id is not None and existing_id is not None and existing_id != framework_id:
            raise ValueError(f"framework_info.id {existing_id!r} differs from framework_id {framework_id!r}")
        info.pop("id", None)  # the id is added per subscription from the connection state
        calls.subscribe(info)  # validate required fields now, not in the background thread
        if request_timeout <= 0:
            raise ValueError(f"request_timeout must be > 0, got {request_timeout}")
        if zk_scheme not in ("http", "https"):
            raise ValueError(f"zk_scheme must be http or https, got {zk_scheme!r}")

        self._framework_info = info
        self._suppressed_roles = list(suppressed_roles) if suppressed_roles is not None else None
        self._master_spec = parse_master_spec(master)
        self._auth = BasicAuth(principal, secret) if principal is not None and secret is not None else None
        self._request_timeout = request_timeout
        self._owns_transport = transport is None
        self._transport: Transport = transport or HttpxTransport(verify=verify, ca_file=ca_file)
        self._clock: Clock = clock or SYSTEM_CLOCK
        self._watchdog_poll = watchdog_poll_seconds
        self._max_record_size = max_record_size
        self._zk_scheme = zk_scheme
        policy = ConnectionPolicy(
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            jitter=backoff_jitter,
            heartbeat_misses=heartbeat_misses,
            first_event_timeout=request_timeout,
        )
        masters = None if isinstance(self._master_spec, ZooKeeperSpec) else self._master_spec
        self._state = ConnectionState(masters, policy, framework_id=framework_id or existing_id, rng=rng)

        self.events: queue.Queue[events.Event] = queue.Queue()
        """Typed events in stream order, plus the driver's Disconnected / FrameworkRemoved / FailedOver."""
        self.malformed_events = 0
        """How many records could not be parsed (each is logged and skipped)."""
        self.malformed_offers = 0
        """How many offers of otherwise readable OFFERS events could not be parsed (each is logged and
        delivered in ``Offers.malformed``, for the consumer to decline)."""

        self._lock = threading.RLock()
        self._stop_requested = threading.Event()
        self._tearing_down = threading.Event()
        self._stream: StreamResponse | None = None
        self._close_reason: str | None = None
        self._runner: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._detector: ZooKeeperDetector | None = None
        self._detector_factory: Callable[..., ZooKeeperDetector] = ZooKeeperDetector

    # --- public state ----------------------------------------------------------------------

    @property
    def framework_id(self) -> str | None:
        """Our framework id, once the master assigned it (or the one we were given)."""
        with self._lock:
            return self._state.framework_id

    @property
    def connected(self) -> bool:
        """True while subscribed (SUBSCRIBED received on the live stream)."""
        with self._lock:
            return self._state.phase is Phase.SUBSCRIBED

    @property
    def stream_id(self) -> str | None:
        """The live stream's ``Mesos-Stream-Id`` (not a secret: it only pairs calls with the stream)."""
        with self._lock:
            return self._state.stream_id

    @property
    def master_url(self) -> str | None:
        """Base URL of the master we are subscribed to."""
        with self._lock:
            return self._state.master_url

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the background threads (detector, subscription, watchdog).

        :raises MesosError: if already started, or ZooKeeper cannot be reached.
        """
        with self._lock:
            if self._runner is not None or self._stop_requested.is_set():
                raise MesosError("SchedulerDriver.start() was already called (a driver runs once; make a new one)")
            if isinstance(self._master_spec, ZooKeeperSpec):
                self._detector = self._detector_factory(
                    self._master_spec, scheme=self._zk_scheme, on_change=self._leader_changed
                )
            self._runner = threading.Thread(target=self._run, name="mesos-driver-subscription", daemon=True)
            self._watchdog = threading.Thread(target=self._watch, name="mesos-driver-watchdog", daemon=True)
        if self._detector is not None:
            self._detector.start()
        self._runner.start()
        self._watchdog.start()

    def stop(self, failover: bool = True) -> None:
        """Close the stream and stop the threads.

        With ``failover=True`` (default) the master keeps the framework and its tasks for
        ``failover_timeout`` so a new scheduler can re-subscribe with :attr:`framework_id`.
        With ``failover=False`` a TEARDOWN is sent first (all tasks are killed); if that
        fails, the error is logged and the driver stops anyway.
        """
        if not failover:
            try:
                self._send_teardown()
            except MesosError as exc:
                log.error("TEARDOWN before stopping failed: %s", exc)
        self._stop_requested.set()
        with self._lock:
            self._state.stopped()
            stream = self._stream
            self._close_reason = "driver stopped"
        if stream is not None:
            stream.close()
        current = threading.current_thread()
        for thread in (self._runner, self._watchdog):
            if thread is not None and thread is not current and thread.is_alive():
                thread.join(timeout=self._request_timeout + 5)
        if self._detector is not None:
            self._detector.stop()
        if self._owns_transport:
            self._transport.close()

    def teardown(self) -> None:
        """TEARDOWN the framework (the master kills all its tasks and forgets it), then stop.

        :raises NotSubscribed: if there is no subscription to send it on (nothing is stopped).
        """
        self._send_teardown()
        self.stop(failover=True)

    def _send_teardown(self) -> None:
        # The master closes our stream as soon as it handles TEARDOWN, possibly before stop()
        # sets the stop flag; flag it first so that close is not mistaken for a lost connection.
        self._tearing_down.set()
        try:
            self._send("TEARDOWN", calls.teardown)
        except BaseException:
            self._tearing_down.clear()
            raise

    # --- calls -----------------------------------------------------------------------------

    def launch(self, offer_ids: Sequence[str], task_infos: Sequence[Mapping[str, Any]],
               refuse_seconds: float | None = None) -> None:
        """ACCEPT ``offer_ids`` with one LAUNCH of ``task_infos``; no tasks means DECLINE."""
        if not task_infos:
            self.decline(offer_ids, refuse_seconds)
            return
        self.accept(offer_ids, [calls.launch(task_infos)], refuse_seconds)

    def accept(self, offer_ids: Sequence[str], operations: Sequence[Mapping[str, Any]],
               refuse_seconds: float | None = None) -> None:
        """ACCEPT offers with offer operations."""
        filters = calls.accept_filters(refuse_seconds)
        self._send("ACCEPT", lambda fid: calls.accept(fid, offer_ids, operations, filters))

    def decline(self, offer_ids: Sequence[str], refuse_seconds: float | None = None) -> None:
        """DECLINE offers, refusing them for ``refuse_seconds`` (master default 5 s)."""
        self._send("DECLINE", lambda fid: calls.decline(fid, offer_ids, refuse_seconds))

    def revive(self, roles: Sequence[str] | None = None) -> None:
        """REVIVE offers for ``roles`` (all when ``None``)."""
        self._send("REVIVE", lambda fid: calls.revive(fid, roles))

    def suppress(self, roles: Sequence[str] | None = None) -> None:
        """SUPPRESS offers for ``roles`` (all when ``None``)."""
        self._send("SUPPRESS", lambda fid: calls.suppress(fid, roles))

    def kill(self, task_id: str, agent_id: str | None = None, grace_period_seconds: float | None = None) -> None:
        """KILL a task."""
        self._send("KILL", lambda fid: calls.kill(fid, task_id, agent_id, grace_period_seconds))

    def acknowledge(self, status: events.TaskStatus) -> bool:
        """ACKNOWLEDGE a status update.  Only updates carrying ``uuid`` may be acknowledged:
        for the others nothing is sent and ``False`` is returned."""
        if status.uuid is None:
            return False
        if status.agent_id is None:
            raise ValueError(f"status update of task {status.task_id!r} has a uuid but no agent_id to acknowledge")
        self._send("ACKNOWLEDGE", lambda fid: calls.acknowledge(fid, status.agent_id, status.task_id, status.uuid))
        return True

    def reconcile(self, tasks: Sequence[tuple[str, str | None]] = ()) -> None:
        """RECONCILE ``(task_id, agent_id|None)`` pairs; empty = implicit (every known task)."""
        self._send("RECONCILE", lambda fid: calls.reconcile(fid, list(tasks)))

    def _headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"airflow-mesos/{__version__}",
        }
        if self._auth is not None:
            headers["Authorization"] = self._auth.header()
        return headers

    def _send(self, call_type: str, build: Callable[[str], dict]) -> None:
        with self._lock:
            state = self._state
            if state.phase is not Phase.SUBSCRIBED or state.stream_id is None or state.framework_id is None:
                raise NotSubscribed(f"cannot send {call_type}: the driver is not subscribed ({state.phase.value})")
            url, stream_id, framework_id = state.master_url, state.stream_id, state.framework_id
        call = build(framework_id)
        body = json.dumps(call).encode()
        headers = self._headers()
        headers["Mesos-Stream-Id"] = stream_id
        response = self._transport.post(url + SCHEDULER_PATH, body, headers, self._request_timeout)
        if response.status in (200, 202):
            return
        message = response.body.decode("utf-8", errors="replace").strip()
        if call_type == "ACCEPT":
            # A master that quotes the refused TaskInfo must not put a task's token into our logs.
            message = calls.scrub(message, calls.secret_values(call))
        raise api_error(response.status, message, call_type, headers=response.headers)

    # --- background threads ----------------------------------------------------------------

    def _wait(self, seconds: float) -> None:
        """Back off for ``seconds``; returns early on stop with the real clock."""
        if isinstance(self._clock, SystemClock):
            self._stop_requested.wait(seconds)
        else:
            # An injected (fake) clock decides what sleeping means; stop is checked right after.
            self._clock.sleep(seconds)

    def _run(self) -> None:
        try:
            while not self._stop_requested.is_set():
                with self._lock:
                    if self._state.terminal:
                        break
                if self._tearing_down.is_set():
                    self._stop_requested.wait(0.05)  # stop() follows a sent TEARDOWN; do not re-subscribe
                    continue
                self._subscribe_once()
        except Exception:  # a bug must not die silently in a daemon thread
            log.exception("the Mesos driver's subscription thread crashed")
            self.events.put(events.Disconnected("driver thread crashed; see the log"))

    def _fail_attempt(self, reason: str, *, rotate: bool = True, notify: bool = False) -> None:
        with self._lock:
            delay = self._state.connection_lost(rotate=rotate)
        log.warning("Mesos subscription: %s; retrying in %.1f s", reason, delay)
        if notify:
            self.events.put(events.Disconnected(reason))
        if not self._stop_requested.is_set():
            self._wait(delay)

    def _subscribe_once(self) -> None:
        with self._lock:
            leader = self._detector.leader_url if self._detector is not None else None
            target = self._state.next_target(leader)
            framework_id = self._state.framework_id
        if target is None:
            self._fail_attempt("no leading master is known in ZooKeeper yet", rotate=False)
            return
        body = json.dumps(calls.subscribe(self._framework_info, framework_id, self._suppressed_roles)).encode()
        try:
            stream = self._transport.subscribe(target + SCHEDULER_PATH, body, self._headers(), self._request_timeout)
        except MesosConnectionError as exc:
            self._fail_attempt(str(exc))
            return
        with self._lock:
            if self._stop_requested.is_set():
                stream.close()
                return
            self._stream = stream
            self._close_reason = None
        try:
            self._handle_stream(target, stream)
        finally:
            stream.close()
            with self._lock:
                self._stream = None

    def _handle_stream(self, target: str, stream: StreamResponse) -> None:
        if stream.status == 307:
            location = stream.headers.get("location")
            with self._lock:
                next_target = self._state.redirected(target, location)
            if next_target is not None:
                log.info("master %s is not the leader; following the redirect to %s", target, next_target)
                return
            self._fail_attempt(f"unusable or looping redirect from {target} (Location: {location!r})")
            return
        if stream.status != 200:
            message = stream.read_error_body().decode("utf-8", errors="replace").strip()
            error = api_error(stream.status, message, "SUBSCRIBE", headers=stream.headers)
            self.events.put(events.SubscribeRefused(error.status, error.message))
            self._fail_attempt(f"master {target} refused SUBSCRIBE: {error}")
            return
        stream_id = stream.headers.get("mesos-stream-id")
        if not stream_id:
            self._fail_attempt(f"master {target} answered SUBSCRIBE without a Mesos-Stream-Id header")
            return
        with self._lock:
            self._state.stream_opened(target, stream_id, self._clock.monotonic())
        reason = self._read_events(stream)
        with self._lock:
            removed = self._state.phase is Phase.REMOVED
            failed_over = self._state.phase is Phase.FAILED_OVER
            was_subscribed = self._state.phase is Phase.SUBSCRIBED
            stopping = self._stop_requested.is_set() or self._tearing_down.is_set() or self._state.terminal
        if removed:
            self.events.put(events.FrameworkRemoved(reason))
            return
        if failed_over:
            self.events.put(events.FailedOver(reason))
            return
        if stopping:
            return
        self._fail_attempt(reason, notify=was_subscribed)

    def _read_events(self, stream: StreamResponse) -> str:
        """Pump the stream into :attr:`events`; return why it ended."""
        decoder = RecordIODecoder(self._max_record_size)
        try:
            for chunk in stream.iter_chunks():
                with self._lock:
                    self._state.activity(self._clock.monotonic())
                for record in decoder.feed(chunk):
                    ended = self._handle_record(record)
                    if ended is not None:
                        return ended
                if self._stop_requested.is_set():
                    return "driver stopped"
            decoder.close()
        except RecordIOError as exc:
            return f"broken event stream framing: {exc}"
        except MesosConnectionError as exc:
            return with_reason(self._close_reason, str(exc))
        return with_reason(self._close_reason, "the master closed the event stream")

    def _handle_record(self, record: bytes) -> str | None:
        """Deliver one record; return a reason when the stream must end after it."""
        if not record:
            return None  # a zero-length record carries nothing; the bytes already counted as activity
        try:
            event = events.parse_event(record)
        except MalformedEvent as exc:
            # One bad event must not take the subscription down: skip it and keep reading.
            self.malformed_events += 1
            log.error("skipping a malformed Mesos event: %s", exc)
            return None
        if isinstance(event, events.Offers) and event.malformed:
            self.malformed_offers += len(event.malformed)
            for bad in event.malformed:
                log.warning("Mesos sent an offer that cannot be parsed (offer id %s): %s", bad.offer_id or "unknown",
                          bad.problem)
        ended = None
        with self._lock:
            if isinstance(event, events.Subscribed):
                self._state.subscribed(event.framework_id, event.heartbeat_interval_seconds, self._clock.monotonic())
                log.info("subscribed to Mesos master %s as framework %s", self._state.master_url, event.framework_id)
            elif isinstance(event, events.Error):
                if event.message.startswith(FRAMEWORK_REMOVED_MESSAGE):
                    self._state.framework_removed()
                elif event.message.startswith(FRAMEWORK_FAILED_OVER_MESSAGE):
                    self._state.failed_over()
                ended = f"master sent ERROR: {event.message}"
        self.events.put(event)
        if ended is not None:
            log.error("Mesos master ended the subscription: %s", event.message)
        return ended

    def _watch(self) -> None:
        """Close a stream that stayed silent too long; the subscription thread then reconnects."""
        while not self._stop_requested.wait(self._watchdog_poll):
            with self._lock:
                if self._state.terminal:
                    return  # removed or stopped: there will be no stream to watch
                stream = self._stream
                if stream is None or not self._state.watchdog_expired(self._clock.monotonic()):
                    continue
                limit = self._state.silence_limit()
                self._close_reason = f"no heartbeat or other data for {limit:g} s"
                # Reset the deadline so a slow close is not closed again on every poll.
                self._state.activity(self._clock.monotonic())
            log.warning("Mesos event stream silent for %g s; reconnecting", limit)
            stream.close()

    def _leader_changed(self, leader: str | None) -> None:
        """ZooKeeper named a new leader: drop a stream to the old one (it is no longer leading)."""
        with self._lock:
            stream = self._stream
            current = self._state.master_url
            if stream is None or current is None or current == leader:
                return
            self._close_reason = f"leading master changed from {current} to {leader}"
        stream.close()

    def __repr__(self) -> str:
        with self._lock:
            return (
                f"SchedulerDriver(name={self._framework_info.get('name')!r}, master={self._master_spec!r}, "
                f"framework_id={self._state.framework_id!r}, phase={self._state.phase.value}, auth={self._auth!r})"
            )


def with_reason(override: str | None, default: str) -> str:
    """The reason we closed the stream ourselves, if we did, else what happened."""
    return override or default
