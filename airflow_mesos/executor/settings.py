"""The ``[mesos]`` config section, parsed and validated: :class:`MesosSettings`.

The options, their defaults and their documentation are declared once, in
:data:`airflow_mesos.provider.MESOS_CONFIG_OPTIONS` (what ``airflow config list
--section mesos`` shows).  :func:`load_settings` reads them from anything with
Airflow's ``conf.get(section, key, fallback=...)``: the global
``airflow.configuration.conf``, the executor's team-scoped ``self.conf``
(``ExecutorConf``), or a test's :class:`DictConf`.  It reads every value as a
string and parses it here (``ExecutorConf`` has no ``getfloat``, and our own
parsing names the option in every error: ``[mesos] cpus: expected a number > 0,
got 'abc'``).  An empty value counts as unset.

Facts of Airflow 3.3.2 worth knowing (checked against it):

- ``secret`` is registered as sensitive through the provider metadata, so
  ``AIRFLOW__MESOS__SECRET_CMD``, ``AIRFLOW__MESOS__SECRET_SECRET`` and
  ``[mesos] secret_cmd`` / ``secret_secret`` work, as for Airflow's own
  options.  Airflow returns a command's output as printed, with its final
  newline; :func:`load_settings` drops trailing line breaks of the secret.
- Team-scoped lookups (``ExecutorConf(team_name)``) read
  ``AIRFLOW__<TEAM>___MESOS__<KEY>`` (``_CMD`` too) and the ``[<team>=mesos]``
  section, then fall back to the *defaults*, not to the global ``[mesos]``
  section; ``[<team>=mesos] secret_cmd`` is not supported by Airflow (use the
  team env var).

This module imports nothing of Airflow.  Pure apart from the two process facts
used as defaults (the OS user and ``sys.executable``), which callers can pass in.
"""

from __future__ import annotations

import getpass
import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from airflow_mesos.exceptions import AirflowMesosError
from airflow_mesos.executor.task_config import (
    CONTAINER_TYPES,
    DockerVolume,
    HostPathVolume,
    ReadOnlyDict,
    TaskConfigError,
    check_env,
    parse_volumes,
    role_name_problem,
)
from airflow_mesos.mesos.detector import ZooKeeperSpec, parse_master_spec
from airflow_mesos.mesos.errors import MasterDetectionError
from airflow_mesos.provider import MESOS_CONFIG_OPTIONS

__all__ = ["DictConf", "MasterAddress", "MesosSettings", "Secret", "SettingsError", "load_settings"]

SECTION = "mesos"
_TRUE = ("t", "true", "1")
_FALSE = ("f", "false", "0")  # Airflow's getboolean spellings, so both readers agree


class SettingsError(AirflowMesosError, ValueError):
    """``[mesos]`` is misconfigured.  The message names each bad option: ``[mesos] cpus: ...``."""

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


class ConfigSource(Protocol):
    """What :func:`load_settings` needs of Airflow's ``conf`` / ``ExecutorConf``."""

    def get(self, section: str, key: str, **kwargs: Any) -> Any: ...


class DictConf:
    """A minimal ``conf``: ``DictConf({"mesos": {"cpus": "2"}, "core": {"dags_folder": "/dags"}})``."""

    def __init__(self, sections: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._sections = {name.lower(): {k.lower(): v for k, v in opts.items()} for name, opts in (sections or {}).items()}

    def get(self, section: str, key: str, **kwargs: Any) -> Any:
        options = self._sections.get(section.lower(), {})
        if key.lower() in options:
            return options[key.lower()]
        if "fallback" in kwargs:
            return kwargs["fallback"]
        raise KeyError(f"[{section}] {key}")


class Secret:
    """A credential that never shows itself: ``repr`` and ``str`` are ``Secret('***')``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it (the HTTP Authorization header)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class MasterAddress(str):
    """The ``master`` option as configured (what the driver parses), safe to log.

    A ``zk://user:password@hosts/path`` address carries ZooKeeper credentials;
    ``str()``, ``repr()`` and formatting show them as ``***`` while string
    operations (what :func:`~airflow_mesos.mesos.detector.parse_master_spec`
    does) see the real text.
    """

    spec: tuple[str, ...] | ZooKeeperSpec

    def __new__(cls, text: str, spec: tuple[str, ...] | ZooKeeperSpec) -> MasterAddress:
        address = super().__new__(cls, text)
        address.spec = spec
        return address

    def _shown(self) -> str:
        if isinstance(self.spec, ZooKeeperSpec):
            auth = "***@" if self.spec.credentials else ""
            return f"zk://{auth}{self.spec.hosts}{self.spec.path}"
        return ",".join(self.spec)

    def __str__(self) -> str:
        return self._shown()

    def __repr__(self) -> str:
        return repr(self._shown())

    def __format__(self, format_spec: str) -> str:
        return format(self._shown(), format_spec)

    def __reduce__(self) -> tuple[Any, ...]:
        return (MasterAddress, (str.__str__(self), self.spec))


@dataclass(frozen=True)
class MesosSettings:
    """Every ``[mesos]`` option, parsed and validated (see :data:`~airflow_mesos.provider.MESOS_CONFIG_OPTIONS`)."""

    master: MasterAddress
    """Give it to :class:`~airflow_mesos.mesos.SchedulerDriver` as is; ``master.spec`` is the parsed form."""
    framework_name: str
    role: str
    """The roles as configured, comma-separated; see :attr:`roles` and :attr:`default_role`."""
    principal: str | None
    secret: Secret | None
    ca_file: str | None
    checkpoint: bool
    failover_timeout: float
    container_type: str
    image: str
    force_pull: bool
    cpus: float
    mem: float
    disk: float
    gpus: int
    network: str
    volumes: tuple[HostPathVolume | DockerVolume, ...]
    env: Mapping[str, str]
    refuse_seconds: float
    revive_min_interval: float
    task_api_url: str
    framework_user: str
    python: str
    dags_folder: str
    unreachable_grace: float
    partition_aware: bool
    reconcile_grace: float
    adopt_timeout: float
    placement_timeout: float
    health_check_port: int | None
    health_disconnect_threshold: float
    kill_grace_period: float
    token_remint_fraction: float
    allow_plain_token_for_docker: bool
    request_timeout: float
    task_log_max_bytes: int
    warm_workers: bool = True
    warm_executor_cpus: float = 0.1
    warm_executor_mem: float = 256.0
    warm_idle_timeout: float = 60.0
    offer_hold_seconds: float = 5.0

    @property
    def roles(self) -> tuple[str, ...]:
        """Every role the framework subscribes with (``FrameworkInfo.roles``)."""
        return tuple(part.strip() for part in self.role.split(","))

    @property
    def default_role(self) -> str:
        """The role of tasks that do not choose one: the first of :attr:`roles`."""
        return self.roles[0]

    def secret_value(self) -> str | None:
        """The secret in plain, or None; only for the Authorization header."""
        return None if self.secret is None else self.secret.reveal()


# --------------------------------------------------------------------------- parsing


class _Reader:
    """Reads and parses options, collecting every problem instead of stopping at the first."""

    def __init__(self, conf: ConfigSource) -> None:
        self.conf = conf
        self.problems: list[str] = []

    def raw(self, key: str, section: str = SECTION) -> str | None:
        value = self.conf.get(section, key, fallback=None)
        if value is None:
            return None
        text = str(value).strip()
        return text or None

    def text(self, key: str) -> str | None:
        """The configured text, else the documented default (None for options without one)."""
        value = self.raw(key)
        return value if value is not None else MESOS_CONFIG_OPTIONS[key]["default"]

    def fail(self, key: str, message: str) -> None:
        self.problems.append(f"[{SECTION}] {key}: {message}")

    def number(self, key: str, *, minimum: float, inclusive: bool, maximum: float | None = None) -> float:
        text = self.text(key)
        bound = f"{'>=' if inclusive else '>'} {minimum:g}"
        if maximum is not None:
            bound = f"from {minimum:g} to {maximum:g}"
        try:
            value = float(text or "")
        except ValueError:
            value = math.nan
        in_range = (value >= minimum if inclusive else value > minimum) and (maximum is None or value <= maximum)
        if not math.isfinite(value) or not in_range:
            self.fail(key, f"expected a number {bound}, got {text!r}")
            return float(MESOS_CONFIG_OPTIONS[key]["default"])
        return value

    def whole(self, key: str, *, minimum: int) -> int:
        text = self.text(key)
        try:
            number = float(text or "")
            value = int(number) if math.isfinite(number) and number.is_integer() else None
        except ValueError:
            value = None
        if value is None or value < minimum:
            self.fail(key, f"expected a whole number >= {minimum}, got {text!r}")
            return int(MESOS_CONFIG_OPTIONS[key]["default"])
        return value

    def boolean(self, key: str) -> bool:
        text = (self.text(key) or "").lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self.fail(key, f"expected True or False, got {self.text(key)!r}")
        return MESOS_CONFIG_OPTIONS[key]["default"].lower() in _TRUE

    def json(self, key: str, kind: type, example: str) -> Any:
        text = self.text(key)
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            self.fail(key, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); expected {example}")
            return None
        if not isinstance(value, kind):
            self.fail(key, f"expected {example}, got a JSON {type(value).__name__}")
            return None
        return value


def _master(reader: _Reader) -> MasterAddress:
    text = reader.text("master") or ""
    try:
        spec = parse_master_spec(text)
    except MasterDetectionError as exc:
        reader.fail("master", f"{exc} (expected http://m1:5050,http://m2:5050 or zk://h1:2181,h2:2181/mesos)")
        return MasterAddress(MESOS_CONFIG_OPTIONS["master"]["default"], ("http://127.0.0.1:5050",))
    if isinstance(spec, ZooKeeperSpec):
        return MasterAddress(text, spec)
    return MasterAddress(",".join(spec), tuple(spec))


def _roles(reader: _Reader) -> tuple[str, ...]:
    text = reader.text("role") or ""
    roles = tuple(part.strip() for part in text.split(","))
    for role in roles:
        problem = role_name_problem(role)
        if problem:
            reader.fail("role", f"{problem} (in {text!r})")
            return ("*",)
    duplicates = sorted({role for role in roles if roles.count(role) > 1})
    if duplicates:
        reader.fail("role", f"{', '.join(map(repr, duplicates))} listed twice (in {text!r})")
    return roles


def _volumes(reader: _Reader, container_type: str) -> tuple[Any, ...]:
    text = reader.text("volumes") or ""
    if text and text[0] not in "[{":
        # Not JSON: a comma-separated list of "host_path:container_path[:ro|rw]".
        raw: Any = [item.strip() for item in text.split(",") if item.strip()]
    else:
        raw = reader.json("volumes", list, 'a JSON list such as [{"host_path": "/srv", "container_path": "/srv"}]')
    try:
        volumes = parse_volumes(raw, where=f"[{SECTION}] volumes", allow_short=True)
    except TaskConfigError as exc:
        reader.problems.append(str(exc))
        return ()
    # With container_type 'process' the defaults still serve the tasks that ask for a container.
    return volumes


def _env(reader: _Reader) -> Mapping[str, str]:
    raw = reader.json("env", dict, 'a JSON object such as {"TZ": "UTC"}')
    try:
        return ReadOnlyDict(check_env(raw, where=f"[{SECTION}] env"))
    except TaskConfigError as exc:
        reader.problems.append(str(exc))
        return ReadOnlyDict()


def _url(reader: _Reader) -> str:
    own = reader.raw("task_api_url")
    core = reader.raw("execution_api_server_url", section="core")
    url = own or core
    if url is None:
        reader.fail(
            "task_api_url",
            "not set, and neither is [core] execution_api_server_url: set one to the Execution API URL as tasks "
            "on the agents reach it (http://<api-server host>:8080/execution/; localhost on an agent is the agent)",
        )
        return ""
    where = "task_api_url" if own else "task_api_url (from [core] execution_api_server_url)"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        reader.fail(where, f"expected an http(s) URL such as http://airflow-api:8080/execution/, got {url!r}")
    return url


def _dags_folder(reader: _Reader) -> str:
    folder = reader.raw("dags_folder") or reader.raw("dags_folder", section="core")
    if folder is None:
        reader.fail("dags_folder", "not set, and neither is [core] dags_folder")
        return ""
    if not folder.startswith("/"):
        reader.fail("dags_folder", f"expected an absolute path (as tasks see it), got {folder!r}")
    return folder


def _secret(reader: _Reader) -> Secret | None:
    try:
        value = reader.conf.get(SECTION, "secret", fallback=None)
    except Exception as exc:  # Airflow runs secret_cmd / asks the secrets backend here
        # Airflow's message quotes the command's output, which may hold the secret: not repeated.
        reader.fail("secret", f"could not be read ({type(exc).__name__} from secret_cmd or secret_secret; run "
                              "the command by hand to see why)")
        return None
    # A secret_cmd's output comes with the command's final newline.
    text = None if value is None else str(value).rstrip("\r\n")
    return Secret(text) if text else None


_ORDER = {name: index for index, name in enumerate(MESOS_CONFIG_OPTIONS)}


def _option_order(problem: str) -> int:
    """Problems in the order the options are documented (``[mesos] cpus: ...`` -> the index of cpus)."""
    name = problem.removeprefix(f"[{SECTION}] ").split(":", 1)[0].split(".", 1)[0].split("[", 1)[0].split(" ", 1)[0]
    return _ORDER.get(name, len(_ORDER))


def load_settings(
    conf: ConfigSource,
    *,
    default_user: Callable[[], str] = getpass.getuser,
    default_python: str | None = None,
) -> MesosSettings:
    """Parse and validate ``[mesos]``.

    :param conf: ``airflow.configuration.conf``, an ``ExecutorConf``, or a :class:`DictConf`.
    :param default_user: the ``framework_user`` when unset (the scheduler's OS user).
    :param default_python: the ``python`` when unset (default ``sys.executable``).
    :raises SettingsError: naming every bad option and why.
    """
    reader = _Reader(conf)
    master = _master(reader)
    framework_name = reader.text("framework_name") or "airflow"
    roles = _roles(reader)
    principal = reader.text("principal")
    secret = _secret(reader)
    if secret is not None and principal is None:
        reader.fail("secret", "set without [mesos] principal; authentication needs both")

    container_type = (reader.text("container_type") or "").lower()
    if container_type not in CONTAINER_TYPES:
        reader.fail("container_type", f"expected one of {', '.join(CONTAINER_TYPES)}, got {reader.text('container_type')!r}")
        container_type = "mesos"
    allow_plain = reader.boolean("allow_plain_token_for_docker")
    if container_type == "docker" and not allow_plain:
        reader.fail(
            "container_type",
            "'docker' needs [mesos] allow_plain_token_for_docker = True: Mesos secrets work only with the Mesos "
            "containerizer, so with the Docker containerizer each task's Execution API token would be a plain "
            "environment variable, visible in docker inspect and the agent's state (docs/secrets.md); use "
            "container_type = mesos, or opt in to that",
        )
    image = reader.text("image") or ""
    if any(char.isspace() for char in image):
        reader.fail("image", f"an image name has no whitespace, got {image!r}")
    if not image and container_type != "process":
        reader.fail("image", f"must be set: container_type {container_type!r} runs a container image")
    gpus = reader.whole("gpus", minimum=0)
    if gpus and container_type == "docker":
        reader.fail("gpus", "GPUs need the Mesos containerizer (container_type 'mesos' or 'process')")
    network = reader.text("network") or "host"
    if any(char.isspace() for char in network):
        reader.fail("network", f"a network name has no whitespace, got {network!r}")

    settings = MesosSettings(
        master=master,
        framework_name=framework_name,
        role=",".join(roles),
        principal=principal,
        secret=secret,
        ca_file=reader.text("ca_file"),
        checkpoint=reader.boolean("checkpoint"),
        failover_timeout=reader.number("failover_timeout", minimum=0, inclusive=True),
        container_type=container_type,
        image=image,
        force_pull=reader.boolean("force_pull"),
        cpus=reader.number("cpus", minimum=0, inclusive=False),
        mem=reader.number("mem", minimum=0, inclusive=False),
        disk=reader.number("disk", minimum=0, inclusive=True),
        gpus=gpus,
        network=network,
        volumes=_volumes(reader, container_type),
        env=_env(reader),
        refuse_seconds=reader.number("refuse_seconds", minimum=0, inclusive=True),
        revive_min_interval=reader.number("revive_min_interval", minimum=0, inclusive=True),
        task_api_url=_url(reader),
        framework_user=reader.text("framework_user") or default_user(),
        python=reader.text("python") or default_python or sys.executable,
        dags_folder=_dags_folder(reader),
        unreachable_grace=reader.number("unreachable_grace", minimum=0, inclusive=True),
        partition_aware=reader.boolean("partition_aware"),
        reconcile_grace=reader.number("reconcile_grace", minimum=0, inclusive=True),
        adopt_timeout=reader.number("adopt_timeout", minimum=0, inclusive=True),
        placement_timeout=reader.number("placement_timeout", minimum=0, inclusive=True),
        health_check_port=(reader.whole("health_check_port", minimum=1) if reader.raw("health_check_port")
                           else None),
        health_disconnect_threshold=reader.number("health_disconnect_threshold", minimum=0, inclusive=False),
        kill_grace_period=reader.number("kill_grace_period", minimum=0, inclusive=True),
        token_remint_fraction=reader.number("token_remint_fraction", minimum=0, inclusive=True, maximum=1),
        allow_plain_token_for_docker=allow_plain,
        request_timeout=reader.number("request_timeout", minimum=0, inclusive=False),
        task_log_max_bytes=reader.whole("task_log_max_bytes", minimum=1),
        warm_workers=reader.boolean("warm_workers"),
        warm_executor_cpus=reader.number("warm_executor_cpus", minimum=0, inclusive=False),
        warm_executor_mem=reader.number("warm_executor_mem", minimum=0, inclusive=False),
        warm_idle_timeout=reader.number("warm_idle_timeout", minimum=0, inclusive=True),
        offer_hold_seconds=reader.number("offer_hold_seconds", minimum=0, inclusive=True),
    )
    if reader.problems:
        problems = sorted(reader.problems, key=_option_order)
        raise SettingsError("; ".join(problems), tuple(problems))
    return settings
