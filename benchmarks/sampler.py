"""A sampling profiler of every thread of this process, from the standard library only.

Every ``interval`` seconds a thread of its own reads each thread's stack (``sys._current_frames``)
and counts it only if that thread used CPU since the last sample (its own CPU clock,
``time.pthread_getcpuclockid``), so threads that wait on a socket or a lock do not fill the
profile.  What it prints: per function, the share of on-CPU samples in which it was running itself
("self") and in which it was anywhere on the stack ("total").  Less exact than py-spy (it needs the
GIL to look, so it sees Python frames only, and a thread holding the GIL in C code delays the
sample), but it needs nothing installed and shows which thread's Python code is busy.
"""

from __future__ import annotations

import collections
import re
import sys
import threading
import time

from benchlib import Table


class Sampler:
    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.self_counts: collections.Counter[str] = collections.Counter()
        self.total_counts: collections.Counter[str] = collections.Counter()
        self.thread_counts: collections.Counter[str] = collections.Counter()
        self.chains: collections.Counter[tuple[str, ...]] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpu: dict[int, float] = {}

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _busy(self, ident: int) -> bool:
        try:
            now = time.clock_gettime(time.pthread_getcpuclockid(ident))
        except (OSError, OverflowError, ValueError):
            return True  # cannot tell: count it
        before = self._cpu.get(ident)
        self._cpu[ident] = now
        return before is not None and now - before > self.interval * 0.1

    def _run(self) -> None:
        me = threading.get_ident()
        names = {}
        while not self._stop.wait(self.interval):
            frames = sys._current_frames()
            if len(names) != threading.active_count():
                names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in frames.items():
                if ident == me or not self._busy(ident):
                    continue
                self.samples += 1
                self.thread_counts[_thread_kind(names.get(ident, "?"))] += 1
                seen = set()
                leaf = True
                chain = []
                while frame is not None:
                    code = frame.f_code
                    where = f"{_short(code.co_filename)}:{code.co_firstlineno} {code.co_name}"
                    if leaf:
                        self.self_counts[where] += 1
                        leaf = False
                    if where not in seen:
                        self.total_counts[where] += 1
                        seen.add(where)
                    if len(chain) < 12 and "threading.py" not in where:
                        chain.append(where)
                    frame = frame.f_back
                self.chains[tuple(chain)] += 1

    def table(self, title: str, top: int = 25) -> Table:
        n = max(self.samples, 1)
        rows = [[f"{self.self_counts[w] / n:.1%}", f"{count / n:.1%}", w]
                for w, count in self.total_counts.most_common(top * 3)]
        # Most interesting first: what holds the CPU itself, then what calls it.
        rows.sort(key=lambda r: (-float(r[0].rstrip("%")), -float(r[1].rstrip("%"))))
        threads = ", ".join(f"{kind} {count / n:.0%}" for kind, count in self.thread_counts.most_common(8))
        return Table(title, ["self", "total", "function"], rows[:top],
                     note=f"{self.samples} on-CPU samples every {self.interval * 1000:g} ms; by thread: {threads}")

    def stacks(self, title: str, top: int = 8, depth: int = 8) -> Table:
        """The most frequent on-CPU stacks (innermost first), cut at ``depth`` frames."""
        n = max(self.samples, 1)
        counted: collections.Counter[tuple[str, ...]] = collections.Counter()
        for chain, count in self.chains.items():
            counted[chain[:depth]] += count
        rows = [[f"{count / n:.1%}", " <- ".join(chain)] for chain, count in counted.most_common(top)]
        return Table(title, ["share", "stack (innermost first)"], rows)


def _short(path: str) -> str:
    for marker in ("/airflow_mesos/", "/site-packages/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1] if marker != "/airflow_mesos/" else "airflow_mesos/" + path.split(marker, 1)[1]
    return path.rsplit("/", 1)[-1]


def _thread_kind(name: str) -> str:
    """Thread names without their ids and numbers, so that the agents' and the HTTP servers' threads add up
    (``agent-<uuid>-S3-updates`` -> ``agent-*-S*-updates``, ``Thread-7 (process_request_thread)`` ->
    ``Thread-* (process_request_thread)``)."""
    name = re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}(-\d+)?", "*", name)
    return re.sub(r"\d+", "*", name)
