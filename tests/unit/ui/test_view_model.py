"""The Mesos page's view model: master state JSON and database rows in, what the page shows out."""

from __future__ import annotations

import datetime
import json

import pytest

from airflow_mesos.ui import view_model as vm

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
FID = "f0d3a6b2-0000-4000-8000-000000000001-0000"
OTHER_FID = "ffffffff-0000-4000-8000-000000000009-0000"


def _labels(dag_id, task_id, run_id, try_number=1, map_index=-1):
    return [{"key": "airflow.dag_id", "value": dag_id}, {"key": "airflow.task_id", "value": task_id},
            {"key": "airflow.run_id", "value": run_id}, {"key": "airflow.try_number", "value": str(try_number)},
            {"key": "airflow.map_index", "value": str(map_index)}]


def _task(task_id, state, agent, labels, *, cpus=0.5, mem=512.0, updated=1000.0, running_at=None):
    statuses = [{"state": "TASK_STAGING", "timestamp": updated - 2}]
    if running_at is not None:
        statuses.append({"state": "TASK_RUNNING", "timestamp": running_at})
    statuses.append({"state": state, "timestamp": updated})
    return {"id": task_id, "name": f"airflow {task_id}", "framework_id": FID, "slave_id": agent, "state": state,
            "resources": {"cpus": cpus, "mem": mem, "disk": 0.0, "gpus": 0.0, "ports": "[]"},
            "statuses": statuses, "labels": labels}


def _state(**overrides):
    state = {
        "version": "1.11.0", "elected_time": 1764590000.0, "activated_slaves": 2.0, "unreachable_slaves": 0.0,
        "leader": "master@127.0.0.1:5050",
        "leader_info": {"id": "m1", "hostname": "mesos-m1", "port": 5050, "address": {"ip": "127.0.0.1"}},
        "slaves": [
            {"id": "A2", "hostname": "127.0.0.2", "attributes": {"rack": "r2"}, "active": True,
             "resources": {"cpus": 4.0, "mem": 8192.0, "disk": 10240.0, "gpus": 1.0, "ports": "[31000-32000]"},
             "used_resources": {"cpus": 0.1, "mem": 128.0, "disk": 0.0, "gpus": 0.0},
             "offered_resources": {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}},
            {"id": "A1", "hostname": "127.0.0.1", "attributes": {"rack": "r1", "slots": 8.0}, "active": True,
             "resources": {"cpus": 4.0, "mem": 8192.0, "disk": 10240.0, "gpus": 0.0},
             "used_resources": {"cpus": 0.2, "mem": 1024.0, "disk": 64.0, "gpus": 0.0},
             "offered_resources": {"cpus": 3.8, "mem": 7168.0, "disk": 10176.0, "gpus": 0.0}},
        ],
        "frameworks": [{
            "id": FID, "name": "airflow", "connected": True, "active": True, "hostname": "scheduler-host",
            "roles": ["airflow"], "registered_time": 1764590100.0, "failover_timeout": 604800.0,
            "tasks": [
                _task("t-run", "TASK_RUNNING", "A1", _labels("etl", "load", "manual__2026-12-01T11:00:00+00:00"),
                      running_at=999.0),
                _task("t-stage", "TASK_STAGING", "A2", _labels("etl", "fan", "r1", map_index=3), cpus=0.1,
                      mem=128.0),
                _task("t-cb", "TASK_RUNNING", "A1", [{"key": "airflow.callback_id", "value": "cb-1"}]),
            ],
            "unreachable_tasks": [],
            "completed_tasks": [
                _task("t-old", "TASK_FINISHED", "A1", _labels("etl", "extract", "r1"), updated=900.0),
                _task("t-failed", "TASK_FAILED", "A2", _labels("etl", "extract", "r0"), updated=950.0),
            ],
        }, {
            "id": OTHER_FID, "name": "someone-else", "connected": True, "active": True,
            "tasks": [_task("x-1", "TASK_RUNNING", "A2", _labels("not", "ours", "r"))],
        }],
        "completed_frameworks": [],
    }
    state.update(overrides)
    return state


RECORD = vm.FrameworkRecord(name="airflow", framework_id=FID, master="http://127.0.0.1:5050",
                            updated_at=datetime.datetime(2026, 12, 1, 11, 0))
REACHABLE = vm.MasterSnapshot(configured="http://m1:5050,http://m2:5050", url="http://127.0.0.1:5050", state=_state())


def _queued(task_id, *, run_id="r1", try_number=1, map_index=-1, queued_at=None, external_id=None):
    return vm.QueuedTaskInstance(dag_id="etl", task_id=task_id, run_id=run_id, map_index=map_index,
                                 try_number=try_number, queued_at=queued_at or NOW - datetime.timedelta(seconds=90),
                                 external_executor_id=external_id or f"id-{task_id}", executor=None)


def _event(row_id, task_id, reason, *, run_id="r1", try_number=1, map_index=-1):
    return vm.WaitEvent(id=row_id, dag_id="etl", task_id=task_id, run_id=run_id, map_index=map_index,
                        try_number=try_number, reason=reason, at=NOW - datetime.timedelta(seconds=row_id))


def _view(master=REACHABLE, records=(RECORD,), queued=(), events=(), known=(), **kwargs):
    return vm.build_view(master=master, frameworks=list(records), framework_name="airflow", queued=list(queued),
                         wait_events=list(events), known_task_instances=list(known), ui_base="", now=NOW, **kwargs)


# ------------------------------------------------------------------------------------------------ links


@pytest.mark.parametrize(("base", "map_index", "expected"), [
    ("", -1, "/dags/etl/runs/manual__2026-12-01T11%3A00%3A00%2B00%3A00/tasks/load"),
    ("/airflow/", 3, "/airflow/dags/etl/runs/manual__2026-12-01T11%3A00%3A00%2B00%3A00/tasks/load/mapped/3"),
])
def test_task_instance_links_follow_the_ui_routes_with_each_part_encoded(base, map_index, expected):
    assert vm.task_instance_path(base, "etl", "manual__2026-12-01T11:00:00+00:00", "load", map_index) == expected


def test_ids_with_slashes_cannot_escape_their_path_segment():
    assert vm.task_instance_path("", "a/b", "r?x=1#y", "g.t") == "/dags/a%2Fb/runs/r%3Fx%3D1%23y/tasks/g.t"


# ------------------------------------------------------------------------------------------------ master


def test_a_reachable_master_names_the_leader_from_its_master_info():
    master = _view()["master"]
    assert master["reachable"] is True and master["error"] is None
    assert master["leader"] == "mesos-m1:5050"
    assert master["url"] == "http://127.0.0.1:5050"
    assert master["version"] == "1.11.0"
    assert (master["activated_agents"], master["unreachable_agents"]) == (2, 0)


def test_without_master_info_the_leader_comes_from_its_pid():
    state = _state()
    del state["leader_info"]
    snapshot = vm.MasterSnapshot(configured="zk://zk1:2181/mesos", url="http://10.0.0.5:5050", state=state)
    assert vm.master_view(snapshot)["leader"] == "127.0.0.1:5050"


def test_an_unreachable_master_says_why_and_the_queued_tasks_and_reasons_still_show():
    snapshot = vm.MasterSnapshot(configured="zk://***@zk1:2181/mesos",
                                 error="No Mesos master is registered in ZooKeeper")
    view = _view(master=snapshot, queued=[_queued("load")],
                 events=[_event(7, "load", "not connected to the Mesos master (connection refused)")])
    assert view["master"]["reachable"] is False
    assert view["master"]["error"] == "No Mesos master is registered in ZooKeeper"
    assert view["agents"] == [] and view["tasks"]["active"] == []
    assert view["frameworks"][0]["connected"] is None
    assert view["frameworks"][0]["status"].startswith("unknown: the Mesos master could not be asked")
    [waiting] = view["waiting"]
    assert waiting["reason"] == "not connected to the Mesos master (connection refused)"
    assert waiting["status"] == "waiting"


def test_a_snapshot_without_state_or_error_still_reads_as_unreachable():
    assert vm.master_view(vm.MasterSnapshot(configured="http://m:5050"))["error"] == "The Mesos master gave no state"


# ------------------------------------------------------------------------------------------------ framework


def test_the_framework_from_the_database_is_matched_in_the_master_state():
    [framework] = _view()["frameworks"]
    assert framework["id"] == FID
    assert framework["connected"] is True and framework["active"] is True
    assert framework["status"] == "connected"
    assert framework["roles"] == ["airflow"]
    assert framework["hostname"] == "scheduler-host"
    assert framework["recorded_at"] == "2026-12-01T11:00:00+00:00"  # stored naive UTC


@pytest.mark.parametrize(("connected", "completed", "expected"), [
    (False, False, "disconnected"),
    (True, True, "removed"),
])
def test_a_disconnected_or_removed_framework_says_so(connected, completed, expected):
    state = _state()
    framework = dict(state["frameworks"][0], connected=connected, active=connected)
    state["frameworks"] = [] if completed else [framework]
    state["completed_frameworks"] = [framework] if completed else []
    [view] = vm.framework_views(state, [RECORD], "airflow")
    assert view["connected"] is False
    assert view["status"].startswith(expected)


def test_no_framework_id_yet_and_an_id_the_master_does_not_know():
    [none_yet] = vm.framework_views(_state(), [], "airflow")
    assert none_yet["name"] == "airflow" and none_yet["id"] is None
    assert none_yet["status"].startswith("not registered yet")
    [unknown] = vm.framework_views(_state(), [vm.FrameworkRecord("airflow", "gone-id")], "airflow")
    assert unknown["connected"] is None and unknown["status"].startswith("unknown to the master")


# ------------------------------------------------------------------------------------------------ agents


def test_agents_show_total_used_offered_and_free_per_resource_and_their_attributes():
    agents = _view()["agents"]
    assert [a["hostname"] for a in agents] == ["127.0.0.1", "127.0.0.2"]
    first, second = agents
    assert first["attributes"] == {"rack": "r1", "slots": "8"}
    assert first["resources"]["cpus"] == {"total": 4.0, "used": 0.2, "offered": 3.8, "free": 3.8}
    assert first["resources"]["mem"] == {"total": 8192.0, "used": 1024.0, "offered": 7168.0, "free": 7168.0}
    assert first["resources"]["disk"]["free"] == 10176.0
    assert second["resources"]["gpus"] == {"total": 1.0, "used": 0.0, "offered": 0.0, "free": 1.0}
    # Our active tasks per agent; the other framework's task on A2 does not count.
    assert (first["airflow_tasks"], second["airflow_tasks"]) == (2, 1)


def test_cluster_totals_add_the_agents_up_without_float_noise():
    totals = _view()["totals"]
    assert totals["cpus"] == {"total": 8.0, "used": 0.3, "offered": 3.8, "free": 7.7}
    assert totals["gpus"]["total"] == 1.0


def test_resources_of_ignores_non_scalars_and_missing_names():
    assert vm.resources_of({"cpus": 1.5, "ports": "[1-2]", "mem": True}) == {"cpus": 1.5, "mem": 0.0, "disk": 0.0,
                                                                             "gpus": 0.0}
    assert vm.resources_of(None) == {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0}


# ------------------------------------------------------------------------------------------------ tasks


def test_our_tasks_by_state_with_their_task_instances_and_links():
    known = [vm.KnownTaskInstance(external_executor_id="t-run", dag_id="etl", task_id="load",
                                  run_id="manual__2026-12-01T11:00:00+00:00", map_index=-1, try_number=1,
                                  state="running")]
    tasks = _view(known=known)["tasks"]
    # Another framework's tasks never show; in lifecycle order (staging before running); the callback has no link.
    assert [t["mesos_task_id"] for t in tasks["active"]] == ["t-stage", "t-cb", "t-run"]
    assert list(tasks["counts"].items()) == [("TASK_STAGING", 1), ("TASK_RUNNING", 2), ("TASK_FAILED", 1),
                                             ("TASK_FINISHED", 1)]
    staging, callback, run = tasks["active"]
    assert run["ti_url"] == "/dags/etl/runs/manual__2026-12-01T11%3A00%3A00%2B00%3A00/tasks/load"
    assert (run["dag_id"], run["task_id"], run["try_number"], run["airflow_state"]) == ("etl", "load", 1, "running")
    assert run["agent_hostname"] == "127.0.0.1" and run["resources"]["cpus"] == 0.5
    assert run["started_at"] == datetime.datetime.fromtimestamp(999.0, UTC).isoformat()
    assert callback["ti_url"] is None and callback["callback_id"] == "cb-1"
    assert staging["map_index"] == 3 and staging["ti_url"].endswith("/tasks/fan/mapped/3")
    assert staging["airflow_state"] is None  # no task instance row matched
    # Finished ones, newest first.
    assert [t["mesos_task_id"] for t in tasks["recent"]] == ["t-failed", "t-old"]


def test_only_the_newest_finished_tasks_are_listed_but_all_are_counted():
    completed = [_task(f"done-{i}", "TASK_FINISHED", "A1", _labels("etl", "x", f"r{i}"), updated=100.0 + i)
                 for i in range(30)]
    state = _state()
    state["frameworks"][0]["completed_tasks"] = completed
    tasks = vm.task_views(vm.mesos_tasks(state, [FID]), {}, {}, "", recent_limit=5)
    assert [t["mesos_task_id"] for t in tasks["recent"]] == [f"done-{i}" for i in (29, 28, 27, 26, 25)]
    assert tasks["counts"]["TASK_FINISHED"] == 30
    assert {t["id"] for t in vm.shown_tasks(vm.mesos_tasks(state, [FID]), 5)} == {
        "t-run", "t-stage", "t-cb", "done-29", "done-28", "done-27", "done-26", "done-25"}


def test_tasks_of_dags_the_user_may_not_read_are_counted_not_listed():
    tasks = _view(dag_ids={"other"})["tasks"]
    assert tasks["active"] == [] and tasks["recent"] == []
    assert tasks["hidden"] == 5
    assert sum(tasks["counts"].values()) == 5


def test_a_task_listed_twice_keeps_its_newest_entry():
    state = _state()
    framework = state["frameworks"][0]
    framework["completed_tasks"].append(_task("t-run", "TASK_FINISHED", "A1", framework["tasks"][0]["labels"],
                                              updated=2000.0))
    [entry] = [t for t in vm.mesos_tasks(state, [FID]) if t["id"] == "t-run"]
    assert entry["state"] == "TASK_FINISHED"


# ------------------------------------------------------------------------------------------------ waiting


def test_the_current_reason_is_the_newest_event_of_the_current_try():
    queued = [_queued("load", try_number=2), _queued("fan", map_index=1)]
    events = [
        _event(1, "load", "no agent with rack=r9", try_number=1),      # an earlier try
        _event(3, "load", "needs 8 cpus; the largest offer has 4", try_number=2),
        _event(2, "load", "no offers yet", try_number=2),
        _event(4, "fan", "not for this index", map_index=0),
        _event(5, "fan", "no agent with rack=r9", map_index=1),
        _event(6, "other", "not queued"),
    ]
    reasons = vm.current_wait_reasons(queued, events)
    assert reasons[("etl", "load", "r1", -1)].reason == "needs 8 cpus; the largest offer has 4"
    assert reasons[("etl", "fan", "r1", 1)].reason == "no agent with rack=r9"
    assert len(reasons) == 2


def test_waiting_tasks_show_their_reason_age_and_link_oldest_first():
    queued = [_queued("late", queued_at=NOW - datetime.timedelta(seconds=5)),
              _queued("early", queued_at=NOW - datetime.timedelta(seconds=125)),
              _queued("fresh", queued_at=NOW - datetime.timedelta(seconds=1))]
    events = [_event(10, "early", "no agent with rack=r9"), _event(11, "late", "needs 8 cpus")]
    waiting = _view(queued=queued, events=events)["waiting"]
    assert [w["task_id"] for w in waiting] == ["early", "late", "fresh"]
    early, late, fresh = waiting
    assert (early["status"], early["reason"], early["waiting_seconds"]) == ("waiting", "no agent with rack=r9", 125.0)
    assert early["ti_url"] == "/dags/etl/runs/r1/tasks/early"
    assert late["reason"] == "needs 8 cpus"
    assert fresh["reason"] is None and fresh["status"] == "waiting"


def test_a_queued_task_whose_mesos_task_exists_is_launched_not_waiting():
    waiting = _view(queued=[_queued("fan", map_index=3, external_id="t-stage")],
                    events=[_event(1, "fan", "no agent with rack=r9", map_index=3)])["waiting"]
    assert waiting[0]["status"] == "launched"
    assert "TASK_STAGING" in waiting[0]["reason"]


def test_the_waiting_total_counts_more_than_the_rows_read():
    view = _view(queued=[_queued("a")], queued_total=750)
    assert (len(view["waiting"]), view["waiting_total"]) == (1, 750)


# ------------------------------------------------------------------------------------------------ executors


@pytest.mark.parametrize(("setting", "names", "default"), [
    ("airflow_mesos.executor.MesosExecutor", {"airflow_mesos.executor.MesosExecutor", "MesosExecutor"}, True),
    ("LocalExecutor,mesos:airflow_mesos.executor.MesosExecutor",
     {"mesos", "airflow_mesos.executor.MesosExecutor", "MesosExecutor"}, False),
    ("LocalExecutor", set(), False),
    ("", set(), False),
])
def test_which_task_instance_executors_mean_mesos(setting, names, default):
    assert vm.mesos_executor_names(setting) == (frozenset(names), default)


def test_the_view_is_plain_json():
    view = _view(queued=[_queued("load")], events=[_event(1, "load", "why")], problems=["db: slow"])
    assert json.loads(json.dumps(view)) == view
    assert view["generated_at"] == NOW.isoformat()
    assert view["problems"] == ["db: slow"]
