"""Errors raised by the Mesos scheduler driver.

::

    AirflowMesosError
     └── MesosError
          ├── RecordIOError             the event stream's framing is broken
          ├── MalformedEvent            one event does not have the shape of scheduler.proto's Event
          ├── NotSubscribed             a call was made while the driver has no subscription
          │    └── FrameworkNotSubscribedError   (403) the master says so too
          ├── MesosConnectionError      no HTTP answer at all (refused, reset, timeout, TLS)
          ├── MasterDetectionError      a master address (URL list or zk://) is unusable
          └── MesosApiError             the master answered a call with an HTTP error status
               ├── NotLeaderError            307, with the leader's Location
               ├── BadRequestError           400
               ├── UnauthorizedError         401
               ├── FrameworkNotSubscribedError  403 (also a NotSubscribed)
               ├── RateLimitedError          429, with ``retry_after`` seconds from ``Retry-After``
               └── ServiceUnavailableError   503 (no leader elected / master recovering)
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timezone
from email.utils import parsedate_to_datetime

from airflow_mesos.exceptions import AirflowMesosError


class MesosError(AirflowMesosError):
    """Base class of the errors of :mod:`airflow_mesos.mesos`."""


class RecordIOError(MesosError):
    """The RecordIO framing of the event stream is broken (bad size prefix, oversized or truncated record)."""


class MalformedEvent(MesosError):
    """An event is not JSON or does not have the shape of ``mesos.v1.scheduler.Event``.

    :param event_type: the event's ``type`` if it could be read, else ``"?"``.
    :param path: dotted path of the offending field (``"update.status.state"``), ``""`` for the whole event.
    :param problem: what is wrong with it.
    """

    def __init__(self, event_type: str, path: str, problem: str) -> None:
        self.event_type = event_type
        self.path = path
        self.problem = problem
        where = f" at {path!r}" if path else ""
        super().__init__(f"malformed {event_type} event{where}: {problem}")

    def __reduce__(self):  # keep it picklable despite the custom __init__
        return (type(self), (self.event_type, self.path, self.problem))


class NotSubscribed(MesosError):
    """A call needs a live subscription (framework id and ``Mesos-Stream-Id``) and there is none."""


class MesosConnectionError(MesosError):
    """The master could not be reached or the connection broke before an HTTP answer."""


class MasterDetectionError(MesosError):
    """A master address is unusable (bad URL, bad ``zk://`` spec, unreadable MasterInfo)."""


class MesosApiError(MesosError):
    """The master answered with an HTTP error status.

    :param status: the HTTP status code.
    :param message: the (bounded) response body, which Mesos fills with a plain-text reason.
    :param call_type: the call that failed (``"ACCEPT"``, ``"SUBSCRIBE"`` ...).
    """

    def __init__(self, status: int, message: str, call_type: str) -> None:
        self.status = status
        self.message = message
        self.call_type = call_type
        super().__init__(f"{call_type} call failed with HTTP {status}: {message or '(empty body)'}")

    def __reduce__(self):
        return (type(self), (self.status, self.message, self.call_type))


class NotLeaderError(MesosApiError):
    """307: the master is not the leader; :attr:`location` is where the leader is (may be ``None``)."""

    def __init__(self, status: int, message: str, call_type: str, location: str | None = None) -> None:
        super().__init__(status, message, call_type)
        self.location = location

    def __reduce__(self):
        return (type(self), (self.status, self.message, self.call_type, self.location))


class BadRequestError(MesosApiError):
    """400: the call was refused as invalid (validation message in :attr:`message`)."""


class UnauthorizedError(MesosApiError):
    """401: HTTP framework authentication is on and our credentials are missing or wrong."""


class FrameworkNotSubscribedError(MesosApiError, NotSubscribed):
    """403: the master does not consider the framework subscribed (the stream was lost)."""


class ServiceUnavailableError(MesosApiError):
    """503: no leading master is elected yet, or the master has not finished recovery."""


class RateLimitedError(MesosApiError):
    """429 Too Many Requests: the master (or a proxy in front of it) wants fewer calls.

    :param retry_after: seconds to wait before calling again, from the answer's ``Retry-After``
        (see :func:`retry_after_seconds`); ``None`` when the answer did not say, or said it in
        a form that cannot be read without a clock.
    """

    def __init__(self, status: int, message: str, call_type: str, retry_after: float | None = None) -> None:
        super().__init__(status, message, call_type)
        self.retry_after = retry_after

    def __reduce__(self):
        return (type(self), (self.status, self.message, self.call_type, self.retry_after))


def _http_date(text: str):
    """An HTTP-date (IMF-fixdate, RFC 850 or asctime; all in GMT) as an aware datetime, or None."""
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # asctime dates carry no zone; HTTP dates are always GMT.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def retry_after_seconds(retry_after: str | None, date: str | None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header (RFC 9110 §10.2.3); reads no clock.

    - ``delay-seconds`` (``"120"``) is taken as it is;
    - an HTTP-date is taken relative to the same answer's ``Date`` header (a date already
      past gives 0.0); without a readable ``Date`` there is nothing to measure from, so None;
    - a missing or unreadable header gives None.
    """
    if retry_after is None:
        return None
    text = retry_after.strip()
    if text.isascii() and text.isdigit():
        try:
            return float(int(text))
        except OverflowError:  # more digits than a float holds: not a usable delay
            return None
    until = _http_date(text)
    sent = _http_date(date.strip()) if date is not None else None
    if until is None or sent is None:
        return None
    return max(0.0, (until - sent).total_seconds())


_ERRORS_BY_STATUS: dict[int, type[MesosApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: FrameworkNotSubscribedError,
    503: ServiceUnavailableError,
}


def api_error(status: int, message: str, call_type: str, location: str | None = None, *,
              headers: Mapping[str, str] | None = None) -> MesosApiError:
    """The typed :class:`MesosApiError` for an HTTP error answer.

    :param location: the ``Location`` of a 307 (taken from ``headers`` when not given).
    :param headers: the answer's headers, keys lower-case (as :class:`~airflow_mesos.mesos.transport.Response`
        has them): ``location``, ``retry-after`` and ``date`` are read.
    """
    headers = headers or {}
    if status == 307:
        return NotLeaderError(status, message, call_type, location if location is not None else headers.get("location"))
    if status == 429:
        return RateLimitedError(status, message, call_type,
                                retry_after_seconds(headers.get("retry-after"), headers.get("date")))
    return _ERRORS_BY_STATUS.get(status, MesosApiError)(status, message, call_type)
