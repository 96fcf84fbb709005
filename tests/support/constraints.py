"""Reads constraints.txt (the pins the test venv and the image share) and compares installed sets with it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from packaging.utils import canonicalize_name

CONSTRAINTS = Path(__file__).resolve().parents[2] / "constraints.txt"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def read_pins(path: Path = CONSTRAINTS) -> dict[str, str]:
    """``{canonical name: version}`` of every ``name==version`` line; any other line is an error."""
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _PIN.match(line.strip())
        assert match, f"{path.name}:{number}: not a name==version pin: {line!r}"
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def drift(installed: Iterable[tuple[str, str]], pins: dict[str, str], *, ignore: Iterable[str] = ()) -> list[str]:
    """Each installed package whose version is not the pinned one, or that is not pinned at all."""
    skip = {canonicalize_name(name) for name in ignore}
    problems = []
    for name, version in sorted(installed):
        key = canonicalize_name(name)
        if key in skip:
            continue
        if key not in pins:
            problems.append(f"{name} {version} is installed but not pinned")
        elif pins[key] != version:
            problems.append(f"{name} {version} is installed, {pins[key]} pinned")
    return problems
