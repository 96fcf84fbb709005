"""`airflow-mesos status` against a real embedded cluster and a database with Airflow's own schema.

The cluster runs a framework named like the MesosExecutor's with one task running as a host process (no
Docker needed); the database is SQLite with Airflow 3.3's tables (created from its models, no migration),
holding the stored framework id, two queued task instances (one already placed on Mesos, one waiting) and the
executor's ``mesos waiting`` rows.  The command reads both over the same paths it uses in production.
"""

from __future__ import annotations

import datetime
import io
import uuid

import pytest
import sqlalchemy as sa

from airflow_mesos import cli
from airflow_mesos.executor.settings import DictConf
from airflow_mesos.executor.store import FrameworkStore
from airflow_mesos.local import LocalCluster
from airflow_mesos.local.agent import AgentSpec
from airflow_mesos.status.cli import run_status
from tests.support.scheduler_client import SchedulerClient, command_task, framework_info, launch_call

pytestmark = pytest.mark.integration

NOW = datetime.datetime.now(datetime.timezone.utc)


@pytest.fixture(scope="module")
def cluster():
    agents = [AgentSpec(hostname="127.0.0.1", cpus=2, mem=2048, attributes={"rack": "r1"}),
              AgentSpec(hostname="127.0.0.2", cpus=4, mem=4096, gpus=1, attributes={"rack": "r2", "zone": "b"})]
    with LocalCluster(agents, allocation_interval=0.2) as running:
        yield running


@pytest.fixture(scope="module")
def running_task(cluster):
    """A framework named 'airflow' with one Airflow-labelled task running on the r2 agent."""
    subscription = SchedulerClient(cluster.master_url, framework_info(
        "airflow", capabilities=("MULTI_ROLE", "PARTITION_AWARE", "GPU_RESOURCES"), roles=("*",)))
    try:
        subscription.event("SUBSCRIBED")
        r2 = next(a.id for a in cluster.agents.values() if a.spec.attributes["rack"] == "r2")
        offer = subscription.wait_for(
            lambda e: e.get("type") == "OFFERS" and any(o["agent_id"]["value"] == r2 for o in e["offers"]["offers"]),
            what="an offer of the r2 agent")
        offer = next(o for o in offer["offers"]["offers"] if o["agent_id"]["value"] == r2)
        task_id = str(uuid.uuid4())
        labels = {"airflow.dag_id": "etl", "airflow.task_id": "load", "airflow.run_id": "manual__1",
                  "airflow.try_number": "1", "airflow.map_index": "-1"}
        task = command_task(offer, task_id, command="exec sleep 120", cpus=1.5, mem=512,
                            labels={"labels": [{"key": k, "value": v} for k, v in labels.items()]})
        assert subscription.call(launch_call(offer, [task])).status_code == 202
        subscription.ack(subscription.update(task_id, "TASK_STARTING"))
        subscription.ack(subscription.update(task_id, "TASK_RUNNING"))
        yield subscription.framework_id, task_id
        subscription.call({"type": "TEARDOWN"})
    finally:
        subscription.close()


@pytest.fixture(scope="module")
def database(tmp_path_factory, running_task):
    from airflow.models import import_all_models
    from airflow.models.base import Base
    from airflow.models.log import Log
    from airflow.models.taskinstance import TaskInstance

    framework_id, task_id = running_task
    import_all_models()
    url = f"sqlite:///{tmp_path_factory.mktemp('status-db')}/airflow.db"
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    FrameworkStore(engine).save("airflow", framework_id, "http://127.0.0.1")
    ti, log = TaskInstance.__table__, Log.__table__
    queued_at = NOW - datetime.timedelta(seconds=30)
    rows = [("load", task_id), ("big", str(uuid.uuid4())), ("fan_out", str(uuid.uuid4()))]
    with engine.begin() as conn:
        for name, external in rows:
            conn.execute(sa.insert(ti).values(
                id=uuid.uuid4(), dag_id="etl", run_id="manual__1", task_id=name, map_index=-1, try_number=1,
                pool="default_pool", state="queued", external_executor_id=external, queued_dttm=queued_at))
        for name, reason, seconds in [("load", "needs 2 cpus; the largest offer has 1", 25),
                                      ("big", "needs 8 cpus; the largest offer has 4", 20),
                                      ("big", "no agent with rack=r3", 10)]:
            conn.execute(sa.insert(log).values(
                dttm=NOW - datetime.timedelta(seconds=seconds), dag_id="etl", run_id="manual__1", task_id=name,
                map_index=-1, try_number=1, event="mesos waiting", extra=reason))
    engine.dispose()
    return url


def status(conf: DictConf, *argv: str) -> tuple[int, str, str]:
    parser = cli.build_parser()
    args = parser.parse_args(["status", *argv])
    out, err = io.StringIO(), io.StringIO()
    code = run_status(args, out=out, err=err, conf=conf, now=NOW)
    return code, out.getvalue(), err.getvalue()


def test_status_shows_the_framework_agents_tasks_and_what_waits_and_why(cluster, running_task, database):
    framework_id, _ = running_task
    conf = DictConf({"mesos": {"master": cluster.master_url}, "database": {"sql_alchemy_conn": database}})
    code, out, err = status(conf)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"Mesos master  {cluster.master_url} (leading, Mesos 1.11.0)"
    assert lines[1] == f"Framework     airflow: connected, id {framework_id} (from the metadata database), roles *"
    assert lines[2] == "Agents        2 (used/total)"
    assert lines[3].split() == "127.0.0.1 cpus 0/2 (2 free) mem 0/2048 MiB (2048 free) disk 0/10240 MiB (10240 free) gpus - rack=r1".split()
    assert lines[4].split() == ("127.0.0.2 cpus 1.5/4 (2.5 free) mem 512/4096 MiB (3584 free) "
                                "disk 0/10240 MiB (10240 free) gpus 0/1 (1 free) rack=r2 zone=b").split()
    assert lines[5] == "Tasks on Mesos 1 TASK_RUNNING"
    assert lines[6].split() == "TASK_RUNNING etl.load run manual__1 try 1 on 127.0.0.2".split()
    # 'load' runs on Mesos, so its old reason is gone; 'big' shows its latest; 'fan_out' has none yet.
    assert lines[7] == "Waiting       2 queued task instance(s) not placed yet"
    assert lines[8] == "  etl.big  (run manual__1, try 1 queued 30 s): no agent with rack=r3"
    assert lines[9].startswith("  etl.fan_out  (run manual__1, try 1 queued 30 s): no reason recorded yet")
    assert len(lines) == 10


def test_without_the_database_the_framework_is_found_by_name_and_the_cli_says_what_is_missing(cluster, running_task):
    framework_id, _ = running_task
    code, out, err = status(DictConf({"mesos": {"master": cluster.master_url}}), "--no-database")
    assert (code, err) == (0, "")
    assert f"id {framework_id} (from the master (by name))" in out
    assert "Waiting       unknown" in out
    assert out.endswith("Note          --no-database given: waiting tasks are not shown\n")


def test_an_unreachable_master_is_one_line_and_exit_code_5(tmp_path):
    conf = DictConf({"mesos": {}, "database": {"sql_alchemy_conn": f"sqlite:///{tmp_path}/none.db"}})
    code, out, err = status(conf, "--master", "http://127.0.0.1:9", "--timeout", "5")
    assert (code, out) == (5, "")
    assert err.startswith("airflow-mesos status: error: cannot reach the Mesos master at http://127.0.0.1:9: ")
    assert err.count("\n") == 1
    assert not (tmp_path / "none.db").exists()  # status never creates a database


def test_a_zookeeper_master_address_finds_the_leader(zk_hosts):
    path = f"/airflow-mesos-status-{uuid.uuid4().hex[:8]}"
    with LocalCluster([AgentSpec()], zk=f"zk://{zk_hosts}{path}") as zk_cluster:
        code, out, err = status(DictConf({"mesos": {}}), "--master", f"zk://{zk_hosts}{path}", "--no-database")
    assert (code, err) == (0, "")
    assert out.startswith(f"Mesos master  {zk_cluster.master_url} (leading, Mesos 1.11.0)\n")
    assert "Framework     airflow: not registered" in out and "Agents        1 (used/total)" in out
