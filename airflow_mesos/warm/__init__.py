"""The airflow-mesos warm executor: a Mesos custom executor that runs many Airflow tasks.

It stays up on an agent, imports Airflow's worker once and starts each launched
task from that pre-imported state, so a task costs what it costs under the
LocalExecutor instead of a fresh interpreter's imports.  ``python -m
airflow_mesos.warm`` is its command; :mod:`airflow_mesos.warm.payload` is what
the MesosExecutor puts in each task's ``TaskInfo.data``.
"""
