"""The version is written once (airflow_mesos/_version.py); the metadata, the image tag and the group take it."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import airflow_mesos
from airflow_mesos import image
from airflow_mesos._version import __version__
from airflow_mesos.marathon.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_pyproject_and_installed_metadata_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "airflow_mesos._version.__version__"}
    assert airflow_mesos.__version__ == __version__
    # The venv's metadata is from its last install (scripts/lib.sh reinstalls when _version.py changes).
    assert importlib.metadata.version("airflow-mesos") == __version__


def test_setup_py_is_a_shim_without_metadata_of_its_own():
    text = (ROOT / "setup.py").read_text(encoding="utf-8")
    assert "setup()" in text and "version" not in text and "install_requires" not in text


def test_the_image_tag_and_the_rendered_group_follow_the_version():
    assert image.DEFAULT_TAG == f"airflow-mesos/airflow:{__version__}"
    assert Settings().image.tag == __version__


def test_the_executors_default_image_is_the_one_this_release_builds():
    from airflow_mesos.provider import get_provider_info

    option = get_provider_info()["config"]["mesos"]["options"]["image"]
    assert option["default"] == image.DEFAULT_TAG
