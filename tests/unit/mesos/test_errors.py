"""Typed API errors, and Retry-After read without a clock."""

from __future__ import annotations

import pickle

import pytest

from airflow_mesos.mesos import RateLimitedError
from airflow_mesos.mesos.errors import MesosApiError, NotLeaderError, api_error, retry_after_seconds

DATE = "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(("retry_after", "date", "seconds"), [
    ("120", None, 120.0),
    (" 0 ", DATE, 0.0),
    ("Sun, 06 Nov 1994 08:51:37 GMT", DATE, 120.0),          # IMF-fixdate
    ("Sunday, 06-Nov-94 08:50:07 GMT", DATE, 30.0),          # RFC 850
    ("Sun Nov  6 08:50:37 1994", DATE, 60.0),                 # asctime (GMT, no zone given)
    ("Sun, 06 Nov 1994 08:49:37 GMT", "Sun Nov  6 08:48:37 1994", 60.0),
    ("Sun, 06 Nov 1994 08:40:00 GMT", DATE, 0.0),             # already past: call again now
])
def test_retry_after_as_seconds_or_relative_to_the_answers_date(retry_after, date, seconds):
    assert retry_after_seconds(retry_after, date) == seconds


@pytest.mark.parametrize(("retry_after", "date"), [
    (None, DATE),
    ("Sun, 06 Nov 1994 08:51:37 GMT", None),   # a date and nothing to measure it from
    ("Sun, 06 Nov 1994 08:51:37 GMT", "not a date"),
    ("soon", DATE),
    ("-5", DATE),
    ("1.5", DATE),                             # delay-seconds is 1*DIGIT
    ("\u00b2", DATE),                          # a digit to str.isdigit, not to HTTP
    ("9" * 400, DATE),                         # more than a float holds
])
def test_unreadable_retry_after_is_none(retry_after, date):
    assert retry_after_seconds(retry_after, date) is None


def test_429_is_a_typed_api_error_with_retry_after():
    error = api_error(429, "Too Many Requests", "ACCEPT", headers={"retry-after": "7", "date": DATE})
    assert isinstance(error, RateLimitedError) and isinstance(error, MesosApiError)
    assert (error.status, error.message, error.call_type, error.retry_after) == (429, "Too Many Requests", "ACCEPT", 7.0)
    assert str(error) == "ACCEPT call failed with HTTP 429: Too Many Requests"
    assert api_error(429, "", "KILL").retry_after is None


def test_rate_limited_error_is_picklable():
    error = RateLimitedError(429, "slow down", "DECLINE", 2.0)
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), copy.retry_after, str(copy)) == (RateLimitedError, 2.0, str(error))


def test_location_comes_from_the_headers_unless_given():
    from_headers = api_error(307, "", "KILL", headers={"location": "//m2:5050/api/v1/scheduler"})
    assert isinstance(from_headers, NotLeaderError) and from_headers.location == "//m2:5050/api/v1/scheduler"
    assert api_error(307, "", "KILL", "//m3:5050").location == "//m3:5050"
