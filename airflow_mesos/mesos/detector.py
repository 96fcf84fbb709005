"""Where the leading Mesos master is.

Two kinds of master address are accepted (:func:`parse_master_spec`):

- a list of master URLs, ``"http://m1:5050,http://m2:5050"`` or ``["http://m1:5050", ...]``
  (a bare ``host[:port]`` means ``http://host:port``, port 5050 by default).  The driver
  tries them in turn and follows the non-leaders' 307 redirects to the leader;
- ``zk://[user:password@]h1:2181,h2:2181/mesos``: masters register in that ZooKeeper group
  as ephemeral sequential children ``json.info_<seq>`` holding MasterInfo JSON; the member
  with the lowest sequence number leads (Mesos ``src/zookeeper/detector.cpp``).
  :class:`ZooKeeperDetector` watches the group and always knows the current leader.

The decisions (which child leads, which address a MasterInfo names) are pure functions;
only :class:`ZooKeeperDetector` talks to ZooKeeper.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_mesos.mesos.errors import MasterDetectionError

log = logging.getLogger(__name__)

DEFAULT_MASTER_PORT = 5050
MASTER_INFO_PREFIX = "json.info_"
"""Label of MasterInfo JSON group members (``MASTER_INFO_JSON_LABEL``); the legacy binary
``info_`` members (Mesos < 0.24) are not read."""


@dataclass(frozen=True)
class ZooKeeperSpec:
    """A parsed ``zk://`` master address."""

    hosts: str
    path: str
    credentials: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        auth = "***@" if self.credentials else ""
        return f"ZooKeeperSpec('zk://{auth}{self.hosts}{self.path}')"


def normalize_master_url(url: str) -> str:
    """``"m1"`` → ``"http://m1:5050"``; ``"https://m1:5050/"`` → ``"https://m1:5050"``.

    :raises MasterDetectionError: for an unusable URL.
    """
    text = url.strip()
    if not text:
        raise MasterDetectionError("empty master URL")
    bare = "://" not in text
    parts = urlsplit(f"http://{text}" if bare else text)
    if parts.scheme not in ("http", "https"):
        raise MasterDetectionError(f"master URL {url!r}: scheme must be http or https (or zk:// for ZooKeeper)")
    if not parts.hostname:
        raise MasterDetectionError(f"master URL {url!r} has no host")
    if parts.username or parts.password:
        raise MasterDetectionError(
            f"master URL for host {parts.hostname!r} carries credentials; pass principal= and secret= instead"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise MasterDetectionError(f"master URL {url!r}: {exc}") from None
    if port is None and bare:
        port = DEFAULT_MASTER_PORT
    path = parts.path.rstrip("/")
    if path in ("/api/v1/scheduler", "/api/v1"):
        path = ""  # tolerate people pasting the endpoint
    if path:
        raise MasterDetectionError(f"master URL {url!r}: expected only scheme://host:port, got path {path!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None else "")


def parse_master_spec(master: str | Sequence[str]) -> list[str] | ZooKeeperSpec:
    """Parse the ``master`` option into a list of base URLs or a :class:`ZooKeeperSpec`.

    :raises MasterDetectionError: if the address is empty or malformed.
    """
    if isinstance(master, str):
        if master.strip().startswith("zk://"):
            return parse_zk_url(master.strip())
        items = [item for item in master.split(",") if item.strip()]
    else:
        items = list(master)
        if any(isinstance(item, str) and item.strip().startswith("zk://") for item in items):
            raise MasterDetectionError("a zk:// master address must be given alone, not in a list")
    if not items:
        raise MasterDetectionError("no master address given")
    return [normalize_master_url(item) for item in items]


def parse_zk_url(url: str) -> ZooKeeperSpec:
    """``zk://[user:pass@]h1:2181,h2:2181/mesos`` → :class:`ZooKeeperSpec`."""
    rest = url[len("zk://"):]
    credentials = None
    if "@" in rest.split("/", 1)[0]:
        credentials, rest = rest.split("@", 1)
    hosts, slash, path = rest.partition("/")
    if not hosts or not slash or not path.strip("/"):
        shown = url.replace(credentials, "***") if credentials else url
        raise MasterDetectionError(f"ZooKeeper master address {shown!r}: expected zk://host:port[,host:port]/path")
    for host in hosts.split(","):
        name, _, port = host.rpartition(":")
        if not name or not port.isdigit():
            raise MasterDetectionError(f"ZooKeeper host {host!r} in the master address: expected host:port")
    return ZooKeeperSpec(hosts=hosts, path="/" + path.strip("/"), credentials=credentials)


def leading_member(children: Sequence[str]) -> str | None:
    """The leading master's znode name among a group's ``children`` (lowest sequence), or ``None``."""
    best: tuple[int, str] | None = None
    for name in children:
        if not name.startswith(MASTER_INFO_PREFIX):
            continue  # log replicas, legacy binary members, unrelated nodes
        sequence = name[len(MASTER_INFO_PREFIX):]
        if not sequence.isdigit():
            continue
        candidate = (int(sequence), name)
        if best is None or candidate < best:
            best = candidate
    return best[1] if best else None


def master_info_url(info: Mapping[str, Any], scheme: str = "http") -> str:
    """Base URL of the master described by MasterInfo JSON: ``address.hostname`` (else
    ``address.ip``) and ``address.port``, falling back to the legacy top-level fields.

    :raises MasterDetectionError: if no host or port can be found.
    """
    address = info.get("address") if isinstance(info.get("address"), Mapping) else {}
    host = address.get("hostname") or address.get("ip") or info.get("hostname")
    if not host and isinstance(info.get("ip"), int):
        # Legacy MasterInfo.ip is the IPv4 address as a uint32 in network byte order.
        host = socket.inet_ntoa(struct.pack("<I", info["ip"]))
    port = address.get("port") or info.get("port")
    if not isinstance(host, str) or not host or not isinstance(port, int) or isinstance(port, bool):
        raise MasterDetectionError(f"MasterInfo has no usable address/port: {dict(info)!r}")
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


class ZooKeeperDetector:
    """Follows the leading master of a ZooKeeper group.

    :param spec: the parsed ``zk://`` address.
    :param scheme: ``http`` or ``https`` for the masters' URLs (MasterInfo does not say).
    :param on_change: called with the new leader URL (or ``None``) whenever it changes, from a
        kazoo thread; it must not block.
    :param client_factory: builds the kazoo client (tests may pass their own).
    """

    def __init__(
        self,
        spec: ZooKeeperSpec,
        *,
        scheme: str = "http",
        on_change: Callable[[str | None], None] | None = None,
        client_factory: Callable[..., Any] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.spec = spec
        self.scheme = scheme
        self._on_change = on_change
        self._timeout = timeout
        if client_factory is None:
            from kazoo.client import KazooClient

            client_factory = KazooClient
        auth = [("digest", spec.credentials)] if spec.credentials else None
        self._client = client_factory(hosts=spec.hosts, auth_data=auth, read_only=True)
        self._leader: str | None = None
        self._changed = threading.Condition()
        self._stopped = False
        # Refreshes are spawned on kazoo threads and may overlap; one at a time keeps an older
        # reading from overwriting a newer one.
        self._refresh_lock = threading.Lock()

    @property
    def leader_url(self) -> str | None:
        """The current leader's base URL, or ``None`` while no master is registered."""
        with self._changed:
            return self._leader

    def start(self) -> None:
        """Connect to ZooKeeper and start watching the group.

        :raises MasterDetectionError: if ZooKeeper cannot be reached within the timeout.
        """
        from kazoo.client import KazooState

        def on_state(state: str) -> None:
            # Watches survive a suspended connection but not a lost session; re-read on reconnect.
            if state == KazooState.CONNECTED and not self._stopped:
                self._client.handler.spawn(self._refresh)

        try:
            self._client.start(timeout=self._timeout)
        except Exception as exc:  # kazoo raises its own timeout type or socket errors
            raise MasterDetectionError(f"cannot reach ZooKeeper at {self.spec.hosts}: {exc}") from exc
        self._client.add_listener(on_state)
        self._refresh()

    def stop(self) -> None:
        """Stop watching and close the ZooKeeper session."""
        self._stopped = True
        try:
            self._client.stop()
            self._client.close()
        except Exception:  # closing a broken session can raise; nothing left to do with it
            log.debug("error closing the ZooKeeper client", exc_info=True)

    def wait_for_leader(self, predicate: Callable[[str | None], bool], timeout: float) -> str | None:
        """Block until ``predicate(leader_url)`` holds or ``timeout`` passes; return the leader."""
        with self._changed:
            self._changed.wait_for(lambda: predicate(self._leader), timeout)
            return self._leader

    def _watch(self, event: Any) -> None:
        # Watch callbacks run on kazoo's event thread, which must not block on ZooKeeper calls.
        if not self._stopped:
            self._client.handler.spawn(self._refresh)

    def _refresh(self) -> None:
        with self._refresh_lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        from kazoo.exceptions import KazooException, NoNodeError

        if self._stopped:
            return
        leader: str | None = None
        try:
            try:
                children = self._client.get_children(self.spec.path, watch=self._watch)
            except NoNodeError:
                # No master ever registered here; wake up when the group node appears.
                if self._client.exists(self.spec.path, watch=self._watch) is None:
                    children = []
                else:
                    children = self._client.get_children(self.spec.path, watch=self._watch)
            member = leading_member(children)
            if member is not None:
                try:
                    data, _ = self._client.get(f"{self.spec.path}/{member}")
                except NoNodeError:
                    return  # deleted under us; the children watch has fired and will refresh
                try:
                    leader = master_info_url(json.loads(data), self.scheme)
                except (ValueError, MasterDetectionError) as exc:
                    log.error("leading master node %s/%s holds unusable MasterInfo: %s", self.spec.path, member, exc)
        except KazooException as exc:
            log.warning("could not read the master group %s from ZooKeeper: %s", self.spec.path, exc)
            return
        with self._changed:
            if leader == self._leader:
                return
            self._leader = leader
            self._changed.notify_all()
        log.info("leading Mesos master is now %s", leader)
        if self._on_change is not None:
            self._on_change(leader)

    def __repr__(self) -> str:
        return f"ZooKeeperDetector({self.spec!r}, leader={self.leader_url!r})"


def master_urls_once(master: str | Sequence[str], *, scheme: str = "http", timeout: float = 10.0) -> list[str]:
    """The master URLs to ask, in order: the configured list, or for ``zk://`` the current leader, read once.

    For one-shot readers of the masters' read-only endpoints (a task's sandbox logs, the UI's Mesos page,
    ``airflow-mesos status``); the driver keeps a :class:`ZooKeeperDetector` watching instead.

    :raises MasterDetectionError: with a sentence for people: an unusable address, an unreachable
        ZooKeeper, or no master registered there.
    """
    try:
        spec = parse_master_spec(master)
    except MasterDetectionError as exc:
        raise MasterDetectionError(f"The Mesos master address is unusable: {exc}") from None
    if not isinstance(spec, ZooKeeperSpec):
        return spec
    detector = ZooKeeperDetector(spec, scheme=scheme, timeout=timeout)
    try:
        detector.start()  # reads the group once before returning
        leader = detector.leader_url
    except MasterDetectionError as exc:
        raise MasterDetectionError(f"Could not look up the leading Mesos master: {exc}") from None
    finally:
        detector.stop()
    if leader is None:
        raise MasterDetectionError(f"No Mesos master is registered in ZooKeeper ({spec!r})")
    return [leader]
