"""The MesosExecutor: the edge around :class:`~airflow_mesos.executor.core.ExecutorCore`.

Threads and who owns what:

- Airflow's scheduler thread calls ``queue_workload`` / ``_process_workloads``,
  ``sync``, ``revoke_task``, ``try_adopt_task_instances`` and ``end``.  None of
  them does Mesos I/O: they put commands on :attr:`_inbox` and take results from
  :attr:`_outbox`, so they return in microseconds whatever the master does.
- One thread of ours, ``mesos-executor``, owns the core and the driver's calls:
  it drains the inbox, reads the driver's event queue, feeds the core with the
  time, and performs the instructions (ACCEPT, DECLINE, KILL, ACKNOWLEDGE, the
  framework id in the metadata database, a note in a failed task's log).
- ``mesos-executor-acks`` sends the ACKNOWLEDGE calls, one per status update, so that ours never
  waits behind them; ``mesos-executor-notes`` writes event-log rows and notes in task logs.
- The driver's own threads hold the SUBSCRIBE stream (see ``airflow_mesos.mesos``).

The constructor is cheap and connects to nothing: Airflow's api-server builds
an executor only to call :meth:`get_task_log`.
"""

from __future__ import annotations

import datetime
import json
import logging
import queue
import socket
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.executors import workloads
from airflow.executors.base_executor import BaseExecutor
from airflow.observability.stats import Stats

from airflow_mesos.clock import SYSTEM_CLOCK, Clock
from airflow_mesos.executor import core as c
from airflow_mesos.executor.matcher import TaskDemand
from airflow_mesos.executor.settings import MesosSettings, SettingsError, load_settings
from airflow_mesos.executor.states import Outcome
from airflow_mesos.executor.store import FrameworkStore
from airflow_mesos.executor.task_config import TaskConfigError, parse_executor_config, resolve
from airflow_mesos.executor.taskinfo import (
    DAGS_FOLDER_VAR,
    EXECUTION_API_VAR,
    TaskInfoError,
    VolumeMount,
    WarmExecutor,
    WorkerTask,
    build_task_info,
    split_token,
)
from airflow_mesos.executor.worker_bundles import bundles_env
from airflow_mesos.executor.worker_logging import remote_logging_env
from airflow_mesos.mesos import SchedulerDriver, events
from airflow_mesos.mesos.errors import MesosError

if TYPE_CHECKING:
    from airflow.models.taskinstance import TaskInstance

log = logging.getLogger(__name__)

CAPABILITIES = ("MULTI_ROLE", "PARTITION_AWARE", "TASK_KILLING_STATE", "GPU_RESOURCES")
LOOP_POLL_SECONDS = 0.05
TICK_SECONDS = 1.0
HOUSEKEEPING_SECONDS = 15.0
"""How often the executor thread refreshes the agents' capacity and asks Airflow which tasks it still wants."""
# A try whose TI is in one of these states is not meant to run any more (reset, cleared, up for retry): its
# Mesos task is killed.  Success and failure are not among them: the worker reports the task's result through
# the Execution API a moment before its process exits.
UNWANTED_STATES = ("scheduled", "up_for_retry", "up_for_reschedule", "restarting", "removed")
METRIC_PREFIX = "mesos_executor"
SPEC_CACHE_SIZE = 1024
"""How many distinct executor_configs keep their resolved TaskSpec."""
_NOTHING = object()


@dataclass(frozen=True)
class _Payload:
    """What the edge needs at launch time; the core treats it as opaque.

    The workload is kept as its JSON, not as Airflow's pydantic object: a third of the memory, which
    adds up with 10,000 tasks waiting for offers (docs/benchmarks.md)."""

    workload_json: str = field(repr=False)
    """``workload.model_dump_json()``, token included (split off at launch): never shown."""
    workload_type: type  # workloads.ExecuteTask | workloads.ExecuteCallback, for re-minting a token
    spec: Any      # task_config.TaskSpec
    name: str
    labels: dict[str, str]
    token_subject: str
    warm: WarmExecutor | None = None
    """The warm executor the task runs in (``spec.warm``), else None: a command task."""


class MesosExecutor(BaseExecutor):
    """Runs every Airflow workload as a Mesos task (``[core] executor = airflow_mesos.executor.MesosExecutor``)."""

    supports_callbacks = True
    supports_multi_team = True
    is_local = False
    is_production = True
    serve_logs = False
    pre_assigns_external_executor_id = True

    clock: Clock = SYSTEM_CLOCK
    housekeeping_seconds: float = HOUSEKEEPING_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._settings: MesosSettings | None = None
        self._core: c.ExecutorCore | None = None
        self._driver: SchedulerDriver | None = None
        self._store: FrameworkStore | None = None
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._notes: queue.SimpleQueue = queue.SimpleQueue()
        self._notes_thread: threading.Thread | None = None
        self._acks: queue.SimpleQueue = queue.SimpleQueue()
        self._acks_thread: threading.Thread | None = None
        self._sequence = 0
        self._snapshot = {"waiting": 0, "launched": 0, "connected": 0}
        self._reported_counters = {"offers_received": 0, "offers_declined": 0, "tasks_launched": 0}
        # Per Mesos task id, written by the scheduler thread and read by ours (single dict operations).
        self._submitted_at: dict[str, float] = {}
        self._queries: list[_AdoptQuery] = []
        self._pending_queries: list[_AdoptQuery] = []
        self._last_heartbeat: float | None = None
        self._disconnected_since: float | None = None
        self._health: Any = None
        self._log_paths: dict[str, str] = {}
        self._specs: dict[str, Any] = {}
        self._warm_executors: dict[Any, WarmExecutor] = {}
        self._forwarded: dict[str, str] | None = None

    # --- configuration ------------------------------------------------------------------------

    @property
    def settings(self) -> MesosSettings:
        if self._settings is None:
            self._settings = load_settings(self.conf)
        return self._settings

    @property
    def framework_key(self) -> str:
        """The framework's name in the metadata database (per team)."""
        name = self.settings.framework_name
        return f"{name}@{self.team_name}" if getattr(self, "team_name", None) else name

    def _framework_info(self) -> dict[str, Any]:
        s = self.settings
        return {
            "user": s.framework_user,
            "name": s.framework_name,
            "roles": list(s.roles),
            "capabilities": [{"type": cap} for cap in CAPABILITIES
                             if cap != "PARTITION_AWARE" or s.partition_aware],
            "checkpoint": s.checkpoint,
            "failover_timeout": float(s.failover_timeout),
            "hostname": socket.getfqdn(),
        }

    def _policy(self) -> c.CorePolicy:
        s = self.settings
        from airflow.configuration import conf

        return c.CorePolicy(
            refuse_seconds=s.refuse_seconds,
            revive_min_interval=s.revive_min_interval,
            offer_hold_seconds=s.offer_hold_seconds,
            unreachable_grace=s.unreachable_grace,
            kill_grace_period=s.kill_grace_period,
            token_lifetime=conf.getfloat("scheduler", "task_queued_timeout"),
            token_remint_fraction=s.token_remint_fraction,
            reconcile_grace=s.reconcile_grace,
            placement_timeout=s.placement_timeout,
            default_role=s.default_role,
        )

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Connect to Mesos (scheduler only).  Bad ``[mesos]`` settings stop the scheduler here, with the reason."""
        settings = self.settings
        self._core = c.ExecutorCore(self._policy())
        self._store = FrameworkStore()
        framework_id = None
        try:
            framework_id = self._store.load(self.framework_key)
        except Exception as exc:  # the database is Airflow's; a failure here must not hide the cause
            log.error("could not read the Mesos framework id from the metadata database: %s", exc)
        if framework_id:
            log.info("re-subscribing to Mesos as framework %s (%s)", framework_id, self.framework_key)
        self._driver = self._new_driver(framework_id)
        self._driver.start()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="mesos-executor", daemon=True)
        self._thread.start()
        self._notes_thread = threading.Thread(target=self._write_notes, name="mesos-executor-notes", daemon=True)
        self._notes_thread.start()
        self._acks_thread = threading.Thread(target=self._send_acks, name="mesos-executor-acks", daemon=True)
        self._acks_thread.start()
        self._disconnected_since = self.clock.monotonic()
        if settings.health_check_port:
            from airflow_mesos.executor.health import HealthServer

            self._health = HealthServer(settings.health_check_port, self.health)
            self._health.start()
        log.info("MesosExecutor started: master %s, framework %s, roles %s, container_type %s",
                 settings.master, settings.framework_name, ",".join(settings.roles), settings.container_type)

    def _new_driver(self, framework_id: str | None) -> SchedulerDriver:
        s = self.settings
        return SchedulerDriver(
            self._framework_info(), s.master, framework_id=framework_id,
            principal=s.principal, secret=s.secret_value() if s.principal else None,
            ca_file=s.ca_file, request_timeout=s.request_timeout,
        )

    def end(self) -> None:
        """Stop scheduling.  Running tasks keep running (never TEARDOWN): a new scheduler adopts them."""
        self._stopping.set()
        if self._health is not None:
            self._health.stop()
            self._health = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._notes_thread is not None:
            self._notes.put(None)
            self._notes_thread.join(timeout=15)
            self._notes_thread = None
        if self._acks_thread is not None:
            # After the executor thread: it hands over the acknowledgements Airflow took last.
            self._acks.put(None)
            self._acks_thread.join(timeout=15)
            self._acks_thread = None
        if self._driver is not None:
            self._driver.stop(failover=True)
            self._driver = None

    def terminate(self) -> None:
        """Kill every task this executor launched, then stop."""
        self._inbox.put(("kill_all",))
        deadline = self.clock.monotonic() + 5
        while not self._inbox.empty() and self.clock.monotonic() < deadline and self._thread is not None:
            self.clock.sleep(0.05)
        self.end()

    # --- Airflow's calls (scheduler thread: no I/O) -------------------------------------------

    def _process_workloads(self, workload_items: Sequence[Any]) -> None:
        now = self.clock.monotonic()
        for workload in workload_items:
            if isinstance(workload, workloads.ExecuteTask):
                key = workload.ti.key
                self.queued_tasks.pop(key, None)
            elif isinstance(workload, workloads.ExecuteCallback):
                key = workload.key
                self.queued_callbacks.pop(key, None)
            else:
                log.error("MesosExecutor cannot run a %s workload; dropping it", type(workload).__name__)
                continue
            self.running.add(key)
            try:
                work = self._work_for(workload)
            except (TaskConfigError, TaskInfoError, SettingsError, ValueError) as exc:
                message = f"invalid Mesos task configuration: {exc}"
                log.error("%s: %s", key, message)
                self.log_task_event(event="mesos invalid config", extra=message, ti_key=key)
                self.fail(key, info=message)
                continue
            self._submitted_at[work.task_id] = now
            if getattr(workload, "log_path", None):
                self._log_paths[work.task_id] = str(workload.log_path)
            self._inbox.put(("submit", work, now))

    def heartbeat(self) -> None:
        self._last_heartbeat = self.clock.monotonic()
        super().heartbeat()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """``(healthy, details)`` for the health endpoint: connected to Mesos (or not for long), not taken
        over by another scheduler, and Airflow's scheduler loop still calling us."""
        from airflow_mesos.executor.health import judge_health

        core = self._core
        return judge_health(
            now=self.clock.monotonic(),
            connected=bool(core and core.connected),
            disconnected_since=self._disconnected_since,
            disconnect_reason=core.disconnect_reason if core else "not started",
            taken_over=core.taken_over if core else None,
            last_loop=self._last_heartbeat,
            threshold=self.settings.health_disconnect_threshold,
            framework_id=core.framework_id if core else None,
            master=self._driver.master_url if self._driver is not None else None,
        )

    def sync(self) -> None:
        """Hand Airflow what Mesos said since the last call; then acknowledge those updates."""
        while True:
            try:
                item = self._outbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, c.Report):
                self._apply_report(item)
            elif isinstance(item, c.WaitReason):
                self.log_task_event(event="mesos waiting", extra=item.reason, ti_key=item.key)
        self._emit_metrics_snapshot()

    def _apply_report(self, report: c.Report) -> None:
        key = report.key
        if report.outcome is Outcome.RUNNING:
            if key in self.running:
                self.running_state(key, report.task_id)
        elif report.outcome is Outcome.SUCCESS:
            self.success(key, info=report.info)
        else:
            self.log_task_event(event="mesos task failed", extra=report.info, ti_key=key)
            self.fail(key, info=f"Mesos task {report.task_id}: {report.info}")
        if report.status is not None and report.status.uuid is not None:
            self._inbox.put(("ack", report.status))

    def revoke_task(self, *, ti: TaskInstance) -> None:
        """Kill the task's Mesos task (with the kill policy's grace) and forget it; no event is emitted."""
        task_id = ti.external_executor_id
        self.queued_tasks.pop(ti.key, None)
        self.running.discard(ti.key)
        if task_id:
            self._inbox.put(("revoke", task_id, self.clock.monotonic()))

    def try_adopt_task_instances(self, tis: Sequence[TaskInstance]) -> Sequence[TaskInstance]:
        """Adopt the TIs whose Mesos tasks Mesos still knows; hand back the rest for Airflow to run again.

        One explicit reconciliation of their Mesos task ids (the TIs' ``external_executor_id``) is
        answered within ``[mesos] adopt_timeout``: a task Mesos runs (or that finished meanwhile) is
        adopted, and its real outcome follows; one Mesos does not know (TASK_UNKNOWN/LOST from
        reconciliation: it never launched, or is long gone) is returned, so Airflow resets it and no try
        runs twice.  Without an answer in time (no master), every TI with a Mesos task id is adopted and
        reconciled later.  TIs without a Mesos task id never reached Mesos: they are returned.
        """
        with_id = [ti for ti in tis if ti.external_executor_id]
        not_adopted = [ti for ti in tis if not ti.external_executor_id]
        answers: dict[str, events.TaskStatus] = {}
        if with_id and self._thread is not None:
            query = _AdoptQuery({ti.external_executor_id for ti in with_id})
            self._inbox.put(("query", query))
            query.done.wait(self.settings.adopt_timeout)
            answers = dict(query.answers)
        now = self.clock.monotonic()
        for ti in with_id:
            task_id = ti.external_executor_id
            answer = answers.get(task_id)
            if answer is not None and answer.state in ("TASK_UNKNOWN", "TASK_LOST") \
                    and answer.reason == "REASON_RECONCILIATION":
                log.info("not adopting %s: Mesos does not know its task %s", ti.key, task_id)
                not_adopted.append(ti)
                continue
            demand = TaskDemand(task_id=task_id, group=f"{ti.dag_id}.{ti.task_id}", priority=0, sequence=0,
                                cpus=0.0, mem=0.0, disk=0.0)
            self.running.add(ti.key)
            self._inbox.put(("adopt", c.Work(key=ti.key, demand=demand, payload=None), now))
        if with_id:
            log.info("adopted %d of %d task instance(s) from an earlier scheduler", len(tis) - len(not_adopted),
                     len(tis))
        return not_adopted

    def get_task_log(self, ti: TaskInstance, try_number: int) -> tuple[list[str], list[str]]:
        """The running task's stdout and stderr, read from its Mesos sandbox (works in the api-server)."""
        from airflow_mesos.executor.sandbox_logs import read_task_logs

        task_id = getattr(ti, "external_executor_id", None)
        if not task_id or try_number != ti.try_number:
            return [], []
        try:
            s = self.settings
        except SettingsError as exc:
            return [f"cannot read the Mesos sandbox: {exc}"], []
        return read_task_logs(s.master, task_id, max_bytes=s.task_log_max_bytes, principal=s.principal,
                              secret=s.secret_value() if s.principal else None, ca_file=s.ca_file,
                              timeout=min(s.request_timeout, 10.0))

    def debug_dump(self) -> None:
        super().debug_dump()
        core = self._core
        if core is not None:
            log.info("Mesos: connected=%s framework=%s waiting=%d launched=%d reasons=%s", core.connected,
                     core.framework_id, core.waiting_count(), core.launched_count(), core.wait_reasons())

    # --- building workloads -------------------------------------------------------------------

    def _work_for(self, workload: Any) -> c.Work:
        settings = self.settings
        self._sequence += 1
        if isinstance(workload, workloads.ExecuteTask):
            ti = workload.ti
            spec = self._spec_for(ti.executor_config)
            task_id = ti.external_executor_id or str(uuid.uuid4())
            index = f"[{ti.map_index}]" if ti.map_index is not None and ti.map_index >= 0 else ""
            name = f"airflow {ti.dag_id}.{ti.task_id}{index} {ti.run_id} try {ti.try_number}"
            labels = {"airflow.dag_id": ti.dag_id, "airflow.task_id": ti.task_id, "airflow.run_id": ti.run_id,
                      "airflow.try_number": str(ti.try_number), "airflow.map_index": str(ti.map_index)}
            group, priority, subject = f"{ti.dag_id}.{ti.task_id}", ti.priority_weight, str(ti.id)
        else:
            spec = self._spec_for(None)
            callback_id = str(workload.callback.id)
            task_id = f"airflow-callback-{callback_id}"
            name = f"airflow callback {callback_id}"
            labels = {"airflow.callback_id": callback_id}
            # Callbacks finish work already done: place them before tasks, as BaseExecutor orders them.
            group, priority, subject = "airflow.callbacks", 2**31 - 1, callback_id
        if spec.container_type == "docker" and not settings.allow_plain_token_for_docker:
            raise TaskInfoError(
                "container_type 'docker' cannot receive the task's token as a Mesos secret (Mesos secrets work only "
                "with the Mesos containerizer); use container_type 'mesos', or set [mesos] "
                "allow_plain_token_for_docker = True to accept a plain environment variable"
            )
        warm = self._warm_executor(spec) if getattr(spec, "warm", False) else None
        demand = TaskDemand(task_id=task_id, group=group, priority=priority, sequence=self._sequence,
                            cpus=spec.cpus, mem=spec.mem, disk=spec.disk, gpus=spec.gpus, role=spec.role,
                            constraints=tuple(spec.constraints),
                            executor=warm.demand() if warm is not None else None)
        payload = _Payload(workload_json=workload.model_dump_json(), workload_type=type(workload), spec=spec,
                           name=name, labels=labels, token_subject=subject, warm=warm)
        return c.Work(key=workload.ti.key if isinstance(workload, workloads.ExecuteTask) else workload.key,
                      demand=demand, payload=payload)

    def _spec_for(self, executor_config: Any) -> Any:
        """The resolved TaskSpec of an ``executor_config``; identical configs (most tasks have none) share one,
        which saves the validation and the memory per task.  A bad config raises each time, as before."""
        try:
            key = json.dumps(executor_config, sort_keys=True)
        except (TypeError, ValueError):  # another executor's objects in it: not cacheable, still ours to check
            return resolve(parse_executor_config(executor_config), self.settings)
        spec = self._specs.get(key)
        if spec is None:
            spec = resolve(parse_executor_config(executor_config), self.settings)
            if len(self._specs) < SPEC_CACHE_SIZE:
                self._specs[key] = spec
        return spec

    def _shared_env(self) -> dict[str, str]:
        """The environment every task gets from the scheduler's configuration (before its own ``env``): the
        scheduler's ``[core] load_examples`` and remote logging settings, then ``[mesos] env``."""
        return {**self._forwarded_env(), **self.settings.env}

    def _forwarded_env(self) -> dict[str, str]:
        """The scheduler's options a worker must read as it does (:mod:`worker_bundles`, :mod:`worker_logging`);
        read once: every launch needs them, and Airflow's ``conf.get`` is not free."""
        if self._forwarded is None:
            def get(section: str, key: str) -> str | None:
                return self.conf.get(section, key, fallback=None)

            self._forwarded = {**bundles_env(get), **remote_logging_env(get)}
        return self._forwarded

    def _warm_executor(self, spec: Any) -> WarmExecutor:
        """The warm executor of a resolved TaskSpec; one object per distinct spec (its id is a digest)."""
        volumes = tuple(_volume_mount(v) for v in spec.volumes)
        network = getattr(spec, "network", None) or self.settings.network
        key = (spec.container_type, spec.role, spec.image, spec.force_pull, network,
               json.dumps([v.to_json() for v in volumes], sort_keys=True))
        warm = self._warm_executors.get(key)
        if warm is None:
            s = self.settings
            warm = WarmExecutor(
                framework_name=s.framework_name,
                container_type=spec.container_type,
                role=spec.role,
                cpus=s.warm_executor_cpus,
                mem=s.warm_executor_mem,
                idle_timeout=s.warm_idle_timeout,
                python=s.python,
                image=spec.image,
                force_pull=spec.force_pull,
                network=network,
                volumes=volumes,
                # Mesos runs an executor as the framework's user; for a container, said explicitly (see there).
                user=s.framework_user if spec.container_type == "mesos" else None,
                # What all its tasks share, so that Airflow's configuration as the executor imports the worker
                # is theirs; each task's own env (and these again) come with the task.
                environment={**self._shared_env(), EXECUTION_API_VAR: s.task_api_url, DAGS_FOLDER_VAR: s.dags_folder},
            )
            if len(self._warm_executors) < SPEC_CACHE_SIZE:
                self._warm_executors[key] = warm
        return warm

    def _worker_task(self, launch: c.LaunchTask, offer: events.Offer) -> WorkerTask:
        payload: _Payload = launch.work.payload
        settings, spec = self.settings, payload.spec
        workload_json, token = split_token(payload.workload_json)
        if launch.remint_token:
            token = payload.workload_type.generate_token(payload.token_subject, self.jwt_generator)
            log.info("re-minted the token of %s: it waited %.0f s for an offer", launch.work.task_id,
                     launch.waited_seconds)
        return WorkerTask(
            task_id=launch.work.task_id,
            name=payload.name,
            agent_id=offer.agent_id,
            resources=launch.assignment.resources,
            container_type=spec.container_type,
            workload_json=workload_json,
            token=token,
            execution_api_url=settings.task_api_url,
            dags_folder=settings.dags_folder,
            image=spec.image,
            force_pull=spec.force_pull,
            network=getattr(spec, "network", None) or settings.network,
            volumes=tuple(_volume_mount(v) for v in spec.volumes),
            # The scheduler's load_examples and remote logging reach the worker (which loads the same bundles and
            # uploads its log at the end); [mesos] env and the task's env (in spec.env) win.
            env={**self._forwarded_env(), **spec.env},
            warm=payload.warm,
            framework_id=self._core.framework_id if self._core is not None else None,
            python=settings.python,
            labels=payload.labels,
            kill_grace_seconds=settings.kill_grace_period,
            token_as_plain_env=spec.container_type == "docker" and settings.allow_plain_token_for_docker,
        )

    # --- the mesos-executor thread ------------------------------------------------------------

    def _run(self) -> None:
        next_tick = 0.0
        next_housekeeping = 0.0
        while not self._stopping.is_set():
            try:
                self._drain_inbox()
                driver = self._driver
                event = None
                if driver is not None:
                    try:
                        event = driver.events.get(timeout=LOOP_POLL_SECONDS)
                    except queue.Empty:
                        event = None
                now = self.clock.monotonic()
                if event is not None:
                    self._perform(self._on_event(event, now))
                if self._core.revive_due(now):
                    # A REVIVE held back by revive_min_interval goes out when that is over, not at the tick.
                    self._perform(self._core.deferred_revive(now))
                if now >= next_tick:
                    self._perform(self._core.tick(now))
                    next_tick = now + TICK_SECONDS
                    self._take_snapshot()
                if now >= next_housekeeping and self._core.connected:
                    next_housekeeping = now + self.housekeeping_seconds
                    self._housekeeping()
            except Exception:  # a bug here must not stop scheduling silently; log it and go on
                log.exception("MesosExecutor loop error (continuing)")
                self._stopping.wait(TICK_SECONDS)
        self._drain_inbox(only_acks=True)

    def _housekeeping(self) -> None:
        """Refresh what every agent has in all, and kill Mesos tasks Airflow no longer wants."""
        try:
            self._core.set_capacity(self._agent_capacity())
        except Exception as exc:  # the master's read-only API; placement goes on without the capacity
            log.warning("could not read the Mesos agents' resources: %s", exc)
        try:
            self._kill_unwanted()
        except Exception as exc:
            log.warning("could not check which Mesos tasks Airflow still wants: %s", exc)

    def _agent_capacity(self) -> list[events.Offer]:
        import httpx

        master = self._driver.master_url if self._driver is not None else None
        if master is None:
            return []
        s = self.settings
        auth = (s.principal, s.secret_value()) if s.principal and s.secret is not None else None
        verify: Any = s.ca_file or True
        response = httpx.get(f"{master}/master/slaves", auth=auth, verify=verify, timeout=min(s.request_timeout, 10))
        response.raise_for_status()
        return agents_as_offers(response.json())

    def _kill_unwanted(self) -> None:
        """Drop what Airflow no longer wants: a waiting try whose TI left QUEUED (its run was marked failed,
        the TI skipped or cleared), a launched or unclaimed Mesos task whose try was reset, cleared or marked
        up for retry, or that no TI holds any more."""
        core = self._core
        waiting = {tid for tid in core.waiting_ids() if not tid.startswith("airflow-callback-")}
        launched = {tid for tid in core.task_ids()
                    if core.phase(tid) in c.LAUNCHED_PHASES and not tid.startswith("airflow-callback-")}
        unclaimed = {tid for tid in core.unclaimed_live() if not tid.startswith("airflow-callback-")}
        candidates = sorted(waiting | launched | unclaimed)
        if not candidates:
            return
        states = self._ti_states(candidates)
        for task_id in candidates:
            state = states.get(task_id)
            if task_id in waiting:
                if state == "queued":
                    continue
                log.warning("Airflow no longer wants the waiting try %s (its task instance is %s): dropping it",
                            task_id, state or "gone")
            elif state is not None and state not in UNWANTED_STATES:
                continue
            elif task_id in launched:
                log.warning("Airflow no longer wants Mesos task %s (its try was reset, cleared or marked): "
                            "killing it", task_id)
            else:
                log.warning("Mesos task %s runs for no task instance Airflow wants: killing it", task_id)
            self._perform(core.kill_unwanted(task_id))

    def _ti_states(self, task_ids: Sequence[str]) -> dict[str, str | None]:
        """The state of the task instance whose external_executor_id is each Mesos task id (absent: no TI)."""
        from sqlalchemy import select

        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        states: dict[str, str | None] = {}
        with create_session() as session:
            for start in range(0, len(task_ids), 500):
                chunk = list(task_ids[start:start + 500])
                rows = session.execute(select(TaskInstance.external_executor_id, TaskInstance.state).where(
                    TaskInstance.external_executor_id.in_(chunk)))
                states.update((task_id, None if state is None else getattr(state, "value", state))
                              for task_id, state in rows)
        return states

    def _drain_inbox(self, only_acks: bool = False) -> None:
        core = self._core
        submitted = False
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            kind = item[0]
            if kind == "ack":
                self._acknowledge(item[1])
            elif only_acks:
                continue
            elif kind == "submit":
                self._perform(core.submit(item[1], item[2]))
                submitted = True
            elif kind == "adopt":
                self._perform(core.adopt(item[1], item[2]))
            elif kind == "revoke":
                self._perform(core.revoke(item[1], item[2]))
            elif kind == "query":
                query = item[1]
                if core.connected:
                    self._queries.append(query)
                    self._call("RECONCILE", lambda q=query: self._driver.reconcile([(t, None) for t in q.task_ids]))
                else:
                    self._pending_queries.append(query)
            elif kind == "kill_all":
                for task_id in core.task_ids():
                    self._perform(core.revoke(task_id, self.clock.monotonic()))
        now = self.clock.monotonic()
        if not only_acks and (submitted or core.placement_due(now)):
            # The whole batch at once: one ACCEPT per held offer takes all of it that fits there.
            self._perform(core.end_of_batch(now))

    def _on_event(self, event: events.Event, now: float) -> list[c.Instruction]:
        core = self._core
        if isinstance(event, events.Offers):
            unreadable = [m.offer_id for m in getattr(event, "malformed", ()) if getattr(m, "offer_id", None)]
            for bad in getattr(event, "malformed", ()):
                log.error("declining an offer Mesos sent that cannot be read: %s", getattr(bad, "problem", bad))
            return core.offers(event.offers, now, unreadable)
        if isinstance(event, events.Rescind):
            return core.rescinded(event.offer_id)
        if isinstance(event, events.Update):
            for query in self._queries:
                query.answer(event.status)
            self._queries = [q for q in self._queries if not q.done.is_set()]
            return core.update(event.status, now)
        if isinstance(event, events.Subscribed):
            log.info("subscribed to Mesos as framework %s", event.framework_id)
            self._disconnected_since = None
            out = core.subscribed(event.framework_id, now)
            for query in self._pending_queries:
                self._queries.append(query)
                self._call("RECONCILE", lambda q=query: self._driver.reconcile([(t, None) for t in q.task_ids]))
            self._pending_queries = []
            return out
        if isinstance(event, events.Disconnected):
            if self._disconnected_since is None:
                self._disconnected_since = now
            return core.disconnected(event.reason, now)
        if isinstance(event, events.FailedOver):
            log.error("another scheduler subscribed to Mesos as framework %s (%s): this scheduler places no more "
                      "tasks and does not take the framework back; restart it once the other one is gone",
                      core.framework_id, event.message)
            if self._disconnected_since is None:
                self._disconnected_since = now
            return core.failed_over(event.message, now)
        if isinstance(event, events.SubscribeRefused):
            if self._disconnected_since is None:
                self._disconnected_since = now
            log.error("the Mesos master refused our SUBSCRIBE (HTTP %s): %s", event.status, event.message)
            return core.disconnected(f"SUBSCRIBE refused: {event.message}", now)
        if isinstance(event, events.Error):
            return core.disconnected(f"Mesos sent ERROR: {event.message}", now)
        if isinstance(event, events.FrameworkRemoved):
            log.error("Mesos removed framework %s (%s); subscribing as a new framework", core.framework_id,
                      event.message)
            out = core.framework_removed(event.message, now)
            self._forget_framework_id()
            old, self._driver = self._driver, self._new_driver(None)
            old.stop(failover=True)
            self._driver.start()
            return out
        if isinstance(event, events.Failure) and event.executor_terminated:
            return core.executor_failed(event.agent_id, event.executor_id, event.status, now)
        if isinstance(event, events.Failure) and event.agent_lost:
            log.warning("Mesos agent %s was removed; its tasks' updates follow", event.agent_id)
        if isinstance(event, events.Message):
            # Our warm executor sends none today; the bytes are the executor's, not ours to print.
            log.info("MESSAGE from executor %s on agent %s (%d bytes), ignored", event.executor_id, event.agent_id,
                     len(event.data))
        return []

    def _perform(self, instructions: Sequence[c.Instruction]) -> None:
        for instruction in instructions:
            try:
                self._perform_one(instruction)
            except Exception:
                log.exception("MesosExecutor could not perform %s", type(instruction).__name__)

    def _perform_one(self, instruction: c.Instruction) -> None:
        driver, core, now = self._driver, self._core, self.clock.monotonic()
        if isinstance(instruction, c.Launch):
            self._launch(instruction, now)
        elif isinstance(instruction, c.Decline):
            self._call("DECLINE", lambda: driver.decline(instruction.offer_ids, instruction.refuse_seconds))
        elif isinstance(instruction, c.Revive):
            self._call("REVIVE", lambda: driver.revive(list(self.settings.roles)))
        elif isinstance(instruction, c.Suppress):
            self._call("SUPPRESS", lambda: driver.suppress(list(self.settings.roles)))
        elif isinstance(instruction, c.Kill):
            self._call("KILL", lambda: driver.kill(instruction.task_id, instruction.agent_id,
                                                   instruction.grace_seconds))
        elif isinstance(instruction, c.Acknowledge):
            self._acknowledge(instruction.status)
        elif isinstance(instruction, c.Reconcile):
            self._call("RECONCILE", lambda: driver.reconcile(list(instruction.tasks)))
        elif isinstance(instruction, c.Report):
            if instruction.outcome is Outcome.RUNNING:
                self._timing_since_submit("launch_latency", instruction.task_id)
            if instruction.outcome is not Outcome.RUNNING:
                self._timing_since_submit("task_duration", instruction.task_id)
                self._submitted_at.pop(instruction.task_id, None)
                log_path = self._log_paths.pop(instruction.task_id, None)
                if instruction.outcome is Outcome.FAILED and log_path:
                    self._notes.put(("note", instruction.task_id, log_path, instruction.info))
            self._outbox.put(instruction)
        elif isinstance(instruction, c.WaitReason):
            # Only an event-log row: written from here (the notes thread saves it), so the scheduler's loop
            # does not take 10,000 of them in one sync when a cycle gives every waiting task its reason.
            self.log_task_event(event="mesos waiting", extra=instruction.reason, ti_key=instruction.key)
        elif isinstance(instruction, c.ExecutorFailed):
            status = "" if instruction.status is None else f" with status {instruction.status}"
            if instruction.task_ids:
                log.warning("Mesos executor %s on agent %s terminated%s; its %d task(s) fail with it and Airflow "
                            "retries them per their retries: %s", instruction.executor_id, instruction.agent_id,
                            status, len(instruction.task_ids), ", ".join(instruction.task_ids))
            else:
                log.info("Mesos executor %s on agent %s terminated%s (no task of ours in it)",
                         instruction.executor_id, instruction.agent_id, status)
        elif isinstance(instruction, c.PersistFrameworkId):
            try:
                self._store.save(self.framework_key, instruction.framework_id, str(self.settings.master))
            except Exception as exc:
                log.error("could not store the Mesos framework id %s in the metadata database: %s",
                          instruction.framework_id, exc)
        else:  # pragma: no cover - a new instruction type without a case here is a bug
            raise TypeError(f"unknown instruction {instruction!r}")
        del core

    def _launch(self, launch: c.Launch, now: float) -> None:
        infos, task_ids = [], []
        for task in launch.tasks:
            try:
                infos.append(build_task_info(self._worker_task(task, launch.offer), launch.offer.raw))
                task_ids.append(task.work.task_id)
            except (TaskInfoError, ValueError) as exc:
                self._perform(self._core.invalid_task(task.work.task_id, f"invalid Mesos task configuration: {exc}"))
        if not infos:
            self._call("DECLINE", lambda: self._driver.decline([launch.offer.id], launch.refuse_seconds))
            return
        try:
            self._driver.launch([launch.offer.id], infos, launch.refuse_seconds)
        except MesosError as exc:
            log.warning("ACCEPT of offer %s failed (%s); %d task(s) wait for another offer", launch.offer.id, exc,
                        len(task_ids))
            self._perform(self._core.launch_failed(task_ids, str(exc), now))
            return
        for task in launch.tasks:
            Stats.timing(f"{METRIC_PREFIX}.wait_for_offer", datetime.timedelta(seconds=task.waited_seconds))

    def _acknowledge(self, status: events.TaskStatus) -> None:
        """ACKNOWLEDGE on the ``mesos-executor-acks`` thread: one HTTP call per update (three per task), so
        offers and updates never wait behind them on ours (docs/benchmarks.md).  At once when that thread
        does not run."""
        if self._acks_thread is not None:
            self._acks.put(status)
        else:
            self._call("ACKNOWLEDGE", lambda: self._driver.acknowledge(status))

    def _send_acks(self) -> None:
        while True:
            status = self._acks.get()
            if status is None:
                return
            driver = self._driver
            if driver is not None:
                self._call("ACKNOWLEDGE", lambda d=driver, st=status: d.acknowledge(st))

    def _call(self, name: str, send: Any) -> None:
        try:
            send()
        except MesosError as exc:
            # The master resends updates and re-offers resources, so a lost call costs a little time only.
            log.warning("Mesos %s failed: %s", name, exc)

    def _forget_framework_id(self) -> None:
        try:
            self._store.clear(self.framework_key)
        except Exception as exc:
            log.error("could not clear the Mesos framework id in the metadata database: %s", exc)

    def log_task_event(self, *, event: str, extra: str, ti_key: Any) -> None:
        """A row in the TI's event log (Airflow's ``log`` table), written by our I/O thread.

        BaseExecutor's own path hands its rows to the scheduler, which saves them with
        ``bulk_save_objects``; with Airflow 3.3.2 and SQLAlchemy 2.1 that inserts empty rows and fails
        (NOT NULL on ``log.event``), so every executor event was lost.  Ours are added one by one.
        """
        from airflow.models.taskinstancekey import TaskInstanceKey

        if not isinstance(ti_key, TaskInstanceKey):
            return
        if self._notes_thread is None:
            super().log_task_event(event=event, extra=extra, ti_key=ti_key)
            return
        self._notes.put(("event", event, extra, ti_key))

    def _write_notes(self) -> None:
        """The ``mesos-executor-notes`` thread: event-log rows, and Mesos' word in failed tries' log files.

        Its own thread, because these are database writes and sandbox reads (several HTTP requests) that
        must hold up neither Airflow's loop nor offers and status updates."""
        carried: Any = _NOTHING
        while True:
            job = carried if carried is not _NOTHING else self._notes.get()
            carried = _NOTHING
            if job is None:
                return
            try:
                if job[0] == "event":
                    rows = [job[1:]]
                    # Save the rows waiting behind it in the same transaction.
                    while len(rows) < 500:
                        try:
                            nxt = self._notes.get_nowait()
                        except queue.Empty:
                            break
                        if nxt is None or nxt[0] != "event":
                            carried = nxt
                            break
                        rows.append(nxt[1:])
                    self._save_events(rows)
                else:
                    self._note_in_task_log(*job[1:])
            except Exception:
                log.exception("could not write to a task's event log or log file")

    def _save_events(self, rows: list[tuple]) -> None:
        from airflow.models import Log
        from airflow.utils.session import create_session

        with create_session() as session:
            session.add_all([Log(event=event, task_instance=key, extra=extra) for event, extra, key in rows])

    def _note_in_task_log(self, task_id: str, log_path: str, info: str) -> None:
        """Append Mesos' word to the try's log file; where the worker wrote none there (it never ran, or its
        log is on a lost agent), first copy what its Mesos sandbox holds (stderr, stdout)."""
        from airflow.configuration import conf

        base = conf.get("logging", "base_log_folder", fallback=None)
        if not base:
            return
        path = Path(base) / log_path
        lines: list[str] = []
        if not path.exists() or path.stat().st_size == 0:
            from airflow_mesos.executor.sandbox_logs import read_task_logs

            s = self.settings
            _, sandbox = read_task_logs(s.master, task_id, max_bytes=64 * 1024, principal=s.principal,
                                        secret=s.secret_value() if s.principal else None, ca_file=s.ca_file,
                                        timeout=min(s.request_timeout, 10.0))
            lines = [chunk.rstrip("\n") for chunk in sandbox if chunk.strip()]
        lines.append(json.dumps({
            "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "event": f"Mesos ended this try: {info}",
            "level": "error",
            "logger": "airflow_mesos.executor",
        }))
        try:
            _make_log_folder(path.parent, Path(base),
                             int(conf.get("logging", "file_task_handler_new_folder_permissions", fallback="0o775"), 8))
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
        except OSError as exc:
            log.warning("could not write Mesos' reason into %s: %s", path, exc)

    # --- metrics ------------------------------------------------------------------------------

    def _take_snapshot(self) -> None:
        core = self._core
        self._snapshot = {"waiting": core.waiting_count(), "launched": core.launched_count(),
                          "connected": int(core.connected)}

    def _emit_metrics_snapshot(self) -> None:
        snapshot, core = self._snapshot, self._core
        Stats.gauge(f"{METRIC_PREFIX}.queued", snapshot["waiting"])
        Stats.gauge(f"{METRIC_PREFIX}.running", snapshot["launched"])
        Stats.gauge(f"{METRIC_PREFIX}.connected", snapshot["connected"])
        if core is None:
            return
        for name in ("offers_received", "offers_declined", "tasks_launched"):
            value = getattr(core, name)
            delta = value - self._reported_counters[name]
            if delta > 0:
                Stats.incr(f"{METRIC_PREFIX}.{name}", delta)
                self._reported_counters[name] = value

    def _timing_since_submit(self, name: str, task_id: str) -> None:
        started = self._submitted_at.get(task_id)
        if started is not None:
            Stats.timing(f"{METRIC_PREFIX}.{name}",
                         datetime.timedelta(seconds=max(0.0, self.clock.monotonic() - started)))


def _make_log_folder(folder: Path, base: Path, mode: int) -> None:
    """Create ``folder`` under ``base`` with Airflow's folder permissions on every level we create, so
    that a later try's worker (another user, in a container) can still write its own log beside ours."""
    missing = []
    current = folder
    while not current.exists() and current != base and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        directory.chmod(mode)


def _volume_mount(volume: Any) -> VolumeMount:
    """A task_config volume as the TaskInfo builder's :class:`VolumeMount`."""
    if isinstance(volume, VolumeMount):
        return volume
    get = volume.get if isinstance(volume, dict) else (lambda k, d=None: getattr(volume, k, d))
    return VolumeMount(
        container_path=get("container_path"),
        mode=(get("mode") or "RW").upper(),
        host_path=get("host_path"),
        docker_volume=get("docker_volume"),
        driver=get("driver"),
        driver_options=dict(get("driver_options") or {}),
    )


class _AdoptQuery:
    """One try_adopt_task_instances' question to Mesos: the latest status of these task ids."""

    def __init__(self, task_ids: set[str]) -> None:
        self.task_ids = frozenset(task_ids)
        self.answers: dict[str, events.TaskStatus] = {}
        self.done = threading.Event()

    def answer(self, status: events.TaskStatus) -> None:
        if status.task_id in self.task_ids:
            self.answers[status.task_id] = status
            if len(self.answers) == len(self.task_ids):
                self.done.set()


def agents_as_offers(slaves: Any) -> list[events.Offer]:
    """The master's ``/master/slaves`` as one offer of everything per active agent (for capacity checks)."""
    out = []
    for agent in (slaves or {}).get("slaves", []):
        if not isinstance(agent, dict) or not agent.get("active", True):
            continue
        resources = []
        for name, value in (agent.get("resources") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                resources.append({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}, "role": "*"})
        attributes = []
        for name, value in (agent.get("attributes") or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                attributes.append({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}})
            elif isinstance(value, str):
                attributes.append({"name": name, "type": "TEXT", "text": {"value": value}})
        try:
            out.append(events.parse_offer({"id": {"value": f"capacity-{agent.get('id')}"},
                                           "agent_id": {"value": str(agent.get("id"))},
                                           "hostname": str(agent.get("hostname", "")),
                                           "resources": resources, "attributes": attributes}))
        except Exception as exc:  # one odd agent entry must not hide the others
            log.debug("skipping agent entry %r: %s", agent.get("id"), exc)
    return out
