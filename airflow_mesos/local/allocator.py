"""Resource arithmetic and the offer allocator of the embedded master.

Everything here is pure: no I/O, no clock.  The master passes in "now" and
snapshots of agents and frameworks, and gets back which resources to offer to
whom.  Scalars use fixed-point arithmetic with three decimals, as Mesos does
(``src/common/values.cpp``), so ``0.1 + 0.2`` cpus never overcommits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

MAX_REFUSE_SECONDS = 365 * 24 * 3600.0
"""Mesos caps ``filters.refuse_seconds`` at 365 days (hierarchical.cpp)."""

DEFAULT_REFUSE_SECONDS = 5.0
"""``Filters.refuse_seconds`` default in mesos.proto."""


class InvalidResources(ValueError):
    """A v1 Resource JSON list that cannot be interpreted; the message says which entry and why."""


def _milli(value: float) -> int:
    return int(round(float(value) * 1000))


def _normalize(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[list[int]] = []
    for begin, end in sorted(ranges):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([begin, end])
    return tuple((b, e) for b, e in merged)


def _subtract_ranges(have: tuple[tuple[int, int], ...], take: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    result = list(have)
    for tb, te in take:
        nxt: list[tuple[int, int]] = []
        for b, e in result:
            if te < b or tb > e:
                nxt.append((b, e))
                continue
            if b < tb:
                nxt.append((b, tb - 1))
            if te < e:
                nxt.append((te + 1, e))
        result = nxt
    return _normalize(result)


def _ranges_contain(have: tuple[tuple[int, int], ...], want: tuple[tuple[int, int], ...]) -> bool:
    return all(any(b <= wb and we <= e for b, e in have) for wb, we in want)


@dataclass(frozen=True)
class Resources:
    """An immutable bag of unreserved resources: scalars (in thousandths), ranges and sets by name."""

    scalars: tuple[tuple[str, int], ...] = ()
    ranges: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = ()
    sets: tuple[tuple[str, frozenset[str]], ...] = ()

    # -- construction -------------------------------------------------------------------------
    @staticmethod
    def build(scalars: dict[str, int] | None = None, ranges: dict[str, tuple] | None = None,
              sets: dict[str, frozenset[str]] | None = None) -> "Resources":
        return Resources(
            tuple(sorted((k, v) for k, v in (scalars or {}).items() if v > 0)),
            tuple(sorted((k, _normalize(v)) for k, v in (ranges or {}).items() if v)),
            tuple(sorted((k, frozenset(v)) for k, v in (sets or {}).items() if v)),
        )

    @staticmethod
    def from_json(resources: object, where: str = "resources") -> "Resources":
        """Parse a v1 ``Resource`` JSON list; raise :class:`InvalidResources` naming the bad entry."""
        if not isinstance(resources, list):
            raise InvalidResources(f"{where} must be a list of Resource objects")
        scalars: dict[str, int] = {}
        ranges: dict[str, list[tuple[int, int]]] = {}
        sets: dict[str, set[str]] = {}
        for index, resource in enumerate(resources):
            at = f"{where}[{index}]"
            if not isinstance(resource, dict) or not isinstance(resource.get("name"), str) or not resource["name"]:
                raise InvalidResources(f"{at}: Resource must be an object with a non-empty 'name'")
            name, kind = resource["name"], resource.get("type")
            try:
                if kind == "SCALAR":
                    value = float(resource["scalar"]["value"])
                    if value < 0 or value != value:
                        raise InvalidResources(f"{at}: scalar resource '{name}' must be non-negative")
                    scalars[name] = scalars.get(name, 0) + _milli(value)
                elif kind == "RANGES":
                    for item in resource["ranges"].get("range", []):
                        begin, end = int(item["begin"]), int(item["end"])
                        if begin > end:
                            raise InvalidResources(f"{at}: range [{begin}-{end}] of '{name}' is empty")
                        ranges.setdefault(name, []).append((begin, end))
                elif kind == "SET":
                    sets.setdefault(name, set()).update(str(i) for i in resource["set"].get("item", []))
                else:
                    raise InvalidResources(f"{at}: resource '{name}' has unsupported type {kind!r}")
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                if isinstance(exc, InvalidResources):
                    raise
                raise InvalidResources(f"{at}: resource '{name}' of type {kind} is malformed ({exc!r})") from exc
        if "gpus" in scalars and scalars["gpus"] % 1000:
            raise InvalidResources("The 'gpus' resource must be an unsigned integer")
        return Resources.build(scalars, {k: tuple(v) for k, v in ranges.items()}, {k: frozenset(v) for k, v in sets.items()})

    # -- algebra ------------------------------------------------------------------------------
    def scalar(self, name: str) -> float:
        return dict(self.scalars).get(name, 0) / 1000.0

    def is_empty(self) -> bool:
        return not (self.scalars or self.ranges or self.sets)

    def __add__(self, other: "Resources") -> "Resources":
        scalars = dict(self.scalars)
        for k, v in other.scalars:
            scalars[k] = scalars.get(k, 0) + v
        ranges = {k: list(v) for k, v in self.ranges}
        for k, v in other.ranges:
            ranges.setdefault(k, []).extend(v)
        sets = {k: set(v) for k, v in self.sets}
        for k, v in other.sets:
            sets.setdefault(k, set()).update(v)
        return Resources.build(scalars, {k: tuple(v) for k, v in ranges.items()}, {k: frozenset(v) for k, v in sets.items()})

    def __sub__(self, other: "Resources") -> "Resources":
        scalars = dict(self.scalars)
        for k, v in other.scalars:
            scalars[k] = max(0, scalars.get(k, 0) - v)
        ranges = dict(self.ranges)
        for k, v in other.ranges:
            if k in ranges:
                ranges[k] = _subtract_ranges(ranges[k], v)
        sets = dict(self.sets)
        for k, v in other.sets:
            if k in sets:
                sets[k] = sets[k] - v
        return Resources.build(scalars, ranges, sets)

    def contains(self, other: "Resources") -> bool:
        mine_s, mine_r, mine_t = dict(self.scalars), dict(self.ranges), dict(self.sets)
        return (
            all(mine_s.get(k, 0) >= v for k, v in other.scalars)
            and all(_ranges_contain(mine_r.get(k, ()), v) for k, v in other.ranges)
            and all(v <= mine_t.get(k, frozenset()) for k, v in other.sets)
        )

    # -- rendering ----------------------------------------------------------------------------
    def to_json(self, allocation_role: str | None = None) -> list[dict]:
        """v1 ``Resource`` JSON list (role "*"), with ``allocation_info`` when allocated to a role."""
        out: list[dict] = []
        order = {"cpus": 0, "mem": 1, "disk": 2, "ports": 3, "gpus": 4}
        items: list[tuple[str, dict]] = []
        for name, milli in self.scalars:
            items.append((name, {"name": name, "type": "SCALAR", "scalar": {"value": milli / 1000.0}}))
        for name, rs in self.ranges:
            items.append((name, {"name": name, "type": "RANGES",
                                 "ranges": {"range": [{"begin": b, "end": e} for b, e in rs]}}))
        for name, items_ in self.sets:
            items.append((name, {"name": name, "type": "SET", "set": {"item": sorted(items_)}}))
        items.sort(key=lambda kv: (order.get(kv[0], 99), kv[0]))
        for _, resource in items:
            resource["role"] = "*"
            if allocation_role is not None:
                resource["allocation_info"] = {"role": allocation_role}
            out.append(resource)
        return out

    def to_state_model(self) -> dict:
        """The flat map of the state endpoints (``src/common/http.cpp`` ``model(Resources)``)."""
        model: dict[str, object] = {"disk": 0.0, "mem": 0.0, "gpus": 0.0, "cpus": 0.0}
        for name, milli in self.scalars:
            model[name] = milli / 1000.0
        for name, rs in self.ranges:
            model[name] = "[" + ", ".join(f"{b}-{e}" for b, e in rs) + "]"
        for name, items in self.sets:
            model[name] = "{" + ", ".join(sorted(items)) + "}"
        return model

    def __str__(self) -> str:
        parts = [f"{k}(*):{v / 1000.0:g}" for k, v in self.scalars]
        parts += [f"{k}(*):[" + ", ".join(f"{b}-{e}" for b, e in rs) + "]" for k, rs in self.ranges]
        parts += [f"{k}(*):{{" + ", ".join(sorted(s)) + "}" for k, s in self.sets]
        return "; ".join(parts)


# ------------------------------------------------------------------------------------------------
# Allocation
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefuseFilter:
    """Do not re-offer ``resources`` (or a subset) of an agent to a framework role until ``expires``."""

    agent_id: str
    role: str
    resources: Resources
    expires: float


@dataclass
class AgentSlot:
    """An agent as the allocator sees it."""

    agent_id: str
    available: Resources           # total - used - offered
    has_gpus: bool = False


@dataclass
class FrameworkSlot:
    """A framework as the allocator sees it."""

    framework_id: str
    roles: list[str]
    suppressed_roles: set[str] = field(default_factory=set)
    gpu_capable: bool = False
    filters: list[RefuseFilter] = field(default_factory=list)
    allocated: Resources = field(default_factory=Resources)   # used + offered, for fairness


@dataclass(frozen=True)
class Allocation:
    framework_id: str
    agent_id: str
    role: str
    resources: Resources


def _dominant_share(allocated: Resources, total: Resources) -> float:
    share = 0.0
    for name in ("cpus", "mem", "disk", "gpus"):
        whole = total.scalar(name)
        if whole > 0:
            share = max(share, allocated.scalar(name) / whole)
    return share


def is_filtered(framework: FrameworkSlot, agent_id: str, role: str, offer: Resources, now: float) -> bool:
    """True if an unexpired refuse filter covers offering ``offer`` of ``agent_id`` to ``role``."""
    return any(
        f.agent_id == agent_id and f.role == role and f.expires > now and f.resources.contains(offer)
        for f in framework.filters
    )


def allocate(agents: list[AgentSlot], frameworks: list[FrameworkSlot], total: Resources, now: float) -> list[Allocation]:
    """Decide one allocation round.

    Each agent's whole available pool goes to one (framework, role), as Mesos'
    hierarchical allocator does; frameworks are visited in order of their
    dominant resource share (DRF), re-sorted after every grant so that two
    frameworks alternate over agents.  Agents with GPUs are offered only to
    GPU_RESOURCES-capable frameworks (Mesos' ``filterGpuResources``).
    """
    shares = {f.framework_id: f.allocated for f in frameworks}
    grants: list[Allocation] = []
    for agent in sorted(agents, key=lambda a: a.agent_id):
        if agent.available.is_empty():
            continue
        ordered = sorted(frameworks, key=lambda f: (_dominant_share(shares[f.framework_id], total), f.framework_id))
        for framework in ordered:
            if agent.has_gpus and not framework.gpu_capable:
                continue
            role = next(
                (r for r in framework.roles
                 if r not in framework.suppressed_roles and not is_filtered(framework, agent.agent_id, r, agent.available, now)),
                None,
            )
            if role is None:
                continue
            grants.append(Allocation(framework.framework_id, agent.agent_id, role, agent.available))
            shares[framework.framework_id] = shares[framework.framework_id] + agent.available
            break
    return grants


def refuse_seconds(filters: object) -> float:
    """Mesos' interpretation of ``Filters.refuse_seconds``: default 5 s, negative -> default, capped at 365 days."""
    value = DEFAULT_REFUSE_SECONDS
    if isinstance(filters, dict) and "refuse_seconds" in filters:
        try:
            value = float(filters["refuse_seconds"])
        except (TypeError, ValueError):
            value = DEFAULT_REFUSE_SECONDS
    if value != value or value < 0:
        return DEFAULT_REFUSE_SECONDS
    return min(value, MAX_REFUSE_SECONDS)
