"""The status model: from the master's JSON and the database's rows to what `airflow-mesos status` shows."""

from __future__ import annotations

import datetime

from airflow_mesos.status import model as m

T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def queued(task_id: str, *, try_number: int = 1, map_index: int = -1, external: str | None = None,
           queued_at: float = 0.0) -> m.QueuedTaskInstance:
    return m.QueuedTaskInstance(dag_id="d", run_id="r", task_id=task_id, map_index=map_index, try_number=try_number,
                                external_executor_id=external, queued_at=at(queued_at))


def waited(task_id: str, reason: str, when: float, *, try_number: int = 1, map_index: int = -1) -> m.WaitEvent:
    return m.WaitEvent(dag_id="d", run_id="r", task_id=task_id, map_index=map_index, try_number=try_number,
                       when=at(when), reason=reason)


def test_the_latest_reason_of_the_same_try_is_the_one_shown():
    events = [waited("big", "needs 8 cpus; the largest offer has 4", 5),
              waited("big", "no agent with rack=r3", 9),
              waited("big", "from the first try", 20, try_number=0)]
    (waiting,) = m.waiting_tasks([queued("big", external="t-big")], events, mesos_task_ids=[])
    assert (waiting.label, waiting.reason, waiting.since) == ("d.big", "no agent with rack=r3", at(9))


def test_a_queued_task_mesos_already_runs_is_not_waiting_whatever_it_waited_for_before():
    events = [waited("placed", "needs 2 cpus; the largest offer has 1", 1)]
    assert m.waiting_tasks([queued("placed", external="t-1")], events, mesos_task_ids=["t-1"]) == ()


def test_waiting_tasks_without_a_reason_yet_are_listed_oldest_first_with_their_map_index():
    tasks = m.waiting_tasks([queued("b", queued_at=5), queued("a", map_index=3, queued_at=1)],
                            [waited("a", "no agent with gpus", 2, map_index=3)], mesos_task_ids=[])
    assert [(w.label, w.reason) for w in tasks] == [("d.a[3]", "no agent with gpus"), ("d.b", None)]


def test_naive_database_times_count_as_utc():
    naive = m.QueuedTaskInstance("d", "r", "x", -1, 1, None, queued_at=datetime.datetime(2026, 1, 1, 11, 0))
    tasks = m.waiting_tasks([queued("y", queued_at=0), naive], [], [])
    assert [w.ti.task_id for w in tasks] == ["x", "y"]


SLAVES = {"slaves": [
    {"id": "S1", "hostname": "127.0.0.2", "active": True, "attributes": {"rack": "r2", "level": 3.0},
     "resources": {"cpus": 4.0, "mem": 8192.0, "disk": 20000.0, "gpus": 1.0, "ports": "[31000-32000]"},
     "used_resources": {"cpus": 1.5, "mem": 1024.0, "disk": 0.0, "gpus": 0.0}},
    {"id": "S0", "hostname": "127.0.0.1", "active": True, "attributes": {"rack": "r1"},
     "resources": {"cpus": 2.0, "mem": 4096.0, "disk": 10000.0, "gpus": 0.0},
     "used_resources": {"cpus": 2.0, "mem": 512.0}},
]}


def test_agents_come_sorted_by_hostname_with_used_and_free_resources():
    first, second = m.agents_info(SLAVES)
    assert (first.hostname, first.free("cpus"), first.free("mem"), first.free("gpus")) == ("127.0.0.1", 0, 3584, 0)
    assert (second.hostname, second.free("cpus"), second.free("gpus"), dict(second.attributes)) == (
        "127.0.0.2", 2.5, 1, {"rack": "r2", "level": 3.0})


FRAMEWORKS = {
    "frameworks": [
        {"id": "F-old", "name": "airflow", "active": False, "connected": False, "registered_time": 10.0},
        {"id": "F-new", "name": "airflow", "active": True, "connected": True, "registered_time": 20.0,
         "roles": ["airflow", "gpu"]},
        {"id": "F-other", "name": "marathon", "active": True, "connected": True},
    ],
    "completed_frameworks": [{"id": "F-gone", "name": "airflow"}],
}


def test_the_framework_is_the_one_the_database_names():
    framework = m.framework_info(FRAMEWORKS, "airflow", "F-old")
    assert (framework.id, framework.id_source, framework.registered, framework.connected) == (
        "F-old", "metadata database", True, False)
    assert framework.state.startswith("disconnected")


def test_without_a_stored_id_the_active_framework_of_that_name_is_taken():
    framework = m.framework_info(FRAMEWORKS, "airflow", None)
    assert (framework.id, framework.id_source, framework.state, framework.roles) == (
        "F-new", "master (by name)", "connected", ("airflow", "gpu"))


def test_a_removed_or_unknown_framework_says_so():
    assert m.framework_info(FRAMEWORKS, "airflow", "F-gone").state == "removed"
    assert m.framework_info(FRAMEWORKS, "airflow", "F-never").state == "not registered with this master"
    assert m.framework_info(FRAMEWORKS, "nobody", None).id is None


def test_tasks_carry_the_task_instance_from_their_labels_and_the_agent_hostname():
    document = {"tasks": [
        {"id": "t1", "framework_id": "F", "slave_id": "S1", "state": "TASK_RUNNING", "name": "airflow d.x",
         "labels": [{"key": "airflow.dag_id", "value": "d"}, {"key": "airflow.task_id", "value": "x"},
                    {"key": "airflow.run_id", "value": "r"}, {"key": "airflow.try_number", "value": "2"},
                    {"key": "airflow.map_index", "value": "4"}]},
        {"id": "t2", "framework_id": "F", "slave_id": "S0", "state": "TASK_FINISHED", "name": "plain"},
        {"id": "t3", "framework_id": "G", "slave_id": "S0", "state": "TASK_RUNNING"},
    ]}
    tasks = m.mesos_tasks(document, "F", m.agents_info(SLAVES))
    assert [(t.id, t.label, t.hostname, t.try_number, t.run_id) for t in tasks] == [
        ("t1", "d.x[4]", "127.0.0.2", 2, "r"), ("t2", "plain", "127.0.0.1", None, None)]
    assert m.counts_by_state(tasks + tasks[:1]) == [("TASK_RUNNING", 2), ("TASK_FINISHED", 1)]


def test_the_master_says_whether_it_leads_and_where_the_leader_is():
    leading = {"pid": "master@127.0.0.1:5050", "leader": "master@127.0.0.1:5050", "version": "1.11.0",
               "leader_info": {"hostname": "127.0.0.1", "port": 5050,
                               "address": {"hostname": "127.0.0.1", "ip": "127.0.0.1", "port": 5050}}}
    info = m.master_info("http://127.0.0.1:5050", leading)
    assert (info.is_leader, info.leader_url, info.version) == (True, "http://127.0.0.1:5050", "1.11.0")
    standby = dict(leading, pid="master@127.0.0.1:5051")
    assert m.master_info("http://127.0.0.1:5051", standby).is_leader is False
    assert m.master_info("http://m:5050", {}).is_leader is None
