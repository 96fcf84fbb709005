"""The test venv runs what constraints.txt pins (the image installs from the same file)."""

from __future__ import annotations

import importlib.metadata

from packaging.utils import canonicalize_name

from tests.support.constraints import drift, read_pins

HOW = "scripts/test reinstalls the venv from constraints.txt (scripts/lib.sh ensure_venv)"


def test_every_pinned_package_is_installed_at_its_pinned_version():
    pins = read_pins()
    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    missing = sorted(set(pins) - set(installed))
    assert not missing, f"pinned but not in the venv: {missing}; {HOW}"
    # Packages the pins do not name may be in a venv reinstalled in place; only the pinned ones are compared.
    problems = drift(((name, installed[name]) for name in pins), pins)
    assert not problems, "; ".join(problems) + f"; {HOW}"


def test_the_pins_hold_airflow_the_amazon_provider_and_the_build_tools():
    pins = read_pins()
    assert pins["apache-airflow"] == "3.3.2"
    # Remote task logging (S3RemoteLogIO) needs it; pyproject.toml depends on it for that.
    assert "apache-airflow-providers-amazon" in pins
    assert {"setuptools", "wheel"} <= set(pins)
    assert "pip" not in pins and "airflow-mesos" not in pins
