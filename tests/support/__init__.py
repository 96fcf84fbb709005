"""Test helpers shared by the unit, integration and e2e tests: stand-ins and independent clients, not tests.

- ``scheduler_client``: a Mesos v1 scheduler client on http.client, independent of ``airflow_mesos.mesos``.
- ``stub_agent``: an in-process agent that lets the embedded master be tested without dockerd.
- ``stub_master``: a stand-in for a master's scheduler endpoint, for the driver's real-HTTP tests.
- ``driver_fakes``: a scripted fake of the driver's Transport and helpers to drive a SchedulerDriver.
- ``token_search``: the texts a task token must not show in (argv, ``docker inspect``, endpoints) and the search.
- ``warm_processes``: the warm executors running as processes on this host.
"""
