"""Diff between the rendered group and what Marathon returns."""

from __future__ import annotations

import copy

from airflow_mesos.marathon.diff import diff_groups, format_diff
from airflow_mesos.marathon.render import render_group
from airflow_mesos.marathon.settings import load_settings


def rendered():
    return render_group(load_settings())


def as_marathon_returns(group):
    """Add what GET /v2/groups adds: bookkeeping, defaults, service ports, relative ids made absolute."""
    running = copy.deepcopy(group)
    running["version"] = "2026-01-01T00:00:00Z"
    for app in running["apps"]:
        app.update(version="v", versionInfo={}, tasksRunning=1, tasksHealthy=1, tasksStaged=0, tasksUnhealthy=0,
                   backoffSeconds=1, backoffFactor=1.15, gpus=0, uris=[], constraints=app.get("constraints", []),
                   role="*", deployments=[])
        for mapping in app["container"].get("portMappings", []):
            mapping["servicePort"] = 10101
            mapping["labels"] = {}
        for check in app["healthChecks"]:
            check.setdefault("delaySeconds", 15)
    return running


def test_identical_after_marathon_additions():
    assert diff_groups(rendered(), as_marathon_returns(rendered())) == []


def test_not_deployed_means_every_app_is_added():
    changes = diff_groups(rendered(), None)
    assert [(c.kind, c.where) for c in changes] == [("added", a["id"]) for a in rendered()["apps"]]


def test_changes_removals_and_relative_ids():
    desired = rendered()
    running = as_marathon_returns(rendered())
    running["apps"][2]["cpus"] = 3  # scheduler
    running["apps"][1]["id"] = "api-server"  # relative id: same app
    running["apps"][4]["env"]["AIRFLOW__API_AUTH__JWT_SECRET"] = "plain-value"  # redacted in output
    running["apps"].append({"id": "/airflow/old-worker", "cmd": "sleep 1"})
    desired["apps"][3]["env"]["NEW"] = "x"
    changes = diff_groups(desired, running)
    text = format_diff(changes)
    assert "~ /airflow/scheduler/cpus: 3 -> 1.0" in text
    assert "- /airflow/old-worker" in text
    assert '+ /airflow/dag-processor/env/NEW: "x"' in text
    assert '~ /airflow/triggerer/env/AIRFLOW__API_AUTH__JWT_SECRET: "<redacted>" -> {"secret": "jwt-secret"}' in text
    assert "plain-value" not in text
    assert "/airflow/api-server" not in text  # the relative id resolved to the same app


def test_a_default_value_that_was_set_explicitly_is_not_a_change():
    desired = rendered()
    running = as_marathon_returns(rendered())
    running["apps"][0]["healthChecks"][0]["ipProtocol"] = "IPv4"
    running["apps"][0]["requirePorts"] = False
    assert diff_groups(desired, running) == []

