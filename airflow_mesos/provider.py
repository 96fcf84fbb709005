"""Airflow provider metadata (entry point ``apache_airflow_provider``).

Declares the package to ``airflow providers list`` and its ``[mesos]`` config
section to ``airflow config list --section mesos``.  Airflow 3.3 takes the
options' defaults from here (they are what ``conf.get("mesos", ...)`` returns
when nothing is configured) and every option marked ``sensitive`` gets the
``_cmd`` / ``_secret`` forms (``AIRFLOW__MESOS__SECRET_CMD``, ``[mesos]
secret_cmd``) and is masked in logs and ``airflow config list``.

This module is pure data and imports nothing heavy: Airflow imports it on
every ``airflow`` command.  :mod:`airflow_mesos.executor.settings` parses and
validates the options (and reads the defaults from :data:`MESOS_CONFIG_OPTIONS`,
so the documented default is the one used).
"""

from __future__ import annotations

import copy
from typing import Any

from airflow_mesos._version import __version__ as _PACKAGE_VERSION

__all__ = ["MESOS_CONFIG_OPTIONS", "MESOS_CONFIG_SECTION", "get_cli_commands", "get_provider_info"]

_VERSION_ADDED = "0.1.0"


def _option(
    description: str,
    type_: str,
    default: str | None,
    example: str | None,
    *,
    sensitive: bool = False,
) -> dict[str, Any]:
    option: dict[str, Any] = {
        "description": description,
        "version_added": _VERSION_ADDED,
        "type": type_,
        "default": default,
        "example": example,
    }
    if sensitive:
        option["sensitive"] = True
    return option


MESOS_CONFIG_OPTIONS: dict[str, dict[str, Any]] = {
    "master": _option(
        "Where the Mesos masters are: a comma-separated list of master URLs, tried in turn (a non-leading "
        "master redirects to the leader), or a ZooKeeper address ``zk://host:port[,host:port]/path`` in which "
        "the masters elect their leader. A bare ``host[:port]`` means ``http://host:port`` (port 5050).",
        "string",
        "http://127.0.0.1:5050",
        "zk://zk1:2181,zk2:2181,zk3:2181/mesos",
    ),
    "framework_name": _option(
        "The framework name the executor registers with Mesos (shown in the Mesos UI and in "
        "``/master/frameworks``).",
        "string",
        "airflow",
        "airflow-prod",
    ),
    "role": _option(
        "The Mesos role(s) the framework subscribes with, comma-separated. The first is the role of every "
        "task that does not choose one (``executor_config={'mesos': {'role': ...}}``); a task may choose "
        "any role of this list.",
        "string",
        "*",
        "airflow,airflow-gpu",
    ),
    "principal": _option(
        "The principal the framework authenticates as (HTTP basic authentication against the masters, and "
        "``FrameworkInfo.principal``). Unset: no authentication.",
        "string",
        None,
        "airflow",
    ),
    "secret": _option(
        "The secret of ``principal``. Sensitive: prefer ``secret_cmd`` (a command printing it), "
        "``secret_secret`` (a secrets-backend key) or the ``AIRFLOW__MESOS__SECRET_CMD`` / "
        "``AIRFLOW__MESOS__SECRET_SECRET`` environment variables to writing it into airflow.cfg.",
        "string",
        None,
        "cat /run/secrets/mesos-secret",
        sensitive=True,
    ),
    "ca_file": _option(
        "A PEM file of CA certificates that sign the masters' TLS certificates (for ``https://`` masters "
        "with a private CA). Unset: the system's CA bundle.",
        "string",
        None,
        "/etc/ssl/mesos-ca.pem",
    ),
    "checkpoint": _option(
        "Ask the agents to checkpoint the framework's tasks, so tasks survive an agent restart.",
        "boolean",
        "True",
        "False",
    ),
    "failover_timeout": _option(
        "Seconds Mesos keeps the framework and its running tasks after the scheduler disconnects. A "
        "scheduler that comes back within this time re-subscribes under the same framework id and adopts "
        "its running tasks; after it, Mesos kills them.",
        "float",
        "604800",
        "86400",
    ),
    "container_type": _option(
        "How tasks run on the agents: ``mesos`` runs ``image`` with the Mesos containerizer (the only one "
        "that can hand the task its Execution API token as a Mesos secret); ``docker`` runs ``image`` with "
        "the Docker containerizer (needs ``allow_plain_token_for_docker``); ``process`` runs ``python`` "
        "as a plain process on the agent, without a container image.",
        "string",
        "mesos",
        "process",
    ),
    "image": _option(
        "The default container image of tasks (Airflow 3.3.2 with this package, the task SDK and what the "
        "DAGs need). Unused by ``container_type = process``.",
        "string",
        # The image this release builds (airflow_mesos.image.DEFAULT_TAG).
        f"airflow-mesos/airflow:{_PACKAGE_VERSION}",
        f"registry.example.com/airflow-mesos/airflow:{_PACKAGE_VERSION}",
    ),
    "force_pull": _option(
        "Pull the image on every launch, even when the agent has it (use with moving tags).",
        "boolean",
        "False",
        "True",
    ),
    "cpus": _option("Default CPUs of a task (> 0; fractions allowed).", "float", "1.0", "0.5"),
    "mem": _option("Default memory of a task, MiB (> 0).", "float", "1024", "4096"),
    "disk": _option("Default sandbox disk of a task, MiB (>= 0).", "float", "1024", "10240"),
    "gpus": _option(
        "Default GPUs of a task, a whole number (>= 0). GPUs need the Mesos containerizer "
        "(``container_type`` ``mesos`` or ``process``).",
        "integer",
        "0",
        "1",
    ),
    "network": _option(
        "The network of task containers: ``host`` (the agent's network), or the name of a Docker network "
        "(``container_type = docker``) or of a CNI network (``container_type = mesos``).",
        "string",
        "host",
        "airflow-net",
    ),
    "volumes": _option(
        "Volumes mounted into every task, a JSON list. Each item is a host directory "
        '``{"host_path": "/srv/data", "container_path": "/data", "mode": "RO"}`` (mode RO or RW, default RW), '
        'a named Docker volume ``{"docker_volume": "pgdata", "driver": "rexray", "driver_options": '
        '{"size": "10"}, "container_path": "/pg", "mode": "RW"}``, or the short string '
        '``"/srv/data:/data:ro"``. A task volume with the same container_path replaces the default one. '
        "They apply to container tasks; a task with container_type process gets none of them.",
        "string",
        "[]",
        '["/srv/airflow/data:/data:ro", {"docker_volume": "scratch", "container_path": "/scratch"}]',
    ),
    "env": _option(
        "Environment variables of every task, a JSON object of names to string values. Only non-secret "
        "values: Airflow's own secrets (database URL, fernet key, JWT and API secret keys) are refused, as a "
        "task never needs them; use Airflow connections and variables, which tasks read through the "
        "Execution API.",
        "string",
        "",
        '{"TZ": "UTC", "PIP_INDEX_URL": "https://pypi.example.com/simple"}',
    ),
    "refuse_seconds": _option(
        "Seconds Mesos should not offer again the resources of a declined offer (the decline filter).",
        "float",
        "5",
        "30",
    ),
    "revive_min_interval": _option(
        "Least seconds between two REVIVE calls (asking Mesos for offers again when tasks are waiting).",
        "float",
        "0.5",
        "5",
    ),
    "offer_hold_seconds": _option(
        "Seconds to keep offers that no task waits for before declining them (and suppressing offers once "
        "nothing was queued for as long): a task queued meanwhile launches into an offer in hand instead of "
        "waiting for a REVIVE and the master's next allocation round, as Apache Aurora holds offers. Other "
        "frameworks do not get those resources while they are held. 0 declines them at once.",
        "float",
        "5",
        "0",
    ),
    "task_api_url": _option(
        "The Airflow Execution API URL as the tasks on the agents reach it (given to every task as "
        "``AIRFLOW__CORE__EXECUTION_API_SERVER_URL``). Unset: ``[core] execution_api_server_url``; one of "
        "the two is required, as ``localhost`` on an agent is not the api-server.",
        "string",
        None,
        "http://airflow-api.marathon.mesos:8080/execution/",
    ),
    "framework_user": _option(
        "``FrameworkInfo.user``: the OS user tasks run as on the agents. Unset: the user running the "
        "scheduler.",
        "string",
        None,
        "airflow",
    ),
    "python": _option(
        "The Python interpreter of ``container_type = process`` tasks on the agents (it must have Airflow "
        "3.3.2 installed). Unset: the scheduler's own interpreter path.",
        "string",
        None,
        "/opt/airflow/venv/bin/python",
    ),
    "dags_folder": _option(
        "The DAGs folder as the tasks see it (in the image, a volume, or on the agents). Unset: "
        "``[core] dags_folder``.",
        "string",
        None,
        "/opt/airflow/dags",
    ),
    "unreachable_grace": _option(
        "Seconds a task may stay TASK_UNREACHABLE (its agent partitioned from the master) before it is "
        "failed; it may come back within this time.",
        "float",
        "300",
        "900",
    ),
    "partition_aware": _option(
        "Subscribe as a PARTITION_AWARE framework: a task whose agent is partitioned from the master is "
        "TASK_UNREACHABLE and may come back (the executor waits unreachable_grace for it). When False, Mesos "
        "reports such tasks TASK_LOST at once and Airflow retries them.",
        "boolean",
        "True",
        "False",
    ),
    "reconcile_grace": _option(
        "Seconds after a (re)subscription during which Mesos' reconciliation saying a launched task is "
        "LOST or UNKNOWN is not believed at once: right after a master failover Mesos may say so of tasks "
        "that still run until their agents re-register (MESOS-6250). The task is asked about again and "
        "fails only if Mesos still does not know it after this time.",
        "float",
        "120",
        "300",
    ),
    "adopt_timeout": _option(
        "Seconds a new scheduler waits for Mesos to say which of an earlier scheduler's tasks it still "
        "knows before adopting them (the tasks Mesos does not know are handed back to Airflow to run "
        "again). Without an answer in time, every task with a Mesos task id is adopted and reconciled later.",
        "float",
        "30",
        "60",
    ),
    "placement_timeout": _option(
        "Seconds after which a queued task that no agent of the cluster could ever hold (it asks more "
        "than any agent has, or its constraints rule out every agent) fails with the reason. 0 turns it "
        "off. Tasks that only wait for busy agents are never failed by this.",
        "float",
        "300",
        "120",
    ),
    "health_check_port": _option(
        "Port of the scheduler's Mesos health endpoint (GET /health): 200 while the executor is connected "
        "to Mesos and Airflow's scheduler loop calls it, 503 with the reason when it has been disconnected "
        "for longer than health_disconnect_threshold, another scheduler took the framework over, or the "
        "scheduler loop stalled. Empty: no endpoint. Point Marathon's health check at it.",
        "integer",
        None,
        "8975",
    ),
    "health_disconnect_threshold": _option(
        "Seconds without a Mesos subscription (or without a scheduler loop) after which the health "
        "endpoint answers 503.",
        "float",
        "300",
        "120",
    ),
    "kill_grace_period": _option(
        "Seconds between SIGTERM and SIGKILL when a task is killed (revoked or timed out).",
        "float",
        "30",
        "60",
    ),
    "token_remint_fraction": _option(
        "Re-mint a task's workload token at launch when the task waited for an offer longer than this share "
        "of the token's lifetime (0 to 1: 0 re-mints always, 1 only once it has expired).",
        "float",
        "0.5",
        "0.25",
    ),
    "allow_plain_token_for_docker": _option(
        "With ``container_type = docker`` Mesos cannot deliver secrets, so the executor refuses to start "
        "unless this is True. True puts the task's Execution API token into a plain environment variable, "
        "visible to whoever can inspect containers or read the agent's state: weaker than ``mesos``.",
        "boolean",
        "False",
        "True",
    ),
    "request_timeout": _option(
        "Seconds to wait for a call to the Mesos master or an agent.",
        "float",
        "30",
        "60",
    ),
    "task_log_max_bytes": _option(
        "How many bytes of a running task's stdout the UI's log view reads from the agent (the last ones).",
        "integer",
        "1048576",
        "4194304",
    ),
    "warm_workers": _option(
        "Run tasks in warm workers: a Mesos custom executor (``python -m airflow_mesos.warm``) that stays up "
        "on the agent with Airflow's worker imported once and starts each task from it, instead of one fresh "
        "Python per task (2 to 3.5 CPU-seconds of imports each). One such executor runs per agent, framework, "
        "image and role; its own resources are ``warm_executor_cpus`` and ``warm_executor_mem``. Tasks with "
        "``container_type = docker`` or with gpus always run as plain command tasks. A task can opt out "
        "(or in) with ``executor_config={'mesos': {'warm': False}}``.",
        "boolean",
        "True",
        "True",
    ),
    "warm_executor_cpus": _option(
        "CPUs of a warm executor itself (> 0), beside its tasks' own: Mesos accounts an executor's resources "
        "separately, once per agent while it runs.",
        "float",
        "0.1",
        "0.25",
    ),
    "warm_executor_mem": _option(
        "Memory of a warm executor itself, MiB (> 0), beside its tasks' own: the executor process holds "
        "Airflow's worker imported (its resident memory, measured, is what this must cover).",
        "float",
        "256",
        "384",
    ),
    "warm_idle_timeout": _option(
        "Seconds a warm executor with no task stays up before it exits and gives its resources back (>= 0; "
        "0 exits as soon as its last task is done); the next task on that agent then starts a new one.",
        "float",
        "60",
        "600",
    ),
}
"""The ``[mesos]`` options, in Airflow's provider config schema."""

MESOS_CONFIG_SECTION: dict[str, Any] = {
    "description": "The MesosExecutor: how to reach Mesos and how task instances run as Mesos tasks. "
    "Per task, executor_config={'mesos': {...}} overrides the task defaults (cpus, mem, disk, gpus, image, "
    "force_pull, container_type, volumes, env, constraints, role, warm).",
    "options": MESOS_CONFIG_OPTIONS,
}


def get_cli_commands() -> list[Any]:
    """The ``airflow`` CLI commands this package adds: ``airflow mesos status``.

    Listed under ``"cli"`` so Airflow knows the package declares its commands;
    without it every ``airflow`` command warns "Please define the 'cli' section"
    and imports the MesosExecutor class to ask it.  Airflow calls this only
    while building its CLI parser; the command's code loads when it runs.
    """
    from airflow_mesos.status.cli import airflow_cli_commands

    return airflow_cli_commands()


def get_provider_info() -> dict[str, Any]:
    from airflow_mesos import __version__

    return {
        "package-name": "airflow-mesos",
        "name": "Mesos",
        "description": "Run Airflow task instances as Mesos tasks (the MesosExecutor).",
        "versions": [__version__],
        "executors": ["airflow_mesos.executor.MesosExecutor"],
        "cli": ["airflow_mesos.provider.get_cli_commands"],
        # A copy: Airflow keeps (and may amend) what it is given.
        "config": {"mesos": copy.deepcopy(MESOS_CONFIG_SECTION)},
    }
