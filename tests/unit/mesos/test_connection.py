"""The pure connection decisions: master choice, redirects, backoff, watchdog."""

import random

import pytest

from airflow_mesos.mesos.connection import ConnectionPolicy, ConnectionState, Phase, resolve_redirect

M1, M2, M3 = "http://m1:5050", "http://m2:5050", "http://m3:5050"


def state(masters=(M1, M2, M3), **policy):
    policy.setdefault("jitter", 0.0)
    return ConnectionState(list(masters) if masters is not None else None, ConnectionPolicy(**policy))


def test_backoff_doubles_up_to_the_cap_and_resets_after_subscribed():
    s = state(backoff_initial=1.0, backoff_max=15.0)
    assert [s.connection_lost() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]
    s.stream_opened(M1, "sid", now=0.0)
    s.subscribed("F", 15.0, now=0.0)
    assert s.connection_lost() == 1.0


def test_backoff_jitter_stays_within_bounds():
    s = ConnectionState([M1], ConnectionPolicy(backoff_initial=1.0, backoff_max=15.0, jitter=0.5),
                        rng=random.Random(7))
    delays = [s.connection_lost() for _ in range(8)]
    for delay, base in zip(delays, [1, 2, 4, 8, 15, 15, 15, 15], strict=True):
        assert base * 0.5 <= delay <= base
    assert len(set(delays[4:])) > 1  # randomised, not lockstep


def test_master_list_is_tried_in_turn_and_wraps():
    s = state()
    seen = []
    for _ in range(4):
        seen.append(s.next_target())
        s.connection_lost()
    assert seen == [M1, M2, M3, M1]


def test_detected_leader_is_used_without_a_list():
    s = state(masters=None)
    assert s.next_target(None) is None
    assert s.next_target(M2) == M2


def test_protocol_relative_redirect_keeps_our_scheme():
    assert resolve_redirect("https://m1:5050", "//m2:5051/api/v1/scheduler") == "https://m2:5051"
    assert resolve_redirect("http://m1:5050", "http://m2:5050/api/v1/scheduler") == "http://m2:5050"
    assert resolve_redirect("http://m1:5050", "") is None
    assert resolve_redirect("http://m1:5050", "ftp://x/") is None


def test_redirect_is_followed_then_dropped_after_a_loss():
    s = state()
    assert s.redirected(M1, "//m3:5050/api/v1/scheduler") == M3
    assert s.next_target() == M3
    s.stream_opened(M3, "sid", 0.0)
    s.connection_lost()
    assert s.next_target() == M2  # back to the configured list, next entry


def test_redirect_loops_are_cut():
    s = state(max_redirects=2)
    assert s.redirected(M1, "//m2:5050/") == M2
    assert s.redirected(M2, "//m1:5050/") == M1
    assert s.redirected(M1, "//m2:5050/") is None


def test_redirect_to_ourselves_is_not_followed():
    s = state()
    assert s.redirected(M1, "//m1:5050/api/v1/scheduler") is None


def test_watchdog_before_subscribed_uses_the_first_event_timeout():
    s = state(first_event_timeout=75.0)
    assert s.watchdog_deadline() is None
    s.stream_opened(M1, "sid", now=100.0)
    assert s.watchdog_deadline() == 175.0
    assert not s.watchdog_expired(174.9)
    assert s.watchdog_expired(175.0)


def test_watchdog_after_subscribed_allows_misses_times_the_interval():
    s = state(heartbeat_misses=5)
    s.stream_opened(M1, "sid", now=0.0)
    s.subscribed("F", 2.0, now=10.0)
    assert s.watchdog_deadline() == 20.0
    s.activity(now=15.0)
    assert s.watchdog_deadline() == 25.0
    assert s.silence_limit() == 10.0


def test_watchdog_defaults_to_mesos_heartbeat_interval_when_none_advertised():
    s = state(heartbeat_misses=5)
    s.stream_opened(M1, "sid", now=0.0)
    s.subscribed("F", None, now=0.0)
    assert s.watchdog_deadline() == 75.0


def test_loss_forgets_the_stream_but_keeps_the_framework_id():
    s = state()
    s.stream_opened(M1, "sid", 0.0)
    s.subscribed("F-1", 15.0, 0.0)
    assert (s.phase, s.stream_id, s.master_url) == (Phase.SUBSCRIBED, "sid", M1)
    s.connection_lost()
    assert (s.phase, s.stream_id, s.master_url, s.framework_id) == (Phase.IDLE, None, None, "F-1")
    assert s.watchdog_deadline() is None


def test_framework_removed_is_terminal():
    s = state()
    s.framework_removed()
    assert s.terminal
    assert s.connection_lost() == 0.0
    assert s.phase is Phase.REMOVED


@pytest.mark.parametrize("kwargs", [dict(backoff_initial=0), dict(backoff_initial=5, backoff_max=1),
                                    dict(jitter=1.0), dict(heartbeat_misses=0), dict(first_event_timeout=0)])
def test_policy_validation(kwargs):
    with pytest.raises(ValueError):
        ConnectionPolicy(**kwargs)
