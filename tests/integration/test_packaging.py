"""The wheel setuptools builds from pyproject.toml: package data, licence, metadata and entry points.

Runs the real build (pip wheel, no build isolation: the venv's setuptools and wheel, pinned in the
constraints like the image's, so no index is needed); about two seconds.
"""

from __future__ import annotations

import email.parser
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from airflow_mesos import __version__

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stdout + build.stderr
    [path] = out.glob("airflow_mesos-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    return wheel.read(f"airflow_mesos-{__version__}.dist-info/{name}").decode()


def test_the_wheel_carries_the_marathon_schemas_with_their_attribution_and_the_ui_page(wheel):
    names = set(wheel.namelist())
    schema = "airflow_mesos/marathon/schema/"
    assert {schema + "AppDefinition.json", schema + "Group.json", schema + "SOURCE.md",
            "airflow_mesos/ui/page.html"} <= names
    attribution = wheel.read(schema + "SOURCE.md").decode()
    assert "github.com/mesosphere/marathon" in attribution and "Apache License 2.0" in attribution


def test_the_wheel_carries_the_licence_and_says_which_it_is(wheel):
    assert dist_info(wheel, "licenses/LICENSE") == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in dist_info(wheel, "licenses/LICENSE")
    metadata = email.parser.Parser().parsestr(dist_info(wheel, "METADATA"))
    assert metadata["Name"] == "airflow-mesos"
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "Apache-2.0"
    assert "apache-airflow==3.3.*" in metadata.get_all("Requires-Dist")


def test_the_wheel_declares_the_cli_and_the_airflow_provider(wheel):
    entry_points = dist_info(wheel, "entry_points.txt")
    assert "airflow-mesos = airflow_mesos.cli:main" in entry_points
    assert "[apache_airflow_provider]\nprovider_info = airflow_mesos.provider:get_provider_info" in entry_points
