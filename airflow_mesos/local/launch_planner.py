"""The agent's launch planner: a TaskInfo translated into what to run, a :class:`RunSpec` (:func:`plan_run`).

Pure: no I/O, no clock.  The containerizers (:mod:`.docker_containerizer`, :mod:`.process_containerizer`)
carry run specs out; this module decides everything they do.

Which containerizer runs a task (as the Mesos agent with ``--containerizers=docker,mesos``):

- ``container.type DOCKER`` + ``container.docker.image``: the Docker
  containerizer and its docker executor (``kind == "docker"``), with Mesos'
  ``Docker::RunOptions::create`` rules (apache/mesos ``src/docker/docker.cpp``);
- ``container.type MESOS`` + ``container.mesos.image {type: DOCKER}``: the
  unified (Mesos) containerizer provisioning a Docker image; run here on the
  Docker engine (``kind == "mesos"``);
- no container, or MESOS without an image: the command executor running a host
  process (``kind == "process"``).

Resource limits (Docker containerizer constants, ``src/slave/constants.hpp``):
cpu shares = max(cpus * 1024, 2); CFS quota = max(cpus * 100 ms, 1 ms) per
100 ms period; memory limit = max(mem MB, 32 MB), and swap is capped at the same
value so exceeding it is an OOM kill rather than swapping.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from airflow_mesos.exceptions import AirflowMesosError
from airflow_mesos.local.secrets import SecretError, SecretValue, refuse_for_docker, resolve_environment

MAPPED_SANDBOX = "/mnt/mesos/sandbox"
"""Where the sandbox appears inside a container (agent ``--sandbox_directory``)."""

CPU_SHARES_PER_CPU = 1024
MIN_CPU_SHARES = 2
CPU_CFS_PERIOD_US = 100_000
MIN_CPU_CFS_QUOTA_US = 1_000
MIN_MEMORY_MB = 32

DEFAULT_COMMAND_KILL_GRACE = 3.0
"""The command executor's default grace period between SIGTERM and SIGKILL."""
DEFAULT_DOCKER_STOP_TIMEOUT = 0.0
"""The agent's ``--docker_stop_timeout`` default: the docker executor's grace without a KillPolicy."""


class LaunchError(AirflowMesosError):
    """The task cannot be launched; the message says what is wrong and where (never a secret value)."""


@dataclass(frozen=True)
class Mount:
    """A mount into a container (bind of a host path, or a Docker named volume)."""

    kind: str  # "bind" | "volume"
    source: str  # host path or volume name
    target: str  # absolute path inside the container
    read_only: bool = False
    driver: str | None = None
    driver_options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PortMapping:
    host_port: int
    container_port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class FetchItem:
    """One ``CommandInfo.URI`` to fetch into the sandbox before the task starts (the Mesos fetcher's item).

    ``output_file`` is where it goes, relative to the sandbox: the URI's ``output_file``, else its basename.
    """

    uri: str
    output_file: str
    executable: bool = False
    extract: bool = True
    cache: bool = False


@dataclass
class RunSpec:
    """Everything needed to start one task; built by :func:`plan_run`.

    ``entrypoint``/``command`` are None where the image's default applies.
    ``secrets`` are already resolved; their repr is masked.
    """

    kind: str  # "docker" | "mesos" | "process"
    task_id: str
    framework_id: str
    container_id: str
    image: str | None = None
    entrypoint: list[str] | None = None
    command: list[str] | None = None
    argv: list[str] = field(default_factory=list)  # process tasks
    executable: str | None = None  # process tasks with shell false
    environment: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, SecretValue] = field(default_factory=dict)
    mounts: list[Mount] = field(default_factory=list)
    sandbox_links: list[tuple[str, str]] = field(default_factory=list)  # process: (sandbox-relative link, target)
    network: str = "host"
    port_mappings: list[PortMapping] = field(default_factory=list)
    hostname: str | None = None
    cpus: float | None = None
    mem_mb: float | None = None
    ports: list[tuple[int, int]] = field(default_factory=list)
    docker_options: dict = field(default_factory=dict)  # from DockerInfo.parameters
    privileged: bool = False
    force_pull: bool = False
    user: str | None = None
    kill_grace: float = DEFAULT_COMMAND_KILL_GRACE
    fetch: list[FetchItem] = field(default_factory=list)  # CommandInfo.uris, in order


# ---------------------------------------------------------------------------- resources


def scalar(resources: list[dict], name: str) -> float | None:
    """Sum of the scalar resource ``name`` in a v1 Resource list, or None when absent."""
    values = [r.get("scalar", {}).get("value", 0.0) for r in resources if r.get("name") == name]
    return float(sum(values)) if values else None


def port_ranges(resources: list[dict]) -> list[tuple[int, int]]:
    """All ``ports`` ranges of a v1 Resource list."""
    out = []
    for resource in resources:
        if resource.get("name") == "ports":
            for rng in resource.get("ranges", {}).get("range", []):
                out.append((int(rng["begin"]), int(rng["end"])))
    return out


def allocation_role(resources: list[dict]) -> str | None:
    for resource in resources:
        role = resource.get("allocation_info", {}).get("role")
        if role:
            return role
    return None


def cpu_limits(cpus: float | None) -> dict:
    """Docker CPU settings for ``cpus`` (shares and CFS quota; see module docstring)."""
    if cpus is None:
        return {}
    return {
        "cpu_shares": max(int(CPU_SHARES_PER_CPU * cpus), MIN_CPU_SHARES),
        "cpu_period": CPU_CFS_PERIOD_US,
        "cpu_quota": max(int(CPU_CFS_PERIOD_US * cpus), MIN_CPU_CFS_QUOTA_US),
    }


def memory_limits(mem_mb: float | None) -> dict:
    """Docker memory settings for ``mem_mb`` (limit = swap limit; at least 32 MB)."""
    if mem_mb is None:
        return {}
    limit = max(int(mem_mb), MIN_MEMORY_MB) * 1024 * 1024
    return {"mem_limit": limit, "memswap_limit": limit}


def grace_seconds(kill_policy: dict | None) -> float | None:
    """``KillPolicy.grace_period`` in seconds, or None when not given."""
    if not kill_policy:
        return None
    nanos = (kill_policy.get("grace_period") or {}).get("nanoseconds")
    if nanos is None:
        return None
    return max(0.0, int(nanos) / 1e9)


def max_completion_seconds(task_info: dict) -> float | None:
    """``TaskInfo.max_completion_time`` in seconds when positive (the executors set no timer otherwise)."""
    nanos = int((task_info.get("max_completion_time") or {}).get("nanoseconds", 0))
    return nanos / 1e9 if nanos > 0 else None


# ---------------------------------------------------------------------------- fetcher URIs


def uri_basename(uri: str) -> str:
    """``Fetcher::basename`` (src/slave/containerizer/fetcher.cpp 1.11.0): the last path segment of a URI, treated
    like a file path (query strings included); raises :class:`LaunchError` as the fetcher refuses the URI."""
    if any(ch in uri for ch in "\\'\0"):
        raise LaunchError("Illegal characters in URI")
    index = uri.find("://")
    if index > 1:
        path = uri[index + 3:]
        if "/" not in path or len(path) <= path.find("/") + 1:
            raise LaunchError(f"Malformed URI (missing path): {uri}")
        return path[path.rfind("/") + 1:]
    return posixpath.basename(uri.rstrip("/")) or uri


def plan_fetch(command: dict) -> list[FetchItem]:
    """``validateUris`` and the fetcher's items for ``CommandInfo.uris`` (``extract`` defaults to true, as in
    mesos.proto); an invalid URI or output file fails the launch with the fetcher's words."""
    items = []
    for uri in command.get("uris") or []:
        value = uri["value"].lstrip()
        basename = uri_basename(value)
        output_file = uri.get("output_file")
        if output_file is not None:
            if not output_file:
                raise LaunchError("URI output file path is empty")
            if output_file.startswith("/"):
                raise LaunchError("URI output file must be within the sandbox directory")
        items.append(FetchItem(value, output_file if output_file is not None else basename,
                               executable=bool(uri.get("executable", False)), extract=bool(uri.get("extract", True)),
                               cache=bool(uri.get("cache", False))))
    return items


# ---------------------------------------------------------------------------- commands


def docker_command(command: dict) -> tuple[list[str] | None, list[str] | None]:
    """(entrypoint, cmd) for the Docker containerizer, as ``Docker::RunOptions::create``.

    shell true (the default) -> entrypoint ``/bin/sh``, cmd ``-c value``;
    shell false -> the image's entrypoint with cmd ``[value] + arguments``
    (or the image default CMD when both are empty).
    """
    if command.get("shell", True):
        value = command.get("value")
        if not value:
            raise LaunchError("Shell specified but no command value provided")
        return ["/bin/sh"], ["-c", value]
    args = ([command["value"]] if command.get("value") else []) + list(command.get("arguments", []))
    return None, (args or None)


def mesos_command(command: dict) -> tuple[list[str] | None, list[str] | None]:
    """(entrypoint, cmd) for a MESOS container with an image.

    shell true -> ``/bin/sh -c value``; shell false -> exec ``value`` with
    ``arguments[1:]`` (argv[0] cannot be set separately in Docker); no value ->
    the image's entrypoint, with ``arguments`` as cmd when given.
    """
    if command.get("shell", True):
        value = command.get("value")
        if not value:
            raise LaunchError("Shell specified but no command value provided")
        return ["/bin/sh", "-c"], [value]
    arguments = list(command.get("arguments", []))
    if command.get("value"):
        return [command["value"]], arguments[1:]
    return None, (arguments or None)


def process_argv(command: dict) -> tuple[list[str], str | None]:
    """(argv, executable) for a host process, as the command executor."""
    if command.get("shell", True):
        value = command.get("value")
        if not value:
            raise LaunchError("Shell specified but no command value provided")
        return ["/bin/sh", "-c", value], None
    value = command.get("value")
    if not value:
        raise LaunchError("Command value is required when shell is false")
    arguments = list(command.get("arguments", [])) or [value]
    return arguments, value


# ---------------------------------------------------------------------------- docker parameters

_FLAG_PARAMETERS = {"init": "init", "read-only": "read_only", "privileged": "privileged"}
_STRING_PARAMETERS = {
    "user": "user", "workdir": "working_dir", "hostname": "hostname", "shm-size": "shm_size",
    "pids-limit": "pids_limit", "stop-signal": "stop_signal", "ipc": "ipc_mode", "pid": "pid_mode",
    "log-driver": "log_driver",
}
_LIST_PARAMETERS = {"cap-add": "cap_add", "cap-drop": "cap_drop", "dns": "dns", "dns-search": "dns_search",
                    "dns-opt": "dns_opt", "dns-option": "dns_opt", "add-host": "extra_hosts", "group-add": "group_add",
                    "security-opt": "security_opt", "device": "devices"}
_MAP_PARAMETERS = {"label": "labels", "sysctl": "sysctls", "log-opt": "log_opts", "tmpfs": "tmpfs",
                   "ulimit": "ulimits", "env": "environment"}
SUPPORTED_DOCKER_PARAMETERS = sorted(
    {*_FLAG_PARAMETERS, *_STRING_PARAMETERS, *_LIST_PARAMETERS, *_MAP_PARAMETERS, "entrypoint", "net", "network",
     "volume-driver"}
)


def docker_parameters(parameters: list[dict]) -> tuple[dict, str | None, list[str] | None, str | None]:
    """Translate ``DockerInfo.parameters`` (``docker run --key=value``) into options.

    Returns (options, network override, entrypoint override, volume driver).
    A key outside :data:`SUPPORTED_DOCKER_PARAMETERS` is refused: running it
    anyway could silently change isolation.
    """
    options: dict = {}
    network = None
    entrypoint = None
    volume_driver = None
    for index, parameter in enumerate(parameters):
        key = str(parameter.get("key", "")).lstrip("-")
        value = str(parameter.get("value", ""))
        where = f"container.docker.parameters[{index}]"
        if key in ("net", "network"):
            network = network or value
        elif key == "entrypoint":
            entrypoint = [value]
        elif key == "volume-driver":
            volume_driver = value
        elif key in _FLAG_PARAMETERS:
            options[_FLAG_PARAMETERS[key]] = value.lower() not in ("false", "0", "no")
        elif key in _STRING_PARAMETERS:
            target = _STRING_PARAMETERS[key]
            options[target] = int(value) if target == "pids_limit" and value.lstrip("-").isdigit() else value
        elif key in _LIST_PARAMETERS:
            options.setdefault(_LIST_PARAMETERS[key], []).append(value)
        elif key in _MAP_PARAMETERS:
            target = _MAP_PARAMETERS[key]
            if key == "ulimit":
                name, _, limits = value.partition("=")
                soft, _, hard = limits.partition(":")
                if not name or not soft.isdigit() or (hard and not hard.isdigit()):
                    raise LaunchError(f"{where}: ulimit must look like 'nofile=1024:2048', got {value!r}")
                options.setdefault(target, {})[name] = (int(soft), int(hard or soft))
            elif key == "tmpfs":
                path, _, opts = value.partition(":")
                options.setdefault(target, {})[path] = opts
            else:
                name, sep, val = value.partition("=")
                if not sep and key != "label":
                    raise LaunchError(f"{where}: --{key} needs 'name=value', got {value!r}")
                options.setdefault(target, {})[name] = val
        else:
            raise LaunchError(
                f"{where}: docker parameter '{key}' is not supported by this agent "
                f"(supported: {', '.join(SUPPORTED_DOCKER_PARAMETERS)})"
            )
    return options, network, entrypoint, volume_driver


# ---------------------------------------------------------------------------- volumes


def _container_path(volume: dict, where: str) -> str:
    path = volume.get("container_path")
    if not isinstance(path, str) or not path:
        raise LaunchError(f"{where}: 'container_path' is required")
    return path if path.startswith("/") else posixpath.join(MAPPED_SANDBOX, path)


def _mode(volume: dict, where: str) -> bool:
    mode = volume.get("mode", "RW")
    if mode not in ("RW", "RO"):
        raise LaunchError(f"{where}: unsupported volume mode {mode!r} (RW or RO)")
    return mode == "RO"


def container_mounts(volumes: list[dict], *, kind: str, sandbox_dir: str) -> list[Mount]:
    """Mounts for a container task; follows ``Docker::RunOptions::create`` for DOCKER.

    Host paths (legacy ``host_path`` or ``source.type HOST_PATH``) become bind
    mounts, a relative host path is relative to the sandbox; ``DOCKER_VOLUME``
    becomes a named volume with its driver (``local`` when none is given).
    The Docker containerizer supports one volume driver per container and
    ignores driver options; the Mesos containerizer passes them on.
    """
    mounts: list[Mount] = []
    drivers: set[str] = set()
    for index, volume in enumerate(volumes):
        where = f"container.volumes[{index}]"
        target = _container_path(volume, where)
        read_only = _mode(volume, where)
        source = volume.get("source") or {}
        host_path = volume.get("host_path")
        if host_path is None and source.get("type") == "HOST_PATH":
            host_path = (source.get("host_path") or {}).get("path")
            if not host_path:
                raise LaunchError(f"{where}: source.host_path.path is required for HOST_PATH")
        if host_path is not None:
            if not host_path.startswith("/"):
                if not str(volume.get("container_path", "")).startswith("/") and kind == "docker":
                    raise LaunchError(
                        f"{where}: Both host_path '{host_path}' and container_path "
                        f"'{volume.get('container_path')}' of a volume are relative"
                    )
                host_path = posixpath.normpath(posixpath.join(sandbox_dir, host_path))
                if not host_path.startswith(sandbox_dir.rstrip("/") + "/"):
                    raise LaunchError(f"{where}: relative host_path must stay inside the sandbox")
            mounts.append(Mount("bind", host_path, target, read_only))
            continue
        if source.get("type") == "DOCKER_VOLUME":
            docker_volume = source.get("docker_volume") or {}
            name = docker_volume.get("name")
            if not name:
                raise LaunchError(f"{where}: source.docker_volume.name is required")
            driver = docker_volume.get("driver") or "local"
            options = tuple(
                (str(p.get("key")), str(p.get("value", "")))
                for p in (docker_volume.get("driver_options") or {}).get("parameter", [])
            )
            if kind == "docker":
                options = ()  # the Docker containerizer ignores driver_options
                if drivers and driver not in drivers:
                    raise LaunchError(f"{where}: Only one volume driver is supported")
            drivers.add(driver)
            mounts.append(Mount("volume", name, target, read_only, driver, options))
            continue
        if kind == "docker":
            if source:
                continue  # Mesos' Docker containerizer ignores other source types
            raise LaunchError(f"{where}: Host path or volume source is required")
        if source.get("type") == "SANDBOX_PATH":
            sandbox_path = source.get("sandbox_path") or {}
            if sandbox_path.get("type", "SELF") != "SELF":
                raise LaunchError(f"{where}: only SANDBOX_PATH of type SELF is supported (no task groups here)")
            rel = posixpath.normpath(sandbox_path.get("path", ""))
            if rel.startswith("/") or rel.startswith(".."):
                raise LaunchError(f"{where}: sandbox_path.path must be relative to the sandbox")
            mounts.append(Mount("bind", posixpath.join(sandbox_dir, rel), target, read_only))
            continue
        raise LaunchError(
            f"{where}: volume source type {source.get('type', 'UNKNOWN')!r} is not supported by this agent "
            "(HOST_PATH, DOCKER_VOLUME and SANDBOX_PATH are)"
        )
    return mounts


def _process_links(volumes: list[dict], sandbox_dir: str) -> list[tuple[str, str]]:
    """Host-process tasks have no mount namespace: a volume with a relative container path becomes a
    symlink in the sandbox (Mesos' posix filesystem isolator does the same); absolute ones are refused."""
    links = []
    for index, volume in enumerate(volumes):
        where = f"container.volumes[{index}]"
        container_path = volume.get("container_path", "")
        source = volume.get("source") or {}
        host_path = volume.get("host_path")
        if host_path is None and source.get("type") == "HOST_PATH":
            host_path = (source.get("host_path") or {}).get("path")
        if host_path is None:
            raise LaunchError(f"{where}: a task without a container image can only use host path volumes")
        if not container_path or container_path.startswith("/"):
            raise LaunchError(
                f"{where}: absolute container_path {container_path!r} needs a container image "
                "(host-process tasks have no mount namespace); use a relative path"
            )
        rel = posixpath.normpath(container_path)
        if rel.startswith(".."):
            raise LaunchError(f"{where}: container_path must stay inside the sandbox")
        target = host_path if host_path.startswith("/") else posixpath.join(sandbox_dir, host_path)
        links.append((rel, target))
    return links


# ---------------------------------------------------------------------------- networks


def _check_port_mappings(mappings: list[dict], ports: list[tuple[int, int]], network: str, where: str) -> list[PortMapping]:
    out = []
    if mappings and network in ("host", "none"):
        raise LaunchError("Port mappings are only supported for bridge and user-defined networks")
    if mappings and not ports:
        raise LaunchError("Port mappings require port resources")
    for index, mapping in enumerate(mappings):
        try:
            host_port = int(mapping["host_port"])
            container_port = int(mapping["container_port"])
        except (KeyError, TypeError, ValueError):
            raise LaunchError(f"{where}[{index}]: host_port and container_port must be integers") from None
        if not any(begin <= host_port <= end for begin, end in ports):
            raise LaunchError(f"Port [{host_port}] not included in resources")
        protocol = str(mapping.get("protocol", "tcp")).lower()
        if protocol not in ("tcp", "udp"):
            raise LaunchError(f"{where}[{index}]: protocol must be tcp or udp, got {protocol!r}")
        out.append(PortMapping(host_port, container_port, protocol))
    return out


def docker_network(container: dict, ports: list[tuple[int, int]], parameter_network: str | None) -> tuple[str, list[PortMapping]]:
    """Network mode and port mappings of a DOCKER container (default HOST, as on Linux)."""
    docker = container.get("docker") or {}
    mode = docker.get("network", "HOST")
    if mode == "HOST":
        network = "host"
    elif mode == "BRIDGE":
        network = "bridge"
    elif mode == "NONE":
        network = "none"
    elif mode == "USER":
        infos = container.get("network_infos") or []
        if not infos:
            raise LaunchError("No network info found in container info")
        if len(infos) > 1:
            raise LaunchError("Only a single network can be defined in Docker run")
        if not infos[0].get("name"):
            raise LaunchError("No network name found in network info")
        network = infos[0]["name"]
    else:
        raise LaunchError(f"Unsupported Network mode: {mode}")
    if container.get("hostname") and network == "host":
        raise LaunchError("Unable to set hostname with host network mode")
    mappings = _check_port_mappings(docker.get("port_mappings") or [], ports, network, "container.docker.port_mappings")
    if parameter_network:
        network = parameter_network  # Mesos lets --net/--network override, after the checks
    return network, mappings


def mesos_network(container: dict, ports: list[tuple[int, int]]) -> tuple[str, list[PortMapping]]:
    """A MESOS container joins the host network unless ``network_infos[0].name`` names a network."""
    infos = container.get("network_infos") or []
    if not infos:
        return "host", []
    if len(infos) > 1:
        raise LaunchError("Only a single network per container is supported by this agent")
    name = infos[0].get("name")
    if not name:
        raise LaunchError("container.network_infos[0].name is required to join a network")
    mappings = _check_port_mappings(infos[0].get("port_mappings") or [], ports, name,
                                    "container.network_infos[0].port_mappings")
    return name, mappings


# ---------------------------------------------------------------------------- the plan


def mesos_environment(*, task_id: str, framework_id: str, agent_id: str, executor_id: str, sandbox: str,
                      host_sandbox: str, agent_endpoint: str, role: str | None) -> dict[str, str]:
    """The variables the agent and executors set for a task."""
    env = {
        "MESOS_SANDBOX": sandbox,
        "MESOS_DIRECTORY": host_sandbox,
        "MESOS_TASK_ID": task_id,
        "MESOS_FRAMEWORK_ID": framework_id,
        "MESOS_EXECUTOR_ID": executor_id,
        "MESOS_AGENT_ID": agent_id,
        "MESOS_SLAVE_ID": agent_id,
        "MESOS_AGENT_ENDPOINT": agent_endpoint,
        "MESOS_CHECKPOINT": "0",
    }
    if role:
        env["MESOS_ALLOCATION_ROLE"] = role
    return env


def plan_run(task_info: dict, *, framework_id: str, agent_id: str, container_id: str, sandbox_dir: str,
                agent_endpoint: str) -> RunSpec:
    """Decide how to run ``task_info``; raises :class:`LaunchError` with a clear message on bad input."""
    task_id = (task_info.get("task_id") or {}).get("value")
    if not task_id:
        raise LaunchError("TaskInfo.task_id is required")
    if "executor" in task_info:
        raise LaunchError("custom executors are not supported by this agent; use 'command' (command or docker executor)")
    command = task_info.get("command")
    if not isinstance(command, dict):
        raise LaunchError("TaskInfo.command is required (exactly one of 'executor' or 'command')")
    resources = task_info.get("resources") or []
    container = task_info.get("container") or {}
    ctype = container.get("type")
    if container and ctype not in ("DOCKER", "MESOS"):
        raise LaunchError(f"container.type must be DOCKER or MESOS, got {ctype!r}")

    if ctype == "DOCKER":
        kind = "docker"
        image = (container.get("docker") or {}).get("image")
        if not image:
            raise LaunchError("container.docker.image is required for a DOCKER container")
    elif ctype == "MESOS" and (container.get("mesos") or {}).get("image"):
        kind = "mesos"
        image_info = container["mesos"]["image"]
        if image_info.get("type", "DOCKER") != "DOCKER":
            raise LaunchError(f"container.mesos.image.type {image_info.get('type')!r} is not supported (DOCKER is)")
        image = (image_info.get("docker") or {}).get("name")
        if not image:
            raise LaunchError("container.mesos.image.docker.name is required")
    else:
        kind = "process"
        image = None

    variables = (command.get("environment") or {}).get("variables") or []
    if kind == "docker":
        refusal = refuse_for_docker(variables)
        if refusal:
            raise LaunchError(refusal)
    try:
        resolved = resolve_environment(variables)
    except SecretError as exc:
        raise LaunchError(str(exc)) from None

    ports = port_ranges(resources)
    executor_id = task_id
    in_container = kind != "process"
    env = mesos_environment(
        task_id=task_id, framework_id=framework_id, agent_id=agent_id, executor_id=executor_id,
        sandbox=MAPPED_SANDBOX if in_container else sandbox_dir, host_sandbox=sandbox_dir,
        agent_endpoint=agent_endpoint, role=allocation_role(resources),
    )
    if kind == "docker":
        env["MESOS_CONTAINER_NAME"] = f"mesos-{container_id}"
    # Task variables come last (they win), except MESOS_SANDBOX which the agent owns.
    plain = {**env, **{k: v for k, v in resolved.plain.items() if k != "MESOS_SANDBOX"}}

    plan = RunSpec(kind=kind, task_id=task_id, framework_id=framework_id, container_id=container_id, image=image,
                   environment=plain, secrets=resolved.secrets, cpus=scalar(resources, "cpus"),
                   mem_mb=scalar(resources, "mem"), ports=ports, user=command.get("user"),
                   fetch=plan_fetch(command))
    policy_grace = grace_seconds(task_info.get("kill_policy"))
    volumes = container.get("volumes") or []

    if kind == "docker":
        docker = container.get("docker") or {}
        options, net_override, entry_override, volume_driver = docker_parameters(docker.get("parameters") or [])
        plan.entrypoint, plan.command = docker_command(command)
        if entry_override is not None:
            plan.entrypoint = entry_override
        plan.network, plan.port_mappings = docker_network(container, ports, net_override)
        plan.mounts = container_mounts(volumes, kind="docker", sandbox_dir=sandbox_dir)
        if volume_driver:
            if any(m.kind == "volume" and m.driver not in ("local", volume_driver) for m in plan.mounts):
                raise LaunchError("Only one volume driver per task is supported")
            plan.mounts = [Mount(m.kind, m.source, m.target, m.read_only, volume_driver, m.driver_options)
                           if m.kind == "volume" else m for m in plan.mounts]
        plan.docker_options = options
        plan.privileged = bool(docker.get("privileged", False)) or bool(options.pop("privileged", False))
        plan.force_pull = bool(docker.get("force_pull_image", False))
        plan.hostname = container.get("hostname") or options.pop("hostname", None)
        plan.kill_grace = DEFAULT_DOCKER_STOP_TIMEOUT if policy_grace is None else policy_grace
    elif kind == "mesos":
        plan.entrypoint, plan.command = mesos_command(command)
        plan.network, plan.port_mappings = mesos_network(container, ports)
        plan.mounts = container_mounts(volumes, kind="mesos", sandbox_dir=sandbox_dir)
        plan.hostname = container.get("hostname")
        if plan.hostname and plan.network == "host":
            raise LaunchError("container.hostname cannot be set on the host network")
        plan.kill_grace = DEFAULT_COMMAND_KILL_GRACE if policy_grace is None else policy_grace
    else:
        plan.argv, plan.executable = process_argv(command)
        plan.sandbox_links = _process_links(volumes, sandbox_dir)
        plan.kill_grace = DEFAULT_COMMAND_KILL_GRACE if policy_grace is None else policy_grace
    return plan


def container_labels(plan: RunSpec, agent_id: str) -> dict[str, str]:
    """Docker labels that let cleanup find every container of this embedded cluster."""
    return {
        "airflow-mesos.local": "1",
        "airflow-mesos.local.agent-id": agent_id,
        "airflow-mesos.local.framework-id": plan.framework_id,
        "airflow-mesos.local.task-id": plan.task_id,
        "airflow-mesos.local.container-id": plan.container_id,
    }


def docker_create_kwargs(plan: RunSpec, *, agent_id: str, sandbox_dir: str, image_config: dict | None = None,
                         shim: tuple[str, str] | None = None) -> dict:
    """``docker.containers.create`` keyword arguments for a container plan (no secret values inside).

    :param image_config: the image's ``Config`` (Entrypoint/Cmd), needed only when
        secrets must be injected through the shim and the plan keeps image defaults.
    :param shim: (host env file, host static busybox) to mount for the secrets shim.
    """
    options = dict(plan.docker_options)
    labels = {**options.pop("labels", {}), **container_labels(plan, agent_id)}
    environment = {**options.pop("environment", {}), **plan.environment}
    log_driver = options.pop("log_driver", None)
    log_opts = options.pop("log_opts", None)
    mounts = [{"Type": "bind", "Source": sandbox_dir, "Target": MAPPED_SANDBOX, "ReadOnly": False}]
    for mount in plan.mounts:
        if mount.kind == "bind":
            mounts.append({"Type": "bind", "Source": mount.source, "Target": mount.target, "ReadOnly": mount.read_only})
        else:
            spec = {"Type": "volume", "Source": mount.source, "Target": mount.target, "ReadOnly": mount.read_only,
                    "VolumeOptions": {"DriverConfig": {"Name": mount.driver or "local",
                                                       "Options": dict(mount.driver_options)}}}
            mounts.append(spec)
    entrypoint, command = plan.entrypoint, plan.command
    if shim is not None:
        from airflow_mesos.local.secrets import SHIM_BUSYBOX, SHIM_ENV_FILE, shim_entrypoint

        config = image_config or {}
        real_entry = entrypoint if entrypoint is not None else list(config.get("Entrypoint") or [])
        real_cmd = command if command is not None else (list(config.get("Cmd") or []) if entrypoint is None else [])
        if not real_entry and not real_cmd:
            raise LaunchError(f"image {plan.image} has no default command and the task gives none")
        entrypoint, command = shim_entrypoint(real_entry, real_cmd)
        env_file, busybox = shim
        mounts.append({"Type": "bind", "Source": env_file, "Target": SHIM_ENV_FILE, "ReadOnly": True})
        mounts.append({"Type": "bind", "Source": busybox, "Target": SHIM_BUSYBOX, "ReadOnly": True})
    kwargs: dict = {
        "image": plan.image,
        "name": f"mesos-{plan.container_id}",
        "labels": labels,
        "environment": environment,
        "mounts": mounts,
        "network_mode": plan.network,
        "working_dir": options.pop("working_dir", MAPPED_SANDBOX),
        "detach": True,
        **cpu_limits(plan.cpus),
        **memory_limits(plan.mem_mb),
    }
    if entrypoint is not None:
        kwargs["entrypoint"] = entrypoint
    if command is not None:
        kwargs["command"] = command
    if plan.hostname:
        kwargs["hostname"] = plan.hostname
    if plan.privileged:
        kwargs["privileged"] = True
    if plan.user and "user" not in options and plan.kind == "mesos":
        kwargs["user"] = plan.user
    if plan.port_mappings:
        ports: dict = {}
        for mapping in plan.port_mappings:
            ports.setdefault(f"{mapping.container_port}/{mapping.protocol}", []).append(mapping.host_port)
        kwargs["ports"] = {k: v[0] if len(v) == 1 else v for k, v in ports.items()}
    if log_driver or log_opts:
        kwargs["log_config"] = {"Type": log_driver or "json-file", "Config": log_opts or {}}
    kwargs.update(options)
    return kwargs


# ---------------------------------------------------------------------------- custom executors

DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD = 5.0
"""The agent's ``--executor_shutdown_grace_period`` default (src/slave/constants.hpp)."""
DEFAULT_EXECUTOR_REGISTRATION_TIMEOUT = 60.0
"""The agent's ``--executor_registration_timeout`` default (``EXECUTOR_REGISTRATION_TIMEOUT``)."""
DEFAULT_RECOVERY_TIMEOUT = 15 * 60.0
"""The agent's ``--recovery_timeout`` default (``RECOVERY_TIMEOUT``)."""
DEFAULT_EXECUTOR_REREGISTRATION_TIMEOUT = 2.0
"""The agent's ``--executor_reregistration_timeout`` default (``EXECUTOR_REREGISTRATION_TIMEOUT``)."""

_DURATION_UNITS = (("weeks", 7 * 86400.0), ("days", 86400.0), ("hrs", 3600.0), ("mins", 60.0), ("secs", 1.0),
                   ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9))


def stringify_duration(seconds: float) -> str:
    """stout's ``operator<<(ostream&, const Duration&)``: the value in the largest unit it is at least one of,
    printed as an ostream prints a double (6 significant digits): ``5secs``, ``1mins``, ``100ms``, ``0ns``."""
    if seconds == 0:
        return "0ns"
    for unit, size in _DURATION_UNITS:
        if abs(seconds) >= size:
            return f"{seconds / size:.6g}{unit}"
    return f"{seconds / 1e-9:.6g}ns"


def executor_shutdown_grace(executor_info: dict, agent_default: float) -> float:
    """``ExecutorInfo.shutdown_grace_period`` in seconds, else the agent's ``--executor_shutdown_grace_period``
    (``Slave::_shutdownExecutor`` and ``executorEnvironment``)."""
    nanos = (executor_info.get("shutdown_grace_period") or {}).get("nanoseconds")
    return agent_default if nanos is None else max(0.0, int(nanos) / 1e9)


def executor_environment(executor_info: dict, *, directory: str, agent_id: str, agent_pid: str,
                         agent_address: str, checkpoint: bool, shutdown_grace: float,
                         recovery_timeout: float = DEFAULT_RECOVERY_TIMEOUT,
                         reregistration_timeout: float = DEFAULT_EXECUTOR_REREGISTRATION_TIMEOUT,
                         libprocess_ip: str | None = None) -> dict[str, str]:
    """``executorEnvironment`` (src/slave/slave.cpp 1.11.0): what the agent puts in every executor's environment.

    ``MESOS_SANDBOX`` (and a Docker container's ``MESOS_CONTAINER_NAME``) are the containerizer's, added by
    :func:`plan_executor_run`.  No ``MESOS_EXECUTOR_AUTHENTICATION_TOKEN``: the embedded agent does not
    authenticate executors (``--authenticate_http_executors`` off, its default).
    """
    env: dict[str, str] = {}
    if libprocess_ip:
        env["LIBPROCESS_IP"] = libprocess_ip
    env["LIBPROCESS_PORT"] = "0"
    env.update({
        "MESOS_FRAMEWORK_ID": executor_info["framework_id"]["value"],
        "MESOS_EXECUTOR_ID": executor_info["executor_id"]["value"],
        "MESOS_DIRECTORY": directory,
        "MESOS_SLAVE_ID": agent_id,
        "MESOS_SLAVE_PID": agent_pid,
        "MESOS_AGENT_ENDPOINT": agent_address,
        "MESOS_CHECKPOINT": "1" if checkpoint else "0",
        "MESOS_HTTP_COMMAND_EXECUTOR": "0",
        "MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD": stringify_duration(shutdown_grace),
    })
    if checkpoint:
        env["MESOS_RECOVERY_TIMEOUT"] = stringify_duration(recovery_timeout)
        env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = stringify_duration(reregistration_timeout)
    return env


def plan_executor_run(executor_info: dict, *, agent_id: str, container_id: str, sandbox_dir: str,
                      agent_pid: str, agent_address: str, checkpoint: bool, shutdown_grace: float,
                      libprocess_ip: str | None = None) -> RunSpec:
    """Decide how to run a custom executor (``Slave::launchExecutor`` and the containerizers); raises
    :class:`LaunchError` with a clear message on bad input.

    No container, or MESOS without an image: a host process (the Mesos containerizer without isolation).
    MESOS with a Docker image: a container of that image on the Docker engine, on the host network unless
    ``network_infos`` names one (the executor must reach ``MESOS_AGENT_ENDPOINT``), the sandbox mounted at
    ``MESOS_SANDBOX``.  DOCKER: the Docker containerizer running the executor as the container's command.

    The resources the container starts with are the executor's own; the agent grows and shrinks them as
    tasks come and go (:func:`executor_limits`).
    """
    executor_id = executor_info["executor_id"]["value"]
    framework_id = executor_info["framework_id"]["value"]
    command = executor_info.get("command")
    if not isinstance(command, dict):
        raise LaunchError(f"ExecutorInfo.command of executor '{executor_id}' is required")
    # plan_run decides containers and commands for a TaskInfo; an ExecutorInfo has the same fields.
    as_task = {"task_id": {"value": executor_id}, "command": command,
               "resources": executor_info.get("resources") or []}
    if isinstance(executor_info.get("container"), dict):
        as_task["container"] = executor_info["container"]
    plan = plan_run(as_task, framework_id=framework_id, agent_id=agent_id, container_id=container_id,
                    sandbox_dir=sandbox_dir, agent_endpoint=agent_address)
    in_container = plan.kind != "process"
    env = executor_environment(executor_info, directory=sandbox_dir, agent_id=agent_id, agent_pid=agent_pid,
                               agent_address=agent_address, checkpoint=checkpoint, shutdown_grace=shutdown_grace,
                               libprocess_ip=libprocess_ip)
    env["MESOS_SANDBOX"] = MAPPED_SANDBOX if in_container else sandbox_dir
    if plan.kind == "docker":
        # Docker::RunOptions::create (src/docker/docker.cpp) names the container and its allocation role.
        env["MESOS_CONTAINER_NAME"] = f"mesos-{container_id}"
        role = allocation_role(executor_info.get("resources") or [])
        if role:
            env["MESOS_ALLOCATION_ROLE"] = role
    # The executor's own variables win over the agent's, except MESOS_SANDBOX (the containerizer's).
    own = {k: v for k, v in plan.environment.items()
           if k not in mesos_environment(task_id="", framework_id="", agent_id="", executor_id="", sandbox="",
                                         host_sandbox="", agent_endpoint="", role="x")
           and k != "MESOS_CONTAINER_NAME"}
    plan.environment = {**env, **{k: v for k, v in own.items() if k != "MESOS_SANDBOX"}}
    plan.kill_grace = 0.0   # an executor's container is destroyed (SIGKILL) after the shutdown grace
    return plan


def executor_limits(executor_resources: list[dict], task_resources: list[list[dict]]) -> tuple[float | None,
                                                                                             float | None]:
    """(cpus, mem MB) of an executor's container: its own resources plus those of its queued and launched
    tasks (``Executor::allocatedResources`` / ``computeExecutorLimits``); None when none of them has any."""
    everything = list(executor_resources) + [r for resources in task_resources for r in resources]
    return scalar(everything, "cpus"), scalar(everything, "mem")
