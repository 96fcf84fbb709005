"""The MesosExecutor's own decisions, as a pure state machine: stimuli in, instructions out.

The edge (:mod:`~airflow_mesos.executor.executor`) owns the driver, the clock,
the metadata database and Airflow's event buffer.  It feeds :class:`ExecutorCore`
what happened (a workload was queued, offers came, a status update arrived, a
second passed) with the time passed in, and performs the instructions it gets
back (ACCEPT these offers with these tasks, DECLINE those, REVIVE, tell Airflow
this try failed, acknowledge that update ...).  Nothing here does I/O or reads a
clock, so every decision is tested with plain values.

A task's life here::

    WAITING --offer--> LAUNCHING --STAGING/STARTING--> STARTING --RUNNING--> RUNNING
       ^                   |                                           |
       +---- RELAUNCH -----+ (stale offer; nothing ran)                +--UNREACHABLE--> UNREACHABLE
                                                                           (grace, then FAILED)

and it leaves on a terminal update, on revoke, or after the unreachable grace.
Updates that carry a uuid are acknowledged only after Airflow applied what they
mean (:class:`Report` holds the status; the edge acknowledges once ``sync``
handed it to Airflow), so a crash in between makes Mesos send them again.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_mesos.executor.matcher import Assignment, PlacedTask, TaskDemand, match
from airflow_mesos.executor.states import Outcome, describe, judge
from airflow_mesos.mesos.events import Offer, TaskStatus

__all__ = [
    "Acknowledge",
    "CorePolicy",
    "Decline",
    "ExecutorCore",
    "ExecutorFailed",
    "Instruction",
    "Kill",
    "Launch",
    "LaunchTask",
    "Phase",
    "PersistFrameworkId",
    "Reconcile",
    "Report",
    "Revive",
    "Suppress",
    "Work",
    "WaitReason",
]


class Phase(enum.Enum):
    WAITING = "waiting"        # queued in the executor, waiting for an offer that fits
    LAUNCHING = "launching"    # ACCEPT sent, no status yet
    STARTING = "starting"      # STAGING / STARTING on an agent
    RUNNING = "running"
    UNREACHABLE = "unreachable"
    ADOPTED = "adopted"        # taken over from an earlier scheduler; its Mesos state is being reconciled


LAUNCHED_PHASES = frozenset({Phase.LAUNCHING, Phase.STARTING, Phase.RUNNING, Phase.UNREACHABLE, Phase.ADOPTED})


@dataclass(frozen=True)
class Work:
    """A workload the executor was handed: the matcher's demand plus what the edge needs to launch it."""

    key: Hashable
    """Airflow's key (TaskInstanceKey or CallbackKey); opaque here."""
    demand: TaskDemand
    payload: Any = field(repr=False, compare=False)
    """What the edge builds the TaskInfo from (the workload and its resolved TaskSpec); opaque here."""

    @property
    def task_id(self) -> str:
        return self.demand.task_id


@dataclass(slots=True)
class _Task:
    work: Work
    phase: Phase
    submitted_at: float
    agent_id: str | None = None
    hostname: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    launched_at: float | None = None
    unreachable_since: float | None = None
    wait_reason: str | None = None
    revoked: bool = False
    reported_running: bool = False
    ever_started: bool = False
    last_status: TaskStatus | None = None
    executor_relaunches: int = 0
    """Times placed again because its executor ended before it ran (see ``states.MAX_EXECUTOR_RELAUNCHES``)."""


# --- instructions ------------------------------------------------------------------------------


class Instruction:
    __slots__ = ()


@dataclass(frozen=True)
class LaunchTask:
    work: Work
    assignment: Assignment
    remint_token: bool
    """The task waited longer than a safe share of its token's lifetime: mint a fresh one."""
    waited_seconds: float


@dataclass(frozen=True)
class Launch(Instruction):
    """ACCEPT ``offer`` with one LAUNCH of ``tasks``."""

    offer: Offer
    tasks: tuple[LaunchTask, ...]
    refuse_seconds: float


@dataclass(frozen=True)
class Decline(Instruction):
    offer_ids: tuple[str, ...]
    refuse_seconds: float


@dataclass(frozen=True)
class Revive(Instruction):
    pass


@dataclass(frozen=True)
class Suppress(Instruction):
    pass


@dataclass(frozen=True)
class Kill(Instruction):
    task_id: str
    agent_id: str | None
    grace_seconds: float


@dataclass(frozen=True)
class Acknowledge(Instruction):
    """Acknowledge now: the update changes nothing Airflow needs to record."""

    status: TaskStatus


@dataclass(frozen=True)
class Reconcile(Instruction):
    """Explicit reconciliation of ``(task_id, agent_id|None)`` pairs; empty = implicit."""

    tasks: tuple[tuple[str, str | None], ...]


@dataclass(frozen=True)
class Report(Instruction):
    """Tell Airflow: ``outcome`` is RUNNING, SUCCESS or FAILED.  ``status`` (when it has a uuid)
    is acknowledged after Airflow took the report."""

    key: Hashable
    task_id: str
    outcome: Outcome
    info: str
    status: TaskStatus | None
    worker_started: bool
    """False when the worker never ran (bad image, TASK_ERROR, never placed): it wrote no log."""


@dataclass(frozen=True)
class WaitReason(Instruction):
    """Why a queued task is not placed yet changed (for its event log and the Mesos UI page)."""

    key: Hashable
    task_id: str
    reason: str


@dataclass(frozen=True)
class PersistFrameworkId(Instruction):
    framework_id: str


@dataclass(frozen=True)
class ExecutorFailed(Instruction):
    """Mesos said a (warm-worker) executor terminated (FAILURE): the edge logs it.  ``task_ids`` are the tasks
    this executor launched into it on that agent and still waits to hear the end of; their TASK_FAILED or
    TASK_LOST (REASON_EXECUTOR_TERMINATED) follows from the agent, and a reconciliation asks after them."""

    agent_id: str | None
    executor_id: str
    status: int | None
    task_ids: tuple[str, ...]


@dataclass(frozen=True)
class CorePolicy:
    """The settings the core's decisions depend on (from ``[mesos]``)."""

    refuse_seconds: float = 5.0
    """Refuse filter of declined offers while tasks wait (they come back soon)."""
    idle_refuse_seconds: float = 120.0
    """Refuse filter of offers declined when nothing waits (offers are suppressed too)."""
    revive_min_interval: float = 0.5
    offer_hold_seconds: float = 0.0
    """How long offers that nothing waits for are kept before they are declined (and offers suppressed), so
    that a task queued meanwhile launches into them at once, not after a REVIVE and the master's next
    allocation (0: declined at once).  Apache Aurora holds offers the same way; the master may rescind them
    (``--offer_timeout``)."""
    held_batch_seconds: float = 0.1
    """Tasks queued one at a time go into held offers together, as a batch at most this old."""
    unreachable_grace: float = 300.0
    kill_grace_period: float = 30.0
    token_lifetime: float = 600.0
    token_remint_fraction: float = 0.5
    reconcile_interval: float = 10.0
    """How long to wait for an explicit reconciliation's answer before asking again (doubling, up to
    ``reconcile_max_interval``); also how often unreachable tasks are asked after."""
    reconcile_max_interval: float = 300.0
    implicit_reconcile_interval: float = 900.0
    """How often to ask Mesos for the state of every task (implicit reconciliation)."""
    reconcile_grace: float = 120.0
    """After a (re)subscription, a reconciliation that says a launched task is LOST or UNKNOWN is not
    believed at once (MESOS-6250: right after a master failover it may say so of tasks that run, until
    their agents re-register): the task is asked about again, and fails only if Mesos still does not
    know it this long after the subscription."""
    placement_timeout: float = 0.0
    """Fail a task that waited this long for an offer although no agent could ever hold it (0: never)."""
    default_role: str = "*"


_MAX_EXECUTOR_EXITS = 1000
"""Executor exits remembered for their tasks' failure messages (the updates follow within seconds)."""


def _executor_of(task: _Task) -> str | None:
    """The warm executor a task was launched into (None: a command task, or adopted without its config)."""
    executor = task.work.demand.executor
    if executor is not None:
        return executor.executor_id
    status = task.last_status
    if status is not None and status.executor_id and status.executor_id != task.work.task_id:
        return status.executor_id
    return None


def _agent_words(reason: str) -> str:
    """The matcher speaks of offers; against whole agents its reason is about agents."""
    return reason.replace("the largest offers have", "the largest agents have").replace(
        "the largest offer has", "the largest agent has").replace("no single offer", "no single agent")


class ExecutorCore:
    """The executor's state: tasks by Mesos id, connection, suppression.  Pure."""

    def __init__(self, policy: CorePolicy | None = None) -> None:
        self.policy = policy or CorePolicy()
        self._tasks: dict[str, _Task] = {}
        # The WAITING subset of _tasks, in submission order, so that a cycle never scans the running ones.
        self._waiting: dict[str, _Task] = {}
        self._sequence = 0
        self.connected = False
        self.framework_id: str | None = None
        self.disconnect_reason: str | None = "not subscribed to a Mesos master yet"
        self._suppressed = False
        self._last_revive: float | None = None
        self._revive_pending = False
        self._reconcile_asked_at: float | None = None
        self._reconcile_backoff = self.policy.reconcile_interval
        self._unanswered: dict[str, str | None] = {}
        self._subscribed_at: float | None = None
        self._last_implicit: float | None = None
        self._last_unreachable_ask: float | None = None
        self.taken_over: str | None = None
        """Set when another scheduler took the framework over: this one places nothing any more."""
        self._capacity: tuple[Offer, ...] = ()
        # Offers held while nothing waits (offer_hold_seconds): id -> (offer, when it came).  Never held while
        # a task waits: then unused offers are declined, as they cannot take what waits.
        self._held: dict[str, tuple[Offer, float]] = {}
        self._busy_at: float | None = None  # when work was last queued or launched (for offer_hold_seconds)
        self._revived_for_batch = False  # a submit of the batch that end_of_batch ends sent a REVIVE
        self._held_due: float | None = None  # when waiting tasks go into the held offers (held_batch_seconds)
        self._unclaimed: dict[str, TaskStatus] = {}
        # (agent id, executor id) -> its exit status, from FAILURE events, to name in its tasks' failures.
        self._executor_exits: dict[tuple[str | None, str], int | None] = {}
        # Counters for metrics; the edge reads and reports them.
        self.offers_received = 0
        self.offers_declined = 0
        self.tasks_launched = 0

    # --- views --------------------------------------------------------------------------------

    def phase(self, task_id: str) -> Phase | None:
        task = self._tasks.get(task_id)
        return task.phase if task is not None else None

    def waiting_count(self) -> int:
        return len(self._waiting)

    def held_offer_ids(self) -> list[str]:
        """The offers held for tasks to come (``offer_hold_seconds``), oldest first."""
        return list(self._held)

    def launched_count(self) -> int:
        # Every task is WAITING (and in _waiting) or in one of LAUNCHED_PHASES.
        return len(self._tasks) - len(self._waiting)

    def wait_reasons(self) -> dict[str, str]:
        return {tid: t.wait_reason or "" for tid, t in self._waiting.items()}

    def task_ids(self) -> list[str]:
        return list(self._tasks)

    def key_of(self, task_id: str) -> Hashable | None:
        task = self._tasks.get(task_id)
        return task.work.key if task is not None else None

    # --- stimuli ------------------------------------------------------------------------------

    def submit(self, work: Work, now: float) -> list[Instruction]:
        """A workload was queued to the executor.  The edge calls :meth:`end_of_batch` after each batch of
        submissions: only then does the batch go into the offers held (one ACCEPT per offer takes all of it
        that fits there) and does what still waits get its reason."""
        if work.task_id in self._tasks:
            return []  # the same try handed twice: keep the one we have
        task = _Task(work=work, phase=Phase.WAITING, submitted_at=now)
        self._tasks[work.task_id] = self._waiting[work.task_id] = task
        self._busy_at = now
        out = self._want_offers(now)
        if out:
            self._revived_for_batch = True
        return out

    def adopt(self, work: Work, now: float) -> list[Instruction]:
        """A task an earlier scheduler launched: track it and ask Mesos how it is."""
        if work.task_id in self._tasks:
            return []
        task = _Task(work=work, phase=Phase.ADOPTED, submitted_at=now, launched_at=now)
        self._tasks[work.task_id] = task
        out: list[Instruction] = []
        early = self._unclaimed.pop(work.task_id, None)
        if early is not None:
            out += self._apply_status(task, early, now, acknowledged=True)
        if work.task_id in self._tasks and self.connected:
            self._unanswered[work.task_id] = task.agent_id
            out.append(Reconcile(((work.task_id, task.agent_id),)))
            self._reconcile_asked_at = now
        return out

    def revoke(self, task_id: str, now: float) -> list[Instruction]:
        """Airflow withdrew the task (stuck in queued, cleared ...): kill it, tell Airflow nothing."""
        task = self._tasks.get(task_id)
        if task is None:
            return []
        if task.phase is Phase.WAITING:
            self._forget(task_id)
            return self._maybe_suppress(now)
        task.revoked = True
        return [Kill(task_id, task.agent_id, self.policy.kill_grace_period)]

    def end_of_batch(self, now: float) -> list[Instruction]:
        """After a batch of :meth:`submit`: place what waits into the offers held (``offer_hold_seconds``) and
        REVIVE (rate-limited) for what they cannot take; then give what still waits without a reason its
        first one.  (A task placed at once gets none: its event log says nothing of a wait it did not have.)

        The REVIVE: offers are not suppressed in a busy stretch, so without it a task would wait for the
        filters of the offers declined or accepted before (an ACCEPT's leftover comes back only after its
        filter, or when a task on that agent ends)."""
        out: list[Instruction] = []
        if self.policy.offer_hold_seconds > 0 and self._waiting and self.connected and self.taken_over is None:
            if self._held:
                if self._held_due is None:
                    self._held_due = now + self.policy.held_batch_seconds
                if now < self._held_due:
                    # Tasks queued one by one (a steady stream) go into held offers together, a batch at most
                    # this old: one ACCEPT per task costs the master as much as one for many.  The edge calls
                    # again once placement_due says so; meanwhile they wait without a reason of their own.
                    return out
                out += self._place(self._held_offers(), now, ())
            if self._waiting and not self._revived_for_batch:  # once per batch
                out += self._revive(now)
        self._held_due = None
        self._revived_for_batch = False
        if self._waiting:
            reason = "waiting for offers from Mesos" if self.connected else self._not_connected_reason()
            for task in self._waiting.values():
                if task.wait_reason is None:
                    out += self._set_reason(task, reason)
        return out

    def placement_due(self, now: float) -> bool:
        """Tasks wait for the held offers' batch (``held_batch_seconds``) and its time came: call
        :meth:`end_of_batch`."""
        return self._held_due is not None and now >= self._held_due

    def revive_due(self, now: float) -> bool:
        """A REVIVE that ``revive_min_interval`` held back may go out now: call :meth:`deferred_revive`.  (The
        edge asks between events, so it goes out when its interval is over, not at the next tick.)"""
        return self._revive_pending and self.connected and (
            self._last_revive is None or now - self._last_revive >= self.policy.revive_min_interval)

    def deferred_revive(self, now: float) -> list[Instruction]:
        """The REVIVE held back, if it is due and work still waits (what :meth:`tick` also does)."""
        if not self.revive_due(now):
            return []
        if not self._waiting:
            self._revive_pending = False
            return []
        return self._revive(now)

    def rescinded(self, offer_id: str) -> list[Instruction]:
        """RESCIND: the master took an offer back; a held one is dropped (one in use is the ACCEPT's problem,
        and a stale offer sends its tasks back to waiting).  Suppression, if due, is the next tick's."""
        self._held.pop(offer_id, None)
        return []

    def subscribed(self, framework_id: str, now: float) -> list[Instruction]:
        out: list[Instruction] = []
        self._held.clear()  # offers belong to the subscription they came on
        if framework_id != self.framework_id:
            out.append(PersistFrameworkId(framework_id))
        self.framework_id = framework_id
        self.connected = True
        self.disconnect_reason = None
        # A new subscription starts unsuppressed (we subscribe without suppressed roles).
        self._suppressed = False
        self._last_revive = now
        self._revive_pending = False
        self._subscribed_at = now
        self._last_implicit = now
        launched = {tid: t.agent_id for tid, t in self._tasks.items() if t.phase in LAUNCHED_PHASES}
        self._unanswered = dict(launched)
        self._reconcile_backoff = self.policy.reconcile_interval
        if launched:
            out.append(Reconcile(tuple(launched.items())))
            self._reconcile_asked_at = now
        for task in self._waiting.values():
            out += self._set_reason(task, "waiting for offers from Mesos")
        out += self._maybe_suppress(now)
        return out

    def disconnected(self, reason: str, now: float) -> list[Instruction]:
        self.connected = False
        self._held.clear()
        self.disconnect_reason = reason
        out: list[Instruction] = []
        for task in self._waiting.values():
            out += self._set_reason(task, self._not_connected_reason())
        return out

    def framework_removed(self, message: str, now: float) -> list[Instruction]:
        """Mesos forgot the framework (torn down or failover timeout): every launched task is gone."""
        self.framework_id = None
        out = self.disconnected(f"the framework was removed from Mesos: {message}", now)
        for task_id, task in list(self._tasks.items()):
            if task.phase in LAUNCHED_PHASES:
                self._forget(task_id)
                if not task.revoked:
                    out.append(Report(task.work.key, task_id, Outcome.FAILED,
                                      f"Mesos removed the framework and with it the task: {message}", None,
                                      task.ever_started))
        return out

    def offers(self, offers: Sequence[Offer], now: float, unreadable: Iterable[str] = ()) -> list[Instruction]:
        """An OFFERS event: place what waits, decline the rest (or hold it, see ``offer_hold_seconds``).
        ``unreadable`` offer ids are declined."""
        self.offers_received += len(offers)
        unreadable = tuple(unreadable)
        if not self._waiting:
            if self.policy.offer_hold_seconds > 0 and self.connected and self.taken_over is None:
                for offer in offers:
                    self._held[offer.id] = (offer, now)
                out: list[Instruction] = []
                if unreadable:
                    out.append(self._decline(unreadable, self.policy.refuse_seconds))
                return out
            declined = tuple(o.id for o in offers) + unreadable
            out = []
            if declined:
                out.append(self._decline(declined, self.policy.idle_refuse_seconds))
            out += self._maybe_suppress(now)
            return out
        # What waits did not fit the held offers when it came, or waits for their batch: all of them together now.
        self._held_due = None
        pool = self._held_offers() + list(offers)
        return self._place(pool, now, unreadable)

    def _place(self, offers: Sequence[Offer], now: float, unreadable: tuple[str, ...]) -> list[Instruction]:
        """Match what waits into ``offers`` (new and held): launch, then hold or decline what is left."""
        out: list[Instruction] = []
        waiting = list(self._waiting.values())
        # The launched tasks count only for the constraints that count instances: without any constraint in
        # what waits (most cycles) they are not listed, which would cost one object per launched task per cycle,
        # and a cycle runs for every batch Airflow queues.  "is not WAITING" is "in LAUNCHED_PHASES" without
        # hashing an Enum per task (a Python-level __hash__).
        waiting_phase = Phase.WAITING
        placed = [PlacedTask(t.work.demand.group, t.agent_id, t.hostname or "", t.attributes)
                  for t in self._tasks.values() if t.phase is not waiting_phase and t.agent_id is not None] \
            if any(t.work.demand.constraints for t in waiting) else []
        result = match([t.work.demand for t in waiting], offers, placed, default_role=self.policy.default_role)
        by_id = {o.id: o for o in offers}
        held = self._held
        for launch in result.launches:
            offer = by_id[launch.offer_id]
            held.pop(offer.id, None)
            tasks = []
            for assignment in launch.tasks:
                task = self._tasks[assignment.task_id]
                waited = now - task.submitted_at
                remint = waited > self.policy.token_lifetime * self.policy.token_remint_fraction
                task.phase = Phase.LAUNCHING
                del self._waiting[assignment.task_id]
                task.agent_id = offer.agent_id
                task.hostname = offer.hostname
                task.attributes = dict(offer.attributes)
                task.launched_at = now
                task.wait_reason = None
                tasks.append(LaunchTask(task.work, assignment, remint, waited))
            self.tasks_launched += len(tasks)
            self._busy_at = now
            out.append(Launch(offer, tuple(tasks), self.policy.refuse_seconds))
        if not self._waiting and self.policy.offer_hold_seconds > 0:
            # Everything placed: what is left is held for the next tasks (the held ones keep their age).
            for offer_id in result.unused_offer_ids:
                if offer_id not in held:
                    held[offer_id] = (by_id[offer_id], now)
            declined = unreadable
        else:
            declined = tuple(result.unused_offer_ids) + unreadable
            for offer_id in result.unused_offer_ids:
                held.pop(offer_id, None)
        if declined:
            out.append(self._decline(declined, self.policy.refuse_seconds))
        tasks = self._tasks
        for task_id, reason in result.waiting.items():
            task = tasks[task_id]
            if task.wait_reason != reason:  # _set_reason, inline: this runs for every waiting task
                task.wait_reason = reason
                out.append(WaitReason(task.work.key, task_id, reason))
        out += self._maybe_suppress(now)
        return out

    def launch_failed(self, task_ids: Iterable[str], reason: str, now: float) -> list[Instruction]:
        """The ACCEPT did not reach the master: the tasks wait for another offer."""
        out: list[Instruction] = []
        for task_id in task_ids:
            task = self._tasks.get(task_id)
            if task is None or task.phase is not Phase.LAUNCHING:
                continue
            if task.revoked:
                self._forget(task_id)
                continue
            self._back_to_waiting(task)
            out += self._set_reason(task, f"launch did not reach Mesos ({reason}); waiting for another offer")
        out += self._want_offers(now)
        return out

    def invalid_task(self, task_id: str, message: str) -> list[Instruction]:
        """The task cannot be described to Mesos (bad config found at launch): fail it, it never ran."""
        task = self._forget(task_id)
        if task is None:
            return []
        return [Report(task.work.key, task_id, Outcome.FAILED, message, None, False)] + self._maybe_suppress()

    def update(self, status: TaskStatus, now: float) -> list[Instruction]:
        """An UPDATE event."""
        task = self._tasks.get(status.task_id)
        if task is not None and self._doubt_unknown(task, status, now):
            # Not believed yet (see CorePolicy.reconcile_grace): keep asking.
            self._unanswered[status.task_id] = task.agent_id
            if self._reconcile_asked_at is None:
                self._reconcile_asked_at = now
            return self._ack(status)
        self._unanswered.pop(status.task_id, None)
        if task is None:
            # Not ours (any more), or launched by an earlier scheduler and not adopted yet: keep the latest
            # word for adoption and acknowledge, or Mesos resends it forever.
            self._unclaimed[status.task_id] = status
            return self._ack(status)
        return self._apply_status(task, status, now, acknowledged=False)

    def tick(self, now: float) -> list[Instruction]:
        """Time passed: a deferred revive, unreachable grace, unanswered reconciliation."""
        out: list[Instruction] = []
        if self._held:
            expired = tuple(offer_id for offer_id, (_, since) in self._held.items()
                            if now - since >= self.policy.offer_hold_seconds)
            if expired:
                for offer_id in expired:
                    del self._held[offer_id]
                out.append(self._decline(expired, self.policy.idle_refuse_seconds))
        if self.policy.offer_hold_seconds > 0:
            out += self._maybe_suppress(now)  # once the hold is over without work
        # A REVIVE that revive_min_interval held back (work came while suppressed, or more work than the held
        # offers took); owed only while work waits.  The edge sends it as soon as it is due (revive_due).
        out += self.deferred_revive(now)
        for task_id, task in list(self._tasks.items()):
            if task.phase is Phase.UNREACHABLE and task.unreachable_since is not None:
                if now - task.unreachable_since >= self.policy.unreachable_grace:
                    self._forget(task_id)
                    out.append(Kill(task_id, task.agent_id, self.policy.kill_grace_period))
                    if not task.revoked:
                        out.append(Report(task.work.key, task_id, Outcome.FAILED,
                                          f"the task's agent stayed unreachable for more than "
                                          f"{self.policy.unreachable_grace:g} s", None, task.ever_started))
        if not self.connected:
            return out
        # Explicit reconciliation until every task asked about has been answered, with backoff.
        self._unanswered = {tid: t.agent_id for tid, t in self._tasks.items()
                            if tid in self._unanswered and t.phase in LAUNCHED_PHASES}
        if self._unanswered and self._reconcile_asked_at is not None:
            if now - self._reconcile_asked_at >= self._reconcile_backoff:
                out.append(Reconcile(tuple(self._unanswered.items())))
                self._reconcile_asked_at = now
                self._reconcile_backoff = min(self._reconcile_backoff * 2, self.policy.reconcile_max_interval)
        # Unreachable tasks: ask now and then whether their agent came back (partition-aware Mesos sends
        # nothing by itself when it does; reconciliation answers RUNNING).
        unreachable = [(tid, t.agent_id) for tid, t in self._tasks.items() if t.phase is Phase.UNREACHABLE]
        if unreachable and (self._last_unreachable_ask is None
                            or now - self._last_unreachable_ask >= self.policy.reconcile_interval):
            out.append(Reconcile(tuple(unreachable)))
            self._last_unreachable_ask = now
        if self._last_implicit is not None and now - self._last_implicit >= self.policy.implicit_reconcile_interval:
            out.append(Reconcile(()))
            self._last_implicit = now
        out += self._placement_timeouts(now)
        return out

    def set_capacity(self, agents: Sequence[Offer]) -> None:
        """What each agent has in all (from the master's agent list, as offers of everything), to tell a task
        that waits for resources from one that no agent could ever hold."""
        self._capacity = tuple(agents)

    def _placement_timeouts(self, now: float) -> list[Instruction]:
        if self.policy.placement_timeout <= 0 or not self._capacity:
            return []
        out: list[Instruction] = []
        for task_id, task in list(self._waiting.items()):
            if now - task.submitted_at < self.policy.placement_timeout:
                continue
            result = match([task.work.demand], self._capacity, (), default_role=self.policy.default_role)
            reason = result.waiting.get(task_id)
            if reason is None:
                continue  # some agent could hold it: it waits for resources, not in vain
            self._forget(task_id)
            out.append(Report(task.work.key, task_id, Outcome.FAILED,
                              f"no agent can ever run this task ({_agent_words(reason)}); it waited "
                              f"{now - task.submitted_at:.0f} s ([mesos] placement_timeout)", None, False))
        return out + (self._maybe_suppress(now) if out else [])

    def waiting_ids(self) -> list[str]:
        return list(self._waiting)

    def unclaimed_live(self) -> dict[str, str | None]:
        """Mesos tasks of this framework that run but that this executor does not track:
        ``task_id -> agent_id``.  The edge asks Airflow whether it still wants them."""
        return {tid: st.agent_id for tid, st in self._unclaimed.items() if not st.is_terminal}

    def kill_unwanted(self, task_id: str) -> list[Instruction]:
        """Airflow no longer wants this Mesos task (its TI was reset, cleared or marked): kill it."""
        task = self._tasks.get(task_id)
        if task is not None and task.phase is Phase.WAITING:
            # Never launched: nothing to kill; the key leaves the executor's running set, and offers are
            # suppressed again if nothing else waits.
            self._forget(task_id)
            return [Report(task.work.key, task_id, Outcome.FAILED,
                           "Airflow no longer wants this try (its task instance left QUEUED); it was never launched",
                           None, False)] + self._maybe_suppress()
        if task is not None:
            # Killed without waiting for its end: the key leaves the executor's running set now.
            self._forget(task_id)
            out: list[Instruction] = [Kill(task_id, task.agent_id, self.policy.kill_grace_period)]
            if not task.revoked:
                out.append(Report(task.work.key, task_id, Outcome.FAILED,
                                  "Airflow no longer wants this try (reset, cleared or marked): Mesos task killed",
                                  None, task.ever_started))
            return out
        status = self._unclaimed.pop(task_id, None)
        if status is None or status.is_terminal:
            return []
        return [Kill(task_id, status.agent_id, self.policy.kill_grace_period)]

    def executor_failed(self, agent_id: str | None, executor_id: str, status: int | None,
                        now: float) -> list[Instruction]:
        """A FAILURE event with an executor id: that executor terminated on that agent.

        Its tasks end with their own updates (the agent sends TASK_FAILED, or TASK_LOST, with
        REASON_EXECUTOR_TERMINATED for each task the executor had not finished), which fail their tries
        so Airflow retries them.  Here: say so, remember the exit status for those failures' words, and
        ask Mesos explicitly about the tasks that were in it, so that none waits forever should an update
        never come."""
        in_it = tuple(
            tid for tid, t in self._tasks.items()
            if t.phase in LAUNCHED_PHASES and (agent_id is None or t.agent_id == agent_id)
            and _executor_of(t) == executor_id)
        self._executor_exits[(agent_id, executor_id)] = status
        while len(self._executor_exits) > _MAX_EXECUTOR_EXITS:
            del self._executor_exits[next(iter(self._executor_exits))]
        out: list[Instruction] = [ExecutorFailed(agent_id, executor_id, status, in_it)]
        # A held offer of that agent still lists the executor as running (offers say what ran when they were
        # made): a task placed into it would go to an executor that is gone.  Declined without a filter, the
        # resources come back in the next offer, without it.
        stale = tuple(offer_id for offer_id, (offer, _) in self._held.items()
                      if (agent_id is None or offer.agent_id == agent_id) and executor_id in offer.executor_ids)
        if stale:
            for offer_id in stale:
                del self._held[offer_id]
            out.append(self._decline(stale, 0.0))
        if in_it and self.connected:
            for tid in in_it:
                self._unanswered[tid] = self._tasks[tid].agent_id
            out.append(Reconcile(tuple((tid, self._tasks[tid].agent_id) for tid in in_it)))
            if self._reconcile_asked_at is None:
                self._reconcile_asked_at = now
        return out

    def failed_over(self, message: str, now: float) -> list[Instruction]:
        """Another scheduler subscribed with our framework id: stop placing tasks, say why, keep out of its way."""
        self.taken_over = message
        return self.disconnected(f"another scheduler took over the framework ({message}); this one places "
                                 "no tasks", now)

    # --- internals ----------------------------------------------------------------------------

    def _executor_exit_words(self, task: _Task, status: TaskStatus) -> str:
        executor_id = status.executor_id or _executor_of(task)
        if executor_id is None:
            return ""
        agent_id = status.agent_id or task.agent_id
        key = (agent_id, executor_id) if (agent_id, executor_id) in self._executor_exits else (None, executor_id)
        if key not in self._executor_exits:
            return f" (warm executor {executor_id})"
        code = self._executor_exits[key]
        return f" (warm executor {executor_id} terminated{'' if code is None else f' with status {code}'})"

    def _doubt_unknown(self, task: _Task, status: TaskStatus, now: float) -> bool:
        """Is this a reconciliation's LOST/UNKNOWN for a launched task, too soon after subscribing to trust?"""
        if status.state not in ("TASK_LOST", "TASK_UNKNOWN") or status.reason != "REASON_RECONCILIATION":
            return False
        if task.phase not in (Phase.STARTING, Phase.RUNNING, Phase.UNREACHABLE, Phase.ADOPTED):
            return False
        return self._subscribed_at is not None and now - self._subscribed_at < self.policy.reconcile_grace

    def _forget(self, task_id: str) -> _Task | None:
        self._waiting.pop(task_id, None)
        return self._tasks.pop(task_id, None)

    def _not_connected_reason(self) -> str:
        return f"not connected to the Mesos master ({self.disconnect_reason or 'connecting'})"

    def _ack(self, status: TaskStatus) -> list[Instruction]:
        return [Acknowledge(status)] if status.uuid is not None else []

    def _set_reason(self, task: _Task, reason: str) -> list[Instruction]:
        if task.wait_reason == reason:
            return []
        task.wait_reason = reason
        return [WaitReason(task.work.key, task.work.task_id, reason)]

    def _back_to_waiting(self, task: _Task) -> None:
        task.phase = Phase.WAITING
        self._waiting[task.work.task_id] = task
        task.agent_id = None
        task.hostname = None
        task.attributes = {}
        task.launched_at = None
        task.wait_reason = None

    def _want_offers(self, now: float) -> list[Instruction]:
        """REVIVE when suppressed and work waits, at most once per ``revive_min_interval``."""
        if not self.connected or not self._suppressed or self.waiting_count() == 0:
            self._revive_pending = False
            return []
        return self._revive(now)

    def _revive(self, now: float) -> list[Instruction]:
        """REVIVE now, or at the first tick ``revive_min_interval`` after the last one."""
        if self._last_revive is not None and now - self._last_revive < self.policy.revive_min_interval:
            self._revive_pending = True
            return []
        self._suppressed = False
        self._revive_pending = False
        self._last_revive = now
        return [Revive()]

    def _decline(self, offer_ids: tuple[str, ...], refuse_seconds: float) -> Decline:
        self.offers_declined += len(offer_ids)
        return Decline(offer_ids, refuse_seconds)

    def _held_offers(self) -> list[Offer]:
        return [offer for offer, _ in self._held.values()]

    def _maybe_suppress(self, now: float | None = None) -> list[Instruction]:
        """SUPPRESS when nothing waits.  With ``offer_hold_seconds``, only once nothing is held and nothing was
        queued or launched for that long (a stimulus without the time leaves it to the next tick): between
        the tasks of a busy stretch offers keep coming, so the next task finds one in hand."""
        if self._waiting or self._held:
            return []
        hold = self.policy.offer_hold_seconds
        if hold > 0 and (now is None or (self._busy_at is not None and now - self._busy_at < hold)):
            return []
        self._revive_pending = False
        if not self.connected or self._suppressed:
            return []
        self._suppressed = True
        return [Suppress()]

    def _apply_status(self, task: _Task, status: TaskStatus, now: float, *, acknowledged: bool) -> list[Instruction]:
        ack = [] if acknowledged else self._ack(status)
        verdict = judge(status, started=task.ever_started, executor_relaunches=task.executor_relaunches)
        task.last_status = status
        if status.agent_id and task.agent_id is None:
            task.agent_id = status.agent_id
        task_id = status.task_id
        if verdict.outcome is Outcome.RELAUNCH:
            if task.revoked:
                self._forget(task_id)
                return ack
            if status.reason == "REASON_EXECUTOR_TERMINATED":
                task.executor_relaunches += 1
            self._back_to_waiting(task)
            out = ack + self._set_reason(task, f"relaunching: {verdict.summary}")
            return out + self._want_offers(now)
        if verdict.outcome is Outcome.PENDING:
            if task.phase in (Phase.LAUNCHING, Phase.ADOPTED) and status.state in ("TASK_STAGING", "TASK_STARTING"):
                task.phase = Phase.STARTING
            return ack
        if verdict.outcome is Outcome.UNREACHABLE:
            if task.phase is not Phase.UNREACHABLE:
                task.phase = Phase.UNREACHABLE
                task.unreachable_since = now
            return ack
        if verdict.outcome is Outcome.RUNNING:
            task.phase = Phase.RUNNING
            task.unreachable_since = None
            task.ever_started = True
            if task.revoked or task.reported_running:
                return ack
            task.reported_running = True
            return [Report(task.work.key, task_id, Outcome.RUNNING, task_id,
                           None if acknowledged else status, True)]
        # Terminal: SUCCESS or FAILED.
        self._forget(task_id)
        if task.revoked:
            return ack + self._maybe_suppress(now)
        info = verdict.summary if verdict.outcome is Outcome.FAILED else describe(status.state)
        if verdict.outcome is Outcome.FAILED and status.reason == "REASON_EXECUTOR_TERMINATED":
            info += self._executor_exit_words(task, status)
        report = Report(task.work.key, task_id, verdict.outcome, info, None if acknowledged else status,
                        task.ever_started or status.state == "TASK_FINISHED")
        return [report] + self._maybe_suppress(now)
