"""CPU-seconds by component: which of a benchmark's processes used the CPU between two moments.

A snapshot walks ``/proc`` for every descendant of a root process (this benchmark) and reads each one's
own CPU (``utime + stime``) and what its reaped children used (``cutime + cstime``).  Each process
belongs to a component by its command line or that of its nearest ancestor that names one (the
api-server, the scheduler, the embedded Mesos cluster, a warm executor, its fork server, a task...);
a process's reaped children count for the component its children would have (a fork server's and a
LocalExecutor worker's are tasks).  The difference of two snapshots is what each component used in
between.  Linux only; what ran outside the tree (Docker containers, whose processes are containerd's)
is not in it, so a benchmark shows it as the rest of its total.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TASKS = "tasks (supervisor + task process)"
# First match wins: (what the command line contains, the component).
PATTERNS = (
    ("airflow_mesos.warm.forkserver", "warm: fork server"),
    ("airflow_mesos.warm", "warm: executor"),
    ("airflow_mesos.worker", TASKS),
    ("airflow_mesos.local", "embedded Mesos (master + agents)"),
    ("airflow worker", TASKS),
    ("api-server", "airflow api-server"),
    ("api_server", "airflow api-server"),  # its process title (setproctitle)
    ("serve-logs", "airflow serve-logs"),
    ("scheduler", "airflow scheduler"),
    ("dag-processor", "airflow dag-processor"),
    ("triggerer", "airflow triggerer"),
    ("db migrate", "airflow db migrate"),
    ("postgres", "postgres"),
)
# The component a process's forked children (same command line) and reaped children count for.
CHILDREN_OF = {"warm: fork server": TASKS, TASKS: TASKS, "warm: executor": "warm: fork server"}


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    started: int  # clock ticks after boot: a reused pid is another process
    cmdline: str
    own: float  # CPU-seconds, utime + stime
    reaped: float  # CPU-seconds of waited-for children, cutime + cstime


def _read(pid: int, tick: float) -> Proc | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        cmdline = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
    ppid, utime, stime, cutime, cstime, started = (int(fields[i]) for i in (1, 11, 12, 13, 14, 19))
    return Proc(pid, ppid, started, cmdline.strip() or stat[stat.index("(") + 1:stat.rindex(")")],
                (utime + stime) * tick, (cutime + cstime) * tick)


def snapshot(root: int | None = None) -> dict[tuple[int, int], tuple[str, float, float]]:
    """(pid, start time) -> (component, own CPU-s, reaped children's CPU-s), for root's descendants."""
    root = os.getpid() if root is None else root
    tick = 1.0 / os.sysconf("SC_CLK_TCK")
    procs = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            proc = _read(int(entry.name), tick)
            if proc is not None:
                procs[proc.pid] = proc
    labels: dict[int, str | None] = {}

    def label(pid: int) -> str | None:
        if pid in labels:
            return labels[pid]
        labels[pid] = None  # a loop guard
        proc = procs.get(pid)
        if proc is None:
            return None
        own = next((name for needle, name in PATTERNS if needle in proc.cmdline), None)
        parent = procs.get(proc.ppid)
        above = label(proc.ppid) if parent is not None and pid != root else None
        if parent is not None and parent.cmdline == proc.cmdline and above in CHILDREN_OF:
            own = CHILDREN_OF[above]
        labels[pid] = own or above
        return labels[pid]

    def descends(proc: Proc) -> bool:
        seen = set()
        while proc.pid != root:
            if proc.ppid in seen or proc.ppid not in procs:
                return False
            seen.add(proc.pid)
            proc = procs[proc.ppid]
        return True

    return {(p.pid, p.started): (label(p.pid) or "other", p.own, p.reaped)
            for p in procs.values() if p.pid != root and descends(p)}


def used_between(before: dict, after: dict) -> dict[str, float]:
    """Component -> CPU-seconds used between two snapshots of the same tree.

    A process alive at both counts its difference; one that started in between counts whole.  Reaped
    children's CPU counts for the component they had (a process that was alive at the first snapshot
    and reaped before the second counts its time before the first once more: little for short tasks).
    """
    used: dict[str, float] = {}
    for key, (name, own, reaped) in after.items():
        was = before.get(key)
        own_before, reaped_before = (was[1], was[2]) if was else (0.0, 0.0)
        used[name] = used.get(name, 0.0) + own - own_before
        children = CHILDREN_OF.get(name, f"{name}: exited children")
        if reaped - reaped_before > 0:
            used[children] = used.get(children, 0.0) + reaped - reaped_before
    return used
