"""The MesosExecutor class in this process, against real HTTP: what Airflow's scheduler loop sees when the
master hangs or is not there, and the full path of one workload through a real embedded cluster.

(The full Airflow deployment is in tests/e2e/test_mesos_executor.py.)
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid

import pytest

from airflow_mesos.executor.core import Phase
from airflow_mesos.local import LocalCluster
from airflow_mesos.local.agent import AgentSpec
from tests.support.driver_fakes import wait_until

pytestmark = pytest.mark.integration


def workload(executor_config=None, task_id="t"):
    from airflow.executors.workloads import BundleInfo, ExecuteTask
    from airflow.executors.workloads.task import TaskInstanceDTO

    ti = TaskInstanceDTO(id=uuid.uuid4(), task_id=task_id, dag_id="d", run_id="r", try_number=1,
                         dag_version_id=uuid.uuid4(), map_index=-1, pool_slots=1, priority_weight=1,
                         queue="default", external_executor_id=str(uuid.uuid4()), executor_config=executor_config)
    return ExecuteTask(token="not-a-real-token", ti=ti, dag_rel_path="d.py",
                       bundle_info=BundleInfo(name="dags-folder"), log_path="d/t.log")


@pytest.fixture(scope="module", autouse=True)
def airflow_db():
    """The session's Airflow database (SQLite in the test AIRFLOW_HOME), migrated once: the executor writes
    event-log rows and its framework id there."""
    from airflow.utils import db

    db.initdb()


def event_log(event: str) -> list[str]:
    from airflow.models import Log
    from airflow.utils.session import create_session

    with create_session() as session:
        return [row.extra for row in session.query(Log).filter(Log.event == event).order_by(Log.id)]


@pytest.fixture
def mesos_env(monkeypatch, tmp_path):
    def configure(master: str, **options: str):
        from airflow.configuration import conf

        monkeypatch.setenv("AIRFLOW__MESOS__MASTER", master)
        monkeypatch.setenv("AIRFLOW__MESOS__TASK_API_URL", "http://127.0.0.1:9/execution/")
        monkeypatch.setenv("AIRFLOW__MESOS__CONTAINER_TYPE", "process")
        monkeypatch.setenv("AIRFLOW__MESOS__FRAMEWORK_NAME", f"edge-{uuid.uuid4().hex[:8]}")
        monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(tmp_path / "logs"))
        for key, value in options.items():
            monkeypatch.setenv(f"AIRFLOW__MESOS__{key.upper()}", value)
        assert conf.get("mesos", "master") == master
    return configure


@pytest.fixture
def executor_factory():
    started = []

    def make():
        from airflow_mesos.executor import MesosExecutor

        executor = MesosExecutor()
        started.append(executor)
        return executor

    yield make
    for executor in started:
        executor.end()


class SilentMaster:
    """Accepts connections and never answers: a master that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.connected = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._conns.append(conn)
            self.connected.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self._conns:
            conn.close()


def test_the_scheduler_loop_never_waits_for_a_hanging_master(mesos_env, executor_factory):
    master = SilentMaster()
    try:
        mesos_env(master.url, request_timeout="60")
        executor = executor_factory()
        executor.start()
        assert master.connected.wait(10), "the driver never tried to subscribe"
        # The SUBSCRIBE is now stuck in a read that the master never answers (for up to 60 s). Airflow's
        # loop still queues, heartbeats and syncs: none of it waits for Mesos.
        work = workload()
        executor.queue_workload(work, session=None)
        for _ in range(5):
            executor.heartbeat()
        assert work.ti.key in executor.running and not executor.queued_tasks
        assert executor.get_event_buffer() == {}
    finally:
        master.close()


def test_an_unreachable_master_gives_one_clear_line_per_retry_and_no_traceback(mesos_env, executor_factory,
                                                                                 caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{closed_port}"
    mesos_env(url)
    executor = executor_factory()
    with caplog.at_level(logging.WARNING):
        executor.start()
        work = workload()
        executor.queue_workload(work, session=None)
        executor.heartbeat()
        stop = threading.Event()
        stop.wait(3.5)  # about three retry periods of the driver's backoff (1 s, then 2 s ...)
        executor.heartbeat()
    lines = [r for r in caplog.records if "Mesos" in r.getMessage()]
    assert lines, "nothing said the master cannot be reached"
    assert all(r.exc_info is None for r in caplog.records), "a traceback was logged"
    retries = [r for r in lines if "retrying in" in r.getMessage()]
    assert 1 <= len(retries) <= 4 and all(url.split("//")[1] in r.getMessage() for r in retries)
    # The task waits, queued in the executor, with the reason recorded for it.
    assert work.ti.key in executor.running and executor.get_event_buffer() == {}
    executor.end()  # the event-log rows are written by the executor's I/O thread; end() lets it finish
    reasons = event_log("mesos waiting")
    assert reasons and reasons[-1].startswith("not connected to the Mesos master")


def test_invalid_executor_config_fails_that_workload_only(mesos_env, executor_factory):
    mesos_env("http://127.0.0.1:9")
    executor = executor_factory()
    bad, good = workload({"mesos": {"cpus": -2}}, "bad"), workload({"mesos": {"cpus": 0.5}}, "good")
    executor.queue_workload(bad, session=None)
    executor.queue_workload(good, session=None)
    executor.start()
    executor.heartbeat()
    events = executor.get_event_buffer()
    state, info = events[bad.ti.key]
    assert state == "failed" and "executor_config.mesos.cpus" in info
    assert good.ti.key not in events and good.ti.key in executor.running


def test_one_workload_through_a_real_cluster_reports_running_then_its_outcome(mesos_env, executor_factory):
    with LocalCluster([AgentSpec(cpus=2, mem=2048)], allocation_interval=0.2) as cluster:
        mesos_env(cluster.master_url, revive_min_interval="0.2")
        executor = executor_factory()
        # This workload has no task instance row in the database: the periodic check would (rightly) kill
        # its Mesos task as one Airflow does not want; keep it out of the way.
        executor.housekeeping_seconds = 3600
        executor.start()
        work = workload({"mesos": {"cpus": 0.5, "mem": 256}})
        executor.queue_workload(work, session=None)
        states: list[str] = []
        info = None
        stop = threading.Event()
        for _ in range(600):
            executor.heartbeat()
            for key, (state, info_) in executor.get_event_buffer().items():
                assert key == work.ti.key
                states.append(str(state))
                info = info_
            if states and states[-1] == "failed":
                break
            stop.wait(0.1)
        # The worker started for real and gave up on the unreachable Execution API: RUNNING was reported
        # (with the Mesos task id), then the process exit as a failure with Mesos' words in the info.
        assert states == ["running", "failed"], (states, info)
        assert "TASK_FAILED" in info and work.ti.external_executor_id in info
        assert executor._store.load(executor.framework_key) is not None


def test_end_never_tears_down_and_the_next_scheduler_subscribes_as_the_same_framework(mesos_env, executor_factory):
    import httpx

    with LocalCluster([AgentSpec(cpus=1, mem=1024)], allocation_interval=0.2) as cluster:
        mesos_env(cluster.master_url)
        first = executor_factory()
        first.start()
        stop = threading.Event()
        # The executor's thread stores the framework id right after it took SUBSCRIBED.
        for _ in range(100):
            if first._core.framework_id and first._store.load(first.framework_key) == first._core.framework_id:
                break
            stop.wait(0.1)
        framework_id = first._core.framework_id
        assert framework_id and first._store.load(first.framework_key) == framework_id
        first.end()
        frameworks = httpx.get(cluster.master_url + "/master/frameworks", timeout=10).json()
        # No TEARDOWN: Mesos keeps the framework (and would keep its tasks) for failover_timeout.
        assert framework_id in {f["id"] for f in frameworks["frameworks"]}
        assert framework_id not in {f["id"] for f in frameworks.get("completed_frameworks", [])}

        second = executor_factory()
        second.start()
        for _ in range(100):
            if second._core.connected:
                break
            stop.wait(0.1)
        assert second._core.framework_id == framework_id


def test_a_task_queued_while_an_offer_is_held_launches_into_it_without_a_revive(mesos_env, executor_factory):
    """Two agents: the first task takes one agent's offer and the other offer is held (nothing waits). The
    second task goes into the held offer; no REVIVE, no allocation round (the interval is a minute). Once the
    hold is over the offer is declined and the framework suppressed, as before."""
    import httpx

    with LocalCluster([AgentSpec(cpus=1, mem=1024), AgentSpec(cpus=1, mem=1024)], allocation_interval=60) as cluster:
        # A hold long enough that a loaded machine does not see the offer expire before the second task comes.
        mesos_env(cluster.master_url, offer_hold_seconds="15", revive_min_interval="0.2")
        executor = executor_factory()
        executor.housekeeping_seconds = 3600  # the workloads have no task instance rows
        executor.start()
        wait_until(lambda: executor._core.connected, "the subscription", timeout=30)
        core = executor._core
        first = workload({"mesos": {"cpus": 0.5, "mem": 128}}, task_id="first")
        executor.queue_workload(first, session=None)
        executor.heartbeat()
        first_id = first.ti.external_executor_id
        wait_until(lambda: core.phase(first_id) not in (None, Phase.WAITING), "the first task's launch", timeout=30)
        wait_until(core.held_offer_ids, "an offer held for the next task", timeout=30)
        assert len(core.held_offer_ids()) == 1

        revives = []
        driver = executor._driver
        original = driver.revive
        driver.revive = lambda *args, **kwargs: (revives.append(args), original(*args, **kwargs))[1]
        second = workload({"mesos": {"cpus": 0.5, "mem": 128}}, task_id="second")
        executor.queue_workload(second, session=None)
        executor.heartbeat()
        second_id = second.ti.external_executor_id
        wait_until(lambda: core.phase(second_id) not in (None, Phase.WAITING), "the second task's launch", timeout=10)
        assert revives == [] and core.held_offer_ids() == []
        tasks = {t["id"]: t for t in httpx.get(cluster.master_url + "/master/tasks", timeout=10).json()["tasks"]}
        assert tasks[first_id]["slave_id"] != tasks[second_id]["slave_id"]  # the held offer was the other agent's

        # Nothing queued for the hold: the offer is declined and offers suppressed.  (Mesos' API does not show
        # suppressed roles: the embedded master's own record is the oracle.)
        def idle():
            framework = cluster.master.records.frameworks[core.framework_id]
            offers = httpx.get(cluster.master_url + "/master/frameworks", timeout=10).json()["frameworks"]
            [listed] = [f for f in offers if f["id"] == core.framework_id]
            return set(framework.roles) <= set(framework.suppressed) and not listed["offers"]
        wait_until(idle, "the held offer declined and offers suppressed after the hold", timeout=60, interval=0.05)
