"""The Mesos page of the Airflow UI: what the cluster and the MesosExecutor are doing.

- :mod:`~airflow_mesos.ui.view_model`: pure functions from the master's state JSON and rows of the
  metadata database to the page's view model (plain JSON);
- :mod:`~airflow_mesos.ui.sources`: the I/O: the leading master's ``/master/state`` and the rows the
  executor records (table ``airflow_mesos_framework``, ``mesos waiting`` events in Airflow's ``log``);
- :mod:`~airflow_mesos.ui.app`: the FastAPI app the plugin (``plugins/mesos_plugin.py``) mounts in the
  api-server: the page and its JSON API, behind Airflow's authentication.

Nothing here imports Airflow or FastAPI at import time except :mod:`~airflow_mesos.ui.app`.
"""
