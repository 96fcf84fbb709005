"""What the MesosExecutor's Mesos cluster looks like: ``airflow-mesos status`` / ``airflow mesos status``.

- :mod:`~airflow_mesos.status.model`: the data and the pure functions that build it from the master's JSON
  and the metadata database's rows (also the waiting tasks and their reasons);
- :mod:`~airflow_mesos.status.render`: the text, pure;
- :mod:`~airflow_mesos.status.read`: the I/O (the master's read-only endpoints, SELECTs on the database);
- :mod:`~airflow_mesos.status.cli`: the commands.
"""
