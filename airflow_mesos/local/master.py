"""The embedded Mesos master: frameworks, offers, tasks and agents, and the threads that keep them going.

One :class:`Master` keeps its :class:`~airflow_mesos.local.records.MasterRecords`, allocates agents'
resources as offers, relays launches, kills and acknowledgements to in-process agents and forwards their
status updates.  It follows Mesos' source (``src/master/master.cpp``, ``validation.cpp``) for messages and
ordering; see docs/local-cluster.md for the deliberate differences.  Its HTTP edge is
:mod:`.master_http` (it serves this object through :class:`~airflow_mesos.local.master_http.MasterService`),
what it shows is :mod:`.master_views`.

Concurrency: one re-entrant lock guards the records.  HTTP handler threads and the ticker take it briefly;
events for a stream go to its :class:`~airflow_mesos.local.event_stream.EventStream`, which the SUBSCRIBE
handler thread drains onto the socket, so no socket I/O ever happens under the lock.  Agents are called under
the lock (their methods return at once) and call back only from their own threads.
"""

from __future__ import annotations

import base64
import copy
import http.client
import logging
import socket
import struct
import threading
import uuid as uuidlib
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from airflow_mesos.clock import SYSTEM_CLOCK, Clock
from airflow_mesos.exceptions import AirflowMesosError
from airflow_mesos.local import master_core, master_http, master_views
from airflow_mesos.local.allocator import (
    Resources,
)
from airflow_mesos.local.constants import MESOS_VERSION
from airflow_mesos.local.event_stream import EventStream
from airflow_mesos.local.http_util import MesosHTTPServer, dumps
from airflow_mesos.local.records import (
    AgentRecord,
    FrameworkRecord,
    MasterRecords,
    MasterView,
    OfferRecord,
)
from airflow_mesos.local.validation import (
    decode_uuid,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

OPERATOR_EFFECTS = (master_core.TaskAdded, master_core.TaskUpdated, master_core.FrameworkAdded,
                    master_core.FrameworkUpdated, master_core.FrameworkRemoved, master_core.AgentAdded,
                    master_core.AgentRemoved)


class MasterError(AirflowMesosError):
    """The embedded master was used wrongly (e.g. an unknown agent id)."""


class AgentHandle(Protocol):
    """What the master needs of an agent (implemented by ``airflow_mesos.local.agent.Agent``)."""

    id: str
    spec: Any
    port: int
    pid: str
    url: str

    def launch(self, framework_info: dict, task_info: dict, launch_executor: bool | None = None) -> None: ...
    def kill(self, framework_id: str, task_id: str, kill_policy: dict | None = None) -> None: ...
    def acknowledge(self, framework_id: str, task_id: str, uuid: bytes) -> None: ...
    def shutdown_framework(self, framework_id: str) -> None: ...
    def shutdown_executor(self, framework_id: str, executor_id: str) -> None: ...
    def message_to_executor(self, framework_id: str, executor_id: str, data: str) -> None: ...


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
        self._ip: str | None = None
        self.port = 0
        self._reset_identity()
        self.records = MasterRecords()
        self._agent_handles: dict[str, AgentHandle] = {}
        self._agent_counter = 0
        self._next_allocation = 0.0
        # Every open stream (scheduler and operator); the ticker heartbeats them, stop() closes them.
        self._streams: set[EventStream] = set()
        # The current scheduler stream of each connected framework.
        self._framework_streams: dict[str, EventStream] = {}

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
        self._ip = socket.gethostbyname(self.host)
        self._server = MesosHTTPServer((self.host, self._requested_port), master_http.make_handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        # shutdown() is noticed only between polls (serve_forever's default 0.5 s was half a second of
        # every stop); 20 idle wake-ups a second cost nothing measurable.
        server = self._server
        self._spawn("http", lambda: server.serve_forever(poll_interval=0.05))
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
            for stream in list(self._streams):
                stream.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self._zk_unregister()

    def master_info(self) -> dict:
        """MasterInfo JSON (ip is the IPv4 address as a uint32 in network byte order, as Mesos stores it)."""
        ip_text = self._ip or socket.gethostbyname(self.host)
        ip = struct.unpack("<I", socket.inet_aton(ip_text))[0]
        return {"id": self.id, "ip": ip, "port": self.port, "pid": self.pid, "hostname": self.hostname,
                "version": MESOS_VERSION, "address": {"hostname": self.hostname, "ip": ip_text, "port": self.port}}

    def flags(self) -> dict[str, str]:
        """The flags ``/master/state`` and ``/master/flags`` show (a subset of a real master's)."""
        return {
            "allocation_interval": f"{self.allocation_interval:g}secs" if self.allocation_interval is not None else "",
            "authenticate_http_frameworks": "true" if self._credentials else "false",
            "http_framework_authenticators": "basic",
            "hostname": self.hostname, "ip": self.host, "port": str(self.port),
            "agent_ping_timeout": f"{self.agent_ping_timeout:g}secs", "max_agent_ping_timeouts": "1",
            "offer_timeout": f"{self.offer_timeout:g}secs" if self.offer_timeout is not None else "",
            "root_submissions": "true", "zk": "" if not self._zk_url else "(set)",
            "registry": "in_memory", "quorum": "1", "work_dir": "",
        }

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

    # Shortcuts to the records, for tests that look at the master's books (read them under no lock only when
    # the cluster is quiet; views go through render()).
    @property
    def frameworks(self) -> dict[str, FrameworkRecord]:
        return self.records.frameworks

    @property
    def agents(self) -> dict[str, AgentRecord]:
        return self.records.agents

    @property
    def offers(self) -> dict[str, OfferRecord]:
        return self.records.offers

    # -- views (master_http.MasterService) ----------------------------------------------------------
    def render(self, view_fn: Callable[[MasterView], T]) -> T:
        """``view_fn`` of a consistent view of the master, under its lock (see :mod:`.master_views`)."""
        with self._lock:
            return view_fn(self._view())

    def _view(self) -> MasterView:
        return MasterView(
            id=self.id, pid=self.pid, hostname=self.hostname, port=self.port, start_time=self.start_time,
            elected=not self.standby, master_info=self.master_info(), flags=self.flags(),
            heartbeat_interval=self.heartbeat_interval, records=self.records,
            operator_subscribers=sum(1 for s in self._streams if s.operator and not s.closed))

    def state(self) -> dict:
        """``/master/state``."""
        return self.render(master_views.master_state)

    def now(self) -> float:
        return self.clock.time()

    def leader_hostport(self) -> str | None:
        return f"{self.hostname}:{self.port}" if not self.standby else self.leader

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

    # -- effects of the core (master_core) ------------------------------------------------------------
    def _run(self, effects: list[master_core.Effect]) -> None:
        """Carry out what the core decided, in order (the caller holds the lock)."""
        for effect in effects:
            if isinstance(effect, master_core.SendToFramework):
                framework = self.records.frameworks.get(effect.framework_id)
                if framework is not None:
                    self._send(framework, effect.event)
            elif isinstance(effect, master_core.KillOnAgent):
                self._agent_handles[effect.agent_id].kill(effect.framework_id, effect.task_id, effect.kill_policy)
            elif isinstance(effect, master_core.LaunchOnAgent):
                if effect.launch_executor is None:
                    self._agent_handles[effect.agent_id].launch(effect.framework_info, effect.task_info)
                else:
                    self._agent_handles[effect.agent_id].launch(effect.framework_info, effect.task_info,
                                                                launch_executor=effect.launch_executor)
            elif isinstance(effect, master_core.AllocateSoon):
                self._next_allocation = self.clock.monotonic()
            elif isinstance(effect, master_core.ShutdownOnAgents):
                log.info("framework %s removed; shutting it down on the agents", effect.framework_id)
                for agent in self._agent_handles.values():
                    agent.shutdown_framework(effect.framework_id)
            elif isinstance(effect, master_core.CloseFrameworkStream):
                stream = self._framework_streams.pop(effect.framework_id, None)
                if stream is not None:
                    stream.close()
                    self._streams.discard(stream)
            elif isinstance(effect, master_core.AcknowledgeOnAgent):
                handle = self._agent_handles.get(effect.agent_id)
                if handle is not None:
                    handle.acknowledge(effect.framework_id, effect.task_id, effect.uuid)
            elif isinstance(effect, (master_core.ShutdownExecutorOnAgent, master_core.MessageToExecutor)):
                handle = self._agent_handles.get(effect.agent_id)
                name = "shutdown_executor" if isinstance(effect, master_core.ShutdownExecutorOnAgent) \
                    else "message_to_executor"
                relay = getattr(handle, name, None)
                if relay is None:
                    # A test double standing in for an agent without executors: the message is lost, as to an
                    # agent that cannot take it.
                    log.warning("agent %s cannot take %s; dropped", effect.agent_id, name)
                elif isinstance(effect, master_core.ShutdownExecutorOnAgent):
                    relay(effect.framework_id, effect.executor_id)
                else:
                    relay(effect.framework_id, effect.executor_id, effect.data)
            elif isinstance(effect, OPERATOR_EFFECTS):
                self._tell_operators(effect)
            else:  # pragma: no cover - a new effect type without its runner is a bug
                raise TypeError(f"no runner for effect {effect!r}")

    def _tell_operators(self, effect: master_core.OperatorEffect) -> None:
        """Render an operator effect now (the records as they are) and queue it on every operator stream."""
        streams = [s for s in self._streams if s.operator and not s.closed]
        if not streams:
            return
        try:
            event = master_views.operator_event(self._view(), effect)
        except Exception:  # a rendering bug ends the operator streams visibly, never the master
            log.exception("operator event stream: rendering %s failed; closing the operator streams", effect)
            for stream in streams:
                stream.close()
            return
        if event is not None:
            for stream in streams:
                stream.send(event)

    # -- streams ------------------------------------------------------------------------------------
    def _send(self, framework: FrameworkRecord, event: dict) -> None:
        """Queue ``event`` on the framework's current scheduler stream, if it is connected."""
        stream = self._framework_streams.get(framework.id)
        if framework.connected and stream is not None:
            stream.send(event)

    # -- agents -------------------------------------------------------------------------------------
    def new_agent_id(self) -> str:
        with self._lock:
            agent_id = f"{self.id}-S{self._agent_counter}"
            self._agent_counter += 1
            return agent_id

    def add_agent(self, agent: AgentHandle) -> None:
        """Register a started agent; its resources join the offer pool at the next allocation."""
        resources = list(agent.spec.resources())
        total_resources = Resources.from_json(resources, f"agent {agent.id} resources")
        now = self.clock.monotonic()
        record = AgentRecord(id=agent.id, hostname=agent.spec.hostname, port=agent.port, pid=agent.pid,
                             url=agent.url, resources=resources, attributes=list(agent.spec.attribute_list()),
                             total=total_resources, registered_time=self.clock.time(), last_pong=now)
        with self._lock:
            self._agent_handles[agent.id] = agent
            self._run(master_core.add_agent(self.records, record))

    # MasterLink -------------------------------------------------------------------------------------
    def status_update(self, agent_id: str, framework_id: str, status: dict) -> None:
        """An agent (re)sends a status update: record it and forward it to the framework."""
        with self._lock:
            if framework_id not in self.records.frameworks:
                log.info("dropping status update for unknown framework %s", framework_id)
                return
            self._run(master_core.status_update(self.records, framework_id, status))

    def agent_reregistered(self, agent_id: str, live_tasks: list[dict], executors: list[dict] | None = None) -> None:
        """An agent came back (after a restart or a healed partition): reconcile the tasks and executors it
        reports with ours."""
        with self._lock:
            if agent_id not in self.records.agents:
                raise MasterError(f"agent_reregistered: unknown agent {agent_id}")
            self._run(master_core.agent_reregistered(self.records, agent_id, live_tasks, now=self.clock.time(),
                                                     monotonic=self.clock.monotonic(), executors=executors))

    def executor_exited(self, agent_id: str, framework_id: str, executor_id: str, status: int) -> None:
        """An agent's custom executor terminated (``ExitedExecutorMessage``; ``status`` is its wait status)."""
        with self._lock:
            self._run(master_core.executor_exited(self.records, agent_id, framework_id, executor_id, status))

    def executor_message(self, agent_id: str, framework_id: str, executor_id: str, data: str) -> None:
        """An executor's MESSAGE, relayed by its agent (``ExecutorToFrameworkMessage``; ``data`` base64)."""
        with self._lock:
            self._run(master_core.executor_message(self.records, agent_id, framework_id, executor_id, data))

    def mark_unreachable(self, agent_id: str, message: str = "health check timed out") -> None:
        """Remove an agent that stopped answering (master.cpp ``markUnreachable`` / ``__removeSlave``)."""
        with self._lock:
            self._run(master_core.mark_unreachable(self.records, agent_id, now=self.clock.time(), message=message))

    # -- offers ---------------------------------------------------------------------------------------
    def allocate_now(self) -> list[dict]:
        """Run one allocation round now (:func:`.master_core.allocation_round`).

        Returns copies of the offers this round made, as their frameworks are sent them (empty when
        everything is offered, in use, filtered or suppressed); they are already queued to the frameworks'
        streams.  The ticker calls it every ``allocation_interval``; with ``allocation_interval=None`` only
        callers of this method do.
        """
        with self._lock:
            effects = master_core.allocation_round(self.records, monotonic=self.clock.monotonic(),
                                                   new_offer_id=self._new_offer_id)
            self._run(effects)
        return [copy.deepcopy(offer) for effect in effects for offer in effect.event["offers"]["offers"]]

    def _new_offer_id(self) -> str:
        offer_id = f"{self.id}-O{self._offer_counter}"
        self._offer_counter += 1
        return offer_id

    # -- ticker ---------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Heartbeats, failover timeouts, offer timeouts and (when due and not on demand) allocation; driven by the
        ticker thread."""
        with self._lock:
            now = self.clock.monotonic()
            for stream in list(self._streams):
                if stream.closed:
                    self._streams.discard(stream)
                elif now >= stream.next_heartbeat:
                    stream.send({"type": "HEARTBEAT"})
                    stream.next_heartbeat = now + self.heartbeat_interval
            self._run(master_core.expire(self.records, monotonic=now, now=self.clock.time(),
                                         offer_timeout=self.offer_timeout))
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
                targets = [(a.id, urlsplit(a.url).hostname, a.port) for a in self.records.reachable_agents()]
            for agent_id, host, port in targets:
                ok = _ping(host, port, timeout=min(2.0, interval * 2))
                with self._lock:
                    record = self.records.agents.get(agent_id)
                    if record is None or not record.reachable:
                        continue
                    now = self.clock.monotonic()
                    if ok:
                        record.last_pong = now
                    elif now - record.last_pong >= self.agent_ping_timeout:
                        self.mark_unreachable(agent_id)

    # -- frameworks -------------------------------------------------------------------------------------
    def subscribe(self, call: dict, principal: str | None) -> EventStream:
        """Handle a validated SUBSCRIBE (:func:`.master_core.subscribe`); returns the stream the HTTP handler
        sends: SUBSCRIBED, or an ERROR and its end."""
        info = dict(call["subscribe"]["framework_info"])
        if principal is not None and "principal" not in info:
            info["principal"] = principal
        stream = EventStream(str(uuidlib.uuid4()))
        with self._lock:
            result = master_core.subscribe(self.records, info, list(call["subscribe"].get("suppressed_roles") or []),
                                           stream_id=stream.stream_id, now=self.clock.time(),
                                           new_framework_id=self._new_framework_id)
            if result.framework is None:
                stream.send({"type": "ERROR", "error": {"message": result.error}})
                stream.close()
                return stream
            self._run(result.effects)   # the old stream of a failing-over framework ends first
            framework = result.framework
            stream.framework_id = framework.id
            self._framework_streams[framework.id] = stream
            stream.send({"type": "SUBSCRIBED", "subscribed": {
                "framework_id": {"value": framework.id},
                "heartbeat_interval_seconds": self.heartbeat_interval,
                "master_info": self.master_info()}})
            stream.next_heartbeat = self.clock.monotonic()
            self._streams.add(stream)
            return stream

    def _new_framework_id(self) -> str:
        framework_id = f"{self.id}-{self._framework_counter:04d}"
        self._framework_counter += 1
        return framework_id

    def scheduler_call(self, call: dict, principal: str | None, stream_id: str | None) -> tuple[int, str]:
        """A validated non-SUBSCRIBE call: the checks of ``Master::Http::scheduler`` in its order, then the call.

        Returns the (status, body) to answer.
        """
        with self._lock:
            framework = self.records.frameworks.get(call["framework_id"]["value"])
            if framework is None:
                return 400, "Framework cannot be found"
            if principal is not None and principal != framework.info.get("principal"):
                return 400, (f"Authenticated principal '{principal}' does not match principal "
                             f"'{framework.info.get('principal', '')}' set in `FrameworkInfo`")
            if not framework.connected or framework.stream_id is None:
                return 403, "Framework is not subscribed"
            if stream_id is None:
                return 400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"
            if stream_id != framework.stream_id:
                return 400, (f"The stream ID '{stream_id}' included in this request didn't match the stream ID "
                             f"currently associated with framework ID {framework.id}")
            if call["type"] == "UPDATE_FRAMEWORK":
                status, text, effects = master_core.update_framework(self.records, framework, call["update_framework"])
                self._run(effects)
                return status, text
            self.dispatch(framework, call)
        return 202, ""

    def stream_closed(self, stream: EventStream) -> None:
        """The SUBSCRIBE connection ended (client went away or the master closed it)."""
        with self._lock:
            stream.closed = True
            self._streams.discard(stream)
            framework = self.records.frameworks.get(stream.framework_id or "")
            if framework is not None and self._framework_streams.get(framework.id) is stream:
                self._disconnect(framework)

    def _disconnect(self, framework: FrameworkRecord) -> None:
        self._framework_streams.pop(framework.id, None)
        self._run(master_core.disconnect(self.records, framework, now=self.clock.time(),
                                         monotonic=self.clock.monotonic()))
        log.info("framework %s disconnected; failover timeout %.1fs", framework.id,
                 float(framework.info.get("failover_timeout") or 0.0))

    def drop_framework_stream(self, framework_id: str) -> None:
        """Cut a framework's SUBSCRIBE connection as a network failure would."""
        with self._lock:
            framework = self.records.frameworks.get(framework_id)
            if framework is None:
                raise MasterError(f"unknown framework {framework_id}")
            stream = self._framework_streams.get(framework_id)
            if stream is not None:
                stream.close(abort=True)
                self._streams.discard(stream)
                self._disconnect(framework)

    # -- calls ------------------------------------------------------------------------------------------
    def dispatch(self, framework: FrameworkRecord, call: dict) -> None:
        """Run an accepted non-SUBSCRIBE call (the caller holds the lock and checked the stream id)."""
        kind = call["type"]
        now, monotonic, records = self.clock.time(), self.clock.monotonic(), self.records
        handler = {
            "TEARDOWN": lambda: self._run(master_core.teardown(records, framework, now)),
            "ACCEPT": lambda: self._run(master_core.accept(records, framework, call["accept"], now=now,
                                                           monotonic=monotonic)),
            "DECLINE": lambda: self._run(master_core.decline(records, framework, call["decline"], monotonic=monotonic)),
            "REVIVE": lambda: self._run(master_core.revive(records, framework, call.get("revive") or {})),
            "SUPPRESS": lambda: self._run(master_core.suppress(records, framework, call.get("suppress") or {})),
            "KILL": lambda: self._run(master_core.kill(records, framework, call["kill"], now)),
            "ACKNOWLEDGE": lambda: self._run(master_core.acknowledge(records, framework, call["acknowledge"],
                                                                     decode_uuid(call["acknowledge"]["uuid"]))),
            "RECONCILE": lambda: self._run(master_core.reconcile(records, framework,
                                                                 call["reconcile"].get("tasks") or [], now)),
            "SHUTDOWN": lambda: self._run(master_core.shutdown_executor(records, framework, call["shutdown"])),
            "MESSAGE": lambda: self._run(master_core.message_to_executor(records, framework, call["message"])),
        }.get(kind)
        if handler is None:
            log.info("ignoring %s call of framework %s (not supported by the embedded master)", kind, framework.id)
            return
        handler()

    # -- operator event stream ------------------------------------------------------------------------------
    def subscribe_operator(self) -> EventStream:
        """Open an operator event stream: SUBSCRIBED now; then one event per operator effect the core returns
        (``_tell_operators``), and heartbeats from the ticker."""
        stream = EventStream(str(uuidlib.uuid4()), operator=True)
        with self._lock:
            stream.send(master_views.subscribed_event(self._view()))
            stream.next_heartbeat = self.clock.monotonic() + self.heartbeat_interval
            self._streams.add(stream)   # the ticker sends HEARTBEATs and stop() closes it
        return stream

    def operator_call(self, call: dict) -> tuple[int, str]:
        """DEACTIVATE_AGENT / REACTIVATE_AGENT (:func:`.master_core.deactivate_agent`, ``reactivate_agent``)."""
        decide = {"DEACTIVATE_AGENT": master_core.deactivate_agent,
                  "REACTIVATE_AGENT": master_core.reactivate_agent}[call["type"]]
        with self._lock:
            status, text, effects = decide(self.records, call[call["type"].lower()]["agent_id"]["value"])
            self._run(effects)
        return status, text

    # -- failover -----------------------------------------------------------------------------------------
    def fail_over(self) -> None:
        """Restart in place: new id, every stream dropped, offers and filters gone; tasks and agents kept.

        Frameworks are disconnected and must re-subscribe (with their id) within their failover_timeout.
        """
        with self._lock:
            self._reset_identity()
            for stream in list(self._streams):
                stream.close(abort=True)
            self._streams.clear()
            self.records.offers.clear()
            for framework in self.records.frameworks.values():
                framework.filters.clear()
                if framework.id in self._framework_streams:
                    self._disconnect(framework)
            for agent in self.records.agents.values():
                if agent.reachable:
                    agent.reregistered_time = self.clock.time()
                    agent.last_pong = self.clock.monotonic()
        if self._zk_client is not None:
            try:
                if self._zk_node:
                    self._zk_client.delete(self._zk_node)
            except Exception:
                log.debug("zk node %s already gone", self._zk_node)
            self._zk_register()


def _ping(host: str, port: int, timeout: float) -> bool:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()
