"""The command-line options of ``python -m airflow_mesos.local``: parsing and checking, no I/O.

Every function here turns one option's text into a value or raises
:class:`OptionError` with a message that names what is wrong and where, so the
command can end in one line (``--cpus: expected a number > 0, got '-1'``).

Per-agent specs (``--agent``, repeatable) are comma-separated ``key=value``
items, Mesos' ``--resources``/``--attributes`` in one string::

    cpus=4,mem=8192,disk=20000,gpus=1,ports=[31000-31999,33000-33999],attributes=rack:r1;zone:a,hostname=127.0.0.5

Keys left out take the cluster-wide defaults (``--cpus``, ``--mem``, ...).
Agents without a ``hostname`` get distinct loopback addresses in order
(127.0.0.1, 127.0.0.2, ... skipping those given explicitly): the embedded agent
listens on its hostname when that is a loopback address, so agents on one
machine have distinct hosts, as Mesos agents do with ``--ip``/``--hostname``.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_mesos.local.agent import AgentSpec

AGENT_KEYS = ("hostname", "cpus", "mem", "disk", "gpus", "ports", "attributes")
SECRET_ENV = "AIRFLOW_MESOS_LOCAL_SECRET"
"""Where ``--principal``'s secret comes from when no ``--secret-file`` is given."""


class OptionError(ValueError):
    """A bad option value; the message names the option and the value."""


def number(text: str, *, option: str, minimum: float = 0.0, inclusive: bool = False) -> float:
    """A finite number above ``minimum`` (or at least it, with ``inclusive``)."""
    bound = f">= {minimum:g}" if inclusive else f"> {minimum:g}"
    try:
        value = float(text)
    except ValueError:
        raise OptionError(f"{option}: expected a number {bound}, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value < minimum or (
            value == minimum and not inclusive):
        raise OptionError(f"{option}: expected a number {bound}, got {text!r}")
    return value


def whole(text: str, *, option: str, minimum: int = 0, maximum: int | None = None) -> int:
    """A whole number in ``[minimum, maximum]``."""
    bounds = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
    try:
        value = int(text)
    except ValueError:
        raise OptionError(f"{option}: expected a whole number {bounds}, got {text!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise OptionError(f"{option}: expected a whole number {bounds}, got {text!r}")
    return value


def port_ranges(text: str, *, option: str = "--ports") -> list[tuple[int, int]]:
    """``31000-32000`` or ``31000-31999,33000-33999`` (brackets allowed, as Mesos writes them)."""
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        body = body[1:-1]
    ranges = []
    for part in body.split(","):
        begin, _, end = part.strip().partition("-")
        try:
            low, high = int(begin), int(end or begin)
        except ValueError:
            raise OptionError(f"{option}: expected port ranges like 31000-32000, got {text!r}") from None
        if not 1 <= low <= high <= 65535:
            raise OptionError(f"{option}: {part.strip()!r} is not a range of ports from 1 to 65535 (low-high)")
        ranges.append((low, high))
    return ranges


def attributes(text: str, *, option: str = "--attributes") -> dict[str, str | float]:
    """``rack:r1;zone:a;level:3``: TEXT attributes, and SCALAR ones for numbers (as Mesos reads them)."""
    out: dict[str, str | float] = {}
    for item in filter(None, (piece.strip() for piece in text.split(";"))):
        name, sep, value = item.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise OptionError(f"{option}: expected name:value;name:value, got {item!r}")
        if name in out:
            raise OptionError(f"{option}: attribute {name!r} is given twice")
        try:
            out[name] = float(value)
        except ValueError:
            out[name] = value
    return out


def host(text: str, *, option: str) -> str:
    """A host name or IP address (no scheme, no port)."""
    value = text.strip()
    if not value or any(c in value for c in "/: ,") and not _is_ip(value):
        raise OptionError(f"{option}: expected a host name or IP address, got {text!r}")
    return value


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _split_items(text: str) -> list[str]:
    """Split at commas that are not inside ``[...]`` (a port list)."""
    items, depth, current = [], 0, []
    for char in text:
        if char == "[":
            depth += 1
        elif char == "]":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def agent_spec(text: str, defaults: AgentSpec, *, option: str = "--agent") -> tuple[AgentSpec, bool]:
    """One ``--agent`` value on top of ``defaults``; also whether it named its hostname.

    :raises OptionError: naming the key, e.g. ``--agent cpu=4: unknown key 'cpu' (did you mean 'cpus'?)``.
    """
    where = f"{option} {text!r}"
    changes: dict[str, object] = {}
    for item in _split_items(text):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise OptionError(f"{where}: expected key=value items separated by commas, got {item!r}")
        if key not in AGENT_KEYS:
            close = difflib.get_close_matches(key, AGENT_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(AGENT_KEYS)})"
            raise OptionError(f"{where}: unknown key {key!r}{hint}")
        if key in changes:
            raise OptionError(f"{where}: {key} is given twice")
        name = f"{where}: {key}"
        if key == "hostname":
            changes[key] = host(value, option=name)
        elif key in ("cpus", "mem"):
            changes[key] = number(value, option=name)
        elif key == "disk":
            changes[key] = number(value, option=name, inclusive=True)
        elif key == "gpus":
            changes[key] = whole(value, option=name)
        elif key == "ports":
            changes[key] = port_ranges(value, option=name)
        else:
            changes[key] = attributes(value, option=name)
    if not changes:
        raise OptionError(f"{where}: expected key=value items such as cpus=4,mem=8192")
    return replace(defaults, **changes), "hostname" in changes


def loopback_hostnames(explicit: Sequence[str | None]) -> list[str]:
    """A hostname for each agent: its own if given, else the next loopback address no agent names.

    ``[None, "127.0.0.1", None]`` -> ``["127.0.0.2", "127.0.0.1", "127.0.0.3"]``.
    """
    taken = {name for name in explicit if name}
    out, candidate = [], 1
    for name in explicit:
        if name:
            out.append(name)
            continue
        while f"127.0.0.{candidate}" in taken:
            candidate += 1
        if candidate > 254:
            raise OptionError("--agent: more agents than loopback addresses 127.0.0.1-254")
        chosen = f"127.0.0.{candidate}"
        taken.add(chosen)
        out.append(chosen)
    return out


def agent_specs(agent_texts: Sequence[str], count: int | None, defaults: AgentSpec) -> list[AgentSpec]:
    """The cluster's agents: one per ``--agent`` (over ``defaults``), or ``count`` copies of ``defaults``.

    Each gets a distinct hostname (:func:`loopback_hostnames`) unless its spec names one.
    """
    if agent_texts and count is not None:
        raise OptionError("--agents: give either --agents N (identical agents) or one --agent SPEC per agent, "
                          "not both")
    if agent_texts:
        parsed = [agent_spec(text, defaults) for text in agent_texts]
    else:
        parsed = [(defaults, False) for _ in range(1 if count is None else count)]
    names = loopback_hostnames([spec.hostname if named else None for spec, named in parsed])
    return [replace(spec, hostname=name) for (spec, _), name in zip(parsed, names, strict=True)]


def credentials(principal: str | None, secret_file_text: str | None, secret_env: str | None) -> dict[str, str] | None:
    """``{principal: secret}`` for the master's HTTP basic authentication, or None without ``--principal``.

    :param secret_file_text: what ``--secret-file`` holds (None when not given); its trailing newline is dropped.
    :param secret_env: the value of :data:`SECRET_ENV` (None when unset).
    """
    if principal is None:
        if secret_file_text is not None:
            raise OptionError("--secret-file: needs --principal (whose secret it holds)")
        return None
    if not principal.strip() or ":" in principal:
        raise OptionError(f"--principal: expected a name without ':', got {principal!r}")
    if secret_file_text is not None:
        secret = secret_file_text.rstrip("\r\n")
        source = "--secret-file"
    else:
        secret = secret_env or ""
        source = f"${SECRET_ENV}"
    if not secret:
        raise OptionError(f"--principal {principal}: no secret: put it in a file named by --secret-file, or in "
                          f"${SECRET_ENV} (never on the command line, where ps shows it); {source} is empty")
    return {principal: secret}


REFUSED_CREDENTIALS = (
    "--credentials: no longer takes principal:secret, because a secret on the command line shows in ps to every "
    f"user; use --principal NAME with the secret in a file (--secret-file FILE) or in ${SECRET_ENV}"
)
