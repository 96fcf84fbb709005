"""Facts about Mesos 1.11 that the embedded master and agents share, each defined once."""

from __future__ import annotations

MESOS_VERSION = "1.11.0"
"""The Mesos release whose behaviour the embedded cluster follows (and reports in ``/version``, MasterInfo...)."""

TERMINAL_STATES = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE",
     "TASK_GONE_BY_OPERATOR"}
)
"""``protobuf::isTerminalState`` (src/common/protobuf_utils.cpp)."""

LIVE_STATES = ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING")
"""The non-terminal states a task on a reachable agent can be in (the ``tasks_*`` gauges)."""

AGENT_CAPABILITIES = ("MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT")
"""What the embedded agents report as ``SlaveInfo.Capability``s (a subset of a 1.11 agent's: no resource
providers, no draining, no resizing of volumes)."""

MASTER_CAPABILITIES = ("AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2")
"""``MasterInfo.Capability``s of a 1.11 master (``Master::Master``)."""

SCALAR_RESOURCES = ("cpus", "gpus", "mem", "disk")
"""The scalar resources the metrics and role summaries report on."""


def is_terminal(state: str) -> bool:
    """Whether a task in ``state`` never changes state again."""
    return state in TERMINAL_STATES


def version_info() -> dict:
    """``VersionInfo`` as ``/version`` and GET_VERSION report it (no build data for the embedded cluster)."""
    return {"version": MESOS_VERSION, "build_date": "", "build_time": 0.0, "build_user": ""}
