"""Mesos-DNS names for Marathon apps, and waiting until a name answers on a TCP port.

Marathon names each task after its app id with the path segments reversed and
joined by ``.`` (``/airflow/postgres`` -> ``postgres.airflow``).  Mesos-DNS then
mangles that whole task name into ONE DNS label (dots become dashes) and puts it
under ``<framework>.<domain>``::

    /airflow/postgres  ->  postgres-airflow.marathon.mesos          (A)
                       ->  _postgres-airflow._tcp.marathon.mesos    (SRV)

The label rules follow Mesos-DNS ``records/labels``: lower-case ASCII letters and
digits are kept, ``-``, ``.`` and ``_`` become ``-``, anything else is dropped;
leading ``-`` (and, in RFC 952 mode, leading digits) are trimmed, the label is
cut to 63 characters (24 in RFC 952 mode) and trailing ``-`` are trimmed.

:func:`wait_for` is the edge used by the container entrypoint (through
``airflow-mesos dns wait-for``): Mesos-DNS only publishes records for RUNNING
tasks and refreshes every ``refreshSeconds``, so a dependant must retry both the
lookup and the connect.
"""

from __future__ import annotations

import dataclasses
import socket
from typing import Callable

from airflow_mesos.clock import SYSTEM_CLOCK, Clock
from airflow_mesos.exceptions import AirflowMesosError

DEFAULT_DOMAIN = "mesos"
DEFAULT_FRAMEWORK = "marathon"

RFC1123_MAX_LABEL = 63
RFC952_MAX_LABEL = 24


class DnsError(AirflowMesosError):
    """Base class of the errors of this module."""


class InvalidAppId(DnsError, ValueError):
    """An app id that yields no DNS label (for example ``/`` or ``/---``)."""


class WaitTimeout(DnsError):
    """``wait_for`` gave up: the name never resolved or the port never accepted a connection."""

    def __init__(self, host: str, port: int, timeout: float, attempts: int, last_error: str) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(
            f"{host}:{port} did not accept a TCP connection within {timeout:g}s "
            f"({attempts} attempt{'s' if attempts != 1 else ''}); last error: {last_error}"
        )


def _map_char(char: str) -> str:
    if "A" <= char <= "Z":
        return char.lower()
    if "a" <= char <= "z" or "0" <= char <= "9":
        return char
    if char in "-._":
        return "-"
    return ""


def dns_label(name: str, *, rfc952: bool = False) -> str:
    """Mangle ``name`` into one DNS label the way Mesos-DNS does.

    :param name: any string (a task name such as ``postgres.airflow``).
    :param rfc952: apply Mesos-DNS's ``enforceRFC952`` rules (24 characters, no
        leading digit) instead of the default RFC 1123 rules (63 characters).
    :return: the label; empty when nothing of ``name`` survives.
    """
    max_len = RFC952_MAX_LABEL if rfc952 else RFC1123_MAX_LABEL
    mapped = "".join(_map_char(c) for c in name)
    trimmed = mapped.lstrip("-0123456789" if rfc952 else "-")
    size = min(len(trimmed), max_len)
    head = trimmed[:size].rstrip("-")
    if len(head) == size:
        return head
    # Trimming dashes at the cut freed some room: Mesos-DNS refills it from what
    # followed the cut (after skipping the dashes there) rather than leaving it short.
    tail = trimmed[size:].lstrip("-")
    return head + tail[: size - len(head)]


def domain_fragment(name: str, *, rfc952: bool = False) -> str:
    """Mangle a dotted name (a framework name or a domain) label by label; empty labels vanish."""
    labels = (dns_label(part, rfc952=rfc952) for part in name.split("."))
    return ".".join(label for label in labels if label)


def app_id_segments(app_id: str) -> list[str]:
    """Split an absolute Marathon app id into its path segments (empty segments dropped)."""
    return [segment for segment in app_id.strip().split("/") if segment]


def task_name(app_id: str) -> str:
    """The Mesos task name Marathon gives an app's tasks: segments reversed, joined by ``.``."""
    return ".".join(reversed(app_id_segments(app_id)))


@dataclasses.dataclass(frozen=True)
class DnsNames:
    """The Mesos-DNS names of one Marathon app."""

    app_id: str
    label: str
    a: str
    """``<label>.<framework>.<domain>``: the task IPs (per Mesos-DNS IPSources)."""
    a_agent: str
    """``<label>.<framework>.slave.<domain>``: the IPs of the agents running the tasks."""
    srv_tcp: str
    """``_<label>._tcp.<framework>.<domain>``: one SRV record per task port."""
    srv_udp: str


def app_dns_names(
    app_id: str,
    *,
    domain: str = DEFAULT_DOMAIN,
    framework: str = DEFAULT_FRAMEWORK,
    rfc952: bool = False,
) -> DnsNames:
    """The A and SRV names Mesos-DNS publishes for a Marathon app.

    :param app_id: an absolute app id such as ``/airflow/postgres``.
    :param domain: the Mesos-DNS ``domain`` setting (default ``mesos``).
    :param framework: the Marathon framework name (``--framework_name``, default ``marathon``).
    :param rfc952: Mesos-DNS runs with ``enforceRFC952``.
    :raises InvalidAppId: when the app id yields an empty label.
    """
    label = dns_label(task_name(app_id), rfc952=rfc952)
    if not label:
        raise InvalidAppId(f"app id {app_id!r} gives no DNS label (nothing left after Mesos-DNS mangling)")
    framework_fragment = domain_fragment(framework, rfc952=rfc952)
    domain_fragment_ = domain_fragment(domain, rfc952=rfc952)
    suffix = f"{framework_fragment}.{domain_fragment_}"
    return DnsNames(
        app_id=app_id,
        label=label,
        a=f"{label}.{suffix}",
        a_agent=f"{label}.{framework_fragment}.slave.{domain_fragment_}",
        srv_tcp=f"_{label}._tcp.{suffix}",
        srv_udp=f"_{label}._udp.{suffix}",
    )


# ----------------------------------------------------------------------------- waiting

ConnectFunc = Callable[[str, int, float], None]
"""Open and close one TCP connection to (host, port) within a timeout; raise ``OSError`` on failure."""


def tcp_connect(host: str, port: int, timeout: float) -> None:
    """Resolve ``host`` and open (then close) a TCP connection to ``port``.

    Resolution is done separately so the error says whether the name or the
    port is the problem.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror or exc}") from exc
    last: OSError | None = None
    for family, socktype, proto, _canon, address in infos:
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return
        except OSError as exc:
            last = OSError(f"connect to {address[0]}:{address[1]} failed: {exc.strerror or exc}")
        finally:
            sock.close()
    raise last or OSError(f"{host} resolved to no address")


@dataclasses.dataclass(frozen=True)
class WaitResult:
    """How long :func:`wait_for` took."""

    attempts: int
    elapsed: float


def parse_host_port(text: str, *, where: str = "HOST:PORT") -> tuple[str, int]:
    """Parse ``host:port`` (``[v6]:port`` too) with an error that names ``where``."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{where}: expected HOST:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"{where}: port {port_text!r} is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"{where}: port {port} is outside 1..65535")
    return host, port


def wait_for(
    host: str,
    port: int,
    *,
    timeout: float = 300.0,
    interval: float = 2.0,
    clock: Clock = SYSTEM_CLOCK,
    connect: ConnectFunc = tcp_connect,
    on_attempt: Callable[[int, str], None] | None = None,
) -> WaitResult:
    """Retry resolving ``host`` and connecting to ``port`` until it works or ``timeout`` passes.

    :param timeout: seconds to keep trying (measured on ``clock.monotonic()``).
    :param interval: seconds between attempts.
    :param clock: time source; tests pass a :class:`~airflow_mesos.clock.FakeClock`.
    :param connect: the connect attempt (see :data:`ConnectFunc`).
    :param on_attempt: called with (attempt number, error text) after each failed attempt.
    :raises WaitTimeout: naming host, port and the last error.
    """
    if timeout < 0 or interval <= 0:
        raise ValueError(f"timeout must be >= 0 and interval > 0 (got timeout={timeout}, interval={interval})")
    start = clock.monotonic()
    attempts = 0
    while True:
        attempts += 1
        remaining = timeout - (clock.monotonic() - start)
        try:
            # A connect must never outlive the overall deadline, but give it at least a moment.
            connect(host, port, max(min(remaining, interval * 5), 0.1))
        except OSError as exc:
            last_error = str(exc) or type(exc).__name__
            if on_attempt is not None:
                on_attempt(attempts, last_error)
        else:
            return WaitResult(attempts=attempts, elapsed=clock.monotonic() - start)
        remaining = timeout - (clock.monotonic() - start)
        if remaining <= 0:
            raise WaitTimeout(host, port, timeout, attempts, last_error)
        clock.sleep(min(interval, remaining))
