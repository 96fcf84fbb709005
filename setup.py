"""A shim: the metadata, dependencies and entry points are in pyproject.toml (PEP 621).

Kept for tools and habits that still run setup.py; setuptools reads everything from pyproject.toml.
"""

from setuptools import setup

setup()
