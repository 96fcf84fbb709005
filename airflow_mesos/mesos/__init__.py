"""Our Mesos v1 scheduler HTTP driver (pymesos does not install on Python 3.11).

- :mod:`~airflow_mesos.mesos.recordio` -- sans-I/O RecordIO framing of the event stream.
- :mod:`~airflow_mesos.mesos.calls` -- pure builders of scheduler ``Call`` JSON.
- :mod:`~airflow_mesos.mesos.events` -- typed scheduler events parsed from the stream.
- :mod:`~airflow_mesos.mesos.connection` -- pure connection decisions (backoff, redirects, watchdog).
- :mod:`~airflow_mesos.mesos.detector` -- master URL lists and ZooKeeper leader detection.
- :mod:`~airflow_mesos.mesos.transport` -- the HTTP seam and its httpx implementation.
- :mod:`~airflow_mesos.mesos.driver` -- :class:`SchedulerDriver`, which runs them all.

.. seealso:: ``docs/mesos-driver.md``
"""

from __future__ import annotations

from airflow_mesos.mesos import calls, events
from airflow_mesos.mesos.driver import SchedulerDriver
from airflow_mesos.mesos.errors import (
    BadRequestError,
    FrameworkNotSubscribedError,
    MalformedEvent,
    MasterDetectionError,
    MesosApiError,
    MesosConnectionError,
    MesosError,
    NotLeaderError,
    NotSubscribed,
    RateLimitedError,
    RecordIOError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from airflow_mesos.mesos.recordio import RecordIODecoder, encode
from airflow_mesos.mesos.transport import HttpxTransport, Response, StreamResponse, Transport

__all__ = [
    "BadRequestError",
    "FrameworkNotSubscribedError",
    "HttpxTransport",
    "MalformedEvent",
    "MasterDetectionError",
    "MesosApiError",
    "MesosConnectionError",
    "MesosError",
    "NotLeaderError",
    "NotSubscribed",
    "RateLimitedError",
    "RecordIODecoder",
    "RecordIOError",
    "Response",
    "SchedulerDriver",
    "ServiceUnavailableError",
    "StreamResponse",
    "Transport",
    "UnauthorizedError",
    "calls",
    "encode",
    "events",
]
