"""``system/*`` metrics of the host the embedded cluster runs on: the one view input that reads the machine.

Called at the HTTP edge (outside any lock); the views get the numbers as data.
"""

from __future__ import annotations

import os


def system_metrics() -> dict[str, float]:
    """``system/*`` of the host (load average and memory), as the Mesos system process reports them."""
    out: dict[str, float] = {"system/cpus_total": float(os.cpu_count() or 0)}
    try:
        one, five, fifteen = os.getloadavg()
        out.update({"system/load_1min": one, "system/load_5min": five, "system/load_15min": fifteen})
    except OSError:  # not available on this platform
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        total_kb = int(fields["MemTotal"].split()[0])
        free_kb = int(fields["MemFree"].split()[0])  # sysinfo freeram, as stout os::memory()
        out.update({"system/mem_total_bytes": float(total_kb * 1024), "system/mem_free_bytes": float(free_kb * 1024)})
    except (OSError, KeyError, ValueError, IndexError):  # not Linux, or an unexpected format
        pass
    return out
