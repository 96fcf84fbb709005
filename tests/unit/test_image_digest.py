"""The image's source digest: what tells run-local that the project image is stale."""

from __future__ import annotations

from airflow_mesos.image import context_files, source_digest


def make_context(root):
    (root / "docker").mkdir()
    (root / "docker" / "Dockerfile").write_text("FROM base\n")
    (root / "pkg" / "__pycache__").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0")
    (root / "setup.py").write_text("setup()\n")
    (root / "notes.txt").write_text("not sent\n")
    (root / ".dockerignore").write_text("*\n!setup.py\n!pkg\n**/__pycache__\n")


def test_only_what_the_build_sends_counts(tmp_path):
    make_context(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in context_files(tmp_path)] == [
        "docker/Dockerfile", "pkg/mod.py", "setup.py"]
    before = source_digest(tmp_path, "sha256:base1")
    (tmp_path / "notes.txt").write_text("changed, but never sent\n")
    (tmp_path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\1")
    assert source_digest(tmp_path, "sha256:base1") == before


def test_a_changed_file_a_new_file_or_another_base_makes_it_stale(tmp_path):
    make_context(tmp_path)
    before = source_digest(tmp_path, "sha256:base1")
    assert source_digest(tmp_path, "sha256:base2") != before
    (tmp_path / "pkg" / "mod.py").write_text("x = 2\n")
    changed = source_digest(tmp_path, "sha256:base1")
    assert changed != before
    (tmp_path / "pkg" / "new.py").write_text("")
    assert source_digest(tmp_path, "sha256:base1") not in (before, changed)
