"""Real Airflow 3.3 components against a real PostgreSQL: what ``scripts/run-local`` runs and the
end-to-end tests drive (``tests/e2e/airflow_harness.py``).

:class:`AirflowDeployment` makes a database of its own on a PostgreSQL server
(the throwaway one ``scripts/test`` or ``scripts/run-local`` starts), a temporary ``AIRFLOW_HOME``, runs
``airflow db migrate`` and starts ``airflow api-server``, ``dag-processor``,
``scheduler`` (and optionally ``triggerer``) as separate processes, each in its
own session (so its own process group) with its output in a log file.  Every setting is passed by
environment (``AIRFLOW__SECTION__KEY``), so the executor and its own
settings (``[mesos]``) come in the same way.  :class:`AirflowRestClient` talks to
the api-server's public REST API with a SimpleAuthManager token.

Everything a component starts stays in its session: Airflow 3.3.2 never calls
``setsid``, and the task processes, which move to a process group of their own
(``setpgid``), keep the session.  So :meth:`AirflowDeployment.surviving_processes`
finds a deployment's processes in ``/proc`` by session id; the environment
variable :data:`MARKER_VAR` catches any that might leave the session.  (The
environment alone would not do: ``setproctitle``, which the LocalExecutor
workers, the log servers and the api-server call, overwrites
``/proc/<pid>/environ``.)  Each component also gets SIGTERM if the process that
started it dies without stopping it (``PR_SET_PDEATHSIG``).

Facts about 3.3.2 this relies on (checked against the installed package):

- SimpleAuthManager takes its users from ``[core] simple_auth_manager_users``
  (``name:ROLE``) and their passwords from the JSON object in
  ``[core] simple_auth_manager_passwords_file``; it only generates (and prints)
  a password for a user missing from that file, so writing the file first gives
  a known password.  ``POST /auth/token {"username", "password"}`` answers 201
  with ``{"access_token": <JWT>}`` for ``Authorization: Bearer``.
- ``GET /api/v2/monitor/health`` needs no token and reports ``metadatabase``,
  ``scheduler``, ``triggerer`` and ``dag_processor``.
- ``GET /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}``
  takes ``map_index``, ``full_content`` and ``token`` (the continuation token;
  there is no ``continuation_token`` parameter).  With ``Accept:
  application/json`` it answers ``{"content": [{"timestamp", "event", "level",
  ...}], "continuation_token": str | null}``; with ``Accept:
  application/x-ndjson`` it streams one JSON object per line and puts the
  continuation token in the ``Airflow-Continuation-Token`` header (absent at the
  end of the log).  ``text/plain`` is refused with 406.
- The REST task instance has no ``external_executor_id``: it is read from the
  ``task_instance`` table of the deployment's database.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg2

from airflow_mesos.clock import SYSTEM_CLOCK, Clock
from airflow_mesos.exceptions import AirflowMesosError

MARKER_VAR = "AIRFLOW_MESOS_DEPLOYMENT"
"""Set in the environment of every process of a deployment, to the deployment's name."""

COMPONENTS = ("api-server", "dag-processor", "scheduler", "triggerer")
# The job each long-running component records (and heartbeats) in the `job` table.
JOB_TYPES = {"dag-processor": "DagProcessorJob", "scheduler": "SchedulerJob", "triggerer": "TriggererJob"}
# Stop order: nothing new gets scheduled while the rest shuts down; the api-server,
# which task processes call back into, goes last.
STOP_ORDER = ("scheduler", "triggerer", "dag-processor", "api-server")

TERMINAL_DAG_RUN_STATES = frozenset({"success", "failed"})
USERNAME = "admin"
"""The default user (SimpleAuthManager, role ADMIN)."""

# Inherited variables that would point a component at another installation.
_FOREIGN_PREFIXES = ("AIRFLOW__", "AIRFLOW_HOME", "AIRFLOW_CONFIG", MARKER_VAR)


class DeploymentError(AirflowMesosError):
    """The deployment did not start, did not get where it was asked to, or a REST call failed."""


@dataclass(frozen=True)
class TaskInstanceInfo:
    """One task instance of a DAG run, as the REST API and the database describe it."""

    task_id: str
    map_index: int
    state: str | None
    try_number: int
    executor: str | None
    external_executor_id: str | None
    hostname: str | None
    id: str

    def __str__(self) -> str:
        index = "" if self.map_index == -1 else f"[{self.map_index}]"
        return (
            f"{self.task_id}{index}: state={self.state} try={self.try_number} executor={self.executor} "
            f"external_executor_id={self.external_executor_id} hostname={self.hostname}"
        )


@dataclass(frozen=True)
class TaskLog:
    """One page of a task instance's log from the REST API."""

    content: list[Any]
    """Structured records (dicts with at least ``event``), or plain strings where the log did not parse."""
    continuation_token: str | None
    """Pass back as ``token=`` to read on from here; None at the end of the log."""

    @property
    def text(self) -> str:
        """The log as lines of text: each record's ``event`` (and its ``error_detail`` when present)."""
        lines = []
        for record in self.content:
            if isinstance(record, dict):
                lines.append(str(record.get("event", "")))
                if record.get("error_detail"):
                    lines.append(json.dumps(record["error_detail"]))
            else:
                lines.append(str(record))
        return "\n".join(lines)


class AirflowRestClient:
    """A small client for the api-server's public REST API (``/api/v2``), authenticated as one user."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._username = username
        self._password = password
        self._token: str | None = None
        self._http = httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout)

    def __repr__(self) -> str:
        return f"AirflowRestClient({self.base_url!r}, user={self._username!r})"

    def close(self) -> None:
        self._http.close()

    # -- authentication -------------------------------------------------------

    def token(self) -> str:
        """A JWT for the user from ``POST /auth/token``."""
        response = self._http.post("/auth/token", json={"username": self._username, "password": self._password})
        if response.status_code != 201:
            raise DeploymentError(f"POST /auth/token as {self._username!r}: {response.status_code} {response.text[:500]}")
        return response.json()["access_token"]

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        """An authenticated request; logs in on first use and again if the token is refused."""
        if self._token is None:
            self._token = self.token()
        response = self._send(method, path, **kwargs)
        if response.status_code == 401:
            self._token = self.token()
            response = self._send(method, path, **kwargs)
        return response

    def _send(self, method: str, path: str, *, headers: Mapping[str, str] | None = None, **kwargs) -> httpx.Response:
        return self._http.request(
            method, path, headers={"Authorization": f"Bearer {self._token}", **(headers or {})}, **kwargs
        )

    def _json(self, method: str, path: str, *, expect: Sequence[int] = (200,), **kwargs) -> Any:
        response = self.request(method, path, **kwargs)
        if response.status_code not in expect:
            raise DeploymentError(f"{method} {path}: {response.status_code} {response.text[:1000]}")
        return response.json()

    def _collect(self, path: str, key: str, params: Mapping[str, Any] | None = None) -> list[dict]:
        """Every item of a paginated ``/api/v2`` collection."""
        items: list[dict] = []
        while True:
            page = self._json("GET", path, params={**(params or {}), "limit": 100, "offset": len(items)})
            items.extend(page[key])
            if not page[key] or len(items) >= page["total_entries"]:
                return items

    # -- reads and actions ----------------------------------------------------

    def health(self) -> dict:
        """``GET /api/v2/monitor/health`` (no token needed)."""
        response = self._http.get("/api/v2/monitor/health")
        response.raise_for_status()
        return response.json()

    def dags(self) -> list[dict]:
        return self._collect("/api/v2/dags", "dags")

    def import_errors(self) -> list[dict]:
        return self._collect("/api/v2/importErrors", "import_errors")

    def set_paused(self, dag_id: str, paused: bool) -> dict:
        return self._json("PATCH", f"/api/v2/dags/{_quote(dag_id)}", json={"is_paused": paused})

    def unpause(self, dag_id: str) -> dict:
        return self.set_paused(dag_id, False)

    def trigger_dag_run(self, dag_id: str, *, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        """Create a manual DAG run (no logical date) and return its run id."""
        body: dict[str, Any] = {"logical_date": None, "conf": dict(conf or {})}
        if run_id is not None:
            body["dag_run_id"] = run_id
        created = self._json("POST", f"/api/v2/dags/{_quote(dag_id)}/dagRuns", json=body)
        return created["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self._json("GET", f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}")

    def task_instances_json(self, dag_id: str, run_id: str) -> list[dict]:
        return self._collect(f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances", "task_instances")

    def task_log(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        try_number: int = 1,
        *,
        map_index: int = -1,
        full_content: bool = False,
        token: str | None = None,
        ndjson: bool = False,
    ) -> TaskLog:
        """One task instance's log for one try.

        :param full_content: read the whole log rather than one page.
        :param token: a continuation token from an earlier page.
        :param ndjson: ask for the streamed form (``application/x-ndjson``, one JSON record a line,
            continuation in a header) instead of the JSON document.
        """
        path = (
            f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances/{_quote(task_id)}"
            f"/logs/{try_number}"
        )
        params: dict[str, Any] = {"map_index": map_index, "full_content": str(full_content).lower()}
        if token is not None:
            params["token"] = token
        accept = "application/x-ndjson" if ndjson else "application/json"
        response = self.request("GET", path, params=params, headers={"Accept": accept})
        if response.status_code != 200:
            raise DeploymentError(f"GET {path}: {response.status_code} {response.text[:1000]}")
        if not ndjson:
            document = response.json()
            return TaskLog(content=document["content"], continuation_token=document.get("continuation_token"))
        records = [json.loads(line) for line in response.text.splitlines() if line.strip()]
        return TaskLog(content=records, continuation_token=response.headers.get("Airflow-Continuation-Token"))

    def event_logs(self, **filters: Any) -> list[dict]:
        """Rows of the audit log (``GET /api/v2/eventLogs``), filtered by e.g. ``dag_id=``, ``run_id=``, ``event=``."""
        return self._collect("/api/v2/eventLogs", "event_logs", filters)


class AirflowDeployment:
    """One Airflow installation: its own database, home, ports and component processes.

    :param pg_dsn: a PostgreSQL superuser URL (``postgresql://user@host:port/db``) on which to create
        the deployment's database.
    :param workdir: an empty folder for ``AIRFLOW_HOME`` and the component logs (``logs/<component>.log``).
    :param dags_folder: the DAG files (``[core] dags_folder``).
    :param executor: ``[core] executor``: a core name, a class path, or Airflow's ``alias:path`` list form.
    :param extra_env: more environment for every component, applied last (so it can override ours).
    :param component_env: more environment for single components, ``{"api-server": {...}}``, over
        ``extra_env`` (e.g. an api-server that does not see the scheduler's log folder).
    :param triggerer: also run ``airflow triggerer``.
    :param parallelism: ``[core] parallelism``; kept small because the LocalExecutor forks that many
        workers at start.
    :param dag_ids: DAGs that must be parsed before :meth:`start` returns; by default, any DAG.
    :param strict_imports: an import error in any DAG file fails :meth:`start` (and :meth:`wait_for_dags`);
        when False only the files of ``dag_ids`` matter (a folder of examples that others share).
    :param api_host: the address the api-server binds to.
    :param advertised_host: the address task processes use to reach the Execution API
        (``[core] execution_api_server_url``); by default ``api_host``.
    :param api_port: the api-server's port; by default a free one.
    :param username: the one user (role ADMIN) and its password (by default a fresh random one).
    :param name_prefix: the start of the database's name (the rest is random).
    :param on_step: called with one line for each step of :meth:`start` and :meth:`stop` (a person watching).
    :param startup_timeout: seconds to wait for the components to become healthy and the DAGs parsed.
    """

    def __init__(
        self,
        *,
        pg_dsn: str,
        workdir: Path,
        dags_folder: Path,
        executor: str = "LocalExecutor",
        extra_env: Mapping[str, str] | None = None,
        component_env: Mapping[str, Mapping[str, str]] | None = None,
        triggerer: bool = False,
        parallelism: int = 4,
        dag_ids: Sequence[str] | None = None,
        api_host: str = "127.0.0.1",
        advertised_host: str | None = None,
        api_port: int | None = None,
        username: str = USERNAME,
        password: str | None = None,
        name_prefix: str = "airflow_local",
        strict_imports: bool = True,
        on_step: Callable[[str], None] | None = None,
        startup_timeout: float = 120.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not pg_dsn.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"pg_dsn must be a postgresql:// URL, got {_mask_url(pg_dsn)!r}")
        if not Path(dags_folder).is_dir():
            raise ValueError(f"dags_folder {dags_folder} is not a folder")
        self.name = f"{name_prefix}_{uuid.uuid4().hex[:12]}"
        self.username = username
        self.strict_imports = strict_imports
        self._on_step = on_step
        self.executor = executor
        self.workdir = Path(workdir)
        self.home = self.workdir / "home"
        self.log_dir = self.workdir / "logs"
        self._passwords_file = self.home / "simple_auth_manager_passwords.json"
        self.dags_folder = Path(dags_folder).resolve()
        self.components = tuple(c for c in COMPONENTS if c != "triggerer" or triggerer)
        self.dag_ids = tuple(dag_ids or ())
        self.parallelism = parallelism
        self.startup_timeout = startup_timeout
        self._clock = clock
        self._admin_dsn = pg_dsn
        self._api_host = api_host
        self._api_port = api_port if api_port is not None else _free_port(api_host)
        self.api_url = f"http://{_url_host(api_host)}:{self._api_port}"
        self.execution_api_url = f"http://{_url_host(advertised_host or api_host)}:{self._api_port}/execution/"
        self.database_url = _database_url(pg_dsn, self.name)
        self._password = password or secrets.token_urlsafe(18)
        self.env = self._environment(extra_env or {})
        self.component_env = {name: dict(env) for name, env in (component_env or {}).items()}
        for name in self.component_env:
            if name not in COMPONENTS:
                raise ValueError(f"component_env names {name!r}, which is none of {', '.join(COMPONENTS)}")
        self.client = AirflowRestClient(self.api_url, username, self._password)
        self._processes: dict[str, subprocess.Popen] = {}
        self.started_pids: list[int] = []
        """Every component process ever started, each the leader of its own session and process group."""
        self._database_created = False
        self._stopped = False

    def _step(self, line: str) -> None:
        if self._on_step is not None:
            self._on_step(line)

    @property
    def password(self) -> str:
        """The user's password (for the person at the terminal; never logged by this module)."""
        return self._password

    def __repr__(self) -> str:
        return f"AirflowDeployment({self.name}, executor={self.executor!r}, api={self.api_url}, workdir={self.workdir})"

    # -- configuration --------------------------------------------------------

    def _environment(self, extra_env: Mapping[str, str]) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_PREFIXES)}
        ours = {
            MARKER_VAR: self.name,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database_url,
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:ADMIN",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self._passwords_file),
            "AIRFLOW__API__HOST": self._api_host,
            "AIRFLOW__API__PORT": str(self._api_port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": self.execution_api_url,
            # Other deployments (other tests, other engineers) run on this machine at the same
            # time: no fixed ports.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port("127.0.0.1")),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port("127.0.0.1")),
            # Fast loops: a new DAG file is seen within seconds, a triggered run is scheduled within
            # about a second (scheduler_idle_sleep_time), and liveness shows up quickly in the job table.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            # (The default, stated because tests rely on it: nothing runs until a test unpauses a DAG.)
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        }
        return {**base, **ours, **dict(extra_env)}

    # -- lifecycle ------------------------------------------------------------

    def __enter__(self) -> AirflowDeployment:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        """Create the database, migrate it, start every component and wait until it is ready.

        On failure the deployment is left for :meth:`stop` (the context manager and the fixture call it).
        """
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Written before any component starts, so SimpleAuthManager finds the user's password
        # instead of generating one.
        self._passwords_file.write_text(json.dumps({self.username: self._password}) + "\n")
        self._passwords_file.chmod(0o600)

        self._admin(f'CREATE DATABASE "{self.name}"')
        self._database_created = True
        self._step(f"created the metadata database {self.name}")
        started = self._clock.monotonic()
        self._migrate()
        self._step(f"airflow db migrate: done in {self._clock.monotonic() - started:.0f} s")
        for component in self.components:
            pid = self.start_component(component, wait=False)
            self._step(f"started airflow {component} (pid {pid}, log {self.log_path(component)})")
        self.wait_until_ready()
        self._step(f"healthy: {', '.join(self.components)} ({self.api_url})")
        self.wait_for_dags(self.dag_ids)
        if self.dag_ids:
            self._step(f"parsed: {', '.join(self.dag_ids)}")

    def stop(self, *, timeout: float = 20.0) -> None:
        """SIGTERM every component, SIGKILL what is left of its session, drop the database. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            for component in STOP_ORDER:
                if component in self._processes:
                    code = self.stop_component(component, timeout=timeout)
                    self._step(f"stopped airflow {component} (exit code {code})")
            self._kill_survivors(timeout=timeout)
        finally:
            self.client.close()
            if self._database_created:
                self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
                self._step(f"dropped the metadata database {self.name}")

    def _migrate(self) -> None:
        log_path = self.log_dir / "db-migrate.log"
        with open(log_path, "ab") as log:
            result = subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=self.env,
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=self.startup_timeout,
                start_new_session=True,
            )
        if result.returncode != 0:
            raise DeploymentError(
                f"`airflow db migrate` failed with exit code {result.returncode} for {self!r}:\n"
                f"{_tail(log_path)}"
            )

    # -- single components ----------------------------------------------------

    def start_component(self, component: str, *, wait: bool = True) -> int:
        """Start one component in a new session (its own process group); return its pid.

        :param wait: wait until it is ready: the api-server answers its health check, the others
            have recorded a new running job in the ``job`` table.
        """
        self._check_component(component)
        if component in self._processes and self._processes[component].poll() is None:
            raise DeploymentError(f"{component} of {self!r} is already running (pid {self._processes[component].pid})")
        previous_job = self._latest_job_id(component) if wait and component in JOB_TYPES else None
        argv = [sys.executable, "-m", "airflow", component]
        if component == "api-server":
            argv += ["--host", self._api_host, "--port", str(self._api_port)]
        log_path = self.log_path(component)
        with open(log_path, "ab") as log:
            log.write(f"\n===== harness: starting {' '.join(argv[2:])} =====\n".encode())
            log.flush()
            process = subprocess.Popen(
                argv,
                env={**self.env, **self.component_env.get(component, {})},
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_terminate_with_parent,
            )
        self._processes[component] = process
        self.started_pids.append(process.pid)
        if wait:
            if component == "api-server":
                self._wait(lambda: self._api_healthy(), "the api-server to answer its health check")
            else:
                self._wait(
                    lambda: (self._latest_running_job_id(component) or 0) > (previous_job or 0),
                    f"{component} to record a running {JOB_TYPES[component]}",
                )
        return process.pid

    def stop_component(self, component: str, *, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        """Stop one component: send ``sig`` to its process group, wait, SIGKILL what is left of its session.

        With ``sig=signal.SIGKILL`` every process of the component's session, task processes in their
        own groups included, is killed at once, as a crash of its machine would.  Otherwise the leader
        gets ``timeout`` seconds to shut down (the scheduler waits for the LocalExecutor's running tasks),
        then the rest of its session the same again.
        Returns the component's exit code (None if it was not running).
        """
        self._check_component(component)
        process = self._processes.pop(component, None)
        if process is None:
            return None
        session = process.pid
        if sig == signal.SIGKILL:
            self._kill(self._processes_of(sessions={session}))
        elif process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(session, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill(self._processes_of(sessions={session}))
            process.wait(timeout)
        self._wait_or_kill(lambda: self._processes_of(sessions={session}), timeout)
        return process.returncode

    def restart_component(self, component: str, *, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        """Stop the component with ``sig`` and start it again; waits until the new one is ready."""
        self.stop_component(component, sig=sig, timeout=timeout)
        return self.start_component(component)

    def pid(self, component: str) -> int | None:
        """The pid of the running component (also its process group and session id), or None."""
        process = self._processes.get(component)
        return process.pid if process is not None and process.poll() is None else None

    def log_path(self, component: str) -> Path:
        return self.log_dir / f"{component}.log"

    def log_tail(self, component: str, lines: int = 60) -> str:
        return _tail(self.log_path(component), lines)

    def _check_component(self, component: str) -> None:
        if component not in self.components:
            raise ValueError(f"unknown component {component!r} for {self!r}; it runs {', '.join(self.components)}")

    # -- readiness ------------------------------------------------------------

    def wait_until_ready(self, timeout: float | None = None) -> None:
        """Wait until the api-server is healthy and every other component heartbeats."""
        expected = {"metadatabase"} | {c.replace("-", "_") for c in self.components if c in JOB_TYPES}
        self._wait(
            lambda: self._api_healthy(expected),
            f"the health check to report {', '.join(sorted(expected))} healthy",
            timeout=timeout,
        )

    def wait_for_dags(self, dag_ids: Sequence[str] = (), timeout: float | None = None) -> list[dict]:
        """Wait until the DAGs are parsed (any DAG if none named).

        With ``strict_imports`` an import error in any file fails at once; without, only the named DAGs
        count, and the import errors are shown if they do not appear in time.
        """

        def details(errors: list[dict]) -> str:
            return "\n".join(f"{e['filename']}:\n{e['stack_trace']}" for e in errors)

        def parsed():
            if self.strict_imports and (errors := self.client.import_errors()):
                raise DeploymentError(f"DAG import errors in {self.dags_folder}:\n{details(errors)}")
            dags = self.client.dags()
            ids = {d["dag_id"] for d in dags}
            return dags if (set(dag_ids) <= ids if dag_ids else ids) else None

        what = f"DAGs {', '.join(dag_ids)}" if dag_ids else "a DAG"
        try:
            return self._wait(parsed, f"{what} from {self.dags_folder} to be parsed", timeout=timeout,
                              show="dag-processor")
        except DeploymentError as exc:
            if self.strict_imports or not (errors := self.client.import_errors()):
                raise
            raise DeploymentError(f"{exc}\nDAG import errors in {self.dags_folder}:\n{details(errors)}") from None

    def _api_healthy(self, expected: set[str] = frozenset({"metadatabase"})) -> bool:
        try:
            health = self.client.health()
        except httpx.HTTPError:
            return False
        return all((health.get(part) or {}).get("status") == "healthy" for part in expected)

    def _wait(self, condition, what: str, *, timeout: float | None = None, show: str | None = None):
        """Poll ``condition`` until it returns something truthy; fail fast if a component died."""
        deadline = self._clock.monotonic() + (timeout if timeout is not None else self.startup_timeout)
        while True:
            result = condition()
            if result:
                return result
            self._check_alive(what)
            if self._clock.monotonic() >= deadline:
                logs = "\n".join(
                    f"--- {c} log ends:\n{self.log_tail(c, 30)}" for c in ([show] if show else self.components)
                )
                raise DeploymentError(f"{self!r}: timed out waiting for {what}\n{logs}")
            self._clock.sleep(0.5)

    def _check_alive(self, what: str) -> None:
        """Fail at once, with its log, if a component that was not stopped on purpose has exited."""
        for component, process in self._processes.items():
            if process.poll() is not None:
                raise DeploymentError(
                    f"{self!r}: {component} exited with code {process.returncode} while waiting for {what}; "
                    f"its log ends:\n{self.log_tail(component)}"
                )

    # -- DAG runs -------------------------------------------------------------

    def trigger(self, dag_id: str, *, conf: Mapping[str, Any] | None = None, run_id: str | None = None) -> str:
        """Unpause the DAG and trigger a run of it; return the run id."""
        self.client.unpause(dag_id)
        return self.client.trigger_dag_run(dag_id, conf=conf, run_id=run_id)

    def wait_for_dag_run(self, dag_id: str, run_id: str, *, timeout: float = 120.0) -> dict:
        """Wait until the run is ``success`` or ``failed``; return it.

        On timeout the error shows the run's state, every task instance's state and the scheduler's log tail.
        """
        deadline = self._clock.monotonic() + timeout
        state = "unknown"
        while True:
            try:
                run = self.client.dag_run(dag_id, run_id)
            except httpx.TimeoutException as exc:
                # A busy api-server answers one poll late: the next poll asks again; the deadline still holds.
                state = f"unknown (the api-server's answer timed out: {type(exc).__name__})"
            else:
                if run["state"] in TERMINAL_DAG_RUN_STATES:
                    return run
                state = repr(run["state"])
            self._check_alive(f"DAG run {dag_id}/{run_id} to end")
            if self._clock.monotonic() >= deadline:
                tis = "\n".join(f"  {ti}" for ti in self.task_instances(dag_id, run_id)) or "  (none)"
                scheduler = self.log_tail("scheduler", 40) if "scheduler" in self.components else ""
                raise DeploymentError(
                    f"DAG run {dag_id}/{run_id} is still {state} after {timeout:g} s on {self!r}.\n"
                    f"Task instances:\n{tis}\n--- scheduler log ends:\n{scheduler}"
                )
            self._clock.sleep(0.5)

    def task_instances(self, dag_id: str, run_id: str) -> list[TaskInstanceInfo]:
        """The run's task instances from REST, with ``external_executor_id`` from the database."""
        external_ids = dict(
            self.query(
                "SELECT id::text, external_executor_id FROM task_instance WHERE dag_id = %s AND run_id = %s",
                (dag_id, run_id),
            )
        )
        return sorted(
            (
                TaskInstanceInfo(
                    task_id=ti["task_id"],
                    map_index=ti["map_index"],
                    state=ti["state"],
                    try_number=ti["try_number"],
                    executor=ti["executor"],
                    external_executor_id=external_ids.get(ti["id"]),
                    hostname=ti["hostname"],
                    id=ti["id"],
                )
                for ti in self.client.task_instances_json(dag_id, run_id)
            ),
            key=lambda ti: (ti.task_id, ti.map_index),
        )

    # -- database and processes -----------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Run one read-only statement on the deployment's database."""
        with contextlib.closing(psycopg2.connect(_libpq_url(self._admin_dsn, self.name))) as connection:
            connection.set_session(readonly=True, autocommit=True)
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return cursor.fetchall()

    def database_exists(self) -> bool:
        with contextlib.closing(psycopg2.connect(self._admin_dsn)) as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.name,))
                return cursor.fetchone() is not None

    def surviving_processes(self, *, session: int | None = None) -> list[int]:
        """Pids of the live processes of this deployment, found in ``/proc``.

        :param session: only those of one component: its pid, which is its session id.
        """
        return self._processes_of(sessions=None if session is None else {session})

    def _processes_of(self, *, sessions: set[int] | None = None) -> list[int]:
        """Live processes in ``sessions`` (by default: of every component started), or carrying our marker."""
        whole_deployment = sessions is None
        sessions = set(self.started_pids) if whole_deployment else sessions
        marker = f"{MARKER_VAR}={self.name}\0".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                # Fields after the parenthesised command: state, ppid, pgrp, session, ...
                state, _, _, sid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:4]
                if state == "Z":
                    continue  # it has ended; only its exit status is left to collect
                if int(sid) in sessions or (whole_deployment and marker in (entry / "environ").read_bytes()):
                    found.append(int(entry.name))
            except OSError:
                continue  # ended while we looked, or not ours to read
        return found

    def _kill_survivors(self, timeout: float) -> None:
        """SIGKILL what is left of the deployment after its components were stopped."""
        self._wait_or_kill(self._processes_of, timeout)

    @staticmethod
    def _kill(pids: Sequence[int]) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _wait_or_kill(self, find, timeout: float) -> None:
        deadline = self._clock.monotonic() + timeout
        while find() and self._clock.monotonic() < deadline:
            self._clock.sleep(0.2)
        self._kill(find())
        deadline = self._clock.monotonic() + timeout
        while (left := find()) and self._clock.monotonic() < deadline:
            self._clock.sleep(0.1)
        if left:
            raise DeploymentError(f"processes {left} of {self!r} survived SIGKILL")

    def _latest_job_id(self, component: str) -> int | None:
        rows = self.query("SELECT max(id) FROM job WHERE job_type = %s", (JOB_TYPES[component],))
        return rows[0][0]

    def _latest_running_job_id(self, component: str) -> int | None:
        rows = self.query(
            "SELECT max(id) FROM job WHERE job_type = %s AND state = 'running'", (JOB_TYPES[component],)
        )
        return rows[0][0]

    def _admin(self, statement: str) -> None:
        with contextlib.closing(psycopg2.connect(self._admin_dsn)) as connection:
            connection.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(statement)


@contextlib.contextmanager
def airflow_deployment(**kwargs: Any) -> Iterator[AirflowDeployment]:
    """Start an :class:`AirflowDeployment` (same arguments) and stop it at the end, also when starting failed."""
    deployment = AirflowDeployment(**kwargs)
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


# -- helpers ------------------------------------------------------------------


_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _terminate_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies without stopping the deployment,
    so a killed pytest leaves no Airflow running on the shared machine.

    Linux sends it when the *thread* that started the child ends: start components from a thread that
    lives as long as the deployment (the main thread, normally).
    """
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _libpq_url(dsn: str, database: str) -> str:
    parts = urllib.parse.urlsplit(dsn)
    return urllib.parse.urlunsplit(parts._replace(path=f"/{database}"))


def _database_url(dsn: str, database: str) -> str:
    """The SQLAlchemy URL Airflow needs for ``database`` on the server of ``dsn``."""
    parts = urllib.parse.urlsplit(_libpq_url(dsn, database))
    return urllib.parse.urlunsplit(parts._replace(scheme="postgresql+psycopg2"))


def _mask_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _tail(path: Path, lines: int = 60) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"


__all__ = [
    "MARKER_VAR",
    "AirflowDeployment",
    "AirflowRestClient",
    "COMPONENTS",
    "DeploymentError",
    "TaskInstanceInfo",
    "TaskLog",
    "airflow_deployment",
]
