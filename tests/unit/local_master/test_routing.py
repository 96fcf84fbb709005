"""HTTP routing as libprocess does it (3rdparty/libprocess/src/process.cpp 1.11.0, ProcessManager::handle and
ProcessBase::consume): the first segment names the process, else the delegate; the longest endpoint name that
prefixes the rest of the path answers, with trailing slashes dropped."""

from __future__ import annotations

import pytest

from airflow_mesos.local.agent_http import AGENT_PROCESSES
from airflow_mesos.local.http_util import resolve_endpoint
from airflow_mesos.local.master_http import MASTER_PROCESSES


@pytest.mark.parametrize("path,route", [
    ("/master/state", ("master", "state")),
    ("/state", ("master", "state")),                                  # delegated to the master process
    ("/master/frameworks/", ("master", "frameworks")),                # trailing slash trimmed
    ("/master/state/", ("master", "state")),
    ("/frameworks//", ("master", "frameworks")),
    ("/master/frameworks/extra/more", ("master", "frameworks")),      # the longest matching endpoint name
    ("/api/v1/scheduler", ("master", "api/v1/scheduler")),
    ("/master/api/v1/scheduler/", ("master", "api/v1/scheduler")),
    ("/api/v1/whatever", ("master", "api/v1")),                       # shortened until an endpoint is found
    ("/api/v1", ("master", "api/v1")),
    ("/metrics/snapshot", ("metrics", "snapshot")),
    ("/metrics/snapshot/", ("metrics", "snapshot")),
    ("/version", ("version", "")),                                    # VersionProcess routes "/"
    ("/version/", ("version", "")),
    ("/master/metrics/snapshot", None),                               # the master process has no metrics endpoint
    ("/master/version", None),
    ("/", None),
    ("/master", None),
    ("/nothing", None),
    ("/state.json", None),                                            # 1.11 has no .json aliases
    ("/master/../state", None),                                       # relative paths are refused
])
def test_master_paths(path, route):
    assert resolve_endpoint(path, MASTER_PROCESSES, "master") == route


@pytest.mark.parametrize("path,route", [
    ("/state", ("slave(1)", "state")),
    ("/slave(1)/state/", ("slave(1)", "state")),
    ("/slave%281%29/flags", ("slave(1)", "flags")),                   # the process id is percent-decoded
    ("/files/read", ("files", "read")),
    ("/files/browse/", ("files", "browse")),
    ("/slave(1)/files/read", None),                                   # files is a process of its own
    ("/health", ("slave(1)", "health")),
    ("/metrics/snapshot", ("metrics", "snapshot")),
])
def test_agent_paths(path, route):
    assert resolve_endpoint(path, AGENT_PROCESSES, "slave(1)") == route
