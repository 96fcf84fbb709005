"""/files semantics over a real temporary directory (files.cpp behaviour)."""

from __future__ import annotations

import pytest

from airflow_mesos.local.sandbox import READ_CAP, FilesError, FileServer, create_run_directory, run_directory


@pytest.fixture
def served(tmp_path):
    run = run_directory(tmp_path, "A-S0", "F", "t", "c1")
    create_run_directory(run)
    (run / "stdout").write_text("hello\nworld\n")
    (tmp_path / "outside").write_text("secret")
    files = FileServer()
    files.attach(run, "/frameworks/F/executors/t/runs/latest")
    return files, run, tmp_path


def test_layout_and_latest_symlink(served):
    _, run, tmp_path = served
    assert str(run).endswith("slaves/A-S0/frameworks/F/executors/t/runs/c1")
    assert (run.parent / "latest").resolve() == run
    assert (run / "stderr").exists()


def test_read_offsets_and_lengths(served):
    files, _, _ = served
    path = "/frameworks/F/executors/t/runs/latest/stdout"
    assert files.read({"path": path}) == {"data": "", "offset": 12}
    assert files.read({"path": path, "offset": "-1"}) == {"data": "", "offset": 12}
    assert files.read({"path": path, "offset": "0"}) == {"data": "hello\nworld\n", "offset": 0}
    assert files.read({"path": path, "offset": "6", "length": "3"}) == {"data": "wor", "offset": 6}
    assert files.read({"path": path, "offset": "50"}) == {"data": "", "offset": 50}


def test_read_is_capped_at_16_pages(served):
    files, run, _ = served
    (run / "big").write_bytes(b"x" * (READ_CAP + 100))
    got = files.read({"path": "/frameworks/F/executors/t/runs/latest/big", "offset": "0"})
    assert len(got["data"]) == READ_CAP


@pytest.mark.parametrize(
    "query, status, message",
    [
        ({}, 400, "Expecting 'path=value' in query.\n"),
        ({"path": "/frameworks/F/executors/t/runs/latest/stdout", "offset": "x"}, 400, "Failed to parse offset"),
        ({"path": "/frameworks/F/executors/t/runs/latest/stdout", "offset": "-2"}, 400, "Negative offset provided: -2.\n"),
        ({"path": "/frameworks/F/executors/t/runs/latest/stdout", "offset": "0", "length": "-5"}, 400,
         "Negative length provided"),
        ({"path": "/frameworks/F/executors/t/runs/latest", "offset": "0"}, 400, "Cannot read a directory.\n"),
        ({"path": "/frameworks/F/executors/t/runs/latest/nope", "offset": "0"}, 404, ""),
        ({"path": "/elsewhere/stdout", "offset": "0"}, 404, ""),
        ({"path": "/frameworks/F/executors/t/runs/latest/../../../../../../../../outside", "offset": "0"}, 400,
         "is inaccessible"),
    ],
)
def test_read_errors(served, query, status, message):
    files, _, _ = served
    with pytest.raises(FilesError) as err:
        files.read(query)
    assert err.value.status == status
    assert err.value.message.startswith(message) or message in err.value.message


def test_symlink_escape_is_refused(served):
    files, run, tmp_path = served
    (run / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(FilesError) as err:
        files.read({"path": "/frameworks/F/executors/t/runs/latest/link", "offset": "0"})
    assert err.value.status == 400 and "inaccessible" in err.value.message


def test_browse_and_debug(served):
    files, run, _ = served
    listing = files.browse({"path": "/frameworks/F/executors/t/runs/latest"})
    assert [e["path"] for e in listing] == ["/frameworks/F/executors/t/runs/latest/stderr",
                                             "/frameworks/F/executors/t/runs/latest/stdout"]
    assert listing[1]["size"] == 12 and listing[1]["mode"].startswith("-rw")
    assert files.debug() == {"/frameworks/F/executors/t/runs/latest": str(run)}
