"""The root of every error this package raises on purpose.

Subpackages define their own subclasses next to the code that raises them
(for example :class:`airflow_mesos.mesos.errors.MesosError`), so a caller can
catch everything of ours with one ``except AirflowMesosError``.
"""


class AirflowMesosError(Exception):
    """Base class of all airflow-mesos errors."""
