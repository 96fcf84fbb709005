"""Validation of the shipped group (clean) and of a table of broken groups."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from airflow_mesos.marathon.validate import Problem, format_problems, has_errors, problems_json, validate_group

SHIPPED = Path(__file__).resolve().parents[3] / "marathon" / "airflow.json"
BASE = json.loads(SHIPPED.read_text())
PG, API, SCHED, DAGP, TRIG = range(5)


def test_shipped_group_has_no_problems():
    assert validate_group(BASE) == []


def broken(mutate):
    group = copy.deepcopy(BASE)
    mutate(group)
    return group


def _set(path, value):
    def mutate(group):
        node = group
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return mutate


def _delete(path):
    def mutate(group):
        node = group
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]
    return mutate


def _cycle(group):
    group["apps"][PG]["dependencies"] = ["/airflow/scheduler"]


def _duplicate(group):
    group["apps"].append(copy.deepcopy(group["apps"][TRIG]))


def _nested_relative_dep(group):
    # a subgroup whose app depends on ../postgres: resolves to /airflow/postgres (exists)
    group["groups"] = [{"id": "extra", "apps": [dict(copy.deepcopy(group["apps"][TRIG]), id="worker",
                                                      dependencies=["../postgres"])]}]


def _nested_bad_dep(group):
    group["groups"] = [{"id": "extra", "apps": [dict(copy.deepcopy(group["apps"][TRIG]), id="worker",
                                                      dependencies=["postgres"])]}]


def _second_volume_user(group):
    other = copy.deepcopy(group["apps"][PG])
    other["id"] = "/airflow/pg-copy"
    group["apps"].append(other)


CASES = [
    # (name, mutation, expected path, expected message fragment, rule)
    ("schema: pods not allowed in v1.7 group", _set(["pods"], []), "", "'pods' was unexpected", "schema"),
    ("schema: upper-case id", _set(["apps", API, "id"], "/airflow/API"), "/apps/1/id", "does not match", "schema"),
    ("schema: cmd and args together", _set(["apps", API, "cmd"], "airflow api-server"), "/apps/1",
     "'cmd' and 'args' are mutually exclusive", "schema"),
    ("schema: cpus must be a number", _set(["apps", SCHED, "cpus"], "1"), "/apps/2/cpus", "is not of type 'number'",
     "schema"),
    ("ids: absolute id outside the group", _set(["apps", API, "id"], "/other/api-server"), "/apps/1/id",
     "not a child of its group /airflow", "ids"),
    ("ids: duplicate app", _duplicate, "/apps/5/id", "duplicate app id /airflow/triggerer", "ids"),
    ("dependencies: missing app", _set(["apps", API, "dependencies"], ["/airflow/pg"]), "/apps/1/dependencies/0",
     "resolves to /airflow/pg, which is not an app", "dependencies"),
    ("dependencies: relative form resolved against the group", _set(["apps", API, "dependencies"], ["../postgres"]),
     "/apps/1/dependencies/0", "resolves to /postgres", "dependencies"),
    ("dependencies: nested relative dependency that misses", _nested_bad_dep, "/groups/0/apps/0/dependencies/0",
     "resolves to /airflow/extra/postgres", "dependencies"),
    ("dependencies: cycle", _cycle, "/apps/1/dependencies",
     "dependency cycle: /airflow/api-server -> /airflow/postgres -> /airflow/scheduler -> /airflow/api-server",
     "dependencies"),
    ("dependencies: self", _set(["apps", API, "dependencies"], ["api-server"]), "/apps/1/dependencies/0",
     "depends on itself", "dependencies"),
    ("dns: unknown app name", _set(["apps", SCHED, "env", "AIRFLOW_MESOS_DB_HOST"], "pg-airflow.marathon.mesos"),
     "/apps/2/env/AIRFLOW_MESOS_DB_HOST", "'pg-airflow.marathon.mesos' matches no app", "dns"),
    ("dns: wrong domain", _set(["apps", SCHED, "env", "AIRFLOW_MESOS_DB_HOST"], "postgres-airflow.marathon.dc1"),
     "/apps/2/env/AIRFLOW_MESOS_DB_HOST", "uses domain 'dc1', the group's domain is 'mesos'", "dns"),
    ("dns: unknown SRV name", _set(["apps", SCHED, "env", "X_SRV"], "_db-airflow._tcp.marathon.mesos"),
     "/apps/2/env/X_SRV", "'_db-airflow._tcp.marathon.mesos' matches no app", "dns"),
    ("dns: name inside a URL", _set(["apps", SCHED, "env", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"],
                                    "http://web-airflow.marathon.mesos:8080/execution/"),
     "/apps/2/env/AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "'web-airflow.marathon.mesos' matches no app", "dns"),
    ("volume: two instances", _set(["apps", PG, "instances"], 2), "/apps/0/instances", "limited to 1",
     "external-volume"),
    ("volume: over capacity", _set(["apps", PG, "upgradeStrategy"], {"minimumHealthCapacity": 0,
                                                                    "maximumOverCapacity": 0.5}),
     "/apps/0/upgradeStrategy/maximumOverCapacity", "must be 0 with an external volume", "external-volume"),
    ("volume: no upgrade strategy", _delete(["apps", PG, "upgradeStrategy"]), "/apps/0/upgradeStrategy",
     "set upgradeStrategy", "external-volume"),
    ("volume: extra dvdi option on DOCKER", _set(["apps", PG, "container", "volumes", 0, "external", "options"],
                                                 {"dvdi/driver": "rexray", "dvdi/volumetype": "gp2"}),
     "/apps/0/container/volumes/0/external/options", "only 'dvdi/driver' in options, found dvdi/volumetype",
     "external-volume"),
    ("volume: missing driver", _set(["apps", PG, "container", "volumes", 0, "external", "options"], {}),
     "/apps/0/container/volumes/0/external/options", "must set 'dvdi/driver'", "external-volume"),
    ("volume: size on DOCKER", _set(["apps", PG, "container", "volumes", 0, "external", "size"], 10),
     "/apps/0/container/volumes/0/external/size", "size must be unset", "external-volume"),
    ("volume: wrong provider", _set(["apps", PG, "container", "volumes", 0, "external", "provider"], "rexray"),
     "/apps/0/container/volumes/0/external/provider", "supports only 'dvdi'", "external-volume"),
    ("volume: same volume twice", _second_volume_user, "/apps/5/container/volumes/0/external/name",
     "'airflow-pgdata' is already declared at /apps/0/container/volumes/0/external/name", "external-volume"),
    ("health: none", _set(["apps", TRIG, "healthChecks"], []), "/apps/4/healthChecks",
     "/airflow/triggerer has no health check", "health"),
    ("health: missing key", _delete(["apps", API, "healthChecks"]), "/apps/1/healthChecks", "no health check", "health"),
    ("secrets: literal password", _set(["apps", PG, "env", "POSTGRES_PASSWORD"], "hunter2"),
     "/apps/0/env/POSTGRES_PASSWORD", "looks like a secret but has a literal value", "secrets"),
    ("secrets: literal fernet key", _set(["apps", SCHED, "env", "AIRFLOW__CORE__FERNET_KEY"], "abc="),
     "/apps/2/env/AIRFLOW__CORE__FERNET_KEY", "looks like a secret", "secrets"),
    ("secrets: literal token", _set(["apps", SCHED, "env", "GITHUB_TOKEN"], "ghp_x"), "/apps/2/env/GITHUB_TOKEN",
     "looks like a secret", "secrets"),
    ("secrets: literal connection", _set(["apps", SCHED, "env", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
                                         "postgresql+psycopg2://airflow@db/airflow"),
     "/apps/2/env/AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "looks like a secret", "secrets"),
    ("secrets: credentials in a URL", _set(["apps", SCHED, "env", "AIRFLOW_CONN_X"], "postgresql://u:p@h/db"),
     "/apps/2/env/AIRFLOW_CONN_X", "carries a password in plain (user 'u')", "secrets"),
    ("secrets: credentials in args", _set(["apps", API, "args"], ["api-server", "--db", "mysql://root:pw@db/x"]),
     "/apps/1/args/2", "a mysql:// URL carries a password", "secrets"),
    ("secrets: undeclared secret", _set(["apps", SCHED, "env", "AIRFLOW__CORE__FERNET_KEY"], {"secret": "fk"}),
     "/apps/2/env/AIRFLOW__CORE__FERNET_KEY", "refers to secret 'fk', which is not declared in /apps/2/secrets",
     "secrets"),
]


@pytest.mark.parametrize(("name", "mutate", "path", "message", "rule"), CASES, ids=[c[0] for c in CASES])
def test_broken_group(name, mutate, path, message, rule):
    problems = validate_group(broken(mutate))
    matching = [p for p in problems if p.path == path and message in p.message and p.rule == rule]
    assert matching, "\n".join(map(str, problems))
    assert has_errors(problems)


def test_nested_relative_dependency_resolves():
    assert validate_group(broken(_nested_relative_dep)) == []


def test_min_health_capacity_is_a_warning_only():
    problems = validate_group(broken(_set(["apps", PG, "upgradeStrategy"],
                                          {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0})))
    assert [(p.path, p.severity) for p in problems] == [("/apps/0/upgradeStrategy/minimumHealthCapacity", "warning")]
    assert not has_errors(problems)


def test_reference_suffixes_are_not_secrets():
    group = broken(_set(["apps", SCHED, "env", "POSTGRES_PASSWORD_FILE"], "/run/secrets/pg"))
    group["apps"][SCHED]["env"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD"] = "airflow-mesos db url"
    assert validate_group(group) == []


def test_non_object_group():
    problems = validate_group([])
    assert problems == [Problem("", "[] is not of type 'object'", "error", "schema")]


def test_output_formats():
    problems = validate_group(broken(_set(["apps", PG, "instances"], 2)))
    text = format_problems(problems)
    assert "ERROR   /apps/0/instances: instances is 2" in text and text.endswith("1 error(s), 0 warning(s)")
    data = json.loads(problems_json(problems))
    assert data["valid"] is False
    assert data["problems"][0] == {"path": "/apps/0/instances", "severity": "error", "rule": "external-volume",
                                   "message": problems[0].message}
    assert format_problems([]) == "OK: no problems found"
