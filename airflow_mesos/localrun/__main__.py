"""``python -m airflow_mesos.localrun`` (what ``scripts/run-local`` runs): Airflow on the embedded Mesos.

It starts, each in a session of its own and each step logged in one line:

1. the project image (``airflow-mesos image build --local-base``) when it is missing or stale, if a Docker
   engine answers (``DOCKER_HOST``): tasks then run as containers (``container_type mesos``); without one they
   run as processes on the agents (``container_type process``), and it says so;
2. a throwaway PostgreSQL (the metadata database, and a warehouse database for the clickstream example);
3. an S3-compatible server (moto's server mode) with the buckets for task logs and example data;
4. the embedded Mesos cluster (``python -m airflow_mesos.local``) with three agents of different sizes and
   attributes (``rack`` r1/r2, ``zone``, one with a GPU) on 127.0.0.1-3;
5. Airflow 3.3: ``db migrate``, the api-server, the scheduler with the MesosExecutor, the dag-processor and the
   triggerer, with ``dags/``;

then triggers an example DAG, shows its progress (tasks done / total, what waits for Mesos and why: the
executor's ``mesos waiting`` event log rows), prints the result, the UI address and the login, and runs until
Ctrl-C (``--once``: exits with the DAG run's result).  Stopping stops everything it started and removes what it
made: no process, container, temporary folder or database is left.

Exit codes: 0 the DAG run succeeded (or Ctrl-C after a result); 1 it failed or did not end in time; 2 bad
usage; 3 something could not start; 130 interrupted before the result.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from airflow_mesos.localrun import progress
from airflow_mesos.localrun.deployment import AirflowDeployment, DeploymentError
from airflow_mesos.localrun.services import Child, MotoS3, ServiceError, ThrowawayPostgres, port_is_free
from airflow_mesos.localrun.services import free_port, session_processes, wait_until

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
REPO_PLUGINS = REPO / "plugins"
QUICKSTART_DAG = "example_mesos_quickstart"
RESOURCES_DAG = "example_mesos_resources"
AGENTS = (
    "cpus=2,mem=4096,disk=20000,attributes=rack:r1;zone:a",
    "cpus=4,mem=8192,disk=40000,attributes=rack:r2;zone:b",
    "cpus=4,mem=8192,disk=40000,gpus=1,attributes=rack:r2;zone:c",
)
LOG_BUCKET, DATA_BUCKET = "airflow-task-logs", "clickstream-archive"
FRAMEWORK_NAME = "airflow"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_START, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class Interrupted(Exception):
    """Ctrl-C or SIGTERM."""


def log(line: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {line}", flush=True)


class _OneLineErrors(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (--help lists the options)\n")


def build_parser(prog: str = "scripts/run-local") -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog=prog, description="Airflow 3.3 with the MesosExecutor on the embedded Mesos "
                                                   "cluster: start everything, run an example DAG, show it.")
    parser.add_argument("--once", action="store_true",
                        help="run the DAG once, stop everything and exit with its result (0 success, 1 failed)")
    parser.add_argument("--dag", metavar="DAG_ID", default=None,
                        help=f"the DAG to trigger (default: {RESOURCES_DAG} when tasks run as containers and it "
                             f"is in dags/, else {QUICKSTART_DAG})")
    parser.add_argument("--tasks", choices=("auto", "docker", "process"), default="auto",
                        help="how tasks run: docker (containers of the project image; needs a Docker engine), "
                             "process (plain processes on the agents), auto (docker where an engine answers; "
                             "the default)")
    parser.add_argument("--api-port", type=_port, default=None, metavar="PORT",
                        help="the Airflow UI's port (default 8080 when free, else a free one)")
    parser.add_argument("--timeout", type=_seconds, default=900.0, metavar="SECONDS",
                        help="how long the DAG run may take before it counts as failed (default 900)")
    return parser


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def choose_dag(requested: str | None, docker: bool, dags_folder: Path) -> str:
    """The DAG to trigger: the one asked for; else the resources example where containers run (it mounts
    volumes, which a process task cannot have) and it exists; else the quickstart."""
    if requested:
        return requested
    if docker and (dags_folder / f"{RESOURCES_DAG}.py").exists():
        return RESOURCES_DAG
    return QUICKSTART_DAG


def _docker_client():
    """A client of the engine at DOCKER_HOST, or None with why not."""
    try:
        import docker

        client = docker.from_env()
        client.ping()
        return client, None
    except Exception as exc:  # the SDK raises several unrelated types when no engine answers
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


def _installed(distribution: str) -> bool:
    """Whether a package is installed, without importing it (importing airflow would write an airflow.cfg)."""
    import importlib.metadata

    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _module_exists(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


class LocalRun:
    """One run: what it started, in order, so that :meth:`stop` undoes exactly that."""

    def __init__(self, args: argparse.Namespace, *, say: Callable[[str], None] = log) -> None:
        self.args = args
        self.say = say
        self.run_id = os.environ.get("AIRFLOW_MESOS_RUN_ID") or f"localrun-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        # Every container the agents start carries this label (airflow_mesos/run_labels.py).
        os.environ["AIRFLOW_MESOS_RUN_ID"] = self.run_id
        self.workdir: Path | None = None
        self.docker = None
        self.image: str | None = None
        self.postgres: ThrowawayPostgres | None = None
        self.s3: MotoS3 | None = None
        self.cluster: Child | None = None
        self.master_url: str | None = None
        self.airflow: AirflowDeployment | None = None
        self.scratch_volume = f"airflow-mesos-localrun-scratch-{self.run_id}"
        self.dag_id: str | None = None
        self.result: dict | None = None

    # -- start ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="airflow-mesos-localrun-"))
        # Readable to the postgres user and to the task containers' uid (they write the log folder).
        self.workdir.chmod(0o755)
        self.say(f"run {self.run_id}: working folder {self.workdir} (removed at the end)")
        self._tasks_mode()
        self._postgres()
        self._s3()
        self._cluster()
        self._airflow()

    def _tasks_mode(self) -> None:
        mode = self.args.tasks
        client, why_not = (None, "--tasks process") if mode == "process" else _docker_client()
        if client is None and mode == "docker":
            raise ServiceError(f"--tasks docker: no Docker engine answers at DOCKER_HOST="
                               f"{os.environ.get('DOCKER_HOST', '(unset)')} ({why_not})")
        self.docker = client
        if client is None:
            self.say(f"tasks run as processes on the agents (container_type process): no Docker engine ({why_not})")
            return
        from airflow_mesos.image import DEFAULT_TAG, ensure_image
        from airflow_mesos.local.images import ensure_python_image

        self.say(f"tasks run as Docker containers of {DEFAULT_TAG} (container_type mesos), engine at "
                 f"{os.environ.get('DOCKER_HOST', 'the default socket')}")
        base = ensure_python_image(client)
        build_log = self.workdir / "image-build.log"
        with open(build_log, "a", encoding="utf-8") as handle:
            started = time.monotonic()
            self.say(f"image {DEFAULT_TAG}: checking against the checkout (a build logs to {build_log})")
            self.image, what = ensure_image(client, base_image=base, tag=DEFAULT_TAG,
                                            on_log=lambda line: handle.write(line + "\n"))
        self.say(f"image {DEFAULT_TAG}: {what}" + (f" in {time.monotonic() - started:.0f} s"
                                                    if what.startswith("built") else ""))

    def _postgres(self) -> None:
        # Kept before starting, so an interruption half-way still stops what did start.
        self.postgres = ThrowawayPostgres(self.workdir / "postgres")
        self.postgres.start()
        self.warehouse = self.postgres.create_database("clickstream")
        self.say(f"PostgreSQL on 127.0.0.1:{self.postgres.port} (pid {self.postgres.child.pid}; throwaway: its "
                 "data folder goes at the end)")

    def _s3(self) -> None:
        self.s3 = MotoS3(self.workdir / "logs" / "moto.log")
        self.s3.start(buckets=(LOG_BUCKET, DATA_BUCKET))
        self.say(f"S3 (moto) on {self.s3.endpoint} (pid {self.s3.child.pid}), buckets {LOG_BUCKET}, {DATA_BUCKET}")

    def _cluster(self) -> None:
        argv = [sys.executable, "-m", "airflow_mesos.local", "run", "--port", "0",
                "--work-dir", str(self.workdir / "mesos")]
        for spec in AGENTS:
            argv += ["--agent", spec]
        self.cluster = Child("mesos", argv, log_path=self.workdir / "logs" / "mesos.log")
        self.cluster.start()

        def lines() -> list[str] | None:
            text = self.cluster.log_path.read_text(errors="replace") if self.cluster.log_path.exists() else ""
            found = [line for line in text.splitlines() if line.startswith(("master: ", "agent "))]
            return found if len(found) > len(AGENTS) else None

        found = wait_until(lines, "the embedded Mesos cluster", timeout=60, child=self.cluster)
        self.master_url = found[0].split(": ", 1)[1].strip()
        self.say(f"Mesos master {self.master_url} (pid {self.cluster.pid}, log {self.cluster.log_path})")
        for line in found[1:]:
            self.say(f"  {line}")

    def _airflow(self) -> None:
        docker = self.docker is not None
        self.dag_id = choose_dag(self.args.dag, docker, DAGS)
        api_port = self.args.api_port or (8080 if port_is_free(8080) else free_port())
        if self.args.api_port and not port_is_free(api_port):
            raise ServiceError(f"--api-port {api_port}: the port is in use")
        logs = self.workdir / "logs" / "tasks"
        logs.mkdir(parents=True)
        logs.chmod(0o777)  # the task containers run as uid 50000 and write their logs here
        (self.workdir / "logs").chmod(0o755)
        volumes = [{"host_path": str(DAGS), "container_path": str(DAGS), "mode": "RO"},
                   {"host_path": str(logs), "container_path": str(logs), "mode": "RW"}]
        s3_connection = self.s3.connection_json()
        task_env = {"AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs)}
        env = {
            "AIRFLOW__MESOS__MASTER": self.master_url,
            "AIRFLOW__MESOS__FRAMEWORK_NAME": FRAMEWORK_NAME,
            "AIRFLOW__MESOS__CONTAINER_TYPE": "mesos" if docker else "process",
            "AIRFLOW__MESOS__REVIVE_MIN_INTERVAL": "1",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(logs),
            "AIRFLOW_CONN_TASK_LOGS_S3": s3_connection,
            "AIRFLOW_CONN_CLICKSTREAM_S3": s3_connection,
            "AIRFLOW_CONN_CLICKSTREAM_WAREHOUSE": self.warehouse,
            "MESOS_EXAMPLE_SCRATCH_VOLUME": self.scratch_volume,
            # The Mesos page in the Airflow UI (plugins/mesos_plugin.py).
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_PLUGINS),
        }
        if docker:
            env.update({"AIRFLOW__MESOS__IMAGE": self.image, "AIRFLOW__MESOS__VOLUMES": json.dumps(volumes),
                        "MESOS_EXAMPLE_IMAGE": self.image})
        if _module_exists("airflow_mesos.logging_config"):
            env["AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS"] = "airflow_mesos.logging_config.LOGGING_CONFIG"
        if _installed("apache-airflow-providers-amazon"):
            remote = {"AIRFLOW__LOGGING__REMOTE_LOGGING": "True",
                      "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER": f"s3://{LOG_BUCKET}/tasks",
                      "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID": "task_logs_s3"}
            env.update(remote)
            task_env.update(remote)
            self.say(f"task logs: to s3://{LOG_BUCKET}/tasks on the moto server (remote logging), and {logs}")
        else:
            self.say(f"task logs: {logs} (no S3 remote logging: apache-airflow-providers-amazon is not installed)")
        env["AIRFLOW__MESOS__ENV"] = json.dumps(task_env)
        self.airflow = AirflowDeployment(
            pg_dsn=self.postgres.dsn, workdir=self.workdir / "airflow", dags_folder=DAGS,
            executor="airflow_mesos.executor.MesosExecutor", extra_env=env, triggerer=True, parallelism=16,
            dag_ids=[self.dag_id], api_port=api_port, name_prefix="airflow_local", strict_imports=False,
            on_step=self.say, startup_timeout=300)
        self.airflow.start()
        for error in self.airflow.client.import_errors():
            first = (error.get("stack_trace") or "").strip().splitlines()[-1:] or [""]
            self.say(f"warning: {error.get('filename')} does not import: {first[0][:200]}")
        self.say_login()

    def status_command(self) -> str:
        """The ``airflow-mesos status`` command line for this run (its database URL has no password)."""
        return (f"AIRFLOW_HOME={self.airflow.home} AIRFLOW__DATABASE__SQL_ALCHEMY_CONN={self.airflow.database_url} "
                f"{Path(sys.executable).parent / 'airflow-mesos'} status --master {self.master_url}")

    def say_login(self) -> None:
        self.say(f"Airflow UI: {self.airflow.api_url}  login: {self.airflow.username} / {self.airflow.password}")

    # -- the DAG run ----------------------------------------------------------------------------------------
    def run_dag(self) -> dict:
        client = self.airflow.client
        run_id = self.airflow.trigger(self.dag_id)
        self.say(f"triggered {self.dag_id} (run {run_id}); progress follows")
        deadline = time.monotonic() + self.args.timeout
        shown: tuple[str, list[str]] | None = None
        watcher = _Watcher(self.master_url, self.airflow.database_url)
        try:
            while True:
                run = client.dag_run(self.dag_id, run_id)
                tis = client.task_instances_json(self.dag_id, run_id)
                now = (progress.progress_line(self.dag_id, tis),
                       progress.waiting_lines(watcher.waiting(), self.dag_id, run_id))
                if now != shown:
                    self.say(now[0])
                    for line in now[1]:
                        self.say(line)
                    shown = now
                if run["state"] in ("success", "failed"):
                    break
                if time.monotonic() > deadline:
                    self.say(f"the run did not end within --timeout {self.args.timeout:g} s")
                    break
                self.airflow._check_alive(f"{self.dag_id} to end")
                time.sleep(1.0)
            where = watcher.placements({(ti.task_id, ti.map_index): ti.external_executor_id
                                        for ti in self.airflow.task_instances(self.dag_id, run_id)})
        finally:
            watcher.close()
        for line in progress.result_lines(self.dag_id, run, tis, where):
            self.say(line)
        self.result = run
        return run

    # -- stop -----------------------------------------------------------------------------------------------
    def stop(self) -> list[str]:
        """Stop everything in reverse order of starting; return what was left behind (nothing, normally)."""
        left: list[str] = []
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("Airflow", lambda: self.airflow and self.airflow.stop()),
            ("the Mesos cluster", lambda: self.cluster and self._stopped(self.cluster)),
            ("the S3 server", lambda: self.s3 and self.s3.child.process and self._stopped(self.s3.child)),
            ("PostgreSQL", lambda: self.postgres and self.postgres.child and self._stopped(self.postgres.child)),
            ("containers", self._remove_containers),
        ]
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # stop the rest too, then say what went wrong
                left.append(f"stopping {what}: {type(exc).__name__}: {exc}")
        for name, pid in self.sessions():
            if pids := session_processes(pid):
                left.append(f"{name} (session {pid}): processes {pids} still run")
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            if self.workdir.exists():
                left.append(f"the working folder {self.workdir} could not be removed")
            else:
                self.say(f"removed {self.workdir}")
        return left

    def sessions(self) -> list[tuple[str, int]]:
        """Every session this run started (each child leads its own): what must be empty at the end."""
        found = [(child.name, child.pid) for child in (
            self.postgres and self.postgres.child, self.s3 and self.s3.child, self.cluster) if child and child.pid]
        if self.airflow is not None:
            found += [("airflow", pid) for pid in self.airflow.started_pids]
        return found

    def _stopped(self, child: Child) -> None:
        survivors = child.stop()
        self.say(f"stopped {child.name} (pid {child.pid})" + (f"; survivors {survivors}" if survivors else ""))

    def _remove_containers(self) -> None:
        if self.docker is None:
            return
        import docker.errors

        containers = self.docker.containers.list(all=True, filters={"label": f"airflow-mesos.run={self.run_id}"})
        for container in containers:
            container.remove(force=True)
        if containers:
            self.say(f"removed {len(containers)} container(s) the agents left")
        with contextlib.suppress(docker.errors.NotFound):
            self.docker.volumes.get(self.scratch_volume).remove(force=True)
            self.say(f"removed the Docker volume {self.scratch_volume}")
        left = self.docker.containers.list(all=True, filters={"label": f"airflow-mesos.run={self.run_id}"})
        if left:
            raise ServiceError(f"containers {[c.name for c in left]} of run {self.run_id} remain")


class _Watcher:
    """Reads what waits for Mesos and why (the status reading), for the progress lines; never raises."""

    def __init__(self, master_url: str, database_url: str) -> None:
        import sqlalchemy as sa
        from sqlalchemy.pool import NullPool

        from airflow_mesos.status.read import MasterReader

        self._reader = MasterReader(master_url, timeout=5)
        self._engine = sa.create_engine(database_url, poolclass=NullPool)

    def waiting(self):
        from airflow_mesos.status.read import collect

        try:
            snapshot = collect(self._reader, framework_name=FRAMEWORK_NAME, engine=self._engine)
        except Exception:  # progress is a courtesy: a failed look is skipped, the next one comes in a second
            return ()
        return snapshot.waiting or ()

    def placements(self, external_ids: dict) -> dict:
        try:
            tasks = self._reader.get("/master/tasks", {"limit": 1000})
            slaves = self._reader.get("/master/slaves")
        except Exception:  # the result is shown without the agents rather than not at all
            return {}
        return progress.placements(external_ids, tasks, slaves)

    def close(self) -> None:
        self._reader.close()
        self._engine.dispose()


def _raise_interrupted(signum: int, _frame: Any) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: list[str] | None = None, prog: str = "scripts/run-local") -> int:
    try:
        args = build_parser(prog).parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    run = LocalRun(args)
    code = EXIT_INTERRUPTED
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        try:
            run.start()
            result = run.run_dag()
            code = progress.exit_code(result)
            run.say_login()
            if not args.once:
                run.say("running until Ctrl-C; open the UI above, or see the cluster from another terminal:")
                run.say(f"  {run.status_command()}")
                while True:
                    time.sleep(3600)
        except Interrupted as exc:
            run.say(f"{exc}: stopping everything")
            if run.result is not None:
                code = progress.exit_code(run.result)
        except (ServiceError, DeploymentError) as exc:
            run.say(f"error: {exc}")
            code = EXIT_START
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, lambda *_: log("stopping already; a moment"))
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        left = run.stop()
        if left:
            for line in left:
                run.say(f"left behind: {line}")
        else:
            run.say("stopped everything it started: no process, container, temporary folder or database is left")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
