"""The subscription's connection decisions, as a pure state object.

:class:`ConnectionState` decides which master to try next, where a 307 redirect leads,
how long to back off after a failure, and when the heartbeat watchdog gives up on a
silent stream.  It does no I/O, reads no clock (every input carries ``now``) and holds
no lock: the driver's threads feed it stimuli under the driver's lock and act on its
answers.  That keeps every connection decision unit-testable without threads.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_HEARTBEAT_INTERVAL = 15.0
"""Mesos' fixed heartbeat interval, used if SUBSCRIBED does not advertise one."""


class Phase(enum.Enum):
    IDLE = "idle"  # no stream; about to connect or backing off
    SUBSCRIBING = "subscribing"  # stream open (HTTP 200), waiting for SUBSCRIBED
    SUBSCRIBED = "subscribed"  # SUBSCRIBED received; calls may be sent
    REMOVED = "removed"  # the master removed the framework: terminal
    FAILED_OVER = "failed-over"  # another scheduler subscribed with our framework id: terminal
    STOPPED = "stopped"  # stopped by us: terminal


@dataclass(frozen=True)
class ConnectionPolicy:
    """Tunables of :class:`ConnectionState`.

    :param backoff_initial: first delay after a failure, seconds.
    :param backoff_max: the delay doubles up to this cap.
    :param jitter: fraction of the delay that is randomised away (0 = exact doubling), so
        many schedulers do not reconnect in lockstep after a master failover.
    :param heartbeat_misses: the stream is declared dead after this many heartbeat intervals of silence.
    :param first_event_timeout: how long an open stream may stay silent before SUBSCRIBED.
    :param max_redirects: consecutive 307s followed before treating it as a failure (redirect loop).
    """

    backoff_initial: float = 1.0
    backoff_max: float = 15.0
    jitter: float = 0.2
    heartbeat_misses: int = 5
    first_event_timeout: float = 75.0
    max_redirects: int = 5

    def __post_init__(self) -> None:
        if self.backoff_initial <= 0 or self.backoff_max < self.backoff_initial:
            raise ValueError(
                f"need 0 < backoff_initial <= backoff_max, got {self.backoff_initial} and {self.backoff_max}"
            )
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")
        if self.heartbeat_misses < 1:
            raise ValueError(f"heartbeat_misses must be >= 1, got {self.heartbeat_misses}")
        if self.first_event_timeout <= 0:
            raise ValueError(f"first_event_timeout must be > 0, got {self.first_event_timeout}")


def resolve_redirect(current: str, location: str) -> str | None:
    """The base URL a 307 ``Location`` points to, keeping our scheme for a protocol-relative
    ``//host:port/api/v1/scheduler``; ``None`` if the location is unusable."""
    location = location.strip()
    if not location:
        return None
    ours = urlsplit(current)
    if location.startswith("//"):
        target = urlsplit(f"{ours.scheme}:{location}")
    elif location.startswith("/"):
        return current  # same master, another path: nothing to follow
    else:
        target = urlsplit(location)
    if target.scheme not in ("http", "https") or not target.netloc:
        return None
    return f"{target.scheme}://{target.netloc}"


class ConnectionState:
    """Decisions of one driver's subscription.

    :param masters: configured master base URLs, tried in turn; ``None`` when a detector
        (ZooKeeper) names the leader instead.
    :param framework_id: a known framework id to re-subscribe with (failover).
    :param rng: randomness for the backoff jitter (seed it in tests).
    """

    def __init__(
        self,
        masters: Sequence[str] | None,
        policy: ConnectionPolicy | None = None,
        *,
        framework_id: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if masters is not None and not masters:
            raise ValueError("masters must name at least one master (or be None with a detector)")
        self.masters = list(masters) if masters is not None else None
        self.policy = policy or ConnectionPolicy()
        self.framework_id = framework_id
        self.phase = Phase.IDLE
        self.stream_id: str | None = None
        self.master_url: str | None = None  # the master our current stream (and calls) go to
        self.heartbeat_interval: float | None = None
        self._rng = rng or random.Random()
        self._master_index = 0
        self._redirect_target: str | None = None
        self._redirects = 0
        self._failures = 0
        self._last_activity: float | None = None

    # --- choosing a master ---------------------------------------------------------------

    def next_target(self, detected_leader: str | None = None) -> str | None:
        """The master to SUBSCRIBE to now: a redirect target, else the current entry of the
        master list, else the detector's leader; ``None`` if nobody is known."""
        if self._redirect_target is not None:
            return self._redirect_target
        if self.masters is not None:
            return self.masters[self._master_index]
        return detected_leader

    def redirected(self, current: str, location: str | None) -> str | None:
        """A 307 came from ``current``; return where to go next, or ``None`` if the redirect
        is unusable or we have followed too many in a row (then call :meth:`connection_lost`)."""
        target = resolve_redirect(current, location or "")
        self._redirects += 1
        if target is None or target == current or self._redirects > self.policy.max_redirects:
            return None
        self._redirect_target = target
        return target

    # --- the stream's life ---------------------------------------------------------------

    def stream_opened(self, master_url: str, stream_id: str, now: float) -> None:
        """SUBSCRIBE answered 200 with ``Mesos-Stream-Id``."""
        self.phase = Phase.SUBSCRIBING
        self.master_url = master_url
        self.stream_id = stream_id
        self._redirects = 0
        self._last_activity = now

    def activity(self, now: float) -> None:
        """Bytes arrived on the stream."""
        self._last_activity = now

    def subscribed(self, framework_id: str, heartbeat_interval: float | None, now: float) -> None:
        """SUBSCRIBED arrived: remember the id for later re-subscriptions and reset the backoff."""
        self.phase = Phase.SUBSCRIBED
        self.framework_id = framework_id
        self.heartbeat_interval = heartbeat_interval if heartbeat_interval and heartbeat_interval > 0 else None
        self._failures = 0
        self._last_activity = now

    def watchdog_deadline(self) -> float | None:
        """When the open stream counts as dead if nothing more arrives; ``None`` without a stream."""
        if self._last_activity is None or self.phase not in (Phase.SUBSCRIBING, Phase.SUBSCRIBED):
            return None
        if self.phase is Phase.SUBSCRIBING:
            return self._last_activity + self.policy.first_event_timeout
        interval = self.heartbeat_interval or DEFAULT_HEARTBEAT_INTERVAL
        return self._last_activity + self.policy.heartbeat_misses * interval

    def watchdog_expired(self, now: float) -> bool:
        deadline = self.watchdog_deadline()
        return deadline is not None and now >= deadline

    def silence_limit(self) -> float:
        """Seconds of silence the watchdog allows in the current phase (for messages)."""
        if self.phase is Phase.SUBSCRIBED:
            return self.policy.heartbeat_misses * (self.heartbeat_interval or DEFAULT_HEARTBEAT_INTERVAL)
        return self.policy.first_event_timeout

    def connection_lost(self, *, rotate: bool = True) -> float:
        """The attempt failed or the stream ended.  Forget the stream, move on to the next
        configured master (unless ``rotate`` is false) and return the backoff delay in seconds."""
        if self.terminal:
            return 0.0
        self.phase = Phase.IDLE
        self.stream_id = None
        self.master_url = None
        self._last_activity = None
        self._redirects = 0
        # The leader may have moved: next time start from the configured list, not a stale redirect.
        self._redirect_target = None
        if rotate and self.masters is not None:
            self._master_index = (self._master_index + 1) % len(self.masters)
        base = min(self.policy.backoff_max, self.policy.backoff_initial * 2 ** min(self._failures, 62))
        self._failures += 1
        return base * (1 - self.policy.jitter * self._rng.random())

    def framework_removed(self) -> None:
        """The master removed the framework: never re-subscribe with this id."""
        self.phase = Phase.REMOVED
        self.stream_id = None
        self.master_url = None
        self._last_activity = None

    def failed_over(self) -> None:
        """Another scheduler took the framework over: re-subscribing would take it back from it."""
        self.phase = Phase.FAILED_OVER
        self.stream_id = None
        self.master_url = None
        self._last_activity = None

    def stopped(self) -> None:
        if self.phase not in (Phase.REMOVED, Phase.FAILED_OVER):
            self.phase = Phase.STOPPED
        self.stream_id = None
        self.master_url = None
        self._last_activity = None

    @property
    def terminal(self) -> bool:
        return self.phase in (Phase.REMOVED, Phase.FAILED_OVER, Phase.STOPPED)
