"""The project's pytest settings turn an exception that ends a thread into a failure of the test it happened in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_thread_that_dies_fails_its_test(tmp_path):
    (tmp_path / "test_dying_thread.py").write_text(
        "import threading\n\n\n"
        "def test_a_thread_dies():\n"
        "    thread = threading.Thread(target=lambda: 1 / 0, name='doomed')\n"
        "    thread.start()\n"
        "    thread.join()\n\n\n"
        "def test_a_quiet_thread():\n"
        "    thread = threading.Thread(target=lambda: None)\n"
        "    thread.start()\n"
        "    thread.join()\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(tmp_path),
         "-p", "no:cacheprovider", "-q", str(tmp_path)],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout, run.stdout
    assert "PytestUnhandledThreadExceptionWarning: Exception in thread doomed" in run.stdout, run.stdout
