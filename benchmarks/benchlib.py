"""What every benchmark here shares: figures with their targets, the machine, the load, and a JSON result.

A benchmark prints its tables as it goes and, with ``--json PATH``, writes a :class:`Section` there:
its tables (rows of text, as printed) and its figures (a value, a unit and the target it is judged
against).  ``benchmarks/run_all.py`` (what ``scripts/bench`` runs) collects the sections, prints every
figure beside its target and writes ``docs/benchmarks.md``.  Nothing here asserts anything: a figure
that misses its target is printed as missed, and the run goes on.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Figure:
    """One measured number and what it is judged against.

    :param target: in words, as printed (``"< 50 ms"``); empty when the figure has no target.
    :param met: True or False when there is a target, None when there is none or it could not be judged.
    """

    name: str
    value: float | None
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""

    def shown(self) -> str:
        if self.value is None:
            return "n/a"
        magnitude = abs(self.value)
        text = f"{self.value:.0f}" if magnitude >= 100 else f"{self.value:.1f}" if magnitude >= 10 \
            else f"{self.value:.2f}" if magnitude >= 0.1 else f"{self.value:.3g}"
        return f"{text} {self.unit}".strip()

    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Section:
    """One benchmark's result: what it measured, under what load, its tables and figures."""

    key: str
    title: str
    command: str
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def read(cls, path: str | Path) -> Section:
        data = json.loads(Path(path).read_text())
        data["tables"] = [Table(**t) for t in data.get("tables", [])]
        data["figures"] = [Figure(**f) for f in data.get("figures", [])]
        for key in ("load_before", "load_after"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)


def load() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (``uptime``)."""
    return os.getloadavg()


def load_text(value: tuple[float, float, float] | None) -> str:
    return "unknown" if value is None else " / ".join(f"{x:.2f}" for x in value)


def print_table(table: Table) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(table.header, *table.rows, strict=True)]
    print(f"\n{table.title}")
    print("  " + "  ".join(str(h).rjust(w) for h, w in zip(table.header, widths, strict=True)))
    for row in table.rows:
        print("  " + "  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)))
    if table.note:
        print(f"  ({table.note})")


def print_figures(figures: list[Figure]) -> None:
    width = max((len(f.name) for f in figures), default=10)
    for f in figures:
        target = f"target {f.target}" if f.target else ""
        print(f"  {f.name:<{width}}  {f.shown():>14}  {target:<22} {f.verdict()}"
              + (f"  ({f.note})" if f.note else ""))


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))]


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def machine() -> dict[str, Any]:
    """What the figures were taken on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    try:
        import airflow

        airflow_version = airflow.__version__
    except Exception:  # the figures still mean something without it
        airflow_version = "not importable"
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1) if mem_gib else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "airflow": airflow_version,
        "commit": f"{commit}{' (with uncommitted changes)' if dirty else ''}",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def rss_bytes() -> int:
    """This process's resident set size now (``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def start_cluster_process(workdir: Path, cluster_args: list[str], *, agents: int, log_name: str = "mesos.log"):
    """The embedded Mesos cluster in a process of its own, as ``scripts/run-local`` starts it (a master is
    never the scheduler's process): ``python -m airflow_mesos.local run --port 0`` with ``cluster_args``.

    :param agents: how many agents ``cluster_args`` make; their lines in the log say the cluster is up.
    :return: the running :class:`~airflow_mesos.localrun.services.Child` and the master's URL.
    """
    from airflow_mesos.localrun.services import Child, wait_until

    argv = [sys.executable, "-m", "airflow_mesos.local", "run", "--port", "0", "--work-dir", str(workdir / "mesos"),
            *cluster_args]
    child = Child("mesos", argv, log_path=workdir / log_name).start()

    def lines():
        text = child.log_path.read_text(errors="replace") if child.log_path.exists() else ""
        found = [line for line in text.splitlines() if line.startswith(("master: ", "agent "))]
        return found if len(found) > agents else None

    found = wait_until(lines, "the embedded Mesos cluster", timeout=120, child=child)
    return child, found[0].split(": ", 1)[1].strip()
