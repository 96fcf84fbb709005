"""The MesosExecutor's offer matcher: which waiting task goes into which offer, and why the rest wait.

:func:`match` takes the demands of one cycle (:class:`TaskDemand`), the offers on hand
(:class:`~airflow_mesos.mesos.events.Offer`) and the tasks already launched or running
(:class:`PlacedTask`, which count for the constraints), and returns a :class:`MatchResult`:
the tasks to launch per offer, the offers to decline, and for every demand left waiting one
reason in words a data engineer understands.  Pure: no I/O, no clock, no Airflow; the same
input always gives the same result.

Order
    Demands are considered one at a time in ``(-priority, sequence)`` order (input position
    breaks a remaining tie).  Each one takes the best offer left for it before any later demand
    is looked at, so a lower-priority demand never takes resources that a higher-priority one
    could have used this cycle; when a higher-priority demand fits nowhere, smaller ones behind
    it still take what is left.

Packing: best fit
    A demand goes into the offer with the least cpus left that still holds it (then the least
    mem, disk and gpus left, then the earliest offer).  Best fit packs small tasks into offers
    that are already partly used, keeps big offers whole for the big tasks behind them, and
    leaves whole offers untouched so they go back to Mesos (declined) for other frameworks,
    where first fit or worst fit would scatter a few tasks over every offer.  cpus lead because
    they are the dimension Airflow tasks usually run out of first.

GPU agents
    An offer that still has gpus left is used by a demand without gpus only when no offer
    without gpus can take it, as Mesos' GPU documentation advises, so the GPU tasks behind it
    find the GPU agents free.  (GROUP_BY balance wins over this preference.)

Roles
    A demand with role ``R`` uses only offers allocated to ``R`` (``offer.role``, or
    ``default_role`` for an offer without ``allocation_info``).  Within such an offer it may use
    the resources reserved for ``R`` and the unreserved (``"*"``) ones, reserved first; each
    :class:`Assignment` lists the shares per reservation role.  Resources reserved for any other
    role are never used.  Scalars are counted in fixed point with three decimals, as Mesos does
    (and :mod:`~airflow_mesos.mesos.events`), so three tasks of 0.1 cpus fit 0.3.

Constraints (Marathon's operators; :mod:`~airflow_mesos.executor.constraints`)
    All of a demand's constraints must hold.  The field is the agent's hostname
    (``offer.hostname``) or one of its attributes, compared in text form: TEXT as is, SCALAR as
    the number with up to three decimals and no trailing zeros (``2`` for 2.0, ``2.5``), RANGES
    as ``[1-5,7-7]``, SET as ``{a,b}`` (items sorted).  ``IS`` on a SCALAR attribute also
    accepts a value that is the same number (``2.0`` IS 2).  The instances a constraint counts
    are the tasks of the same ``group``: the placed ones plus those placed earlier in this
    cycle.  An agent without the attribute fails every operator except UNLIKE, which it passes.

    ======== =====================================================================================
    UNIQUE   the agent's value holds no instance yet
    MAX_PER  the agent's value holds fewer than ``N`` instances
    CLUSTER  with a value: the agent's value is that value.  Without one: the value of the first
             instance (in ``placed`` order, then this cycle's order) whose agent has the field;
             with no such instance any agent with the field will do, and the first instance
             placed this cycle fixes the value for the rest
    GROUP_BY when ``N`` is given and fewer than ``N`` values hold an instance, only a value that
             holds none is accepted (as Marathon: wait for the missing values rather than stack).
             Otherwise the candidates are the offers that can take the task on everything else
             (role, resources left, the other constraints) and the task goes to a candidate whose
             value holds the fewest instances among the candidates' values; best fit decides
             between those.  So tasks spread evenly over the values on offer, and a value whose
             agents are full this cycle does not hold the others up
    LIKE     the value matches the regular expression as a whole (``re.fullmatch``)
    UNLIKE   the value does not match it as a whole
    IS       the value equals the given one
    ======== =====================================================================================

Reasons (:attr:`MatchResult.waiting`), the most fundamental that applies, judged at the end of the
cycle against the offers of the demand's role as they came (empty), with the instances counted so far:

1. ``no offers yet`` -- there are no offers at all;
2. ``no offers for role 'gpu' (offers this cycle are for role 'airflow')``;
3. the constraints rule out every offer: the first constraint that does so on its own is named
   (``no agent with rack=r2``, ``no agent whose rack matches r[3-4]``, ``UNIQUE hostname: every
   offered agent already runs an instance of my_dag.my_task``, ``MAX_PER rack 2: ...``), else
   the constraints together are (GROUP_BY counts here only with its ``N``: its balance rule
   chooses among the offers that can take a task and never rules them all out);
4. no offer left by the constraints is big enough even empty: ``needs 8 cpus; the largest offer
   has 4`` (each dimension short: cpus, MiB mem, MiB disk, gpus), or, when every dimension fits
   some offer but no one offer has them all, the largest offer's figures;
5. otherwise ``waiting for resources: ...`` -- what fits it was taken by tasks ahead of it.

Executors (warm workers)
    A demand with an :class:`ExecutorDemand` runs in a custom executor shared by the tasks of its kind on
    an agent.  Mesos accounts the executor's resources once, when its first task launches it: a demand
    needs its own resources plus the executor's on an offer whose agent does not run that executor yet,
    and only its own where it does (the offer's ``executor_ids``, which Mesos fills with the framework's
    executors on that agent) or once an earlier task of this cycle launched it in the same offer (the same
    ACCEPT).  The executor's part comes from the role's unreserved resources (its ExecutorInfo must be
    the same whatever offer it starts with), the task's as always, reserved first.  An executor launched
    by one offer does not count for another offer of the same agent in the same cycle: that is the
    cautious side (the other ACCEPT may be refused, and with it the executor).  Best fit compares what
    offers have left as usual; an offer that would need the executor too is simply one that holds less.

Speed
    Offers sit in one sorted list per role and tier (with gpus left or not) keyed by what they
    have left (packed into one int, which compares faster than a tuple), so a demand's best fit is a
    binary search plus a short scan; a demand of the same shape as the placement just before it takes
    the same offer while that still holds it (nothing else changed, so nothing ahead of it fits now).  Demands of one shape
    (resources, role, constraints; and group when a constraint counts instances) share their
    precomputed plan, and once a shape fits nowhere the demands of that shape behind it wait
    without another search: resources only shrink during a cycle.  (A shape with counting
    constraints is searched again after its group gained an instance, since GROUP_BY with a count
    may then accept more; if it fits then, the identical demand that waited longest in the queue
    takes the place.)  The reasons are worked out once per shape at the end, from masks of the offers
    each constraint accepts, built from the instances counted rather than by testing every offer.
    ``benchmarks/matcher.py`` prints timings (``docs/benchmarks.md``).
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import compress
from operator import is_not
from typing import TYPE_CHECKING, Any, NamedTuple

from airflow_mesos.exceptions import AirflowMesosError
from airflow_mesos.executor.constraints import Constraint

if TYPE_CHECKING:
    from airflow_mesos.mesos.events import Offer

__all__ = [
    "Assignment",
    "ExecutorDemand",
    "MatchInputError",
    "MatchResult",
    "OfferLaunch",
    "PlacedTask",
    "ResourceShare",
    "TaskDemand",
    "attribute_text",
    "match",
]

# The scalars a task asks for, in the order of every resource vector below.
_DIMENSIONS = ("cpus", "mem", "disk", "gpus")
_UNITS = ("cpus", "MiB mem", "MiB disk", "gpus")
_CPUS, _MEM, _DISK, _GPUS = range(4)
# Fixed point with three decimals, as Mesos and airflow_mesos.mesos.events count scalars.
_SCALE = 1000
# Operators that look only at the agent (precomputed once per offer); the others count instances.
_STATIC_OPERATORS = frozenset({"IS", "LIKE", "UNLIKE"})
_NOTHING_RESERVED = [0, 0, 0, 0]
# A field value that is there (an agent without the attribute has None).
_is_value = partial(is_not, None)
# The sorted offer index packs what an offer has left into one int (see _entry_key).
_KEY_BITS = 64
_IDX_MASK = (1 << _KEY_BITS) - 1
_CPUS_SHIFT = 4 * _KEY_BITS

WAITING_FOR_RESOURCES = ("waiting for resources: the offers that fit were used by tasks ahead of it "
                         "(higher priority or queued earlier)")


class MatchInputError(AirflowMesosError, ValueError):
    """A demand or offer handed to :func:`match` is malformed; the message names which and what."""


class ExecutorDemand(NamedTuple):
    """The custom executor a demand runs in, and what that executor itself takes from an agent's resources
    (once, while it runs there).  A NamedTuple: demands of one shape share their plan by hashing it."""

    executor_id: str
    cpus: float
    mem: float
    disk: float = 0.0


@dataclass(frozen=True, slots=True)
class TaskDemand:
    """One task waiting for resources.

    :param task_id: the Mesos task id.
    :param group: the constraint group (``"my_dag.my_task"``): the instances constraints count.
    :param priority: Airflow's ``priority_weight``; higher is placed first.
    :param sequence: submission order; lower first among equal priority.
    :param mem: MiB.  :param disk: MiB.
    :param role: the Mesos role whose offers it may use.
    """

    task_id: str
    group: str
    priority: int
    sequence: int
    cpus: float
    mem: float
    disk: float
    gpus: float = 0.0
    role: str = "*"
    constraints: tuple[Constraint, ...] = ()
    executor: ExecutorDemand | None = None
    """The warm executor it runs in (None: a command task, which needs no executor of its own)."""

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, str) or not self.task_id:
            raise MatchInputError(f"TaskDemand.task_id must be a non-empty string, got {self.task_id!r}")
        where = f"TaskDemand {self.task_id!r}"
        for name in ("priority", "sequence"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise MatchInputError(f"{where}: {name} must be an integer, got {value!r}")
        for name in _DIMENSIONS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise MatchInputError(f"{where}: {name} must be a finite number >= 0, got {value!r}")
        if not isinstance(self.role, str) or not self.role:
            raise MatchInputError(f"{where}: role must be a non-empty string, got {self.role!r}")
        if not isinstance(self.constraints, tuple):
            object.__setattr__(self, "constraints", tuple(self.constraints))
        for i, constraint in enumerate(self.constraints):
            if not isinstance(constraint, Constraint):
                raise MatchInputError(f"{where}: constraints[{i}] must be a Constraint (see "
                                      f"constraints.parse_constraints), got {constraint!r}")
        executor = self.executor
        if executor is not None:
            if not isinstance(executor, ExecutorDemand):
                raise MatchInputError(f"{where}: executor must be an ExecutorDemand, got {executor!r}")
            if not isinstance(executor.executor_id, str) or not executor.executor_id:
                raise MatchInputError(f"{where}: executor.executor_id must be a non-empty string, got "
                                      f"{executor.executor_id!r}")
            for name in ("cpus", "mem", "disk"):
                value = getattr(executor, name)
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                        or value < 0:
                    raise MatchInputError(f"{where}: executor.{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class PlacedTask:
    """A task launched or running already; it counts for UNIQUE, CLUSTER, GROUP_BY and MAX_PER.

    :param hostname: that agent's hostname; empty when not known, and then it counts for no hostname
        constraint.
    :param attributes: that agent's attributes, as in ``Offer.attributes``.
    """

    group: str
    agent_id: str
    hostname: str
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class ResourceShare:
    """An amount of one scalar taken from one offer.

    :param name: ``cpus``, ``mem``, ``disk`` or ``gpus``.
    :param reservation_role: ``"*"`` for unreserved, else the role the resources are reserved for.
    """

    name: str
    amount: float
    reservation_role: str


class Assignment(NamedTuple):
    """One task placed into an offer, with the resources it takes from it (reserved ones first).

    A NamedTuple rather than a frozen dataclass: a cycle makes one per placement (10,000 in a large one), and
    a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, three times the cost.

    :param launches_executor: the task's executor does not run on that agent yet: this task starts it, and
        the offer gives the executor's resources too (not in ``resources``: they are the ExecutorInfo's).
    """

    task_id: str
    resources: tuple[ResourceShare, ...]
    launches_executor: bool = False


@dataclass(frozen=True)
class OfferLaunch:
    """One offer and the tasks to launch with it, in the order they were placed."""

    offer_id: str
    agent_id: str
    hostname: str
    tasks: tuple[Assignment, ...]


@dataclass(frozen=True)
class MatchResult:
    """What to do with this cycle's offers.

    :param launches: offers that got at least one task, in the order the offers came.
    :param unused_offer_ids: offers that got nothing (the caller declines them), in offer order.
    :param waiting: ``task_id -> reason`` for every demand not placed, in placement order.
    """

    launches: tuple[OfferLaunch, ...]
    unused_offer_ids: tuple[str, ...]
    waiting: Mapping[str, str]


def match(demands: Sequence[TaskDemand], offers: Sequence[Offer], placed: Sequence[PlacedTask] = (),
          *, default_role: str = "*") -> MatchResult:
    """Place as many ``demands`` into ``offers`` as fit, highest priority first (see the module doc).

    :param placed: tasks already launched or running; they count for the constraints.
    :param default_role: the role of an offer that carries no ``allocation_info``.
    :raises MatchInputError: a duplicate task or offer id, or a demand that is not a TaskDemand.
    """
    return _Cycle(demands, offers, placed, default_role).run()


# --- helpers ----------------------------------------------------------------------------------


def _milli(value: float) -> int:
    return round(value * _SCALE)


def _number_text(milli: int) -> str:
    """``2000 -> "2"``, ``2500 -> "2.5"``, ``100 -> "0.1"``."""
    whole, fraction = divmod(abs(milli), _SCALE)
    sign = "-" if milli < 0 else ""
    if not fraction:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:03d}".rstrip("0")


def attribute_text(value: Any) -> str | None:
    """The text form a constraint compares an attribute value in (``None`` when it is absent)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return _number_text(_milli(value))
    if isinstance(value, (set, frozenset)):
        return "{" + ",".join(sorted(str(item) for item in value)) + "}"
    if isinstance(value, tuple) and all(isinstance(r, tuple) and len(r) == 2 for r in value):
        return "[" + ",".join(f"{begin}-{end}" for begin, end in value) + "]"
    return str(value)


def _counts_instances(c: Constraint) -> bool:
    """UNIQUE, MAX_PER, GROUP_BY and CLUSTER without a value depend on where the group's instances are."""
    return c.operator not in _STATIC_OPERATORS and not (c.operator == "CLUSTER" and c.value is not None)


def _fits(free: list[int], need: tuple[int, ...]) -> bool:
    return free[_CPUS] >= need[_CPUS] and free[_MEM] >= need[_MEM] and free[_DISK] >= need[_DISK] \
        and free[_GPUS] >= need[_GPUS]


def _entry_key(free: list[int], idx: int) -> int:
    """``(cpus, mem, disk, gpus left, idx)`` packed into one int that sorts as that tuple would (each part
    is >= 0 and below 2**64): one int compares faster than a tuple, and best fit is all comparisons."""
    return ((((((free[_CPUS] << _KEY_BITS) | free[_MEM]) << _KEY_BITS) | free[_DISK]) << _KEY_BITS
             | free[_GPUS]) << _KEY_BITS) | idx


def _amounts(milli: Sequence[int], dims: Sequence[int]) -> str:
    return " and ".join(f"{_number_text(milli[k])} {_UNITS[k]}" for k in dims)


def _instances(n: int) -> str:
    return "an instance" if n == 1 else f"{n} instances"


class _Plan:
    """What every demand of one shape shares: its needs, its offer filter and its counters."""

    __slots__ = ("need", "role", "group", "constraints", "static_ok", "counting", "group_by", "failed_at",
                 "waiting", "reason", "unreserved_shares", "unconstrained", "executor_id", "exec_need",
                 "full_need")

    def __init__(self) -> None:
        self.failed_at: int | None = None  # the group's version when this shape last fit nowhere
        self.waiting: deque[tuple[int, TaskDemand]] = deque()  # (rank, demand), best rank first
        self.reason: str | None = None


class _Cycle:
    def __init__(self, demands: Sequence[TaskDemand], offers: Sequence[Offer], placed: Sequence[PlacedTask],
                 default_role: str) -> None:
        self.demands = list(demands)
        self.offers = list(offers)
        for i, demand in enumerate(self.demands):
            if not isinstance(demand, TaskDemand):
                raise MatchInputError(f"demands[{i}] must be a TaskDemand, got {type(demand).__name__}")
        if len({demand.task_id for demand in self.demands}) != len(self.demands):
            seen: set[str] = set()
            for i, demand in enumerate(self.demands):
                if demand.task_id in seen:
                    raise MatchInputError(f"demands[{i}]: task_id {demand.task_id!r} appears more than once")
                seen.add(demand.task_id)
        offer_ids: set[str] = set()
        for i, offer in enumerate(self.offers):
            if offer.id in offer_ids:
                raise MatchInputError(f"offers[{i}]: offer id {offer.id!r} appears more than once")
            offer_ids.add(offer.id)

        # Per offer: its role, what it had for that role (capacity), what is left in total and
        # what is left of the part reserved for its role; all in milli units.
        self.offer_role: list[str] = []
        self.capacity: list[tuple[int, ...]] = []
        self.free: list[list[int]] = []
        self.reserved: list[list[int]] = []
        self.entry: list[int] = []
        # role -> (offers without gpus left, offers with gpus left), each sorted by (free..., index) packed
        # into one int by _entry_key.
        self.index: dict[str, tuple[list[int], list[int]]] = {}
        for idx, offer in enumerate(self.offers):
            role = offer.role or default_role
            by_role = offer.scalars_by_role
            unreserved = [round(by_role.get((name, "*"), 0.0) * _SCALE) for name in _DIMENSIONS]
            reserved = [0] * 4 if role == "*" else [round(by_role.get((name, role), 0.0) * _SCALE)
                                                    for name in _DIMENSIONS]
            free = [r + u for r, u in zip(reserved, unreserved, strict=True)]
            if min(free) < 0 or max(free) > _IDX_MASK:
                raise MatchInputError(f"offers[{idx}]: offer {offer.id!r} has a resource amount out of range "
                                      f"({free} in thousandths)")
            entry = _entry_key(free, idx)
            self.offer_role.append(role)
            self.capacity.append(tuple(free))
            self.free.append(free)
            self.reserved.append(reserved)
            self.entry.append(entry)
            self.index.setdefault(role, ([], []))[1 if free[_GPUS] > 0 else 0].append(entry)
        self.capacity_columns = [[have[k] for have in self.capacity] for k in range(4)]
        # Per offer, the executors running on its agent (and those this cycle launched in it); only built
        # when some demand runs in an executor.
        self.executor_needs: dict[tuple, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self.running_executors: list[set[str]] = (
            [set(offer.executor_ids) for offer in self.offers]
            if any(demand.executor is not None for demand in self.demands) else [])
        for tiers in self.index.values():
            tiers[0].sort()
            tiers[1].sort()

        self.field_values_cache: dict[str, list[str | None]] = {}
        self.static_cache: dict[tuple[Constraint, ...], bytearray | None] = {}
        self.plans: dict[tuple, _Plan] = {}
        # (cpus, mem, disk, gpus) -> (the same in thousandths, the unreserved shares of such a task)
        self.needs: dict[tuple[float, ...], tuple[tuple[int, ...], tuple[ResourceShare, ...]]] = {}
        self.role_offers: dict[str, list[int]] = {}
        self.role_largest: dict[str, list[int]] = {}
        self.role_field_values: dict[tuple[str, str], set[str]] = {}
        # For the reasons, at the end of the cycle: (constraint, group) -> the offers it accepts alone.
        self.alone_masks: dict[tuple[Constraint, str | None], bytearray] = {}
        self.offers_by_value: dict[str, dict[str, list[int]]] = {}
        self.capacity_orders: dict[int, list[int]] = {}
        # executor id -> the offers whose agent runs it as they came (for the reasons; built on first use).
        self.offers_by_executor: dict[str, list[int]] | None = None
        # Identical shares are one object: most tasks of a cycle share a few shapes.
        self.shares: dict[tuple[int, int, str], ResourceShare] = {}
        # (need, role, reserved left...) -> (the shares of such a placement, the reserved left after it)
        self.reserved_splits: dict[tuple, tuple[tuple[ResourceShare, ...], list[int]]] = {}

        # Instance counts, only for the groups some demand constrains by counting, and only for
        # the fields those constraints name: (group, field) -> value -> instances.
        self.counted_fields: dict[str, set[str]] = {}
        for demand in self.demands:
            for c in demand.constraints if demand.constraints else ():
                if _counts_instances(c):
                    self.counted_fields.setdefault(demand.group, set()).add(c.field)
        self.counts: dict[tuple[str, str], Counter[str]] = {
            (group, name): Counter() for group, names in self.counted_fields.items() for name in names}
        self.cluster_value: dict[tuple[str, str], str] = {}
        # The offers this cycle's instances of each counted group went to, in placement order.  They are
        # counted into ``counts`` only when a constraint is about to read them (_sync_counts): most
        # placements are of tasks whose own constraints count nothing.  The list's length is the group's
        # version (see _Plan.failed_at).
        self.group_placed: dict[str, list[int]] = {group: [] for group in self.counted_fields}
        self.group_synced: dict[str, int] = dict.fromkeys(self.counted_fields, 0)
        for task in placed:
            for name in self.counted_fields.get(task.group, ()):
                # An empty hostname (not known yet, e.g. an adopted task) counts nowhere.
                value = (task.hostname or None) if name == "hostname" else \
                    attribute_text((task.attributes or {}).get(name))
                self._count(task.group, name, value)

    # --- bookkeeping ---------------------------------------------------------------------------

    def _count(self, group: str, name: str, value: str | None) -> None:
        if value is None:
            return
        counts = self.counts[(group, name)]
        counts[value] = counts.get(value, 0) + 1
        self.cluster_value.setdefault((group, name), value)

    def field_values(self, name: str) -> list[str | None]:
        values = self.field_values_cache.get(name)
        if values is None:
            if name == "hostname":
                values = [offer.hostname for offer in self.offers]
            else:
                values = [attribute_text(offer.attributes.get(name)) for offer in self.offers]
            self.field_values_cache[name] = values
        return values

    def _agent_passes(self, c: Constraint, idx: int) -> bool:
        """The part of ``c`` that depends on the agent alone (for counting operators: has the field)."""
        value = self.field_values(c.field)[idx]
        if value is None:
            return c.operator == "UNLIKE"
        if c.operator == "IS" or (c.operator == "CLUSTER" and c.value is not None):
            return value == c.value or self._same_number(c, idx)
        if c.operator == "LIKE":
            return c.pattern.fullmatch(value) is not None
        if c.operator == "UNLIKE":
            return c.pattern.fullmatch(value) is None
        return True

    def _same_number(self, c: Constraint, idx: int) -> bool:
        if c.field == "hostname":
            return False
        raw = self.offers[idx].attributes.get(c.field)
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            return False
        try:
            wanted = float(c.value)
        except ValueError:
            return False
        return math.isfinite(wanted) and _milli(wanted) == _milli(raw)

    def _static_ok(self, constraints: tuple[Constraint, ...]) -> bytearray | None:
        if not constraints:
            return None
        mask = self.static_cache.get(constraints)
        if mask is None:
            if len(constraints) == 1:
                mask = self._agent_mask(constraints[0])
            else:
                mask = bytearray(all(oks) for oks in zip(*(self._static_ok((c,)) for c in constraints), strict=True))
            self.static_cache[constraints] = mask
        return mask

    def _agent_mask(self, c: Constraint) -> bytearray:
        """Which offers' agents pass :meth:`_agent_passes` for ``c``, judged once per distinct value: agents
        share a few attribute values (racks, zones), and a regular expression is matched once per value."""
        raw_values = None if c.field == "hostname" else [offer.attributes.get(c.field) for offer in self.offers]
        verdicts: dict[tuple[str | None, bool], bool] = {}
        mask = bytearray(len(self.offers))
        for idx, value in enumerate(self.field_values(c.field)):
            # IS compares a SCALAR attribute as a number, so a number and a text of the same form differ.
            raw = raw_values[idx] if raw_values is not None else None
            key = (value, isinstance(raw, (int, float)) and not isinstance(raw, bool))
            verdict = verdicts.get(key)
            if verdict is None:
                verdict = verdicts[key] = self._agent_passes(c, idx)
            mask[idx] = verdict
        return mask

    def _plan(self, demand: TaskDemand) -> _Plan:
        constraints = demand.constraints
        if not constraints:
            # Most demands: a key of plain numbers, cheaper to hash than one holding Constraint objects.
            key: tuple = (demand.role, demand.cpus, demand.mem, demand.disk, demand.gpus, demand.executor)
            plan = self.plans.get(key)
            if plan is not None:
                return plan
            counting = False
        else:
            counting = any(_counts_instances(c) for c in constraints)
            key = (demand.role, demand.cpus, demand.mem, demand.disk, demand.gpus, demand.executor, constraints,
                   demand.group if counting else None)
            plan = self.plans.get(key)
            if plan is not None:
                return plan
        plan = _Plan()
        sizes = (demand.cpus, demand.mem, demand.disk, demand.gpus)
        sized = self.needs.get(sizes)
        if sized is None:
            need = tuple(round(size * _SCALE) for size in sizes)
            sized = self.needs[sizes] = (need, tuple(self._share(k, amount, "*") for k, amount in enumerate(need)
                                                     if amount))
        plan.need, plan.unreserved_shares = sized
        executor = demand.executor
        if executor is None:
            plan.executor_id, plan.exec_need, plan.full_need = None, None, plan.need
        else:
            # Shapes of one executor share its needs (a few executors, hundreds of shapes).
            with_executor = self.executor_needs.get((sizes, executor))
            if with_executor is None:
                exec_need = (round(executor.cpus * _SCALE), round(executor.mem * _SCALE),
                             round(executor.disk * _SCALE), 0)
                with_executor = self.executor_needs[(sizes, executor)] = (
                    exec_need, tuple(a + b for a, b in zip(plan.need, exec_need, strict=True)))
            plan.executor_id = executor.executor_id
            plan.exec_need, plan.full_need = with_executor
        plan.role = demand.role
        plan.group = demand.group if counting else None
        plan.constraints = demand.constraints
        plan.static_ok = self._static_ok(demand.constraints)
        plan.counting = []
        plan.group_by = []
        plan.unconstrained = not demand.constraints
        for c in demand.constraints:
            if c.operator in ("UNIQUE", "MAX_PER") or (c.operator == "CLUSTER" and c.value is None):
                limit = 1 if c.operator == "UNIQUE" else c.count
                plan.counting.append((c.operator, self.field_values(c.field), self.counts[(demand.group, c.field)],
                                      limit, (demand.group, c.field)))
            elif c.operator == "GROUP_BY":
                plan.group_by.append((c.count, self.field_values(c.field), self.counts[(demand.group, c.field)],
                                      c.field))
        self.plans[key] = plan
        return plan

    # --- placing -------------------------------------------------------------------------------

    def _counting_ok(self, plan: _Plan, idx: int) -> bool:
        for operator, values, counts, limit, key in plan.counting:
            value = values[idx]
            if operator == "CLUSTER":
                first = self.cluster_value.get(key)
                if first is not None and value != first:
                    return False
            elif counts.get(value, 0) >= limit:
                return False
        return True

    def _holds_with_executor(self, plan: _Plan, idx: int) -> bool:
        """Can offer ``idx`` take a demand of an executor plan: its own resources where its executor runs,
        else its own plus the executor's, the executor's part from the unreserved resources."""
        free = self.free[idx]
        if plan.executor_id in self.running_executors[idx]:
            need = plan.need
            return free[_CPUS] >= need[_CPUS] and free[_MEM] >= need[_MEM] and free[_DISK] >= need[_DISK] \
                and free[_GPUS] >= need[_GPUS]
        need, executor, reserved = plan.full_need, plan.exec_need, self.reserved[idx]
        return free[_CPUS] >= need[_CPUS] and free[_MEM] >= need[_MEM] and free[_DISK] >= need[_DISK] \
            and free[_GPUS] >= need[_GPUS] and free[_CPUS] - reserved[_CPUS] >= executor[_CPUS] \
            and free[_MEM] - reserved[_MEM] >= executor[_MEM] and free[_DISK] - reserved[_DISK] >= executor[_DISK]

    def _fitting(self, plan: _Plan) -> Iterator[int]:
        """The offers that can take a demand of ``plan`` now, best fit first."""
        tiers = self.index[plan.role]
        cpus, mem, disk, gpus = plan.need
        static_ok = plan.static_ok
        counting = plan.counting
        free_of = self.free
        executor_id = plan.executor_id
        if executor_id is not None:
            running, holds = self.running_executors, self._holds_with_executor
        # A demand without gpus tries the offers without gpus left first (keeps GPU agents for GPU tasks).
        for entries in (tiers[1],) if gpus > 0 else tiers:
            # Sorted by cpus left first: the first entry that fits is the best fit.
            for i in range(bisect_left(entries, cpus << _CPUS_SHIFT), len(entries)):
                idx = entries[i] & _IDX_MASK
                free = free_of[idx]
                if free[_MEM] < mem or free[_DISK] < disk or free[_GPUS] < gpus:
                    continue
                # Where the executor does not run yet, the offer must hold it too.
                if executor_id is not None and executor_id not in running[idx] and not holds(plan, idx):
                    continue
                if static_ok is not None and not static_ok[idx]:
                    continue
                if counting and not self._counting_ok(plan, idx):
                    continue
                yield idx

    def _find(self, plan: _Plan) -> int | None:
        tiers = self.index.get(plan.role)
        if tiers is None:
            return None
        if plan.group is not None:
            self._sync_counts(plan.group)
        if plan.unconstrained and plan.executor_id is not None:
            # _holds_with_executor, inline (this runs for every warm demand).  Searched from the task's own
            # cpus: an offer where the executor runs needs no more.
            cpus, mem, disk, gpus = plan.need
            full_cpus, full_mem, full_disk, _ = plan.full_need
            exec_cpus, exec_mem, exec_disk, _ = plan.exec_need
            executor_id, running, free_of, reserved_of = plan.executor_id, self.running_executors, self.free, \
                self.reserved
            for entries in (tiers[1],) if gpus > 0 else tiers:
                for i in range(bisect_left(entries, cpus << _CPUS_SHIFT), len(entries)):
                    idx = entries[i] & _IDX_MASK
                    free = free_of[idx]
                    if free[_MEM] < mem or free[_DISK] < disk or free[_GPUS] < gpus:
                        continue
                    if executor_id in running[idx]:
                        return idx
                    if free[_CPUS] < full_cpus or free[_MEM] < full_mem or free[_DISK] < full_disk:
                        continue
                    reserved = reserved_of[idx]
                    if free[_CPUS] - reserved[_CPUS] >= exec_cpus and free[_MEM] - reserved[_MEM] >= exec_mem \
                            and free[_DISK] - reserved[_DISK] >= exec_disk:
                        return idx
            return None
        if plan.unconstrained:
            # No constraint: the first entry that fits is the answer (what _fitting yields first), without
            # the generator's cost, which dominates for the many small unconstrained demands.
            cpus, mem, disk, gpus = plan.need
            free_of = self.free
            for entries in (tiers[1],) if gpus > 0 else tiers:
                for i in range(bisect_left(entries, cpus << _CPUS_SHIFT), len(entries)):
                    idx = entries[i] & _IDX_MASK
                    free = free_of[idx]
                    if free[_MEM] >= mem and free[_DISK] >= disk and free[_GPUS] >= gpus:
                        return idx
            return None
        fitting = self._fitting(plan)
        if not plan.group_by:
            return next(fitting, None)
        if len(plan.group_by) == 1:
            return self._find_group_by(plan, fitting)
        candidates = list(fitting)
        for expected, values, counts, _ in plan.group_by:
            if not candidates:
                break
            if expected is not None and len(counts) < expected:
                candidates = [idx for idx in candidates if values[idx] not in counts]
            else:
                fewest = min(counts.get(values[idx], 0) for idx in candidates)
                candidates = [idx for idx in candidates if counts.get(values[idx], 0) == fewest]
        return candidates[0] if candidates else None

    def _find_group_by(self, plan: _Plan, fitting: Iterator[int]) -> int | None:
        """One GROUP_BY: the best fit among the candidates whose value holds the fewest instances,
        without listing every candidate when a value at the lowest count on offer turns up early."""
        expected, values, counts, name = plan.group_by[0]
        if expected is not None and len(counts) < expected:
            return next((idx for idx in fitting if values[idx] not in counts), None)
        key = (plan.role, name)
        offered = self.role_field_values.get(key)
        if offered is None:
            offered = {values[idx] for idx in self.role_offers_of(plan.role)} - {None}
            self.role_field_values[key] = offered
        # No candidate can hold fewer instances than the emptiest value on offer.
        floor = min((counts.get(value, 0) for value in offered), default=0)
        first_by_value: dict[str, int] = {}
        for idx in fitting:
            value = values[idx]
            if counts.get(value, 0) == floor:
                return idx
            first_by_value.setdefault(value, idx)
        if not first_by_value:
            return None
        # min keeps the first of equals: the value whose best fit came first in best-fit order.
        return min(first_by_value.items(), key=lambda item: counts.get(item[0], 0))[1]

    def _take(self, idx: int, plan: _Plan, launches_executor: bool = False) -> tuple[ResourceShare, ...]:
        role = self.offer_role[idx]
        tiers = self.index[role]
        free, reserved = self.free[idx], self.reserved[idx]
        old_tier = 1 if free[_GPUS] > 0 else 0
        entries = tiers[old_tier]
        position = bisect_left(entries, self.entry[idx])
        del entries[position]
        if launches_executor:
            # The executor's part, from the unreserved resources (checked in _holds_with_executor); it is not
            # in the task's shares, the ExecutorInfo carries it.
            for k, amount in enumerate(plan.exec_need):
                free[k] -= amount
            self.running_executors[idx].add(plan.executor_id)
        need = plan.need
        if reserved == _NOTHING_RESERVED:
            # Nothing reserved for the role is left here (the common case): the shape's unreserved shares.
            shares = plan.unreserved_shares
            free[_CPUS] -= need[_CPUS]
            free[_MEM] -= need[_MEM]
            free[_DISK] -= need[_DISK]
            free[_GPUS] -= need[_GPUS]
        else:
            # Offers of one kind start with the same reservation, so the split repeats: cache it.
            split_key = (need, role, *reserved)
            split = self.reserved_splits.get(split_key)
            if split is None:
                taken = []
                left = list(reserved)
                for k, amount in enumerate(need):
                    if not amount:
                        continue
                    from_reserved = min(amount, left[k])
                    if from_reserved:
                        taken.append(self._share(k, from_reserved, role))
                        left[k] -= from_reserved
                    if amount > from_reserved:
                        taken.append(self._share(k, amount - from_reserved, "*"))
                split = self.reserved_splits[split_key] = (tuple(taken), left)
            shares, left = split
            reserved[:] = left
            free[_CPUS] -= need[_CPUS]
            free[_MEM] -= need[_MEM]
            free[_DISK] -= need[_DISK]
            free[_GPUS] -= need[_GPUS]
        # _entry_key(free, idx), inline: this runs once per placement.
        new = ((((((free[_CPUS] << _KEY_BITS) | free[_MEM]) << _KEY_BITS) | free[_DISK]) << _KEY_BITS
                | free[_GPUS]) << _KEY_BITS) | idx
        self.entry[idx] = new
        new_tier = 1 if free[_GPUS] > 0 else 0
        if new_tier == old_tier:
            # What is left only shrinks, so the entry moves towards the front: search only there.
            insort(entries, new, 0, position)
        else:
            insort(tiers[new_tier], new)
        return shares

    def _share(self, k: int, milli: int, role: str) -> ResourceShare:
        share = self.shares.get((k, milli, role))
        if share is None:
            share = self.shares[(k, milli, role)] = ResourceShare(_DIMENSIONS[k], milli / _SCALE, role)
        return share

    def _sync_counts(self, group: str) -> None:
        """Count the group's instances placed since the last call (in placement order, so CLUSTER's first
        value stays the first placed)."""
        placed = self.group_placed[group]
        start = self.group_synced[group]
        if start == len(placed):
            return
        cluster_value = self.cluster_value
        new = placed[start:]
        for name in self.counted_fields[group]:
            key = (group, name)
            values = map(self.field_values(name).__getitem__, new)
            if key not in cluster_value:
                values = list(values)
                first = next(filter(_is_value, values), None)
                if first is not None:
                    cluster_value[key] = first
            # Counter.update counts in C: nearly every group is counted when a tenth of the demands carry a
            # counting constraint, so this runs for nearly every placement.
            self.counts[key].update(filter(_is_value, values))
        self.group_synced[group] = len(placed)

    def run(self) -> MatchResult:
        demands = self.demands
        order = sorted(range(len(demands)),
                       key=[(-demand.priority, demand.sequence, i) for i, demand in enumerate(demands)].__getitem__)
        assignments: list[list[Assignment]] = [[] for _ in self.offers]
        counted_groups = self.counted_fields
        plans = self.plans
        find, take, group_placed = self._find, self._take, self.group_placed
        free_of, fits = self.free, _fits
        running = self.running_executors
        last_plan: _Plan | None = None
        last_idx = -1
        for rank, i in enumerate(order):
            demand = demands[i]
            # The key _plan uses for a demand without constraints, looked up here without the call.
            plan = None if demand.constraints else plans.get(
                (demand.role, demand.cpus, demand.mem, demand.disk, demand.gpus, demand.executor))
            if plan is None:
                plan = self._plan(demand)
            version = len(group_placed[plan.group]) if plan.group is not None else 0
            if plan.failed_at == version:
                plan.waiting.append((rank, demand))
                continue
            if plan is last_plan and plan.unconstrained and fits(free_of[last_idx], plan.need):
                # The same shape as the placement just made, with nothing else placed since: the offers
                # ahead of that one in best-fit order turned it down and still would, so it is the best
                # fit again while it still holds the shape (see _find).  (Its executor, if any, runs there
                # now: the shape's own need is all it needs.)
                idx = last_idx
            else:
                idx = find(plan)
            if idx is None:
                plan.failed_at = version
                plan.waiting.append((rank, demand))
                continue
            if plan.waiting:
                # Its group gained an instance since an identical demand ahead of it fit nowhere
                # (GROUP_BY with a count may now accept more): that one takes the place, as it
                # would take exactly the same one.
                plan.waiting.append((rank, demand))
                rank, demand = plan.waiting.popleft()
            executor_id = plan.executor_id
            if executor_id is None or executor_id in running[idx]:
                assignments[idx].append(Assignment(demand.task_id, take(idx, plan)))
            else:
                assignments[idx].append(Assignment(demand.task_id, take(idx, plan, True), True))
            last_plan, last_idx = plan, idx
            if demand.group in counted_groups:
                group_placed[demand.group].append(idx)
        waiting = sorted((rank, demand.task_id, plan) for plan in self.plans.values()
                         for rank, demand in plan.waiting)
        reasons = {}
        for _, task_id, plan in waiting:
            if plan.reason is None:
                plan.reason = self._reason(plan)
            reasons[task_id] = plan.reason
        return MatchResult(
            launches=tuple(OfferLaunch(offer.id, offer.agent_id, offer.hostname, tuple(assignments[idx]))
                           for idx, offer in enumerate(self.offers) if assignments[idx]),
            unused_offer_ids=tuple(offer.id for idx, offer in enumerate(self.offers) if not assignments[idx]),
            waiting=reasons,
        )

    # --- reasons -------------------------------------------------------------------------------

    def _alone_mask(self, c: Constraint, group: str | None) -> bytearray:
        """Which offers ``c`` accepts on its own, with the instances counted at the end of the cycle.
        GROUP_BY applies only its expected-values rule here: its balance rule picks among the offers
        that can take a task and so never rules them all out."""
        agent_ok = self._static_ok((c,))
        if not _counts_instances(c):
            return agent_ok
        mask = self.alone_masks.get((c, group))
        if mask is not None:
            return mask
        counts = self.counts[(group, c.field)]
        # Start from the agents the field allows and clear the offers of the values the instances rule
        # out: the work is in the instances counted, not in the offers.
        by_value = self._offers_by_value(c.field)
        ruled_out: Iterable[str] = ()
        if c.operator == "UNIQUE":
            ruled_out = counts
        elif c.operator == "MAX_PER":
            limit = c.count
            ruled_out = [value for value, n in counts.items() if n >= limit]
        elif c.operator == "CLUSTER":
            first = self.cluster_value.get((group, c.field))
            if first is not None:
                mask = bytearray(len(agent_ok))
                for idx in by_value.get(first, ()):
                    mask[idx] = agent_ok[idx]
        elif c.count is not None and len(counts) < c.count:  # GROUP_BY still missing values
            ruled_out = counts
        if mask is None:
            mask = agent_ok
            if ruled_out:
                mask = bytearray(agent_ok)
                for value in ruled_out:
                    for idx in by_value.get(value, ()):
                        mask[idx] = 0
        self.alone_masks[(c, group)] = mask
        return mask

    def _offers_by_value(self, name: str) -> dict[str, list[int]]:
        """``value -> the offers whose agent has it`` for a field (hostname or attribute)."""
        by_value = self.offers_by_value.get(name)
        if by_value is None:
            by_value = self.offers_by_value[name] = {}
            for idx, value in enumerate(self.field_values(name)):
                if value is not None:
                    by_value.setdefault(value, []).append(idx)
        return by_value

    def _constraint_reason(self, c: Constraint, group: str, role_offers: list[int]) -> str:
        name, operator = c.field, c.operator
        if operator == "IS" or (operator == "CLUSTER" and c.value is not None):
            return f"no agent with {name}={c.value}"
        if operator == "LIKE":
            return f"no agent whose {name} matches {c.value}"
        if operator == "UNLIKE":
            return f"no agent whose {name} does not match {c.value}"
        values = self.field_values(name)
        if all(values[idx] is None for idx in role_offers):
            return f"no agent with attribute {name}"
        counts = self.counts[(group, name)]
        where = "agent already runs" if c.is_hostname else f"{name} already has"
        if operator == "UNIQUE":
            return f"UNIQUE {name}: every offered {where} an instance of {group}"
        if operator == "MAX_PER":
            return f"MAX_PER {name} {c.value}: every offered {where} {_instances(c.count)} of {group}"
        if operator == "CLUSTER":
            return f"no agent with {name}={self.cluster_value[(group, name)]} (CLUSTER {name}: {group} runs there)"
        used = sorted(counts)
        listed = ", ".join(used[:5]) + (", ..." if len(used) > 5 else "")
        return (f"GROUP_BY {name} {c.value}: {group} runs on {len(used)} of {c.value} expected {name} values "
                f"({listed}); waiting for an agent with another {name}")

    def role_offers_of(self, role: str) -> list[int]:
        offers = self.role_offers.get(role)
        if offers is None:
            offers = self.role_offers[role] = [idx for idx, offer_role in enumerate(self.offer_role)
                                               if offer_role == role]
        return offers

    def _largest(self, offers: list[int]) -> list[int]:
        """Per dimension, the most any of ``offers`` had (they are never empty here)."""
        columns = self.capacity_columns
        if len(offers) <= 32:
            return [max(map(column.__getitem__, offers)) for column in columns]
        # Many offers: the first of them in each dimension's largest-first order, usually found at once.
        chosen = set(offers)
        return [column[next(filter(chosen.__contains__, self._largest_first(k)))] for k, column in enumerate(columns)]

    def _largest_first(self, k: int) -> list[int]:
        order = self.capacity_orders.get(k)
        if order is None:
            order = self.capacity_orders[k] = sorted(range(len(self.offers)), key=self.capacity_columns[k].__getitem__,
                                                     reverse=True)
        return order

    def _reason(self, plan: _Plan) -> str:
        if not self.offers:
            return "no offers yet"
        if plan.role not in self.index:
            roles = sorted(self.index)
            return (f"no offers for role {plan.role!r} (offers this cycle are for role{'s' if len(roles) > 1 else ''} "
                    f"{', '.join(repr(role) for role in roles)})")
        role_offers = self.role_offers_of(plan.role)
        # plan.group is None only for shapes without counting constraints, which never look at it.  The
        # instances are counted here, for the groups whose shapes wait, rather than for every group at the end.
        group = plan.group
        if group is not None:
            self._sync_counts(group)
        eligible = role_offers
        every_offer = len(role_offers) == len(self.offers)
        for c in plan.constraints:
            accepted = self._alone_mask(c, group)
            if not (1 in accepted if every_offer else any(accepted[idx] for idx in role_offers)):
                return self._constraint_reason(c, group, role_offers)
            eligible = list(compress(eligible, map(accepted.__getitem__, eligible)))
        if not eligible:
            together = "; ".join(str(c) for c in plan.constraints)
            return f"no offered agent meets all its constraints together ({together})"
        need, note = plan.need, ""
        if plan.executor_id is not None and not self._runs_on_any(plan.executor_id, eligible, role_offers):
            # Its executor runs on none of these agents: wherever it goes, it starts it.
            need = plan.full_need
            note = f" (with {_amounts(plan.exec_need, [k for k in range(3) if plan.exec_need[k]])} for its warm executor)"
        reason = self._size_reason(plan, eligible, role_offers, need)
        return reason if reason == WAITING_FOR_RESOURCES else reason + note

    def _runs_on_any(self, executor_id: str, eligible: list[int], role_offers: list[int]) -> bool:
        """Does ``executor_id`` run on the agent of any of ``eligible`` (as the offers came: ``executor_ids``)?
        Looked up from the few offers that run it, not by testing every eligible offer: every waiting shape asks,
        and most of them ask about all the offers of their role."""
        if self.offers_by_executor is None:
            self.offers_by_executor = {}
            for idx, offer in enumerate(self.offers):
                for running in offer.executor_ids:
                    self.offers_by_executor.setdefault(running, []).append(idx)
        where = self.offers_by_executor.get(executor_id)
        if not where:
            return False
        if eligible is role_offers:
            role = self.offer_role[eligible[0]]
            return any(self.offer_role[idx] == role for idx in where)
        chosen = set(eligible)
        return any(idx in chosen for idx in where)

    def _size_reason(self, plan: _Plan, eligible: list[int], role_offers: list[int], need: tuple[int, ...]) -> str:
        if eligible is role_offers:
            largest = self.role_largest.get(plan.role)
            if largest is None:
                largest = self.role_largest[plan.role] = self._largest(eligible)
        else:
            largest = self._largest(eligible)
        short = [k for k in range(4) if need[k] > largest[k]]
        if len(short) == 1:
            k = short[0]
            return f"needs {_amounts(need, short)}; the largest offer has {_number_text(largest[k])}"
        if short:
            return f"needs {_amounts(need, short)}; the largest offers have {_amounts(largest, short)}"
        cpus, mem, disk, gpus = need
        if not any(have[_CPUS] >= cpus and have[_MEM] >= mem and have[_DISK] >= disk and have[_GPUS] >= gpus
                   for have in (self.capacity[idx] for idx in eligible)):
            needed = [k for k in range(4) if need[k]]
            biggest = max(eligible, key=lambda idx: (self.capacity[idx], -idx))
            what = "both" if len(needed) == 2 else "all of it"
            return (f"needs {_amounts(need, needed)}; no single offer has {what} "
                    f"(the largest has {_amounts(self.capacity[biggest], needed)})")
        return WAITING_FOR_RESOURCES
