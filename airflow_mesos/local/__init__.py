"""The embedded Mesos cluster: a master and agents in one process (see docs/local-cluster.md)."""

from __future__ import annotations

from typing import Any

__all__ = ["AgentSpec", "LocalCluster"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing a leaf module (images, master) does not pull in the agent and docker.
    if name == "LocalCluster":
        from airflow_mesos.local.cluster import LocalCluster

        return LocalCluster
    if name == "AgentSpec":
        from airflow_mesos.local.agent import AgentSpec

        return AgentSpec
    raise AttributeError(f"module 'airflow_mesos.local' has no attribute {name!r}")
