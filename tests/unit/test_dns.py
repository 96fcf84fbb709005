"""Mesos-DNS names (table) and wait_for with a fake clock and a fake connect."""

from __future__ import annotations

import pytest

from airflow_mesos.clock import FakeClock
from airflow_mesos.dns import (
    InvalidAppId,
    WaitTimeout,
    app_dns_names,
    dns_label,
    parse_host_port,
    task_name,
    wait_for,
)


@pytest.mark.parametrize(
    ("app_id", "kwargs", "a", "srv"),
    [
        # the example from mesos-api.md §5
        ("/airflow/postgres", {}, "postgres-airflow.marathon.mesos", "_postgres-airflow._tcp.marathon.mesos"),
        # top-level app: just its name
        ("/search", {}, "search.marathon.mesos", "_search._tcp.marathon.mesos"),
        # nested groups: segments reversed, all in one label
        ("/prod/data/airflow/db", {}, "db-airflow-data-prod.marathon.mesos", "_db-airflow-data-prod._tcp.marathon.mesos"),
        # dots inside a segment become dashes too (one label)
        ("/team.a/web", {}, "web-team-a.marathon.mesos", "_web-team-a._tcp.marathon.mesos"),
        # other domain and framework name
        ("/airflow/postgres", {"domain": "dc1.example", "framework": "marathon-user"},
         "postgres-airflow.marathon-user.dc1.example", "_postgres-airflow._tcp.marathon-user.dc1.example"),
        # trailing slash and empty segments are ignored, like Marathon's PathId
        ("//airflow//postgres/", {}, "postgres-airflow.marathon.mesos", "_postgres-airflow._tcp.marathon.mesos"),
    ],
)
def test_app_names(app_id, kwargs, a, srv):
    names = app_dns_names(app_id, **kwargs)
    assert (names.a, names.srv_tcp) == (a, srv)


def test_agent_and_udp_names():
    names = app_dns_names("/airflow/postgres")
    assert names.a_agent == "postgres-airflow.marathon.slave.mesos"
    assert names.srv_udp == "_postgres-airflow._udp.marathon.mesos"


@pytest.mark.parametrize(
    ("name", "rfc952", "label"),
    [
        ("Postgres.Airflow", False, "postgres-airflow"),  # upper case folded
        ("under_score.app", False, "under-score-app"),  # '_' -> '-'
        ("a*b@c!d", False, "abcd"),  # other characters dropped
        ("--lead.trail--", False, "lead-trail"),  # leading/trailing '-' trimmed
        ("3rd.group", False, "3rd-group"),  # RFC 1123 keeps a leading digit
        ("3rd.group", True, "rd-group"),  # RFC 952 trims leading digits
        ("9-8-web", True, "web"),
        ("x" * 70, False, "x" * 63),  # 63-character limit
        ("x" * 30, True, "x" * 24),  # 24 with enforceRFC952
        # the cut lands after a dash: trimmed, then refilled from what follows the dashes
        ("a" * 62 + "--bcd", False, "a" * 62 + "b"),
        ("a" * 23 + "-bcd", True, "a" * 23 + "b"),
        ("日本", False, ""),  # nothing survives
    ],
)
def test_label_rules(name, rfc952, label):
    assert dns_label(name, rfc952=rfc952) == label


def test_long_nested_id_is_cut_to_one_label():
    names = app_dns_names("/" + "/".join(["segment-name"] * 8))
    assert len(names.label) == 63 and not names.label.endswith("-")
    assert names.a == names.label + ".marathon.mesos"


def test_rfc952_mode_on_an_app_id():
    assert app_dns_names("/airflow/2nd-scheduler", rfc952=True).a == "nd-scheduler-airflow.marathon.mesos"
    assert app_dns_names("/airflow/api-server", rfc952=True).label == "api-server-airflow"


def test_task_name_reverses_segments():
    assert task_name("/a/b/c") == "c.b.a"


def test_app_id_without_label_is_an_error():
    with pytest.raises(InvalidAppId, match="'/'"):
        app_dns_names("/")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("postgres-airflow.marathon.mesos:5432", ("postgres-airflow.marathon.mesos", 5432)),
     ("[::1]:80", ("::1", 80))],
)
def test_parse_host_port(text, expected):
    assert parse_host_port(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("nohost", "expected HOST:PORT"), ("h:abc", "'abc' is not a number"), ("h:70000", "outside 1..65535"),
     (":5432", "expected HOST:PORT")],
)
def test_parse_host_port_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_host_port(text)


class FlakyConnect:
    """Fails ``failures`` times, then succeeds; records the timeouts it was given."""

    def __init__(self, failures: int, error: str = "Connection refused") -> None:
        self.failures = failures
        self.error = error
        self.calls: list[tuple[str, int, float]] = []

    def __call__(self, host: str, port: int, timeout: float) -> None:
        self.calls.append((host, port, timeout))
        if len(self.calls) <= self.failures:
            raise OSError(self.error)


def test_wait_for_retries_until_the_port_answers():
    clock = FakeClock()
    connect = FlakyConnect(failures=3)
    seen = []
    result = wait_for("db", 5432, timeout=60, interval=2, clock=clock, connect=connect,
                      on_attempt=lambda n, e: seen.append((n, e)))
    assert result.attempts == 4
    assert result.elapsed == 6
    assert clock.sleeps == [2, 2, 2]
    assert seen == [(1, "Connection refused"), (2, "Connection refused"), (3, "Connection refused")]
    assert all(call[:2] == ("db", 5432) for call in connect.calls)


def test_wait_for_times_out_naming_host_port_and_last_error():
    clock = FakeClock()
    connect = FlakyConnect(failures=10**6, error="cannot resolve db.marathon.mesos: Name or service not known")
    with pytest.raises(WaitTimeout) as info:
        wait_for("db.marathon.mesos", 5432, timeout=5, interval=2, clock=clock, connect=connect)
    error = info.value
    assert (error.host, error.port, error.attempts) == ("db.marathon.mesos", 5432, 4)
    assert "db.marathon.mesos:5432" in str(error) and "within 5s" in str(error)
    assert "Name or service not known" in str(error)
    # the last sleep is cut to the remaining time, so the deadline is not overshot
    assert clock.sleeps == [2, 2, 1]


def test_wait_for_rejects_bad_interval():
    with pytest.raises(ValueError, match="interval"):
        wait_for("h", 1, timeout=1, interval=0, clock=FakeClock(), connect=FlakyConnect(0))
