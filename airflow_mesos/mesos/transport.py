"""The HTTP seam of the driver.

:class:`Transport` is the whole I/O surface the driver needs: a plain POST for calls
and a streaming POST for SUBSCRIBE.  :class:`HttpxTransport` is the production
implementation; unit tests pass a fake.  Transport failures (refused, reset, timeout,
TLS) are translated once, here, into :class:`MesosConnectionError`, keeping the cause.

Transports never log request headers: they carry the ``Authorization`` secret.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from airflow_mesos.mesos.errors import MesosConnectionError

log = logging.getLogger(__name__)

MAX_ERROR_BODY = 4 * 1024
"""Bytes of an error answer we keep: Mesos puts a one-line reason there; a proxy might send megabytes."""


@dataclass(frozen=True)
class Response:
    """An answer to a non-streaming call.  ``headers`` keys are lower-case; ``body`` is bounded."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class StreamResponse(Protocol):
    """An open SUBSCRIBE answer.  ``headers`` keys are lower-case."""

    status: int
    headers: Mapping[str, str]

    def iter_chunks(self) -> Iterator[bytes]:
        """The body bytes as they arrive; ends when the server closes the stream.

        :raises MesosConnectionError: if the connection breaks.
        """

    def read_error_body(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """At most ``limit`` bytes of the body (for error answers)."""

    def close(self) -> None:
        """Close the stream.  Safe to call from another thread: a blocked :meth:`iter_chunks` ends."""


class Transport(Protocol):
    """What the driver needs from HTTP."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:
        """POST ``body`` and read the (bounded) answer; never follows redirects.

        :raises MesosConnectionError: if there is no HTTP answer.
        """

    def subscribe(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> StreamResponse:
        """POST ``body`` and return as soon as the status line and headers arrived.

        ``timeout`` bounds connecting and the wait for headers, not the life of the stream
        (the driver's heartbeat watchdog closes a silent stream).

        :raises MesosConnectionError: if there is no HTTP answer.
        """

    def close(self) -> None:
        """Release connections."""


def ssl_context(verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext | bool:
    """TLS settings for httpx: verification on by default, ``ca_file`` adds a private CA,
    and ``verify=False`` turns verification off (only when explicitly asked)."""
    if not verify:
        if ca_file:
            raise ValueError("ca_file was given but verify=False turns certificate checks off; pick one")
        return False
    if ca_file:
        return ssl.create_default_context(cafile=ca_file)
    return True


def _lower_headers(headers: httpx.Headers) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


class _HttpxStream:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.headers = _lower_headers(response.headers)
        self._closed = threading.Event()

    def iter_chunks(self) -> Iterator[bytes]:
        try:
            for chunk in self._response.iter_raw():
                if chunk:
                    yield chunk
        except (httpx.HTTPError, OSError) as exc:
            if self._closed.is_set():
                return  # we closed it ourselves (watchdog or stop): a normal end
            raise MesosConnectionError(f"event stream broke: {exc}") from exc
        except RuntimeError:
            # httpx raises RuntimeError/StreamClosed when the response was closed under the reader.
            if self._closed.is_set():
                return
            raise

    def read_error_body(self, limit: int = MAX_ERROR_BODY) -> bytes:
        data = bytearray()
        try:
            for chunk in self._response.iter_raw():
                data += chunk
                if len(data) >= limit:
                    break
        except (httpx.HTTPError, OSError):
            pass  # the status code is the important part; a partial reason is fine
        return bytes(data[:limit])

    def close(self) -> None:
        self._closed.set()
        # Closing an httpx response does not wake a thread blocked in recv() on the socket;
        # shutting the socket down does.
        stream = self._response.extensions.get("network_stream")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            self._response.close()
        except (httpx.HTTPError, OSError, RuntimeError):
            pass


class HttpxTransport:
    """:class:`Transport` on httpx.

    :param verify: check TLS certificates (default on).
    :param ca_file: a PEM bundle of CAs to trust for the masters' certificates.
    """

    def __init__(self, *, verify: bool = True, ca_file: str | None = None) -> None:
        self._verify = ssl_context(verify, ca_file)
        # Calls and the stream use separate clients so a call never waits for the stream's connection.
        self._calls = httpx.Client(verify=self._verify, follow_redirects=False, trust_env=False)
        self._streams = httpx.Client(verify=self._verify, follow_redirects=False, trust_env=False)

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Response:
        try:
            with self._calls.stream("POST", url, content=body, headers=dict(headers), timeout=timeout) as response:
                data = bytearray()
                for chunk in response.iter_raw():
                    data += chunk
                    if len(data) >= MAX_ERROR_BODY:
                        break
                return Response(response.status_code, _lower_headers(response.headers), bytes(data[:MAX_ERROR_BODY]))
        except httpx.HTTPError as exc:
            raise MesosConnectionError(f"POST {url} failed: {type(exc).__name__}: {exc}") from exc

    def subscribe(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> _HttpxStream:
        request = self._streams.build_request("POST", url, content=body, headers=dict(headers), timeout=timeout)
        try:
            response = self._streams.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise MesosConnectionError(f"SUBSCRIBE to {url} failed: {type(exc).__name__}: {exc}") from exc
        # ``timeout`` bounded the wait for the headers.  The body may then be silent for longer
        # (heartbeats every 15 s): silence is judged by the driver's heartbeat watchdog, which knows
        # the advertised interval.  httpcore reads the read timeout from this dict when the body
        # iteration starts, so lifting it here applies to the body only
        # (tests/integration/test_mesos_transport_http.py guards this).
        timeouts = request.extensions.get("timeout")
        if isinstance(timeouts, dict):
            timeouts["read"] = None
        return _HttpxStream(response)

    def close(self) -> None:
        self._calls.close()
        self._streams.close()

    def __repr__(self) -> str:
        return f"HttpxTransport(verify={self._verify is not False})"
