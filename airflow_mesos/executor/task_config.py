"""The per-task ``executor_config={"mesos": {...}}`` schema.

A task instance overrides the ``[mesos]`` task defaults through its
``executor_config``::

    BashOperator(
        task_id="train",
        bash_command="...",
        executor="MesosExecutor",
        executor_config=mesos_executor_config(
            cpus=2, mem=4096, image="registry.example.com/train:1.4",
            constraints=[["rack", "IS", "r1"]],
            volumes=[{"host_path": "/srv/data", "container_path": "/data", "mode": "RO"}],
        ),
    )

Keys of ``executor_config["mesos"]`` (every one optional; unset = the ``[mesos]`` default):

==================== ============================================================
``cpus``             number > 0
``mem``              MiB, number > 0
``disk``             MiB, number >= 0
``gpus``             whole number >= 0 (Mesos containerizer only)
``image``            container image (``container_type`` mesos or docker)
``force_pull``       bool: pull the image on every launch
``container_type``   ``mesos`` | ``docker`` | ``process``
``volumes``          list of volumes (below), added to ``[mesos] volumes``; a task
                     volume with the same ``container_path`` replaces the default one
``env``              {name: value} of non-secret variables, over ``[mesos] env``
``constraints``      Marathon-style placement constraints, ``[["rack", "IS", "r1"]]``
                     (:mod:`~airflow_mesos.executor.constraints`)
``role``             one of the framework's roles (``[mesos] role``)
``warm``             bool: run in a warm worker (``[mesos] warm_workers``); ``False``
                     for a task that must have a fresh interpreter.  ``True`` is an
                     error with ``container_type`` docker, with gpus, or with Airflow
                     options of its own in ``env``, which always run as command tasks
==================== ============================================================

Volumes, the same form for ``[mesos] volumes`` and per task:

- a directory of the agent: ``{"host_path": "/srv/data", "container_path": "/data", "mode": "RO"}``;
- a named Docker volume (Mesos' ``docker/volume`` isolator or the Docker containerizer):
  ``{"docker_volume": "pgdata", "driver": "rexray", "driver_options": {"size": "10"},
  "container_path": "/pg", "mode": "RW"}``;
- in ``[mesos] volumes`` only, also the short string ``"host_path:container_path[:ro|rw]"``.

``mode`` is ``RO`` or ``RW`` (default ``RW``); ``host_path`` and ``container_path`` are absolute.
Volumes need a container: a ``process`` task (no container) can have none.

Only the top-level key ``"mesos"`` is ours: other executors' keys (``"KubernetesExecutor"``,
``"pod_override"``) are ignored, but an unknown key inside ``"mesos"`` is an error, and so is a
top-level key that is evidently a misspelt ``"mesos"`` (``"Mesos"``, ``"MesosExecutor"``), which
would otherwise be silently ignored.

This module imports nothing of Airflow: DAG files import it (through
:func:`mesos_executor_config`), and so does pure code.  :func:`resolve` merges a
:class:`TaskConfig` with the :class:`~airflow_mesos.executor.settings.MesosSettings` into the
concrete :class:`TaskSpec` a task is launched with.
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
)
from pydantic_core import PydanticCustomError

from airflow_mesos.exceptions import AirflowMesosError
from airflow_mesos.executor.constraints import Constraint, ConstraintError, parse_constraints

if TYPE_CHECKING:
    from airflow_mesos.executor.settings import MesosSettings

__all__ = [
    "CONTAINER_TYPES",
    "EXECUTOR_CONFIG_KEY",
    "SECRET_ENV_VARS",
    "DockerVolume",
    "HostPathVolume",
    "TaskConfig",
    "TaskConfigError",
    "TaskSpec",
    "ReadOnlyDict",
    "Volume",
    "check_env",
    "merge_volumes",
    "mesos_executor_config",
    "parse_executor_config",
    "parse_volumes",
    "resolve",
    "role_name_problem",
]

EXECUTOR_CONFIG_KEY = "mesos"
"""The key of ``executor_config`` that holds this executor's options."""

CONTAINER_TYPES = ("mesos", "docker", "process")
"""``mesos``: Mesos containerizer with an image; ``docker``: Docker containerizer; ``process``: no container."""

_WHERE = f"executor_config.{EXECUTOR_CONFIG_KEY}"

# Airflow's own secrets, as environment variables (with the ``_CMD`` / ``_SECRET``
# forms Airflow also reads).  They belong to the scheduler, the api-server and the
# dag-processor; a task never needs them: its worker talks only to the Execution
# API, with the URL and the token the executor gives it, and reaches connections
# and variables through that API.  Handing them to tasks would give every DAG
# author the database and the keys that sign every task's token.
_SECRET_OPTIONS = (
    ("database", "sql_alchemy_conn"),
    ("database", "sql_alchemy_conn_async"),
    ("core", "sql_alchemy_conn"),  # the deprecated name, still honoured
    ("core", "fernet_key"),
    ("api_auth", "jwt_secret"),
    ("api", "secret_key"),
    ("webserver", "secret_key"),  # the deprecated name of [api] secret_key
    ("mesos", "secret"),  # the framework's own credential
)
SECRET_ENV_VARS: Mapping[str, str] = MappingProxyType(
    {
        f"AIRFLOW__{section.upper()}__{key.upper()}{suffix}": f"[{section}] {key}"
        for section, key in _SECRET_OPTIONS
        for suffix in ("", "_CMD", "_SECRET")
    }
)
"""Environment variable names refused in ``env`` -> the Airflow option they set."""

_TAG_HOST_PATH = "HostPathVolume"
_TAG_DOCKER_VOLUME = "DockerVolume"
_SHOWN_INPUT_MAX = 60
_SHOW_INPUT_KINDS = frozenset(
    {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "literal_error", "finite_number"}
)


class TaskConfigError(AirflowMesosError, ValueError):
    """``executor_config["mesos"]`` (or a volume or env list) is invalid.

    The message names every bad field as a path, ``executor_config.mesos.cpus:
    Input should be greater than 0 (got -1)``, joined by ``"; "``;
    :attr:`problems` holds them as ``(path, message)`` pairs.
    """

    def __init__(self, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)

    @classmethod
    def from_problems(cls, problems: Sequence[tuple[str, str]]) -> TaskConfigError:
        return cls("; ".join(f"{path}: {message}" for path, message in problems), problems)


class ReadOnlyDict(dict):
    """A dict that refuses changes: the env of settings and specs.

    A dict (not a ``MappingProxyType``) so ``json.dumps``, ``dataclasses.asdict``,
    ``copy.deepcopy`` and pickling keep working on the frozen objects holding it.
    """

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("read-only mapping: build a new dict (dict(env) | {...}) instead")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (dict(self),))

    def __repr__(self) -> str:
        return f"ReadOnlyDict({dict.__repr__(self)})"


# --------------------------------------------------------------------------- names


def role_name_problem(role: str) -> str | None:
    """Why ``role`` is not a valid Mesos role name, or None (Mesos' ``roles::validate`` rules)."""
    if role == "*":
        return None
    if not role:
        return "a role name must not be empty"
    if role.startswith("/") or role.endswith("/") or "//" in role:
        return f"role {role!r}: '/' separates the parts of a hierarchical role and cannot start, end or repeat"
    for part in role.split("/"):
        if part in (".", "..", "*"):
            return f"role {role!r}: {part!r} is not allowed as (a part of) a role name"
        if part.startswith("-"):
            return f"role {role!r}: a role name (or part) must not start with '-'"
        if any(char.isspace() or ord(char) < 0x20 or ord(char) == 0x7F for char in part):
            return f"role {role!r}: a role name must not contain whitespace or control characters"
    return None


def _secret_env_option(name: str) -> str | None:
    """The Airflow option a refused variable name sets (also its team-scoped ``AIRFLOW__T___`` form)."""
    upper = name.upper()
    if upper in SECRET_ENV_VARS:
        return SECRET_ENV_VARS[upper]
    if upper.startswith("AIRFLOW__") and "___" in upper:
        base = "AIRFLOW__" + upper.split("___", 1)[1]
        return SECRET_ENV_VARS.get(base)
    return None


# --------------------------------------------------------------------------- validators


def _mode(value: Any) -> str:
    if not isinstance(value, str) or value.upper() not in ("RO", "RW"):
        raise PydanticCustomError("mode", f"mode must be 'RO' (read-only) or 'RW' (read-write), got {value!r}")
    return value.upper()


def _path_problem(path: str, what: str) -> None:
    if not path:
        raise PydanticCustomError("empty_path", f"{what} must not be empty")
    if ":" in path:
        # Docker takes volumes as "source:target:mode"; a colon cannot be told apart.
        raise PydanticCustomError("colon_in_path", f"{what} must not contain ':' (got {path!r})")
    if "\0" in path:
        raise PydanticCustomError("nul_in_path", f"{what} must not contain NUL")


def _container_path(value: str) -> str:
    _path_problem(value, "container_path")
    if not value.startswith("/"):
        raise PydanticCustomError(
            "relative_container_path", f"container_path must be an absolute path in the container (got {value!r})"
        )
    return posixpath.normpath(value)


def _check_name(value: str, what: str) -> str:
    if not value.strip():
        raise PydanticCustomError("empty", f"{what} must not be empty")
    if ":" in value or any(char.isspace() for char in value):
        raise PydanticCustomError("bad_name", f"{what} must not contain ':' or whitespace (got {value!r})")
    return value


Mode = Annotated[Literal["RO", "RW"], BeforeValidator(_mode)]


class HostPathVolume(BaseModel):
    """A directory of the agent mounted into the task (``Volume.host_path``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host_path: StrictStr
    container_path: StrictStr
    mode: Mode = "RW"

    @field_validator("host_path")
    @classmethod
    def _host_path_absolute(cls, value: str) -> str:
        _path_problem(value, "host_path")
        if not value.startswith("/"):
            raise PydanticCustomError(
                "relative_host_path", f"host_path must be an absolute path on the agent (got {value!r})"
            )
        return posixpath.normpath(value)

    @field_validator("container_path")
    @classmethod
    def _container_path_valid(cls, value: str) -> str:
        return _container_path(value)


class DockerVolume(BaseModel):
    """A named Docker volume (``Volume.source`` of type ``DOCKER_VOLUME``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    docker_volume: StrictStr
    driver: StrictStr | None = None
    driver_options: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    container_path: StrictStr
    mode: Mode = "RW"

    @field_validator("docker_volume")
    @classmethod
    def _volume_name(cls, value: str) -> str:
        return _check_name(value, "docker_volume (the volume's name)")

    @field_validator("driver")
    @classmethod
    def _driver_name(cls, value: str | None) -> str | None:
        return None if value is None else _check_name(value, "driver")

    @field_validator("container_path")
    @classmethod
    def _container_path_valid(cls, value: str) -> str:
        return _container_path(value)


def _volume_kind(value: Any) -> str | None:
    if isinstance(value, (HostPathVolume, DockerVolume)):
        return _TAG_HOST_PATH if isinstance(value, HostPathVolume) else _TAG_DOCKER_VOLUME
    if not isinstance(value, Mapping):
        return None
    has_host, has_docker = "host_path" in value, "docker_volume" in value
    if has_host == has_docker:
        return None
    return _TAG_HOST_PATH if has_host else _TAG_DOCKER_VOLUME


Volume = Annotated[
    Union[Annotated[HostPathVolume, Tag(_TAG_HOST_PATH)], Annotated[DockerVolume, Tag(_TAG_DOCKER_VOLUME)]],
    Discriminator(
        _volume_kind,
        custom_error_type="volume_kind",
        custom_error_message="a volume is an object with exactly one of 'host_path' (a directory of the agent) "
        "or 'docker_volume' (a named Docker volume), and 'container_path'",
    ),
]
"""A volume: :class:`HostPathVolume` or :class:`DockerVolume`."""

_TAG_MODELS: dict[str, type[BaseModel]] = {_TAG_HOST_PATH: HostPathVolume, _TAG_DOCKER_VOLUME: DockerVolume}


def _unique_container_paths(volumes: tuple[Any, ...]) -> tuple[Any, ...]:
    seen: dict[str, int] = {}
    for index, volume in enumerate(volumes):
        if volume.container_path in seen:
            raise PydanticCustomError(
                "duplicate_container_path",
                f"volumes [{seen[volume.container_path]}] and [{index}] both mount at container_path "
                f"{volume.container_path!r}",
            )
        seen[volume.container_path] = index
    return volumes


def _env_vars(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not name or "=" in name or "\0" in name:
            raise PydanticCustomError(
                "env_name", f"{name!r} is not an environment variable name (empty, or has '=' or NUL)"
            )
        option = _secret_env_option(name)
        if option is not None:
            raise PydanticCustomError(
                "secret_env",
                f"{name} is Airflow's secret {option}, which tasks never get: a task's worker needs only the "
                "Execution API URL and its token (the executor gives it both) and reads connections and "
                "variables through that API",
                {"subpath": f".{name}"},
            )
    return value


class TaskConfig(BaseModel):
    """``executor_config["mesos"]``: what one task overrides; ``None`` = the ``[mesos]`` default."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, arbitrary_types_allowed=True)

    cpus: StrictFloat | None = Field(default=None, gt=0)
    mem: StrictFloat | None = Field(default=None, gt=0)
    disk: StrictFloat | None = Field(default=None, ge=0)
    gpus: StrictInt | None = Field(default=None, ge=0)
    image: StrictStr | None = None
    force_pull: StrictBool | None = None
    container_type: Literal["mesos", "docker", "process"] | None = None
    volumes: tuple[Volume, ...] | None = None
    env: dict[StrictStr, StrictStr] | None = None
    constraints: tuple[Constraint, ...] | None = None
    role: StrictStr | None = None
    warm: StrictBool | None = None

    @field_validator("image")
    @classmethod
    def _image_not_blank(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(char.isspace() for char in value)):
            raise PydanticCustomError("image", "an image name must not be empty or contain whitespace")
        return value

    @field_validator("volumes")
    @classmethod
    def _volumes_unique(cls, value: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        return None if value is None else _unique_container_paths(value)

    @field_validator("env")
    @classmethod
    def _env_not_secret(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return None if value is None else _env_vars(value)

    @field_validator("constraints", mode="before")
    @classmethod
    def _parse_constraints(cls, value: Any) -> tuple[Constraint, ...] | None:
        if value is None:
            return None
        try:
            return parse_constraints(value, where="")
        except ConstraintError as exc:
            # parse_constraints names the item as "[1][2]: ..." after ``where``; keep that
            # as a sub-path so the full path reads executor_config.mesos.constraints[1][2].
            subpath, _, detail = str(exc).partition(": ")
            raise PydanticCustomError("constraint", "{detail}", {"detail": detail, "subpath": subpath}) from None

    @field_validator("role")
    @classmethod
    def _role_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        problem = role_name_problem(value)
        if problem:
            raise PydanticCustomError("role", "{problem}", {"problem": problem})
        return value

    @field_serializer("constraints")
    def _constraints_json(self, value: tuple[Constraint, ...] | None) -> list[list[str]] | None:
        return None if value is None else [constraint.as_list() for constraint in value]


# --------------------------------------------------------------------------- error messages


def _join_path(prefix: str, loc: Iterable[Any]) -> str:
    path = prefix
    previous: Any = None
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
        elif item in _TAG_MODELS and isinstance(previous, int):
            pass  # the union member pydantic tried; not part of the user's path
        elif item == "[key]":
            path += " (the name)"
        else:
            path += f".{item}" if path else str(item)
        previous = item
    return path


def _known_keys(loc: tuple[Any, ...], top: type[BaseModel] | None) -> list[str]:
    if len(loc) >= 2 and isinstance(loc[-2], str) and loc[-2] in _TAG_MODELS:
        return list(_TAG_MODELS[loc[-2]].model_fields)
    if len(loc) == 1 and top is not None:
        return list(top.model_fields)
    return []


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_INPUT_MAX else text[: _SHOWN_INPUT_MAX - 3] + "..."


def _problems(exc: ValidationError, prefix: str, top: type[BaseModel] | None = None) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        ctx = error.get("ctx") or {}
        path = _join_path(prefix, loc) + str(ctx.get("subpath", ""))
        kind = error["type"]
        if kind == "extra_forbidden":
            message = "unknown key"
            close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc, top), n=1, cutoff=0.6)
            if close:
                message += f" (did you mean {close[0]!r}?)"
            else:
                known = _known_keys(loc, top)
                if known:
                    message += f"; expected one of {', '.join(known)}"
        else:
            message = error["msg"]
            # Show the input only with pydantic's own messages (ours name it when useful), and
            # never for env and driver_options, whose values may be secrets.
            private = any(part in ("env", "driver_options") for part in loc if isinstance(part, str))
            if (kind.endswith("_type") or kind in _SHOW_INPUT_KINDS) and not private:
                message += f" (got {_shown(error['input'])})"
        problems.append((path, message))
    return problems


# --------------------------------------------------------------------------- public parsing

_VOLUMES = TypeAdapter(tuple[Volume, ...])
_ENV = TypeAdapter(dict[StrictStr, StrictStr])


def _short_volume(text: str, where: str) -> dict[str, str]:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(parts[:2]):
        raise TaskConfigError.from_problems(
            [(where, f"expected 'host_path:container_path[:ro|rw]', got {text!r}")]
        )
    volume = {"host_path": parts[0], "container_path": parts[1]}
    if len(parts) == 3:
        if parts[2].upper() not in ("RO", "RW"):
            raise TaskConfigError.from_problems([(where, f"the mode after the second ':' must be ro or rw, got {parts[2]!r}")])
        volume["mode"] = parts[2].upper()
    return volume


def parse_volumes(raw: Any, *, where: str = f"{_WHERE}.volumes", allow_short: bool = False) -> tuple[Any, ...]:
    """Validate a list of volumes (``None`` = none).

    :param where: the path errors start with (``[mesos] volumes``).
    :param allow_short: also accept ``"host_path:container_path[:ro|rw]"`` strings (``[mesos] volumes``).
    :raises TaskConfigError: naming each bad item and field.
    """
    if raw is None:
        return ()
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise TaskConfigError.from_problems([(where, f"expected a list of volumes, got {type(raw).__name__}")])
    items = list(raw)
    if allow_short:
        items = [_short_volume(item, f"{where}[{i}]") if isinstance(item, str) else item for i, item in enumerate(items)]
    try:
        volumes = _VOLUMES.validate_python(items)
        return _unique_container_paths(volumes)
    except ValidationError as exc:
        raise TaskConfigError.from_problems(_problems(exc, where)) from None
    except PydanticCustomError as exc:
        raise TaskConfigError.from_problems([(where, exc.message())]) from None


def check_env(raw: Any, *, where: str = f"{_WHERE}.env") -> dict[str, str]:
    """Validate ``{name: value}`` environment variables; refuses Airflow's secrets (:data:`SECRET_ENV_VARS`).

    :raises TaskConfigError: naming the bad variable (never showing a value).
    """
    if raw is None:
        return {}
    try:
        env = _ENV.validate_python(raw)
    except ValidationError as exc:
        raise TaskConfigError.from_problems(_problems(exc, where)) from None
    try:
        return _env_vars(env)
    except PydanticCustomError as exc:
        subpath = (exc.context or {}).get("subpath", "")
        raise TaskConfigError.from_problems([(where + subpath, exc.message())]) from None


def _close_mesos_key(key: Any) -> bool:
    """A top-level key that is evidently meant to be ``"mesos"``."""
    if not isinstance(key, str) or key == EXECUTOR_CONFIG_KEY:
        return False
    folded = key.lower().replace("_", "").replace("-", "")
    return folded in ("mesos", "mesosexecutor")


def _validate(options: Any) -> TaskConfig:
    if isinstance(options, TaskConfig):
        return options
    if options is None:
        return TaskConfig()
    if not isinstance(options, Mapping):
        raise TaskConfigError.from_problems(
            [(_WHERE, f"expected a dict of options such as {{'cpus': 2}}, got {type(options).__name__}")]
        )
    try:
        return TaskConfig.model_validate(dict(options))
    except ValidationError as exc:
        raise TaskConfigError.from_problems(_problems(exc, _WHERE, TaskConfig)) from None


def parse_executor_config(executor_config: Any) -> TaskConfig:
    """The :class:`TaskConfig` of a task instance's ``executor_config``.

    ``None``, ``{}`` or no ``"mesos"`` key give the defaults (all ``None``); other
    top-level keys are other executors' and are ignored.

    :raises TaskConfigError: naming every bad field (``executor_config.mesos.cpus: ...``).
    """
    if executor_config is None:
        return TaskConfig()
    if not isinstance(executor_config, Mapping):
        raise TaskConfigError.from_problems(
            [("executor_config", f"expected a dict such as {{'mesos': {{...}}}}, got {type(executor_config).__name__}")]
        )
    misspelt = [key for key in executor_config if _close_mesos_key(key)]
    if misspelt:
        raise TaskConfigError.from_problems(
            [(f"executor_config.{key}", f"unknown key (did you mean {EXECUTOR_CONFIG_KEY!r}?)") for key in misspelt]
        )
    return _validate(executor_config.get(EXECUTOR_CONFIG_KEY))


def mesos_executor_config(**options: Any) -> dict[str, Any]:
    """Build a task's ``executor_config`` for the MesosExecutor, validated now.

    Meant for DAG files, so a typo fails when the dag-processor parses the DAG,
    with the field named, not when the task is launched::

        executor_config=mesos_executor_config(cpus=2, mem=4096, constraints=[["rack", "IS", "r1"]])

    :return: ``{"mesos": {...}}``, a plain JSON-able dict (normalised: constraint operators
        upper-cased, volume modes upper-cased, unset options left out).
    :raises TaskConfigError: naming every bad field.
    """
    config = _validate(options)
    return {EXECUTOR_CONFIG_KEY: config.model_dump(mode="json", exclude_none=True)}


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class TaskSpec:
    """What one task instance is launched with: a :class:`TaskConfig` resolved against the settings."""

    cpus: float
    mem: float
    disk: float
    gpus: int
    image: str | None
    """None for ``container_type = process`` (no image)."""
    force_pull: bool
    container_type: str
    volumes: tuple[HostPathVolume | DockerVolume, ...]
    env: Mapping[str, str]
    constraints: tuple[Constraint, ...]
    role: str
    warm: bool = False
    """Run in a warm worker (a custom executor shared with the agent's other tasks of the same kind)."""


def merge_volumes(defaults: Sequence[Any], overrides: Sequence[Any]) -> tuple[Any, ...]:
    """``defaults`` whose container_path no override uses, then ``overrides`` (in their orders)."""
    replaced = {volume.container_path for volume in overrides}
    return tuple(volume for volume in defaults if volume.container_path not in replaced) + tuple(overrides)


def resolve(task_config: TaskConfig, settings: MesosSettings) -> TaskSpec:
    """Fill every unset field of ``task_config`` from ``settings``.

    :raises TaskConfigError: when the combination is not launchable: a role the
        framework did not subscribe with, a container type without an image, GPUs
        with the Docker containerizer, volumes without a container, ``docker``
        without ``[mesos] allow_plain_token_for_docker``.
    """

    def pick(name: str) -> Any:
        value = getattr(task_config, name)
        return getattr(settings, name) if value is None else value

    def origin(name: str) -> str:
        return f"{_WHERE}.{name}" if getattr(task_config, name) is not None else f"[mesos] {name}"

    problems: list[tuple[str, str]] = []
    container_type = pick("container_type")
    role = task_config.role if task_config.role is not None else settings.default_role
    if role not in settings.roles:
        problems.append(
            (
                f"{_WHERE}.role",
                f"{role!r} is not one of the framework's roles ({', '.join(map(repr, settings.roles))}); "
                "add it to [mesos] role, which lists every role the framework subscribes with",
            )
        )
    image = pick("image") if container_type != "process" else None
    if container_type != "process" and not image:
        problems.append(
            (origin("container_type"), f"{container_type!r} runs a container image: set {_WHERE}.image or [mesos] image")
        )
    if container_type == "docker" and not settings.allow_plain_token_for_docker:
        problems.append(
            (
                origin("container_type"),
                "'docker' needs [mesos] allow_plain_token_for_docker = True: the Docker containerizer cannot "
                "receive Mesos secrets, so the task's token would travel in a plain environment variable "
                "(docs/secrets.md)",
            )
        )
    gpus = pick("gpus")
    if gpus and container_type == "docker":
        problems.append(
            (origin("gpus"), f"{gpus} GPU(s) need the Mesos containerizer, but {origin('container_type')} is "
                             "'docker' (GPUs work with container_type 'mesos' or 'process')")
        )
    # [mesos] volumes are the containers' defaults (a DAGs or logs mount, say); a process task has no
    # container to mount them in, so only volumes it asks for itself are an error.
    defaults = settings.volumes if container_type != "process" else ()
    volumes = merge_volumes(defaults, task_config.volumes or ())
    if volumes and container_type == "process":
        where = f"{_WHERE}.volumes"
        problems.append(
            (where, f"container_type 'process' ({origin('container_type')}) runs the task without a container, "
                    "so no volume can be mounted")
        )
    # Warm workers run only where a shared executor can: not with the Docker containerizer (it has no
    # containers nested in an executor's, so every task would still start its own container and Python; and
    # the executor's environment would be in `docker inspect`), and not with gpus (an executor's tasks share
    # its container, so one task's GPUs would be every task's).  Those stay command tasks; asked for
    # explicitly, that is an error rather than a silent fresh interpreter.
    warm = settings.warm_workers if task_config.warm is None else task_config.warm
    if warm and (container_type == "docker" or gpus):
        if task_config.warm:
            why = ("container_type 'docker' runs every task in a container of its own (the Docker containerizer "
                   "cannot run tasks inside an executor's container)" if container_type == "docker" else
                   f"{gpus} GPU(s) need a container of the task's own (a warm executor's tasks share its "
                   "container, and with it their devices)")
            problems.append((f"{_WHERE}.warm", f"a warm worker cannot run this task: {why}; drop warm, or "
                                               "set it to false"))
        warm = False
    if warm and task_config.env:
        # Airflow reads most of its options once, on import, and a warm executor imported it with the shared
        # environment: a task with Airflow settings of its own needs a fresh interpreter (the executor would
        # refuse it).  Imported here, not at the top: DAG files import this module.
        from airflow_mesos.warm.runner import import_time_conflict

        conflict = import_time_conflict(task_config.env, settings.env)
        if conflict is not None:
            if task_config.warm:
                problems.append((f"{_WHERE}.warm", f"a warm worker cannot run this task: {conflict}"))
            warm = False
    if problems:
        raise TaskConfigError.from_problems(problems)
    env = dict(settings.env)
    env.update(task_config.env or {})
    return TaskSpec(
        cpus=float(pick("cpus")),
        mem=float(pick("mem")),
        disk=float(pick("disk")),
        gpus=int(gpus),
        image=image,
        force_pull=bool(pick("force_pull")),
        container_type=container_type,
        volumes=volumes,
        env=ReadOnlyDict(env),
        constraints=task_config.constraints or (),
        role=role,
        warm=bool(warm),
    )

