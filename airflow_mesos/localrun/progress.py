"""What ``scripts/run-local`` prints about a DAG run: pure functions of what the REST API and the status
reading returned (task instances as ``/api/v2`` JSON, :class:`~airflow_mesos.status.model.WaitingTask`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_mesos.status.model import WaitingTask, agents_info, ti_label

FINISHED_STATES = ("success", "failed", "skipped", "upstream_failed", "removed")
# The order states are listed in: what is done first, then what moves, then what has not started.
_ORDER = FINISHED_STATES + ("running", "restarting", "up_for_retry", "queued", "scheduled", "deferred",
                            "up_for_reschedule", "none")


def _state(ti: Mapping[str, Any]) -> str:
    return ti.get("state") or "none"


def progress_line(dag_id: str, tis: Sequence[Mapping[str, Any]]) -> str:
    """``example: 2/6 tasks done (2 success) · 1 running · 3 queued``."""
    counts = Counter(_state(ti) for ti in tis)
    done = sum(counts[s] for s in FINISHED_STATES)
    finished = ", ".join(f"{counts[s]} {s}" for s in FINISHED_STATES if counts[s])
    others = [f"{counts[s]} {'not scheduled yet' if s == 'none' else s}" for s in _ORDER
              if s not in FINISHED_STATES and counts[s]]
    others += [f"{n} {s}" for s, n in sorted(counts.items()) if s not in _ORDER]
    head = f"{dag_id}: {done}/{len(tis)} tasks done" + (f" ({finished})" if finished else "")
    return " · ".join([head, *others])


def waiting_lines(waiting: Sequence[WaitingTask], dag_id: str, run_id: str) -> list[str]:
    """One line per task instance of this run that waits for an offer, with the executor's reason."""
    lines = []
    for task in waiting:
        if task.ti.dag_id != dag_id or task.ti.run_id != run_id:
            continue
        reason = task.reason or "no offer tried yet"
        lines.append(f"  waiting for Mesos: {ti_label('', task.ti.task_id, task.ti.map_index)[1:]}: {reason}")
    return lines


def placements(external_ids: Mapping[tuple[str, int], str | None], tasks: Mapping[str, Any],
               slaves: Mapping[str, Any]) -> dict[tuple[str, int], str]:
    """Where each task instance's Mesos task ran: ``{(task_id, map_index): "127.0.0.2 (rack=r2 zone=b)"}``.

    :param external_ids: each TI's ``external_executor_id`` (its Mesos task id).
    :param tasks: / :param slaves: the master's ``/master/tasks`` and ``/master/slaves``.
    """
    agents = {a.id: a for a in agents_info(slaves)}
    agent_of = {t.get("id"): t.get("slave_id") for t in tasks.get("tasks", []) if isinstance(t, dict)}
    out = {}
    for key, task_id in external_ids.items():
        agent = agents.get(agent_of.get(task_id))
        if agent is not None:
            attributes = " ".join(f"{k}={v}" for k, v in sorted(agent.attributes.items()))
            out[key] = agent.hostname + (f" ({attributes})" if attributes else "")
    return out


def result_lines(dag_id: str, run: Mapping[str, Any], tis: Sequence[Mapping[str, Any]],
                 where: Mapping[tuple[str, int], str] | None = None) -> list[str]:
    """The run's end: its state, then each task instance with its state, the agent it ran on and how long."""
    counts = progress_line(dag_id, tis).split(": ", 1)[1]
    lines = [f"DAG run {dag_id} / {run.get('dag_run_id')}: {run.get('state')}; {counts}"]
    for ti in sorted(tis, key=lambda t: (t.get("task_id", ""), t.get("map_index", -1))):
        key = (ti.get("task_id", ""), ti.get("map_index", -1))
        label = ti_label("", key[0], key[1])[1:]
        agent = (where or {}).get(key)
        on = f" on agent {agent}" if agent else ""
        took = f" in {ti['duration']:.1f} s" if isinstance(ti.get("duration"), (int, float)) else ""
        lines.append(f"  {label}: {_state(ti)}{on}{took}")
    return lines


def exit_code(run: Mapping[str, Any]) -> int:
    """0 for a successful run, 1 otherwise."""
    return 0 if run.get("state") == "success" else 1
