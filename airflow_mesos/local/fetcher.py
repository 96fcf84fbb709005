"""The agent's fetcher: ``CommandInfo.uris`` fetched into the sandbox before the task starts.

As the Mesos fetcher does it (src/launcher/fetcher.cpp, src/slave/containerizer/fetcher.cpp 1.11.0), item by
item, in order:

- the source: a local path or ``file://`` URI is copied (a relative path needs ``--frameworks_home``, which
  the embedded agent has none of); ``http://`` and ``https://`` are downloaded (redirects followed) and must
  answer 200; other schemes (``ftp``, ``hdfs``, ``s3`` ...) are refused: the embedded agent has neither
  libcurl's FTP nor a Hadoop client;
- the destination: ``<sandbox>/<output_file>`` (its directory created), else ``<sandbox>/<basename>``;
- then ``executable`` makes it 0755; else ``extract`` (the default) unpacks ``.tar``, ``.tgz``, ``.tar.gz``,
  ``.tbz2``, ``.tar.bz2``, ``.txz``, ``.tar.xz`` and ``.zip`` archives into the sandbox and gunzips a bare
  ``.gz`` (the file itself stays); anything else is left as it is;
- ``cache``: the file is downloaded once per (user, URI) into the agent's fetcher cache and copied or
  extracted from there.

What it does is logged to the sandbox's ``stderr`` (where the fetcher's output goes in Mesos).  The first
failure stops the fetch with :class:`FetchError`; the agent fails the launch with it.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

from airflow_mesos.exceptions import AirflowMesosError
from airflow_mesos.local.launch_planner import FetchItem, uri_basename

ARCHIVES = (".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip")
"""What ``extract`` unpacks (and ``.gz``, which is gunzipped)."""

DOWNLOAD_TIMEOUT = 60.0
"""Seconds a download may stall (Mesos: ``--fetcher_stall_timeout``, 60 s)."""

Download = Callable[[str, Path], int]
"""Fetch an http(s) URL into a file; returns the HTTP status."""


class FetchError(AirflowMesosError):
    """One URI could not be fetched; the message is the fetcher's (never a secret: URIs are the framework's)."""


def download_http(url: str, destination: Path) -> int:
    """GET ``url`` into ``destination`` with httpx, following redirects; returns the final status."""
    import httpx

    with httpx.stream("GET", url, follow_redirects=True, timeout=DOWNLOAD_TIMEOUT) as response:
        if response.status_code == 200:
            with open(destination, "wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
        return response.status_code


def local_path(uri: str) -> str | None:
    """``Fetcher::uriToLocalPath``: the file a local URI names, None for a remote one; raises :class:`FetchError`."""
    file_uri = uri.startswith("file://")
    if not file_uri and "://" in uri:
        return None
    # path::from_uri only drops the scheme (no percent-decoding), then a leading "localhost" goes.
    path = uri[len("file://"):] if file_uri else uri
    if path.startswith("localhost"):
        path = path[len("localhost"):]
    if not path.startswith("/"):
        if file_uri:
            raise FetchError("File URI only supports absolute paths")
        raise FetchError("A relative path was passed for the resource but the Mesos framework home was not "
                         "specified. Please either provide this config option or avoid using a relative path")
    return path


def extract(source: Path, directory: Path) -> bool:
    """Unpack ``source`` into ``directory`` if it is an archive (True), else leave it (False)."""
    name = source.name
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(source) as archive:
                _check_members([m.filename for m in archive.infolist()], directory, source)
                archive.extractall(directory)
            return True
        if name.endswith(ARCHIVES):
            with tarfile.open(source) as archive:
                archive.extractall(directory, filter="data")
            return True
        if name.endswith(".gz"):
            with gzip.open(source, "rb") as packed, open(directory / name[:-3], "wb") as unpacked:
                shutil.copyfileobj(packed, unpacked)
            return True
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise FetchError(f"Failed to extract archive '{source}' to '{directory}': {exc}") from None
    return False


def _check_members(names: list[str], directory: Path, source: Path) -> None:
    root = directory.resolve()
    for member in names:
        target = (directory / member).resolve()
        if target != root and root not in target.parents:
            raise FetchError(f"Failed to extract archive '{source}' to '{directory}': '{member}' is outside it")


class Fetcher:
    """Fetches URIs into sandboxes, with a cache in ``cache_dir`` (shared by the agent's tasks).

    :param download: how http(s) URLs are fetched (tests pass their own); :func:`download_http` by default.
    """

    def __init__(self, cache_dir: Path, download: Download | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self._download = download or download_http
        self._lock = threading.Lock()
        self._serial = 0
        self._cache: dict[str, Path] = {}

    def fetch(self, items: list[FetchItem], sandbox: Path, *, user: str | None = None,
              log: Callable[[str], None] = lambda line: None) -> None:
        """Fetch every item into ``sandbox``, in order; the first failure raises :class:`FetchError`."""
        for item in items:
            log(f"Fetching URI '{item.uri}'")
            try:
                fetched = self._fetch_through_cache(item, sandbox, user, log) if item.cache \
                    else self._fetch_directly(item, sandbox, log)
            except FetchError as exc:
                log(f"Failed to fetch '{item.uri}': {exc}")
                raise
            log(f"Fetched '{item.uri}' to '{fetched}'")
        log(f"Successfully fetched all URIs into '{sandbox}'")

    # -- one item ------------------------------------------------------------------------------------

    def _destination(self, item: FetchItem, sandbox: Path) -> Path:
        destination = sandbox / item.output_file
        root = sandbox.resolve()
        if root not in destination.resolve().parents:
            raise FetchError("URI output file must be within the sandbox directory")
        destination.parent.mkdir(parents=True, exist_ok=True)
        return destination

    def _fetch_directly(self, item: FetchItem, sandbox: Path, log: Callable[[str], None]) -> Path:
        log(f"Fetching '{item.uri}' directly into the sandbox directory")
        destination = self._destination(item, sandbox)
        self._get(item.uri, destination)
        return self._finish(item, destination, destination, sandbox, log)

    def _fetch_through_cache(self, item: FetchItem, sandbox: Path, user: str | None,
                             log: Callable[[str], None]) -> Path:
        key = item.uri if user is None else f"{user}@{item.uri}"
        with self._lock:  # one download per key, as the fetcher cache's entries do
            cached = self._cache.get(key)
            if cached is None or not cached.exists():
                self.cache_dir.mkdir(parents=True, exist_ok=True)
                self._serial += 1
                base = uri_basename(item.uri)
                if len(base) > 20:  # keep the extension for extraction, as Cache::nextFilename does
                    base = base[:10] + "_" + base[-10:]
                cached = self.cache_dir / f"c{self._serial}-{base}"
                try:
                    self._get(item.uri, cached)
                except FetchError:
                    cached.unlink(missing_ok=True)
                    raise
                self._cache[key] = cached
        log(f"Fetching URI '{item.uri}' from cache")
        destination = self._destination(item, sandbox)
        return self._finish(item, cached, destination, sandbox, log)

    def _finish(self, item: FetchItem, source: Path, destination: Path, sandbox: Path,
                log: Callable[[str], None]) -> Path:
        """``executable``, else ``extract`` (from ``source``), else the plain copy at ``destination``."""
        if item.executable:
            if source != destination:
                self._copy(source, destination)
            os.chmod(destination, 0o755)
            return destination
        if item.extract:
            if extract(source, sandbox):
                log(f"Extracted '{source}' into '{sandbox}'")
                if source != destination:
                    return sandbox
                return destination
            log(f"Copying instead of extracting resource from URI with 'extract' flag, because it does not "
                f"seem to be an archive: {item.uri}")
        if source != destination:
            self._copy(source, destination)
        return destination

    def _get(self, uri: str, destination: Path) -> None:
        """``download``: a local copy, or an http(s) download."""
        path = local_path(uri)
        if path is not None:
            self._copy(Path(path), destination)
            return
        if uri.startswith(("http://", "https://")):
            try:
                status = self._download(uri, destination)
            except Exception as exc:  # noqa: BLE001 - any transport failure is this URI's failure
                raise FetchError(f"Error downloading resource: {type(exc).__name__}: {exc}") from None
            if status != 200:
                destination.unlink(missing_ok=True)
                raise FetchError(f"Error downloading resource, received HTTP return code {status}")
            return
        scheme = uri.split("://", 1)[0]
        raise FetchError(f"'{scheme}' URIs are not supported by the embedded agent (local paths, file://, "
                         "http:// and https:// are; Mesos fetches others with libcurl's FTP or a Hadoop client)")

    @staticmethod
    def _copy(source: Path, destination: Path) -> None:
        try:
            shutil.copyfile(source, destination)
        except OSError as exc:
            raise FetchError(f"Failed to copy '{source}' to '{destination}': {exc.strerror or exc}") from None
