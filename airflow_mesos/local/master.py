"""The embedded Mesos master: the v1 scheduler HTTP API and the read-only endpoints.

One :class:`Master` serves ``/api/v1/scheduler`` over real HTTP/1.1 (chunked
RecordIO streams for SUBSCRIBE), allocates agents' resources as offers, relays
launches, kills and acknowledgements to in-process agents, and reports state
like ``/master/state``.  It follows Mesos' source (``src/master/http.cpp``,
``master.cpp``, ``validation.cpp``) for status codes, messages and ordering of
checks; see docs/local-cluster.md for the deliberate differences.

Concurrency: one re-entrant lock guards all master state.  HTTP handler threads
and the ticker take it briefly; events for a framework go to its subscription's
queue, which the SUBSCRIBE handler thread drains onto the socket, so no socket
I/O ever happens under the lock.  Agents are called under the lock (their
methods return at once) and call back only from their own threads.
"""

from __future__ import annotations

import base64
import copy
import http.client
import logging
import queue
import select
import socket
import struct
import threading
import uuid as uuidlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit

from airflow_mesos.clock import SYSTEM_CLOCK, Clock
from airflow_mesos.exceptions import AirflowMesosError
from airflow_mesos.local import operator_api, state_json
from airflow_mesos.local.allocator import (
    AgentSlot,
    FrameworkSlot,
    RefuseFilter,
    Resources,
    allocate,
    refuse_seconds,
)
from airflow_mesos.local.http_util import (
    APPLICATION_JSON,
    HttpReply,
    accepts,
    decode_call,
    dumps,
    not_acceptable,
    query_params,
    recordio,
)
from airflow_mesos.local.validation import (
    capabilities,
    decode_uuid,
    framework_roles,
    validate_call,
    validate_framework_info,
    validate_task,
)

log = logging.getLogger(__name__)

MESOS_VERSION = "1.11.0"
TERMINAL_STATES = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE",
     "TASK_GONE_BY_OPERATOR"}
)
MAX_COMPLETED_TASKS = 1000
"""Per framework, like the master's ``--max_completed_tasks_per_framework`` default."""

_CLOSE = object()   # end the stream with the terminating chunk
_ABORT = object()   # drop the TCP connection, as a network failure would


class MasterError(AirflowMesosError):
    """The embedded master was used wrongly (e.g. an unknown agent id)."""


class AgentHandle(Protocol):
    """What the master needs of an agent (implemented by ``airflow_mesos.local.agent.Agent``)."""

    id: str
    spec: Any
    port: int
    pid: str
    url: str

    def launch(self, framework_info: dict, task_info: dict) -> None: ...
    def kill(self, framework_id: str, task_id: str, kill_policy: dict | None = None) -> None: ...
    def acknowledge(self, framework_id: str, task_id: str, uuid: bytes) -> None: ...
    def shutdown_framework(self, framework_id: str) -> None: ...
    def live_tasks(self) -> list[dict]: ...


# ------------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Subscription:
    """One SUBSCRIBE connection: its stream id and the queue of encoded events for it."""

    framework_id: str | None
    stream_id: str
    events: "queue.Queue[object]" = field(default_factory=queue.Queue)
    next_heartbeat: float = 0.0
    closed: bool = False

    def send(self, event: dict) -> None:
        if not self.closed:
            self.events.put(recordio(event))

    def close(self, abort: bool = False) -> None:
        if not self.closed:
            self.closed = True
            self.events.put(_ABORT if abort else _CLOSE)


@dataclass
class TaskRecord:
    framework_id: str
    agent_id: str
    task_id: str
    name: str
    executor_id: str
    role: str
    resources: Resources
    state: str = "TASK_STAGING"
    statuses: list[dict] = field(default_factory=list)
    latest: dict | None = None
    holds_resources: bool = True
    labels: dict | None = None
    discovery: dict | None = None
    container: dict | None = None
    user: str | None = None
    unreachable_time: dict | None = None


@dataclass
class OfferRecord:
    id: str
    framework_id: str
    agent_id: str
    role: str
    resources: Resources
    created: float
    json: dict


@dataclass
class FrameworkRecord:
    id: str
    info: dict
    roles: list[str]
    suppressed: set[str]
    registered_time: float
    subscription: Subscription | None = None
    connected: bool = True
    active: bool = True
    reregistered_time: float | None = None
    unregistered_time: float | None = None
    failover_deadline: float | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    unreachable_tasks: dict[str, TaskRecord] = field(default_factory=dict)
    completed_tasks: list[TaskRecord] = field(default_factory=list)
    filters: list[RefuseFilter] = field(default_factory=list)

    @property
    def capabilities(self) -> set[str]:
        return capabilities(self.info)

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    def complete(self, task: TaskRecord) -> None:
        self.tasks.pop(task.task_id, None)
        self.unreachable_tasks.pop(task.task_id, None)
        self.completed_tasks.append(task)
        del self.completed_tasks[:-MAX_COMPLETED_TASKS]


@dataclass
class AgentRecord:
    agent: AgentHandle
    total: Resources
    registered_time: float
    last_pong: float
    reachable: bool = True
    reregistered_time: float | None = None
    unreachable_time: float | None = None

    @property
    def id(self) -> str:
        return self.agent.id


def _now_ns(seconds: float) -> dict:
    return {"nanoseconds": int(seconds * 1e9)}


def master_status(framework_id: str, task_id: str, state: str, message: str, reason: str, *,
                  agent_id: str | None = None, executor_id: str | None = None, timestamp: float,
                  unreachable_time: dict | None = None, healthy: bool | None = None,
                  container_status: dict | None = None) -> dict:
    """A master-generated TaskStatus (``protobuf::createStatusUpdate`` with no uuid)."""
    status: dict[str, Any] = {"task_id": {"value": task_id}, "state": state, "message": message,
                              "source": "SOURCE_MASTER", "reason": reason, "timestamp": timestamp}
    if agent_id:
        status["agent_id"] = {"value": agent_id}
    if executor_id:
        status["executor_id"] = {"value": executor_id}
    if healthy is not None:
        status["healthy"] = healthy
    if container_status is not None:
        status["container_status"] = container_status
    if unreachable_time is not None:
        status["unreachable_time"] = unreachable_time
    return status


# ------------------------------------------------------------------------------------------------
# Master
# ------------------------------------------------------------------------------------------------


class Master:
    """An embedded Mesos master (leading, or a standby that redirects to ``leader``).

    :param host: interface to bind and advertise.
    :param port: TCP port; 0 picks an ephemeral one.
    :param heartbeat_interval: seconds between HEARTBEAT events (Mesos: 15).
    :param allocation_interval: seconds between allocation rounds (Mesos: 1).  ``None`` runs rounds only when
        :meth:`allocate_now` is called (not on a timer, not on a SUBSCRIBE, REVIVE or new agent), so a test or
        an operator decides exactly when offers go out; Mesos itself has no such mode.
    :param agent_ping_timeout: seconds an agent may fail its /health pings before it is marked unreachable
        (Mesos: agent_ping_timeout x max_agent_ping_timeouts = 75).
    :param offer_timeout: rescind offers older than this many seconds (Mesos: unset).
    :param credentials: principal -> secret; when given, the scheduler API requires HTTP basic auth.
    :param zk: ``zk://host:port[,host:port]/path``: join that group as a ``json.info_`` member.
    :param standby: run as a non-leading master that answers with redirects.
    :param leader: ``host:port`` of the leader a standby redirects to; None means none is known (503).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, heartbeat_interval: float = 15.0,
                 allocation_interval: float | None = 1.0, agent_ping_timeout: float = 75.0,
                 offer_timeout: float | None = None, credentials: dict[str, str] | None = None,
                 zk: str | None = None, standby: bool = False, leader: str | None = None,
                 clock: Clock = SYSTEM_CLOCK, hostname: str | None = None) -> None:
        self.host = host
        self.hostname = hostname or host
        self._requested_port = port
        self.heartbeat_interval = float(heartbeat_interval)
        if allocation_interval is not None and not float(allocation_interval) > 0:
            raise ValueError(f"allocation_interval must be a positive number of seconds or None (rounds on demand), "
                             f"got {allocation_interval!r}")
        self.allocation_interval = None if allocation_interval is None else float(allocation_interval)
        self.agent_ping_timeout = float(agent_ping_timeout)
        self.offer_timeout = offer_timeout
        self._credentials = dict(credentials or {})
        self._zk_url = zk
        self.standby = standby
        self.leader = leader
        self.clock = clock
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None
        self._zk_client: Any = None
        self._zk_node: str | None = None
        self.port = 0
        self._reset_identity()
        self.agents: dict[str, AgentRecord] = {}
        self.frameworks: dict[str, FrameworkRecord] = {}
        self.completed_frameworks: list[FrameworkRecord] = []
        self.removed_framework_ids: set[str] = set()
        self.offers: dict[str, OfferRecord] = {}
        self._agent_counter = 0
        self._next_allocation = 0.0
        self._subscriptions: set[Subscription] = set()

    def _reset_identity(self) -> None:
        self.id = str(uuidlib.uuid4())
        self.start_time = self.clock.time()
        self._framework_counter = 0
        self._offer_counter = 0

    def __repr__(self) -> str:
        return f"Master(id={self.id!r}, url={getattr(self, 'url', None)!r}, standby={self.standby})"

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> str:
        return f"master@{self.host}:{self.port}"

    def start(self) -> None:
        """Bind the HTTP server and start the ticker, the agent pinger and the ZooKeeper membership."""
        self._server = ThreadingHTTPServer((self.host, self._requested_port), _make_handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._spawn("http", self._server.serve_forever)
        if not self.standby:
            self._spawn("ticker", self._tick_loop)
            self._spawn("pinger", self._ping_loop)
        if self._zk_url:
            self._zk_register()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"mesos-master-{name}-{self.port}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Close every stream, stop the threads and the server, leave ZooKeeper.  Agents are not touched."""
        self._stop.set()
        with self._lock:
            for sub in list(self._subscriptions):
                sub.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._zk_unregister()

    def master_info(self) -> dict:
        """MasterInfo JSON (ip is the IPv4 address as a uint32 in network byte order, as Mesos stores it)."""
        ip_text = socket.gethostbyname(self.host)
        ip = struct.unpack("<I", socket.inet_aton(ip_text))[0]
        return {"id": self.id, "ip": ip, "port": self.port, "pid": self.pid, "hostname": self.hostname,
                "version": MESOS_VERSION, "address": {"hostname": self.hostname, "ip": ip_text, "port": self.port}}

    # -- ZooKeeper --------------------------------------------------------------------------------
    def _zk_register(self) -> None:
        from kazoo.client import KazooClient

        parts = urlsplit(self._zk_url)
        if parts.scheme != "zk" or not parts.netloc or not parts.path or parts.path == "/":
            raise MasterError(f"zk must look like zk://host:port/path, got {self._zk_url!r}")
        if self._zk_client is None:
            self._zk_client = KazooClient(hosts=parts.netloc, timeout=10.0)
            self._zk_client.start(timeout=10.0)
        self._zk_node = self._zk_client.create(
            parts.path.rstrip("/") + "/json.info_", dumps(self.master_info()).encode(),
            ephemeral=True, sequence=True, makepath=True)

    def _zk_unregister(self) -> None:
        if self._zk_client is None:
            return
        try:
            if self._zk_node:
                self._zk_client.delete(self._zk_node)
        except Exception:  # the node may already be gone with the session
            log.debug("zk node %s already gone", self._zk_node)
        self._zk_node = None
        self._zk_client.stop()
        self._zk_client.close()
        self._zk_client = None

    @property
    def zk_node(self) -> str | None:
        """Path of this master's ZooKeeper member node, if registered."""
        return self._zk_node

    # -- agents -------------------------------------------------------------------------------------
    def new_agent_id(self) -> str:
        with self._lock:
            agent_id = f"{self.id}-S{self._agent_counter}"
            self._agent_counter += 1
            return agent_id

    def add_agent(self, agent: AgentHandle) -> None:
        """Register a started agent; its resources join the offer pool at the next allocation."""
        total = Resources.from_json(agent.spec.resources(), f"agent {agent.id} resources")
        now = self.clock.monotonic()
        with self._lock:
            self.agents[agent.id] = AgentRecord(agent, total, self.clock.time(), now)
            self._next_allocation = now

    # MasterLink -------------------------------------------------------------------------------------
    def status_update(self, agent_id: str, framework_id: str, status: dict) -> None:
        """An agent (re)sends a status update: record it and forward it to the framework."""
        with self._lock:
            framework = self.frameworks.get(framework_id)
            if framework is None:
                log.info("dropping status update for unknown framework %s", framework_id)
                return
            task_id = (status.get("task_id") or {}).get("value")
            task = framework.tasks.get(task_id) or framework.unreachable_tasks.get(task_id)
            if task is not None:
                self._record_status(task, status)
            if framework.connected and framework.subscription is not None:
                framework.subscription.send({"type": "UPDATE", "update": {"status": status}})

    def agent_reregistered(self, agent_id: str, live_tasks: list[dict]) -> None:
        """An agent came back (after a restart or a healed partition): reconcile the tasks it reports with ours."""
        with self._lock:
            record = self.agents.get(agent_id)
            if record is None:
                raise MasterError(f"agent_reregistered: unknown agent {agent_id}")
            now = self.clock.time()
            reported = {(t["framework_id"], t["task_id"]): t for t in live_tasks}
            was_unreachable = not record.reachable
            for framework in self.frameworks.values():
                if was_unreachable:
                    # Mesos re-adds reported tasks and silently forgets the other unreachable ones
                    # (master.cpp _reregisterSlave); reconciliation then answers TASK_GONE for them.
                    for task in [t for t in framework.unreachable_tasks.values() if t.agent_id == agent_id]:
                        del framework.unreachable_tasks[task.task_id]
                        live = reported.get((framework.id, task.task_id))
                        if live is None:
                            continue
                        # In its latest state, terminal too when it ended during a partition and its
                        # update is still unacknowledged (the agent resends that update next).
                        task.state, task.unreachable_time = live["state"], None
                        task.holds_resources = live["state"] not in TERMINAL_STATES
                        framework.tasks[task.task_id] = task
                        self._send_update(framework, task, live["state"], "Unreachable agent re-reregistered",
                                          "REASON_AGENT_REREGISTERED", record=False)
                else:
                    # The agent lost tasks we still hold: it answers the master's reconciliation with
                    # TASK_DROPPED / TASK_LOST (slave.cpp reconcileTasks); we generate them here.
                    for task in [t for t in framework.tasks.values() if t.agent_id == agent_id]:
                        if task.state in TERMINAL_STATES or (framework.id, task.task_id) in reported:
                            continue
                        state = "TASK_DROPPED" if framework.partition_aware else "TASK_LOST"
                        self._send_update(framework, task, state, "Reconciliation: task unknown to the agent",
                                          "REASON_RECONCILIATION")
                        framework.complete(task)
            record.reachable = True
            record.unreachable_time = None
            record.reregistered_time = now
            record.last_pong = self.clock.monotonic()
            self._next_allocation = self.clock.monotonic()

    def _record_status(self, task: TaskRecord, status: dict) -> None:
        uuid = status.get("uuid")
        if uuid is None or all(s.get("uuid") != uuid for s in task.statuses):
            task.statuses.append(status)
        task.latest = status
        task.state = status.get("state", task.state)
        if task.state in TERMINAL_STATES:
            task.holds_resources = False
            if uuid is None:
                framework = self.frameworks.get(task.framework_id)
                if framework is not None:
                    framework.complete(task)

    def _send_update(self, framework: FrameworkRecord, task: TaskRecord, state: str, message: str, reason: str, *,
                     unreachable_time: dict | None = None, record: bool = True) -> None:
        status = master_status(framework.id, task.task_id, state, message, reason, agent_id=task.agent_id,
                               executor_id=task.executor_id or None, timestamp=self.clock.time(),
                               unreachable_time=unreachable_time)
        if record:
            task.statuses.append(status)
            task.latest = status
            task.state = state
            if state in TERMINAL_STATES:
                task.holds_resources = False
        if framework.connected and framework.subscription is not None:
            framework.subscription.send({"type": "UPDATE", "update": {"status": status}})

    def mark_unreachable(self, agent_id: str, message: str = "health check timed out") -> None:
        """Remove an agent that stopped answering (master.cpp ``markUnreachable`` / ``__removeSlave``)."""
        with self._lock:
            record = self.agents.get(agent_id)
            if record is None or not record.reachable:
                return
            record.reachable = False
            record.unreachable_time = self.clock.time()
            unreachable_time = _now_ns(record.unreachable_time)
            for framework in self.frameworks.values():
                for task in [t for t in framework.tasks.values() if t.agent_id == agent_id]:
                    if task.state in TERMINAL_STATES:
                        framework.complete(task)
                        continue
                    state = "TASK_UNREACHABLE" if framework.partition_aware else "TASK_LOST"
                    self._send_update(framework, task, state, message, "REASON_AGENT_REMOVED",
                                      unreachable_time=unreachable_time)
                    task.holds_resources = False
                    task.unreachable_time = unreachable_time
                    del framework.tasks[task.task_id]
                    framework.unreachable_tasks[task.task_id] = task
            for offer in [o for o in self.offers.values() if o.agent_id == agent_id]:
                self._rescind(offer)
            for framework in self.frameworks.values():
                if framework.connected and framework.subscription is not None:
                    framework.subscription.send({"type": "FAILURE", "failure": {"agent_id": {"value": agent_id}}})

    # -- offers ---------------------------------------------------------------------------------------
    def _rescind(self, offer: OfferRecord, notify: bool = True) -> None:
        self.offers.pop(offer.id, None)
        framework = self.frameworks.get(offer.framework_id)
        if notify and framework is not None and framework.connected and framework.subscription is not None:
            framework.subscription.send({"type": "RESCIND", "rescind": {"offer_id": {"value": offer.id}}})

    def _used(self, agent_id: str | None = None, framework_id: str | None = None) -> Resources:
        total = Resources()
        for framework in self.frameworks.values():
            if framework_id is not None and framework.id != framework_id:
                continue
            for task in framework.tasks.values():
                if task.holds_resources and (agent_id is None or task.agent_id == agent_id):
                    total = total + task.resources
        return total

    def _offered(self, agent_id: str | None = None, framework_id: str | None = None) -> Resources:
        total = Resources()
        for offer in self.offers.values():
            if (agent_id is None or offer.agent_id == agent_id) and (framework_id is None or offer.framework_id == framework_id):
                total = total + offer.resources
        return total

    def allocate_now(self) -> list[dict]:
        """Run one allocation round now: offer every agent's unallocated resources (see allocator.allocate).

        Returns copies of the offers this round made (empty when everything is offered, in use, filtered or
        suppressed), already queued to their frameworks' streams.  The ticker calls it every
        ``allocation_interval``; with ``allocation_interval=None`` only callers of this method do.
        """
        made: list[dict] = []
        with self._lock:
            now = self.clock.monotonic()
            agents = [AgentSlot(a.id, a.total - self._used(a.id) - self._offered(a.id), a.total.scalar("gpus") > 0)
                      for a in self.agents.values() if a.reachable]
            frameworks = []
            for f in self.frameworks.values():
                if not (f.connected and f.active and f.subscription is not None):
                    continue
                f.filters = [flt for flt in f.filters if flt.expires > now]
                frameworks.append(FrameworkSlot(f.id, f.roles, set(f.suppressed), "GPU_RESOURCES" in f.capabilities,
                                                list(f.filters), self._used(framework_id=f.id) + self._offered(framework_id=f.id)))
            total = Resources()
            for a in self.agents.values():
                if a.reachable:
                    total = total + a.total
            batches: dict[str, list[dict]] = {}
            for grant in allocate(agents, frameworks, total, now):
                record = self.agents[grant.agent_id]
                offer_id = f"{self.id}-O{self._offer_counter}"
                self._offer_counter += 1
                spec = record.agent.spec
                offer_json = {
                    "id": {"value": offer_id}, "framework_id": {"value": grant.framework_id},
                    "agent_id": {"value": grant.agent_id}, "hostname": spec.hostname,
                    "url": {"scheme": "http", "address": {"hostname": spec.hostname, "ip": self.host, "port": record.agent.port},
                            "path": "/slave(1)"},
                    "allocation_info": {"role": grant.role},
                    "resources": grant.resources.to_json(grant.role),
                    "attributes": spec.attribute_list(),
                }
                self.offers[offer_id] = OfferRecord(offer_id, grant.framework_id, grant.agent_id, grant.role,
                                                    grant.resources, now, offer_json)
                batches.setdefault(grant.framework_id, []).append(offer_json)
                made.append(copy.deepcopy(offer_json))
            for framework_id, offers in batches.items():
                self.frameworks[framework_id].subscription.send({"type": "OFFERS", "offers": {"offers": offers}})
        return made

    # -- ticker ---------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Heartbeats, failover timeouts, offer timeouts and (when due and not on demand) allocation; driven by the
        ticker thread."""
        with self._lock:
            now = self.clock.monotonic()
            for sub in list(self._subscriptions):
                if sub.closed:
                    self._subscriptions.discard(sub)
                elif now >= sub.next_heartbeat:
                    sub.send({"type": "HEARTBEAT"})
                    sub.next_heartbeat = now + self.heartbeat_interval
            for framework in list(self.frameworks.values()):
                if not framework.connected and framework.failover_deadline is not None and now >= framework.failover_deadline:
                    log.info("framework %s failover timeout elapsed; removing it", framework.id)
                    self._remove_framework(framework)
            if self.offer_timeout is not None:
                for offer in [o for o in self.offers.values() if now - o.created >= self.offer_timeout]:
                    self._rescind(offer)
            if self.allocation_interval is not None and now >= self._next_allocation:
                self._next_allocation = now + self.allocation_interval
                self.allocate_now()

    def _tick_loop(self) -> None:
        periods = [self.heartbeat_interval] + ([self.allocation_interval] if self.allocation_interval else [])
        step = max(0.01, min(0.1, *(p / 4 for p in periods)))
        while not self._stop.wait(step):
            try:
                self.tick()
            except Exception:  # a bug in one round must not stop the master
                log.exception("master tick failed")

    def _ping_loop(self) -> None:
        interval = max(0.05, min(15.0, self.agent_ping_timeout / 5))
        while not self._stop.wait(interval):
            with self._lock:
                # At the address the agent listens on (127.0.0.2 ... for such hostnames), not the master's.
                targets = [(r.id, urlsplit(r.agent.url).hostname, r.agent.port) for r in self.agents.values()
                           if r.reachable]
            for agent_id, host, port in targets:
                ok = _ping(host, port, timeout=min(2.0, interval * 2))
                with self._lock:
                    record = self.agents.get(agent_id)
                    if record is None or not record.reachable:
                        continue
                    now = self.clock.monotonic()
                    if ok:
                        record.last_pong = now
                    elif now - record.last_pong >= self.agent_ping_timeout:
                        self.mark_unreachable(agent_id)

    # -- frameworks -------------------------------------------------------------------------------------
    def subscribe(self, call: dict, principal: str | None) -> Subscription:
        """Handle a validated SUBSCRIBE; returns the subscription whose queue the HTTP handler streams."""
        info = dict(call["subscribe"]["framework_info"])
        if principal is not None and "principal" not in info:
            info["principal"] = principal
        stream = Subscription(None, str(uuidlib.uuid4()))
        with self._lock:
            error = validate_framework_info(info)
            framework_id = (info.get("id") or {}).get("value")
            existing = self.frameworks.get(framework_id) if framework_id else None
            if error is None and framework_id and framework_id in self.removed_framework_ids:
                error = "Framework has been removed"
            if error is None and existing is not None and existing.info.get("principal") != info.get("principal"):
                error = "Changing framework's principal is not allowed."
            if error is not None:
                stream.send({"type": "ERROR", "error": {"message": error}})
                stream.close()
                return stream
            now = self.clock.time()
            suppressed = set(call["subscribe"].get("suppressed_roles") or [])
            if existing is not None:
                if existing.subscription is not None:
                    existing.subscription.send({"type": "ERROR", "error": {"message": "Framework failed over"}})
                    existing.subscription.close()
                # user and checkpoint cannot change on failover (master.cpp updateFramework).
                info["user"], info["checkpoint"] = existing.info.get("user"), existing.info.get("checkpoint", False)
                existing.info = info
                existing.roles = framework_roles(info)
                existing.suppressed = suppressed
                existing.reregistered_time = now
                for offer in [o for o in self.offers.values() if o.framework_id == existing.id]:
                    self._rescind(offer, notify=False)
                framework = existing
            else:
                if not framework_id:
                    framework_id = f"{self.id}-{self._framework_counter:04d}"
                    self._framework_counter += 1
                info["id"] = {"value": framework_id}
                framework = FrameworkRecord(framework_id, info, framework_roles(info), suppressed, now)
                self.frameworks[framework_id] = framework
            info.setdefault("failover_timeout", 0.0)
            info.setdefault("checkpoint", False)
            stream.framework_id = framework.id
            framework.subscription = stream
            framework.connected = framework.active = True
            framework.failover_deadline = None
            stream.send({"type": "SUBSCRIBED", "subscribed": {
                "framework_id": {"value": framework.id},
                "heartbeat_interval_seconds": self.heartbeat_interval,
                "master_info": self.master_info()}})
            stream.next_heartbeat = self.clock.monotonic()
            self._subscriptions.add(stream)
            self._next_allocation = self.clock.monotonic()
            return stream

    def stream_closed(self, stream: Subscription) -> None:
        """The SUBSCRIBE connection ended (client went away or the master closed it)."""
        with self._lock:
            stream.closed = True
            self._subscriptions.discard(stream)
            framework = self.frameworks.get(stream.framework_id or "")
            if framework is not None and framework.subscription is stream:
                self._disconnect(framework)

    def _disconnect(self, framework: FrameworkRecord) -> None:
        framework.subscription = None
        framework.connected = framework.active = False
        framework.unregistered_time = self.clock.time()
        for offer in [o for o in self.offers.values() if o.framework_id == framework.id]:
            self._rescind(offer, notify=False)
        timeout = float(framework.info.get("failover_timeout") or 0.0)
        framework.failover_deadline = self.clock.monotonic() + timeout
        log.info("framework %s disconnected; failover timeout %.1fs", framework.id, timeout)

    def drop_framework_stream(self, framework_id: str) -> None:
        """Cut a framework's SUBSCRIBE connection as a network failure would."""
        with self._lock:
            framework = self.frameworks.get(framework_id)
            if framework is None:
                raise MasterError(f"unknown framework {framework_id}")
            if framework.subscription is not None:
                framework.subscription.close(abort=True)
                self._subscriptions.discard(framework.subscription)
                self._disconnect(framework)

    def _remove_framework(self, framework: FrameworkRecord) -> None:
        """master.cpp removeFramework: kill its tasks (TASK_KILLED, not forwarded), drop offers, forget it."""
        message = f"Framework {framework.id} removed"
        for task in list(framework.tasks.values()) + list(framework.unreachable_tasks.values()):
            if task.state not in TERMINAL_STATES:
                status = master_status(framework.id, task.task_id, "TASK_KILLED", message, "REASON_FRAMEWORK_REMOVED",
                                       agent_id=task.agent_id, executor_id=task.executor_id or None,
                                       timestamp=self.clock.time())
                task.statuses.append(status)
                task.latest, task.state = status, "TASK_KILLED"
            task.holds_resources = False
            framework.complete(task)
        for offer in [o for o in self.offers.values() if o.framework_id == framework.id]:
            self._rescind(offer, notify=False)
        for record in self.agents.values():
            record.agent.shutdown_framework(framework.id)
        if framework.subscription is not None:
            framework.subscription.close()
            self._subscriptions.discard(framework.subscription)
        framework.subscription = None
        framework.connected = framework.active = False
        framework.unregistered_time = self.clock.time()
        del self.frameworks[framework.id]
        self.completed_frameworks.append(framework)
        del self.completed_frameworks[:-50]
        self.removed_framework_ids.add(framework.id)

    # -- calls ------------------------------------------------------------------------------------------
    def dispatch(self, framework: FrameworkRecord, call: dict) -> None:
        """Run an accepted non-SUBSCRIBE call (the caller holds the lock and checked the stream id)."""
        kind = call["type"]
        handler = {
            "TEARDOWN": lambda: self._remove_framework(framework),
            "ACCEPT": lambda: self._accept(framework, call["accept"]),
            "DECLINE": lambda: self._decline(framework, call["decline"]),
            "REVIVE": lambda: self._revive(framework, call.get("revive") or {}),
            "SUPPRESS": lambda: self._suppress(framework, call.get("suppress") or {}),
            "KILL": lambda: self._kill(framework, call["kill"]),
            "ACKNOWLEDGE": lambda: self._acknowledge(framework, call["acknowledge"]),
            "RECONCILE": lambda: self._reconcile(framework, call["reconcile"].get("tasks") or []),
        }.get(kind)
        if handler is None:
            log.info("ignoring %s call of framework %s (not supported by the embedded master)", kind, framework.id)
            return
        handler()

    def _revive(self, framework: FrameworkRecord, revive: dict) -> None:
        roles = set(revive.get("roles") or framework.roles)
        framework.suppressed -= roles
        framework.filters = [f for f in framework.filters if f.role not in roles]
        self._next_allocation = self.clock.monotonic()

    def _suppress(self, framework: FrameworkRecord, suppress: dict) -> None:
        framework.suppressed |= set(suppress.get("roles") or framework.roles)

    def _accept(self, framework: FrameworkRecord, accept: dict) -> None:
        offer_ids = [o.get("value") for o in accept.get("offer_ids") or []]
        operations = [op for op in accept.get("operations") or [] if isinstance(op, dict)]
        error = None
        if not offer_ids:
            error = "No offers specified"
        else:
            seen: set[str] = set()
            agent_id = None
            for oid in offer_ids:
                offer = self.offers.get(oid)
                if offer is None:
                    error = f"Offer {oid} is no longer valid"
                    break
                if oid in seen:
                    error = f"Duplicate offer {oid} in offer list"
                    break
                seen.add(oid)
                if offer.framework_id != framework.id:
                    error = f"Offer {oid} has invalid framework {offer.framework_id} while framework {framework.id} is expected"
                    break
                if agent_id is not None and offer.agent_id != agent_id:
                    error = (f"Aggregated offers must belong to one single agent. Offer {oid} uses agent "
                             f"{offer.agent_id} and agent {agent_id}")
                    break
                agent_id = offer.agent_id
        if error is not None:
            for oid in offer_ids:
                if oid in self.offers:
                    self._rescind(self.offers[oid], notify=False)
            state = "TASK_DROPPED" if framework.partition_aware else "TASK_LOST"
            for op in operations:
                for task in self._operation_tasks(op):
                    status = master_status(framework.id, (task.get("task_id") or {}).get("value", ""), state,
                                           f"Task launched with invalid offers: {error}", "REASON_INVALID_OFFERS",
                                           agent_id=(task.get("agent_id") or {}).get("value"), timestamp=self.clock.time())
                    if framework.subscription is not None:
                        framework.subscription.send({"type": "UPDATE", "update": {"status": status}})
            return
        offers = [self.offers.pop(oid) for oid in offer_ids]
        agent_id, role = offers[0].agent_id, offers[0].role
        available = Resources()
        for offer in offers:
            available = available + offer.resources
        record = self.agents[agent_id]
        for op in operations:
            kind = op.get("type")
            if kind == "LAUNCH":
                for task in (op.get("launch") or {}).get("task_infos") or []:
                    available = self._launch(framework, record, role, task, available)
            elif kind == "LAUNCH_GROUP":
                for task in self._operation_tasks(op):
                    self._task_error(framework, task, "LAUNCH_GROUP is not supported by the embedded master",
                                     "REASON_TASK_GROUP_INVALID")
            else:
                log.info("dropping %s operation of framework %s (not supported here)", kind, framework.id)
        if not available.is_empty():
            expires = self.clock.monotonic() + refuse_seconds(accept.get("filters"))
            framework.filters.append(RefuseFilter(agent_id, role, available, expires))

    def _decline(self, framework: FrameworkRecord, decline: dict) -> None:
        """master.cpp ``decline``: each still-valid offer goes back with the refuse filter; others are ignored."""
        expires = self.clock.monotonic() + refuse_seconds(decline.get("filters"))
        for offer_id in decline.get("offer_ids") or []:
            offer = self.offers.get((offer_id or {}).get("value"))
            if offer is None or offer.framework_id != framework.id:
                continue
            del self.offers[offer.id]
            framework.filters.append(RefuseFilter(offer.agent_id, offer.role, offer.resources, expires))

    @staticmethod
    def _operation_tasks(op: dict) -> list[dict]:
        if op.get("type") == "LAUNCH":
            return [t for t in (op.get("launch") or {}).get("task_infos") or [] if isinstance(t, dict)]
        if op.get("type") == "LAUNCH_GROUP":
            return [t for t in ((op.get("launch_group") or {}).get("task_group") or {}).get("tasks") or []
                    if isinstance(t, dict)]
        return []

    def _task_error(self, framework: FrameworkRecord, task: dict, message: str, reason: str = "REASON_TASK_INVALID") -> None:
        status = master_status(framework.id, task["task_id"]["value"], "TASK_ERROR", message, reason,
                               agent_id=(task.get("agent_id") or {}).get("value"), timestamp=self.clock.time())
        if framework.subscription is not None:
            framework.subscription.send({"type": "UPDATE", "update": {"status": status}})

    def _launch(self, framework: FrameworkRecord, record: AgentRecord, role: str, task: dict,
                available: Resources) -> Resources:
        known = set(framework.tasks)
        error, resources = validate_task(task, agent_id=record.id, known_task_ids=known,
                                         unreachable_task_ids=set(framework.unreachable_tasks), offered=available)
        if error is not None:
            self._task_error(framework, task, error)
            return available
        task_info = _with_allocation_info(task, role)
        task_id = task["task_id"]["value"]
        executor_id = ((task.get("executor") or {}).get("executor_id") or {}).get("value", "")
        container = task.get("container")
        record_ = TaskRecord(
            framework.id, record.id, task_id, str(task.get("name", "")), executor_id, role, resources,
            labels=task.get("labels"), discovery=task.get("discovery"),
            container=state_json.public_container(container) if isinstance(container, dict) else None,
            user=(task.get("command") or {}).get("user") or framework.info.get("user"))
        framework.tasks[task_id] = record_
        record.agent.launch(dict(framework.info), task_info)
        return available - resources

    def _kill(self, framework: FrameworkRecord, kill: dict) -> None:
        task_id = kill["task_id"].get("value")
        agent_id = (kill.get("agent_id") or {}).get("value")
        task = framework.tasks.get(task_id)
        if task is None:
            self._reconcile(framework, [{"task_id": {"value": task_id}, **({"agent_id": {"value": agent_id}} if agent_id else {})}])
            return
        if agent_id is not None and agent_id != task.agent_id:
            return
        record = self.agents.get(task.agent_id)
        if record is not None and record.reachable:
            record.agent.kill(framework.id, task_id, kill.get("kill_policy"))

    def _acknowledge(self, framework: FrameworkRecord, ack: dict) -> None:
        raw = decode_uuid(ack.get("uuid"))
        agent_id = ack["agent_id"].get("value")
        task_id = ack["task_id"].get("value")
        record = self.agents.get(agent_id)
        if record is None or raw is None:
            return
        record.agent.acknowledge(framework.id, task_id, raw)
        task = framework.tasks.get(task_id)
        if task is not None and task.latest is not None and task.latest.get("uuid") == ack.get("uuid") \
                and task.state in TERMINAL_STATES:
            framework.complete(task)

    def _reconcile(self, framework: FrameworkRecord, tasks: list[dict]) -> None:
        """master.cpp ``Master::reconcile``: implicit (no tasks) and explicit cases (1)-(6)."""
        now = self.clock.time()
        sub = framework.subscription
        if sub is None:
            return

        def send(status: dict) -> None:
            sub.send({"type": "UPDATE", "update": {"status": status}})

        def latest(task: TaskRecord) -> dict:
            healthy = (task.latest or {}).get("healthy")
            container_status = (task.latest or {}).get("container_status")
            return master_status(framework.id, task.task_id, task.state, "Reconciliation: Latest task state",
                                 "REASON_RECONCILIATION", agent_id=task.agent_id,
                                 executor_id=task.executor_id or None, timestamp=now, healthy=healthy,
                                 container_status=container_status)

        if not tasks:
            for task in list(framework.tasks.values()):
                send(latest(task))
            return
        pa = framework.partition_aware
        for item in tasks:
            task_id = (item.get("task_id") or {}).get("value", "")
            agent_id = (item.get("agent_id") or {}).get("value")
            task = framework.tasks.get(task_id)
            agent = self.agents.get(agent_id) if agent_id else None
            if task is not None:
                send(latest(task))
            elif agent is not None and agent.reachable:
                send(master_status(framework.id, task_id, "TASK_GONE" if pa else "TASK_LOST",
                                   "Reconciliation: Task is unknown to the agent", "REASON_RECONCILIATION",
                                   agent_id=agent_id, timestamp=now))
            elif agent is not None:
                send(master_status(framework.id, task_id, "TASK_UNREACHABLE" if pa else "TASK_LOST",
                                   "Reconciliation: Task is unreachable", "REASON_RECONCILIATION",
                                   agent_id=agent_id, timestamp=now, unreachable_time=_now_ns(agent.unreachable_time or now)))
            else:
                send(master_status(framework.id, task_id, "TASK_UNKNOWN" if pa else "TASK_LOST",
                                   "Reconciliation: Task is unknown", "REASON_RECONCILIATION",
                                   agent_id=agent_id, timestamp=now))

    # -- failover -----------------------------------------------------------------------------------------
    def fail_over(self) -> None:
        """Restart in place: new id, every stream dropped, offers and filters gone; tasks and agents kept.

        Frameworks are disconnected and must re-subscribe (with their id) within their failover_timeout.
        """
        with self._lock:
            self._reset_identity()
            for sub in list(self._subscriptions):
                sub.close(abort=True)
            self._subscriptions.clear()
            self.offers.clear()
            for framework in self.frameworks.values():
                framework.filters.clear()
                if framework.subscription is not None:
                    self._disconnect(framework)
            for record in self.agents.values():
                if record.reachable:
                    record.reregistered_time = self.clock.time()
                    record.last_pong = self.clock.monotonic()
        if self._zk_client is not None:
            try:
                if self._zk_node:
                    self._zk_client.delete(self._zk_node)
            except Exception:
                log.debug("zk node %s already gone", self._zk_node)
            self._zk_register()

    # -- read-only views ----------------------------------------------------------------------------------
    def state(self) -> dict:
        with self._lock:
            return state_json.master_state(self)

    def authenticate(self, header: str | None) -> tuple[bool, str | None]:
        """(authorized, principal) for an ``Authorization`` header; always authorized when auth is off."""
        if not self._credentials:
            return True, None
        if not header or not header.startswith("Basic "):
            return False, None
        try:
            principal, _, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False, None
        if principal in self._credentials and self._credentials[principal] == secret:
            return True, principal
        return False, None


def _with_allocation_info(task: dict, role: str) -> dict:
    """A copy of the TaskInfo whose (executor) resources carry ``allocation_info`` (master.cpp injects it)."""
    task = dict(task)

    def inject(resources: list) -> list:
        return [r if "allocation_info" in r else {**r, "allocation_info": {"role": role}} for r in resources]

    task["resources"] = inject(task.get("resources") or [])
    if isinstance(task.get("executor"), dict):
        task["executor"] = {**task["executor"], "resources": inject(task["executor"].get("resources") or [])}
    return task


def _ping(host: str, port: int, timeout: float) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


# ------------------------------------------------------------------------------------------------
# HTTP
# ------------------------------------------------------------------------------------------------

_READONLY = {
    "state": state_json.master_state,
    "frameworks": state_json.frameworks_endpoint,
    "slaves": state_json.slaves_endpoint,
    "tasks": state_json.tasks_endpoint,
    "state-summary": state_json.state_summary,
}


def _make_handler(master: Master) -> type[BaseHTTPRequestHandler]:
    class Handler(_MasterHandler):
        pass

    Handler.master = master
    return Handler


class _MasterHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Mesos/" + MESOS_VERSION
    master: Master

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("master http: " + format, *args)

    # -- responses ----------------------------------------------------------------------------------
    def _respond(self, code: int, body: bytes | str = b"", content_type: str = "text/plain; charset=utf-8",
                 headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(code)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _json(self, obj: object, query: dict[str, str]) -> None:
        body = dumps(obj)
        if query.get("jsonp"):
            self._respond(200, f"{query['jsonp']}({body});", "text/javascript")
        else:
            self._respond(200, body, APPLICATION_JSON)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _leader_hostport(self) -> str | None:
        master = self.master
        if not master.standby:
            return f"{master.hostname}:{master.port}"
        return master.leader

    def _redirect_or_503(self, path_and_query: str) -> None:
        leader = self._leader_hostport()
        if leader is None:
            self._respond(503, "No leader elected")
        else:
            self._respond(307, headers={"Location": f"//{leader}{path_and_query}"})

    # -- routing --------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_PUT(self) -> None:
        self._route()

    def do_DELETE(self) -> None:
        self._route()

    def _route(self) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, query_params(parts.query)
        try:
            if path in ("/api/v1/scheduler", "/master/api/v1/scheduler"):
                self._scheduler(parts)
                return
            body = self._read_body() if self.command not in ("GET", "HEAD") else b""
            # The operator surface (/api/v1, /metrics/snapshot, /flags, /roles) lives in operator_api.
            reply = operator_api.master_route(self.master, self.command, self.path, self.headers, body)
            if isinstance(reply, operator_api.StreamReply):  # operator SUBSCRIBE
                self._stream(reply.subscription)
                return
            if reply is not None:
                self._respond(reply.status, reply.body, reply.content_type, reply.headers)
                return
            name = path[len("/master"):] if path.startswith("/master/") else path
            if name == "/health":
                self._respond(200)
            elif name == "/version":
                self._json({"version": MESOS_VERSION, "build_date": "", "build_time": 0.0, "build_user": ""}, query)
            elif name == "/redirect":
                leader = self._leader_hostport()
                if leader is None:
                    self._respond(503, "No leader elected")
                else:
                    self._respond(307, headers={"Location": f"//{leader}"})
            elif name.lstrip("/") in _READONLY:
                if self.master.standby:
                    self._redirect_or_503(self.path)
                    return
                with self.master._lock:
                    result = _READONLY[name.lstrip("/")](self.master, query)
                if isinstance(result, tuple):
                    self._respond(result[0], result[1])
                else:
                    self._json(result, query)
            else:
                self._respond(404)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- scheduler API ----------------------------------------------------------------------------------
    def _scheduler(self, parts: Any) -> None:
        master = self.master
        # libprocess authenticates before the handler runs, so 401 precedes everything else.
        ok, principal = master.authenticate(self.headers.get("Authorization"))
        body = self._read_body()
        if not ok:
            self._respond(401, headers={"WWW-Authenticate": 'Basic realm="mesos-master-scheduler"'})
            return
        if master.standby:
            self._redirect_or_503(parts.path + (f"?{parts.query}" if parts.query else ""))
            return
        # Mesos' order: method, Content-Type, JSON syntax, JSON -> Call protobuf, then validation.
        call = decode_call(self.command, self.headers, body, "Call")
        if isinstance(call, HttpReply):
            self._respond(call.status, call.body, call.content_type, call.headers)
            return
        error = validate_call(call, principal)
        if error is not None:
            self._respond(400, f"Failed to validate scheduler::Call: {error}")
            return
        if call["type"] == "SUBSCRIBE":
            if not accepts(self.headers.get("Accept"), APPLICATION_JSON):
                reply = not_acceptable()
                self._respond(reply.status, reply.body, reply.content_type)
                return
            if "Mesos-Stream-Id" in self.headers:
                self._respond(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
                return
            try:
                stream = master.subscribe(call, principal)
            except Exception as exc:  # noqa: BLE001 - a bug must cost this request, never the server thread
                self._internal_error(call, exc)
                return
            self._stream(stream)
            return
        with master._lock:
            framework = master.frameworks.get(call["framework_id"]["value"])
            if framework is None:
                self._respond(400, "Framework cannot be found")
                return
            if principal is not None and principal != framework.info.get("principal"):
                self._respond(400, f"Authenticated principal '{principal}' does not match principal "
                                   f"'{framework.info.get('principal', '')}' set in `FrameworkInfo`")
                return
            if not framework.connected or framework.subscription is None:
                self._respond(403, "Framework is not subscribed")
                return
            stream_id = self.headers.get("Mesos-Stream-Id")
            if stream_id is None:
                self._respond(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
                return
            if stream_id != framework.subscription.stream_id:
                self._respond(400, f"The stream ID '{stream_id}' included in this request didn't match the stream ID "
                                   f"currently associated with framework ID {framework.id}")
                return
            try:
                master.dispatch(framework, call)
            except Exception as exc:  # noqa: BLE001 - a bug must cost this request, never the server thread
                self._internal_error(call, exc)
                return
        self._respond(200 if call["type"] == "UPDATE_FRAMEWORK" else 202)

    def _internal_error(self, call: dict, exc: Exception) -> None:
        """Last resort for a bug in handling a well-typed call: 500, and the master keeps serving.

        Calls are type-checked against the protobuf shapes first, so this is never bad input.  The
        exception text may quote call values (which may be secrets), so it goes to DEBUG only.
        """
        kind = call.get("type", "UNKNOWN")
        log.error("internal error handling %s call of framework %s: %s (details at DEBUG level)", kind,
                  (call.get("framework_id") or {}).get("value", "<new>"), type(exc).__name__)
        log.debug("internal error handling %s call", kind, exc_info=exc)
        self._respond(500, f"Internal error while handling the {kind} call ({type(exc).__name__}); "
                           f"see the master log")

    def _stream(self, stream: Subscription) -> None:
        self.send_response(200)
        self.send_header("Content-Type", APPLICATION_JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Mesos-Stream-Id", stream.stream_id)
        self.end_headers()
        self.close_connection = True
        sock = self.connection
        try:
            self.wfile.flush()
            while True:
                try:
                    item = stream.events.get(timeout=0.2)
                except queue.Empty:
                    if _peer_closed(sock):
                        break
                    continue
                if item is _CLOSE:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                    break
                if item is _ABORT:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    break
                data = item  # bytes
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
        except OSError:
            pass
        finally:
            self.master.stream_closed(stream)


def _peer_closed(sock: socket.socket) -> bool:
    """True when the client closed its end (readable with no data)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
