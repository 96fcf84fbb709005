"""Sandbox directories and the agent's ``/files`` endpoints, as Mesos lays them out and serves them.

Layout (apache/mesos ``src/slave/paths.cpp``)::

    <work_dir>/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/<container_id>
    <work_dir>/slaves/<agent_id>/frameworks/<framework_id>/executors/<executor_id>/runs/latest -> <container_id>

:class:`FileServer` mirrors ``src/files/files.cpp``: directories are *attached*
under virtual paths; a request path is resolved by the longest attached prefix,
canonicalised, and refused if it escapes the attached directory.  Reads return
raw text (not base64), capped at 16 pages (64 KiB).
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

READ_CAP = 16 * 4096
"""``os::pagesize() * 16`` on 4 KiB pages."""


def run_directory(work_dir: Path, agent_id: str, framework_id: str, executor_id: str, container_id: str) -> Path:
    """The absolute sandbox of one executor run."""
    return (work_dir / "slaves" / agent_id / "frameworks" / framework_id / "executors" / executor_id / "runs"
            / container_id)


def virtual_latest(framework_id: str, executor_id: str) -> str:
    """The virtual path Mesos >= 1.5 attaches for an executor's latest run."""
    return f"/frameworks/{framework_id}/executors/{executor_id}/runs/latest"


def create_run_directory(path: Path) -> None:
    """Make the sandbox with empty ``stdout``/``stderr`` and point ``runs/latest`` at it."""
    path.mkdir(parents=True, exist_ok=True)
    for name in ("stdout", "stderr"):
        (path / name).touch()
    latest = path.parent / "latest"
    tmp = path.parent / f".latest.{path.name}"
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(path.name)
    os.replace(tmp, latest)


class FilesError(Exception):
    """A /files request failure with its HTTP status and Mesos' body text."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class FileEntry:
    """One directory entry as ``protobuf::createFileInfo`` sees it: its virtual path and what stat(2) said.

    Both the ``/files/browse`` JSON and the v1 ``LIST_FILES`` FileInfo are renderings of it.
    """

    path: str
    nlink: int
    size: int
    mtime: int  # seconds since the epoch, whole (st_mtime as time_t)
    mode: int  # st_mode
    uid: str
    gid: str

    def browse_json(self) -> dict:
        """The ``/files/browse`` model: mode as ``ls -l`` shows it, mtime in seconds."""
        return {"path": self.path, "nlink": self.nlink, "size": self.size, "mtime": self.mtime,
                "mode": stat.filemode(self.mode), "uid": self.uid, "gid": self.gid}

    def v1_json(self) -> dict:
        """A v1 ``FileInfo``: mode as st_mode, mtime as a TimeInfo in nanoseconds."""
        return {"path": self.path, "nlink": self.nlink, "size": self.size,
                "mtime": {"nanoseconds": self.mtime * 1_000_000_000}, "mode": self.mode, "uid": self.uid,
                "gid": self.gid}


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _parse_int(query: dict[str, str], name: str) -> int | None:
    if name not in query:
        return None
    raw = query[name]
    try:
        value = int(raw)
    except ValueError:
        raise FilesError(400, f"Failed to parse {name}: Failed to convert '{raw}' to number.\n") from None
    if value < -1:
        raise FilesError(400, f"Negative {name} provided: {value}.\n")
    return value


class FileServer:
    """Attached virtual paths and the read/browse/download/debug operations over them."""

    def __init__(self) -> None:
        self._paths: dict[str, str] = {}
        self._lock = threading.Lock()

    def attach(self, real_path: str | Path, virtual_path: str) -> None:
        """Serve ``real_path`` (canonicalised now, as Mesos does) under ``virtual_path``."""
        real = os.path.realpath(real_path)
        if not os.path.exists(real):
            raise FileNotFoundError(f"Failed to get realpath of '{real_path}': No such file or directory")
        with self._lock:
            self._paths[str(virtual_path).rstrip("/")] = real

    def detach(self, virtual_path: str) -> None:
        with self._lock:
            self._paths.pop(str(virtual_path).rstrip("/"), None)

    def clear(self) -> None:
        with self._lock:
            self._paths.clear()

    def debug(self) -> dict[str, str]:
        """The virtual path map (``/files/debug``)."""
        with self._lock:
            return dict(self._paths)

    def resolve(self, path: str) -> str:
        """Map a request path to a real path (longest attached prefix); raises :class:`FilesError`."""
        tokens = path.rstrip("/").split("/")
        suffix: list[str] = []
        with self._lock:
            paths = dict(self._paths)
        while tokens:
            prefix = "/".join(tokens)
            if prefix not in paths:
                suffix.insert(0, tokens.pop())
                continue
            base = paths[prefix]
            if os.path.isdir(base):
                joined = os.path.join(base, *suffix) if suffix else base
                real = os.path.realpath(joined)
                if not os.path.exists(real):
                    raise FilesError(404)
                if real != base and not real.startswith(base.rstrip("/") + "/"):
                    raise FilesError(400, f"'{joined}' is inaccessible.\n")
                return real
            if suffix:
                raise FilesError(404)
            return base
        raise FilesError(404)

    def list_entries(self, path: str) -> list[FileEntry]:
        """The entries of an attached directory, sorted by real path (``FilesProcess::browse``); a file or
        an unreadable directory lists nothing.  Raises :class:`FilesError` for an unknown or escaping path."""
        resolved = self.resolve(path)
        try:
            names = sorted(os.listdir(resolved)) if os.path.isdir(resolved) else []
        except OSError:
            names = []
        entries = []
        for name in names:
            try:
                st = os.stat(os.path.join(resolved, name))
            except OSError:  # gone between the listing and the stat, as Mesos skips it
                continue
            entries.append(FileEntry(path=path.rstrip("/") + "/" + name, nlink=st.st_nlink, size=st.st_size,
                                     mtime=int(st.st_mtime), mode=st.st_mode, uid=_user(st.st_uid),
                                     gid=_group(st.st_gid)))
        return entries

    def read_bytes(self, path: str, offset: int, length: int | None) -> tuple[int, bytes]:
        """(file size, up to 16 pages of data from ``offset``) of an attached file (``FilesProcess::_read``).

        Past the end, or with ``length`` 0, the data is empty.  Raises :class:`FilesError` for a directory
        (400), an unknown path (404) or an escaping one (400).
        """
        resolved = self.resolve(path)
        if os.path.isdir(resolved):
            raise FilesError(400, "Cannot read a directory.\n")
        try:
            with open(resolved, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if offset >= size or length == 0:
                    return size, b""
                want = size - offset if length is None else length
                handle.seek(offset)
                return size, handle.read(min(want, READ_CAP))
        except OSError as exc:
            raise FilesError(500, f"Failed to open file at '{resolved}': {exc.strerror}.\n") from None

    # -- the /files endpoints ---------------------------------------------------------------------------

    def read(self, query: dict[str, str]) -> dict:
        """``/files/read``: ``{"data": <raw text>, "offset": N}``; no offset (or -1) gives the size only."""
        path = query.get("path")
        if not path:
            raise FilesError(400, "Expecting 'path=value' in query.\n")
        offset = _parse_int(query, "offset")
        length = _parse_int(query, "length")
        if offset is None or offset == -1:
            size, _ = self.read_bytes(path, 0, 0)
            return {"data": "", "offset": size}
        _, data = self.read_bytes(path, offset, None if length == -1 else length)
        return {"data": data.decode("utf-8", errors="replace"), "offset": offset}

    def browse(self, query: dict[str, str]) -> list[dict]:
        """``/files/browse``: one FileInfo per directory entry, sorted by real path."""
        path = query.get("path")
        if not path:
            raise FilesError(400, "Expecting 'path=value' in query.\n")
        return [entry.browse_json() for entry in self.list_entries(path)]

    def download_path(self, query: dict[str, str]) -> str:
        """``/files/download``: the real file to send raw."""
        path = query.get("path")
        if not path:
            raise FilesError(400, "Expecting 'path=value' in query.\n")
        resolved = self.resolve(path)
        if os.path.isdir(resolved):
            raise FilesError(400, "Cannot download a directory.\n")
        return resolved
