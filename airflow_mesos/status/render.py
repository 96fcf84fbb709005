"""``airflow-mesos status`` as text: pure functions of a :class:`~airflow_mesos.status.model.Snapshot`."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from airflow_mesos.status.model import (
    ACTIVE_TASK_STATES,
    AgentInfo,
    FrameworkInfo,
    MasterInfo,
    MesosTask,
    Snapshot,
    WaitingTask,
    counts_by_state,
)

MAX_LISTED = 20
"""Active tasks and waiting tasks listed one per line; past this, a count."""


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def format_master(master: MasterInfo) -> str:
    if master.is_leader:
        role = "leading"
    elif master.is_leader is False:
        role = f"not leading; the leader is {master.leader_url or 'unknown'}"
    else:
        role = "leader unknown"
    version = f", Mesos {master.version}" if master.version else ""
    return f"Mesos master  {master.url} ({role}{version})"


def format_framework(framework: FrameworkInfo) -> str:
    if framework.id is None:
        return (f"Framework     {framework.name}: not registered (no framework id in the metadata database and "
                "no framework of that name on the master: is the scheduler running with the MesosExecutor?)")
    roles = f", roles {','.join(framework.roles)}" if framework.roles else ""
    return (f"Framework     {framework.name}: {framework.state}, id {framework.id} "
            f"(from the {framework.id_source}){roles}")


def format_agent(agent: AgentInfo, width: int) -> str:
    def amount(name: str, unit: str = "") -> str:
        total = agent.total.get(name, 0.0)
        if name == "gpus" and not total:
            return f"{name} -"
        return (f"{name} {_num(agent.used.get(name, 0.0))}/{_num(total)}{unit} "
                f"({_num(agent.free(name))} free)")

    attributes = " ".join(f"{k}={_num(v) if isinstance(v, float) else v}" for k, v in sorted(agent.attributes.items()))
    state = "" if agent.active else "  [inactive]"
    return (f"  {agent.hostname:<{width}}  {amount('cpus')}  {amount('mem', ' MiB')}  {amount('disk', ' MiB')}  "
            f"{amount('gpus')}  {attributes}{state}").rstrip()


def format_agents(agents: Sequence[AgentInfo]) -> list[str]:
    if not agents:
        return ["Agents        none registered"]
    width = max(len(a.hostname) for a in agents)
    return [f"Agents        {len(agents)} (used/total)"] + [format_agent(a, width) for a in agents]


def format_task(task: MesosTask) -> str:
    run = f"  run {task.run_id}" if task.run_id else ""
    attempt = f"  try {task.try_number}" if task.try_number is not None else ""
    where = f"  on {task.hostname or task.agent_id}" if (task.hostname or task.agent_id) else ""
    return f"  {task.state:<13} {task.label}{run}{attempt}{where}"


def format_tasks(tasks: Sequence[MesosTask]) -> list[str]:
    counts = counts_by_state(tasks)
    summary = ", ".join(f"{n} {state}" for state, n in counts) if counts else "none"
    lines = [f"Tasks on Mesos {summary}"]
    active = [t for t in tasks if t.state in ACTIVE_TASK_STATES]
    active.sort(key=lambda t: (ACTIVE_TASK_STATES.index(t.state), t.label))
    lines += [format_task(t) for t in active[:MAX_LISTED]]
    if len(active) > MAX_LISTED:
        lines.append(f"  ... and {len(active) - MAX_LISTED} more active")
    return lines


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"


def format_waiting_task(waiting: WaitingTask, now: datetime.datetime | None) -> str:
    since = waiting.ti.queued_at
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=datetime.timezone.utc)
    queued_for = f" queued {_duration((now - since).total_seconds())}" if now is not None and since else ""
    reason = waiting.reason or "no reason recorded yet (the executor has not tried to place it)"
    return f"  {waiting.label}  (run {waiting.ti.run_id}, try {waiting.ti.try_number}{queued_for}): {reason}"


def format_waiting(waiting: Sequence[WaitingTask] | None, now: datetime.datetime | None) -> list[str]:
    if waiting is None:
        return ["Waiting       unknown (the metadata database could not be read)"]
    if not waiting:
        return ["Waiting       none: no queued task instance waits for an offer"]
    lines = [f"Waiting       {len(waiting)} queued task instance(s) not placed yet"]
    lines += [format_waiting_task(w, now) for w in waiting[:MAX_LISTED]]
    if len(waiting) > MAX_LISTED:
        lines.append(f"  ... and {len(waiting) - MAX_LISTED} more")
    return lines


def format_status(snapshot: Snapshot, now: datetime.datetime | None = None) -> str:
    """The whole report, one section after the other; ``now`` (aware) shows how long tasks have been queued."""
    lines = [format_master(snapshot.master), format_framework(snapshot.framework)]
    lines += format_agents(snapshot.agents)
    lines += format_tasks(snapshot.tasks)
    lines += format_waiting(snapshot.waiting, now)
    lines += [f"Note          {problem}" for problem in snapshot.problems]
    return "\n".join(lines) + "\n"
