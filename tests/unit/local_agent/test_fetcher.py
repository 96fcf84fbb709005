"""The agent's fetcher (src/launcher/fetcher.cpp, src/slave/containerizer/fetcher.cpp 1.11.0) over temporary
directories; http(s) downloads through a fake that serves bytes from a dict."""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from airflow_mesos.local.fetcher import Fetcher, FetchError, local_path
from airflow_mesos.local.launch_planner import FetchItem, LaunchError, plan_fetch, uri_basename


class FakeWeb:
    """Serves ``pages`` (url -> bytes); anything else is a 404.  Counts the downloads."""

    def __init__(self, pages: dict[str, bytes]) -> None:
        self.pages = pages
        self.gets: list[str] = []

    def __call__(self, url: str, destination: Path) -> int:
        self.gets.append(url)
        if url not in self.pages:
            return 404
        destination.write_bytes(self.pages[url])
        return 200


def tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def a_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def sandbox(tmp_path):
    path = tmp_path / "sandbox"
    path.mkdir()
    return path


def items(*uris: dict) -> list[FetchItem]:
    return plan_fetch({"uris": list(uris)})


@pytest.mark.parametrize("uri,basename", [
    ("http://example.com/a/b/app.tar.gz", "app.tar.gz"),
    ("https://example.com/get?file=x", "get?file=x"),   # treated like a path, as Mesos does
    ("/opt/files/settings.env", "settings.env"),
    ("file:///opt/files/run.sh", "run.sh"),
    ("hdfs://namenode/data/part-0", "part-0"),
])
def test_uri_basenames(uri, basename):
    assert uri_basename(uri) == basename


@pytest.mark.parametrize("uri,message", [
    ({"value": "http://example.com"}, "Malformed URI (missing path): http://example.com"),
    ({"value": "http://example.com/"}, "Malformed URI (missing path): http://example.com/"),
    ({"value": "/tmp/it's"}, "Illegal characters in URI"),
    ({"value": "/x", "output_file": ""}, "URI output file path is empty"),
    ({"value": "/x", "output_file": "/etc/x"}, "URI output file must be within the sandbox directory"),
])
def test_invalid_uris_fail_the_launch(uri, message):
    with pytest.raises(LaunchError, match=f"^{re.escape(message)}$"):
        plan_fetch({"uris": [uri]})


def test_items_default_to_extract_and_no_cache():
    [item] = items({"value": "  http://h/p/app.tgz"})
    assert item == FetchItem("http://h/p/app.tgz", "app.tgz", executable=False, extract=True, cache=False)


def test_local_files_are_copied_and_made_executable(tmp_path, sandbox):
    (tmp_path / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "settings.env").write_text("A=1\n")
    lines: list[str] = []
    Fetcher(tmp_path / "cache").fetch(items(
        {"value": str(tmp_path / "run.sh"), "executable": True},
        {"value": f"file://{tmp_path}/settings.env", "output_file": "conf/app.env"}), sandbox, log=lines.append)
    assert (sandbox / "run.sh").read_text() == "#!/bin/sh\necho hi\n"
    assert stat.S_IMODE(os.stat(sandbox / "run.sh").st_mode) == 0o755
    assert (sandbox / "conf" / "app.env").read_text() == "A=1\n"
    assert lines[0] == f"Fetching URI '{tmp_path}/run.sh'"
    assert lines[-1] == f"Successfully fetched all URIs into '{sandbox}'"


def test_archives_are_extracted_into_the_sandbox_and_stay(tmp_path, sandbox):
    web = FakeWeb({"http://h/d/app.tar.gz": tar_gz({"app/main.py": b"print(1)\n"}),
                   "http://h/d/more.zip": a_zip({"lib/x.txt": b"x"}),
                   "http://h/d/notes.txt.gz": gzip.compress(b"notes"),
                   "http://h/d/raw.tgz": tar_gz({"r": b"r"})})
    Fetcher(tmp_path / "cache", download=web).fetch(items(
        {"value": "http://h/d/app.tar.gz"}, {"value": "http://h/d/more.zip"}, {"value": "http://h/d/notes.txt.gz"},
        {"value": "http://h/d/raw.tgz", "extract": False}), sandbox)
    assert (sandbox / "app" / "main.py").read_text() == "print(1)\n"
    assert (sandbox / "lib" / "x.txt").read_text() == "x"
    assert (sandbox / "notes.txt").read_text() == "notes"
    assert (sandbox / "app.tar.gz").exists() and (sandbox / "raw.tgz").exists() and not (sandbox / "r").exists()


def test_a_cached_uri_is_downloaded_once_per_user(tmp_path):
    web = FakeWeb({"http://h/d/app.tar.gz": tar_gz({"main.py": b"1"})})
    fetcher = Fetcher(tmp_path / "cache", download=web)
    for index, user in enumerate(("alice", "alice", "bob")):
        sandbox = tmp_path / f"s{index}"
        sandbox.mkdir()
        fetcher.fetch(items({"value": "http://h/d/app.tar.gz", "cache": True}), sandbox, user=user)
        assert (sandbox / "main.py").read_text() == "1"
    assert web.gets == ["http://h/d/app.tar.gz", "http://h/d/app.tar.gz"]   # alice once, bob once
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["c1-app.tar.gz", "c2-app.tar.gz"]


@pytest.mark.parametrize("uri,message", [
    ("http://h/d/missing.tgz", "Error downloading resource, received HTTP return code 404"),
    ("ftp://h/d/file", "'ftp' URIs are not supported by the embedded agent"),
    ("relative/file", "A relative path was passed for the resource but the Mesos framework home was not specified"),
    ("file://relative/file", "File URI only supports absolute paths"),
    ("/does/not/exist", "Failed to copy '/does/not/exist'"),
])
def test_a_uri_that_cannot_be_fetched_stops_the_fetch(tmp_path, sandbox, uri, message):
    lines: list[str] = []
    with pytest.raises(FetchError, match=message):
        Fetcher(tmp_path / "cache", download=FakeWeb({})).fetch(
            items({"value": uri}, {"value": "http://h/never"}), sandbox, log=lines.append)
    assert lines[-1].startswith(f"Failed to fetch '{uri}': ")
    assert "Fetching URI 'http://h/never'" not in lines


def test_archive_members_cannot_escape_the_sandbox(tmp_path, sandbox):
    web = FakeWeb({"http://h/d/evil.zip": a_zip({"../outside.txt": b"x"})})
    with pytest.raises(FetchError, match="is outside it"):
        Fetcher(tmp_path / "cache", download=web).fetch(items({"value": "http://h/d/evil.zip"}), sandbox)
    assert not (tmp_path / "outside.txt").exists()


def test_local_path():
    assert local_path("/a/b") == "/a/b"
    assert local_path("file:///a/b%20c") == "/a/b%20c"   # path::from_uri does not percent-decode
    assert local_path("file://localhost/a/b") == "/a/b"
    assert local_path("http://h/a") is None
