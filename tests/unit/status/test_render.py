"""`airflow-mesos status` as text."""

from __future__ import annotations

import datetime

from airflow_mesos.status import model as m
from airflow_mesos.status.render import MAX_LISTED, format_status

NOW = datetime.datetime(2026, 1, 1, 12, 10, tzinfo=datetime.timezone.utc)


def snapshot(**changes) -> m.Snapshot:
    base = dict(
        master=m.MasterInfo(url="http://127.0.0.1:5050", version="1.11.0", is_leader=True),
        framework=m.FrameworkInfo(name="airflow", id="F-1", id_source="metadata database", registered=True,
                                  connected=True, active=True, roles=("*",)),
        agents=(m.AgentInfo("S0", "127.0.0.1", {"cpus": 2, "mem": 4096, "disk": 10000, "gpus": 0},
                            {"cpus": 1.5, "mem": 1024, "disk": 0, "gpus": 0}, {"rack": "r1", "level": 3.0}),
                m.AgentInfo("S1", "127.0.0.20", {"cpus": 4, "mem": 8192, "disk": 20000, "gpus": 1},
                            {"cpus": 0, "mem": 0, "disk": 0, "gpus": 1}, {"rack": "r2"}, active=False)),
        tasks=(m.MesosTask("t1", "TASK_RUNNING", "S0", "127.0.0.1", dag_id="etl", task_id="load", run_id="manual_1",
                           try_number=1),
               m.MesosTask("t2", "TASK_FINISHED", "S0", "127.0.0.1", dag_id="etl", task_id="extract"),
               m.MesosTask("t3", "TASK_STAGING", "S1", "127.0.0.20", name="a task of no DAG")),
        waiting=(m.WaitingTask(m.QueuedTaskInstance("etl", "manual_1", "big", -1, 2, "t9",
                                                    queued_at=NOW - datetime.timedelta(seconds=95)),
                               "needs 8 cpus; the largest offer has 4"),
                 m.WaitingTask(m.QueuedTaskInstance("etl", "manual_1", "fan", 7, 1, None), None)),
    )
    base.update(changes)
    return m.Snapshot(**base)


def test_the_whole_report():
    assert format_status(snapshot(), NOW) == """\
Mesos master  http://127.0.0.1:5050 (leading, Mesos 1.11.0)
Framework     airflow: connected, id F-1 (from the metadata database), roles *
Agents        2 (used/total)
  127.0.0.1   cpus 1.5/2 (0.5 free)  mem 1024/4096 MiB (3072 free)  disk 0/10000 MiB (10000 free)  gpus -  level=3 rack=r1
  127.0.0.20  cpus 0/4 (4 free)  mem 0/8192 MiB (8192 free)  disk 0/20000 MiB (20000 free)  gpus 1/1 (0 free)  rack=r2  [inactive]
Tasks on Mesos 1 TASK_STAGING, 1 TASK_RUNNING, 1 TASK_FINISHED
  TASK_STAGING  a task of no DAG  on 127.0.0.20
  TASK_RUNNING  etl.load  run manual_1  try 1  on 127.0.0.1
Waiting       2 queued task instance(s) not placed yet
  etl.big  (run manual_1, try 2 queued 95 s): needs 8 cpus; the largest offer has 4
  etl.fan[7]  (run manual_1, try 1): no reason recorded yet (the executor has not tried to place it)
"""


def test_no_framework_no_agents_no_database():
    text = format_status(snapshot(framework=m.FrameworkInfo(name="airflow", id=None, id_source=""), agents=(),
                                  tasks=(), waiting=None, problems=("the metadata database could not be read (X)",)))
    assert "Framework     airflow: not registered (no framework id in the metadata database" in text
    assert "Agents        none registered" in text
    assert "Tasks on Mesos none" in text
    assert "Waiting       unknown (the metadata database could not be read)" in text
    assert text.endswith("Note          the metadata database could not be read (X)\n")


def test_a_standby_master_names_the_leader_and_nothing_waits():
    text = format_status(snapshot(master=m.MasterInfo(url="http://m2:5050", is_leader=False,
                                                      leader_url="http://m1:5050"), waiting=()))
    assert text.startswith("Mesos master  http://m2:5050 (not leading; the leader is http://m1:5050)\n")
    assert "Waiting       none: no queued task instance waits for an offer" in text


def test_long_lists_are_cut_with_a_count():
    many = tuple(m.MesosTask(f"t{i}", "TASK_RUNNING", "S0", dag_id="d", task_id=f"x{i:02}") for i in range(25))
    text = format_status(snapshot(tasks=many))
    assert text.count("TASK_RUNNING  d.x") == MAX_LISTED
    assert f"  ... and {25 - MAX_LISTED} more active" in text
