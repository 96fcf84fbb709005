"""Marathon path ids (``/airflow/postgres``) resolved the way Marathon resolves them.

Marathon splits an id on ``/`` (empty segments dropped); an id that starts with
``/`` is absolute, otherwise it is relative to a base.  ``.`` segments are
skipped and ``..`` goes up one level, never above the root.  The base is:

- for an app's ``id``: the enclosing group's (absolute) id;
- for an app's ``dependencies``: the enclosing group's id as well, so
  ``../database`` from an app in ``/product/service`` is ``/product/database``;
- for a group's ``id``: its parent group's id;
- for a group's ``dependencies``: the group's own id.
"""

from __future__ import annotations

import re

ROOT = "/"

# One id segment as Marathon's PathId validator accepts it (lower-case, dots
# between labels, or a lone "." / "..").
SEGMENT_RE = re.compile(r"^((([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|\.|\.\.)$")
RESERVED_LAST_SEGMENTS = ("restart", "tasks", "versions")


def segments(path: str) -> list[str]:
    """The non-empty ``/``-separated segments of ``path``."""
    return [part for part in path.split("/") if part]


def is_absolute(path: str) -> bool:
    return path.startswith("/")


def canonical(path: str, base: str = ROOT) -> str:
    """Resolve ``path`` against the absolute ``base``; return an absolute, normalised id."""
    if not is_absolute(base):
        raise ValueError(f"base path {base!r} is not absolute")
    parts = segments(path) if is_absolute(path) else segments(base) + segments(path)
    resolved: list[str] = []
    for part in parts:
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        resolved.append(part)
    return "/" + "/".join(resolved)


def parent(path: str) -> str:
    """The parent of an absolute id (the root is its own parent)."""
    parts = segments(path)
    return "/" + "/".join(parts[:-1])


def id_problems(path: str) -> list[str]:
    """Why ``path`` is not a valid Marathon id (empty list when it is)."""
    problems = []
    parts = segments(path)
    if not parts:
        problems.append("must contain at least one path segment")
    for part in parts:
        if not SEGMENT_RE.match(part):
            problems.append(
                f"segment {part!r} must be lower-case letters, digits and '-' "
                "(dots between labels), starting and ending with a letter or digit"
            )
    if parts and parts[-1] in RESERVED_LAST_SEGMENTS:
        problems.append(f"must not end with a reserved word ({', '.join(RESERVED_LAST_SEGMENTS)})")
    return problems
