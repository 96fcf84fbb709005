"""Golden JSON for every scheduler call builder (shapes from scheduler.proto)."""

import json

import pytest

from airflow_mesos.mesos import calls

F = "5b2ec2a2-0000"
INFO = {"user": "airflow", "name": "airflow-mesos", "roles": ["airflow"],
        "capabilities": [{"type": "MULTI_ROLE"}], "failover_timeout": 604800.0}


def golden(call):
    # Round-trip through JSON: what goes on the wire is what we compare.
    return json.loads(json.dumps(call))


def test_subscribe_first_time_has_no_framework_id():
    assert golden(calls.subscribe(INFO)) == {
        "type": "SUBSCRIBE",
        "subscribe": {"framework_info": INFO},
    }


def test_resubscribe_sets_the_id_in_framework_info_and_top_level():
    assert golden(calls.subscribe(INFO, framework_id=F, suppressed_roles=["airflow"])) == {
        "type": "SUBSCRIBE",
        "framework_id": {"value": F},
        "subscribe": {"framework_info": {**INFO, "id": {"value": F}}, "suppressed_roles": ["airflow"]},
    }


def test_subscribe_does_not_mutate_the_callers_framework_info():
    info = dict(INFO)
    calls.subscribe(info, framework_id=F)
    assert "id" not in info


def test_subscribe_refuses_conflicting_ids():
    with pytest.raises(ValueError, match="differs"):
        calls.subscribe({**INFO, "id": {"value": "other"}}, framework_id=F)


@pytest.mark.parametrize("missing", ["user", "name"])
def test_subscribe_requires_user_and_name(missing):
    info = {k: v for k, v in INFO.items() if k != missing}
    with pytest.raises(ValueError, match=f"framework_info.{missing}"):
        calls.subscribe(info)


def test_teardown():
    assert golden(calls.teardown(F)) == {"framework_id": {"value": F}, "type": "TEARDOWN"}


def test_accept_with_launch_and_filters():
    task = {"name": "t", "task_id": {"value": "t1"}, "agent_id": {"value": "S1"},
            "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 1.0}}],
            "command": {"shell": True, "value": "true"}}
    call = calls.accept(F, ["O1", "O2"], [calls.launch([task])], calls.accept_filters(5))
    assert golden(call) == {
        "framework_id": {"value": F},
        "type": "ACCEPT",
        "accept": {
            "offer_ids": [{"value": "O1"}, {"value": "O2"}],
            "operations": [{"type": "LAUNCH", "launch": {"task_infos": [task]}}],
            "filters": {"refuse_seconds": 5.0},
        },
    }


def test_accept_without_filters_omits_them():
    assert "filters" not in calls.accept(F, ["O1"], [])["accept"]
    assert calls.accept_filters(None) is None


def test_decline():
    assert golden(calls.decline(F, ["O1"], refuse_seconds=120)) == {
        "framework_id": {"value": F},
        "type": "DECLINE",
        "decline": {"offer_ids": [{"value": "O1"}], "filters": {"refuse_seconds": 120.0}},
    }
    assert golden(calls.decline(F, ["O1"])) == {
        "framework_id": {"value": F}, "type": "DECLINE", "decline": {"offer_ids": [{"value": "O1"}]}}


def test_offer_ids_must_be_a_list_not_a_string():
    with pytest.raises(TypeError, match="list of ids"):
        calls.decline(F, "O1")


def test_negative_refuse_seconds_is_refused():
    with pytest.raises(ValueError, match="refuse_seconds"):
        calls.decline(F, ["O1"], refuse_seconds=-1)


def test_revive_all_roles_and_some_roles():
    assert golden(calls.revive(F)) == {"framework_id": {"value": F}, "type": "REVIVE"}
    assert golden(calls.revive(F, ["airflow"])) == {
        "framework_id": {"value": F}, "type": "REVIVE", "revive": {"roles": ["airflow"]}}


def test_suppress_all_roles_and_some_roles():
    assert golden(calls.suppress(F)) == {"framework_id": {"value": F}, "type": "SUPPRESS"}
    assert golden(calls.suppress(F, ["a", "b"])) == {
        "framework_id": {"value": F}, "type": "SUPPRESS", "suppress": {"roles": ["a", "b"]}}


def test_roles_must_be_a_list():
    with pytest.raises(TypeError):
        calls.revive(F, "airflow")


def test_kill_minimal_and_full():
    assert golden(calls.kill(F, "t1")) == {
        "framework_id": {"value": F}, "type": "KILL", "kill": {"task_id": {"value": "t1"}}}
    assert golden(calls.kill(F, "t1", agent_id="S1", grace_period_seconds=30)) == {
        "framework_id": {"value": F},
        "type": "KILL",
        "kill": {"task_id": {"value": "t1"}, "agent_id": {"value": "S1"},
                 "kill_policy": {"grace_period": {"nanoseconds": 30_000_000_000}}},
    }


def test_kill_grace_period_fractions_become_whole_nanoseconds():
    call = calls.kill(F, "t1", grace_period_seconds=0.5)
    assert call["kill"]["kill_policy"]["grace_period"]["nanoseconds"] == 500_000_000


def test_acknowledge_base64_encodes_the_raw_uuid():
    uuid = bytes(range(16))
    assert golden(calls.acknowledge(F, "S1", "t1", uuid)) == {
        "framework_id": {"value": F},
        "type": "ACKNOWLEDGE",
        "acknowledge": {"agent_id": {"value": "S1"}, "task_id": {"value": "t1"},
                        "uuid": "AAECAwQFBgcICQoLDA0ODw=="},
    }


@pytest.mark.parametrize("uuid", [b"", None, "AAEC"])
def test_acknowledge_needs_raw_uuid_bytes(uuid):
    with pytest.raises(ValueError, match="uuid"):
        calls.acknowledge(F, "S1", "t1", uuid)


def test_reconcile_explicit_with_and_without_agent():
    assert golden(calls.reconcile(F, [("t1", "S1"), ("t2", None)])) == {
        "framework_id": {"value": F},
        "type": "RECONCILE",
        "reconcile": {"tasks": [{"task_id": {"value": "t1"}, "agent_id": {"value": "S1"}},
                                {"task_id": {"value": "t2"}}]},
    }


def test_reconcile_implicit_is_an_empty_task_list():
    assert golden(calls.reconcile(F, [])) == {
        "framework_id": {"value": F}, "type": "RECONCILE", "reconcile": {"tasks": []}}


def test_reconcile_names_the_bad_entry():
    with pytest.raises(TypeError, match=r"tasks\[1\]"):
        calls.reconcile(F, [("t1", None), "t2"])
    with pytest.raises(ValueError, match=r"tasks\[0\].task_id"):
        calls.reconcile(F, [("", None)])


def test_empty_framework_id_is_refused():
    with pytest.raises(ValueError, match="framework_id"):
        calls.teardown("")
