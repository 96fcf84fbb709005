"""airflow-mesos: Apache Airflow 3.3 on Apache Mesos.

Every task instance runs as a Docker task on a Mesos cluster; Airflow itself is
deployed as one Marathon application group.  Subpackages:

- :mod:`airflow_mesos.mesos` -- our Mesos v1 scheduler HTTP driver.
- :mod:`airflow_mesos.local` -- an embedded one-machine Mesos cluster (master and
  agents) that speaks the real v1 scheduler API and runs real containers.
- :mod:`airflow_mesos.marathon` -- render, validate and deploy the Marathon group.
"""

from airflow_mesos._version import __version__

__all__ = ["__version__"]
