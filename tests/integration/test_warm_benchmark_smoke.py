"""benchmarks/warm_start.py runs at a tiny size and prints its tables; no speed is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_warm_start_benchmark_prints_fresh_and_warm_figures(tmp_path):
    out = tmp_path / "warm.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "warm_start.py"), "--quick", "--json", str(out)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "fresh interpreter vs warm fork" in run.stdout and "fork server after its imports" in run.stdout
    section = json.loads(out.read_text())
    names = {f["name"] for f in section["figures"]}
    assert {"fresh task start CPU", "warm task start CPU", "fork server RSS"} <= names
    assert all(f["value"] is not None and f["value"] > 0 for f in section["figures"])
