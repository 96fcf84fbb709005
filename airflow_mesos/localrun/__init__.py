"""``scripts/run-local``: Airflow 3.3 with the MesosExecutor on the embedded Mesos cluster, for people.

- :mod:`~airflow_mesos.localrun.__main__`: the orchestration (``python -m airflow_mesos.localrun``);
- :mod:`~airflow_mesos.localrun.deployment`: real Airflow components on a PostgreSQL database, with a REST
  client (the end-to-end tests drive the same class);
- :mod:`~airflow_mesos.localrun.services`: the other processes (PostgreSQL, moto's S3 server, any child in a
  session of its own);
- :mod:`~airflow_mesos.localrun.progress`: what is printed about a DAG run, pure.
"""
