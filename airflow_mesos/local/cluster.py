"""LocalCluster: an embedded Mesos master and N agents in this process, on 127.0.0.1 ephemeral ports.

The single entry point for tests, the CLI (``python -m airflow_mesos.local``)
and the demo::

    with LocalCluster(agents=2) as cluster:
        print(cluster.master_url)        # point any Mesos v1 HTTP scheduler here
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

from airflow_mesos.clock import SYSTEM_CLOCK, Clock
from airflow_mesos.local.master import Master, MasterError


class LocalCluster:
    """A master plus agents, started and stopped together (a context manager).

    :param agents: how many default agents, or one ``AgentSpec`` per agent.
    :param host: interface of the master (agents always use 127.0.0.1).
    :param port: master port (0 = ephemeral).
    :param work_dir: agents' work dir (``<work_dir>/slaves/<agent_id>/...``); a temp dir removed on stop if None.
    :param docker_client: docker SDK client for the agents' Docker containerizer.
    :param heartbeat_interval: seconds between HEARTBEAT events.
    :param allocation_interval: seconds between allocation rounds; ``None``: only when :meth:`allocate_now` is called.
    :param agent_ping_timeout: seconds of failed agent pings before the agent is marked unreachable.
    :param status_update_retry_interval: first retry interval of unacknowledged status updates (agents).
    :param credentials: principal -> secret; turns on HTTP basic auth for the scheduler API.
    :param zk: ``zk://host:port/path`` to register the master in ZooKeeper.
    :param offer_timeout: rescind offers after this many seconds (None: never).
    :param agent_factory: builds an agent (tests); defaults to ``airflow_mesos.local.agent.Agent``.
    :param executor_registration_timeout: agents' ``--executor_registration_timeout`` in seconds (None: Mesos'
        1 min): how long a custom executor has to SUBSCRIBE.
    :param executor_shutdown_grace_period: agents' ``--executor_shutdown_grace_period`` in seconds (None:
        Mesos' 5 s): SHUTDOWN to an executor, then its container is destroyed after this.
    :param executor_heartbeat_interval: seconds between HEARTBEAT events on executors' streams (None: Mesos'
        30 min).
    """

    def __init__(self, agents: int | list[Any] = 1, *, host: str = "127.0.0.1", port: int = 0,
                 work_dir: str | Path | None = None, docker_client: Any = None, heartbeat_interval: float = 15.0,
                 allocation_interval: float | None = 1.0, agent_ping_timeout: float = 75.0,
                 status_update_retry_interval: float = 10.0, credentials: dict[str, str] | None = None,
                 zk: str | None = None, offer_timeout: float | None = None, clock: Clock = SYSTEM_CLOCK,
                 agent_factory: Callable[..., Any] | None = None,
                 executor_registration_timeout: float | None = None,
                 executor_shutdown_grace_period: float | None = None,
                 executor_heartbeat_interval: float | None = None) -> None:
        if agent_factory is None:
            from airflow_mesos.local.agent import Agent

            agent_factory = Agent
        if isinstance(agents, int):
            from airflow_mesos.local.agent import AgentSpec

            if agents < 0:
                raise ValueError(f"agents must be >= 0, got {agents}")
            agents = [AgentSpec() for _ in range(agents)]
        self._specs = list(agents)
        self._agent_factory = agent_factory
        self._own_work_dir = work_dir is None
        self._work_dir = Path(work_dir) if work_dir is not None else None
        self._docker_client = docker_client
        self._status_update_retry_interval = status_update_retry_interval
        self._clock = clock
        # Passed on only when set, so agent factories of tests that predate executors keep working.
        self._agent_options: dict[str, float] = {}
        if executor_registration_timeout is not None:
            self._agent_options["executor_registration_timeout"] = float(executor_registration_timeout)
        if executor_shutdown_grace_period is not None:
            self._agent_options["executor_shutdown_grace_period"] = float(executor_shutdown_grace_period)
        if executor_heartbeat_interval is not None:
            self._agent_options["executor_heartbeat_interval"] = float(executor_heartbeat_interval)
        self.master = Master(host=host, port=port, heartbeat_interval=heartbeat_interval,
                             allocation_interval=allocation_interval, agent_ping_timeout=agent_ping_timeout,
                             offer_timeout=offer_timeout, credentials=credentials, zk=zk, clock=clock)
        self.agents: dict[str, Any] = {}
        self.standbys: list[Master] = []
        self._started = False

    def __repr__(self) -> str:
        return f"LocalCluster(master_url={self.master_url!r}, agents={list(self.agents)})"

    @property
    def master_url(self) -> str:
        return self.master.url

    @property
    def work_dir(self) -> Path:
        if self._work_dir is None:
            raise MasterError("the cluster has not been started")
        return self._work_dir

    def start(self) -> "LocalCluster":
        """Start the master, then every agent (each registers with the master)."""
        if self._own_work_dir:
            self._work_dir = Path(tempfile.mkdtemp(prefix="airflow-mesos-local-"))
        self._work_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.master.start()
        except BaseException:
            # Nothing else started yet (a port in use, an address this machine lacks): leave no folder behind.
            if self._own_work_dir:
                shutil.rmtree(self._work_dir, ignore_errors=True)
            raise
        self._started = True
        try:
            for spec in self._specs:
                agent_id = self.master.new_agent_id()
                agent = self._agent_factory(agent_id=agent_id, spec=spec, work_dir=self._work_dir,
                                            docker_client=self._docker_client,
                                            status_update_retry_interval=self._status_update_retry_interval,
                                            clock=self._clock, **self._agent_options)
                agent.start(self.master)
                self.agents[agent_id] = agent
                self.master.add_agent(agent)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Tear everything down: agents kill their tasks, the master closes its streams."""
        if not self._started:
            return
        self._started = False
        errors: list[BaseException] = []
        for agent in self.agents.values():
            try:
                agent.close()
            except Exception as exc:  # keep closing the others
                errors.append(exc)
        for standby in self.standbys:
            standby.stop()
        self.master.stop()
        if self._own_work_dir and self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
        if errors:
            raise errors[0]

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- allocation -------------------------------------------------------------------------------
    def allocate_now(self) -> list[dict]:
        """Run one allocation round now and return the offers it made (see ``Master.allocate_now``).

        With ``allocation_interval=None`` this is the only way offers go out, so a test knows exactly which
        frameworks are subscribed when a round runs, and that an empty result means nothing was offered.
        """
        return self.master.allocate_now()

    # -- fault injection --------------------------------------------------------------------------
    def _agent(self, agent_id: str) -> Any:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise MasterError(f"unknown agent {agent_id}; known: {sorted(self.agents)}") from None

    def stop_agent(self, agent_id: str) -> None:
        """The agent's host dies: its server stops and its containers die without status updates.

        The master notices through failed pings after ``agent_ping_timeout``.
        """
        self._agent(agent_id).crash()

    def start_agent(self, agent_id: str) -> None:
        """The agent comes back on the same port with no tasks and re-registers."""
        self._agent(agent_id).restart()

    def partition_agent(self, agent_id: str) -> None:
        """A network partition between the master and the agent; the agent and its tasks keep running.

        The master's pings fail, so after ``agent_ping_timeout`` it marks the agent unreachable (TASK_UNREACHABLE
        to PARTITION_AWARE frameworks, TASK_LOST to the others); what it sends the agent meanwhile is lost; the
        agent holds its status updates until :meth:`heal_agent`.
        """
        self._agent(agent_id).partition()

    def heal_agent(self, agent_id: str) -> None:
        """The partition heals: the agent re-registers with its tasks and then resends the updates it held.

        An agent the master had marked unreachable gets its reported tasks back (each framework gets an update in
        the task's latest state, REASON_AGENT_REREGISTERED); its unreachable tasks it does not report are
        forgotten.  One the master still held as reachable is reconciled: tasks it does not report (e.g. launched
        during the partition) become TASK_DROPPED (PARTITION_AWARE) or TASK_LOST.
        """
        self._agent(agent_id).heal()

    def drop_framework_stream(self, framework_id: str) -> None:
        """Close that framework's SUBSCRIBE connection as a network failure would."""
        self.master.drop_framework_stream(framework_id)

    def restart_master(self) -> None:
        """The master fails over in place (new id, streams closed); tasks keep running."""
        self.master.fail_over()

    def add_standby_master(self, *, leader_known: bool = True) -> Master:
        """Start a non-leading master that redirects scheduler calls to this cluster's master (or 503s)."""
        standby = Master(host=self.master.host, standby=True,
                         leader=f"{self.master.hostname}:{self.master.port}" if leader_known else None,
                         clock=self._clock)
        standby.start()
        self.standbys.append(standby)
        return standby
