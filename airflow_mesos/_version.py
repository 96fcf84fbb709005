"""The one place the airflow-mesos version is written.

pyproject.toml reads it (``[tool.setuptools.dynamic]``), ``airflow_mesos.__version__``
re-exports it, and from there the image tag and the rendered Marathon group take it.
Kept free of imports so setuptools can read it without importing the package.
"""

__version__ = "0.1.0"
