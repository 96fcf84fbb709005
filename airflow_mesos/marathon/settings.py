"""Deployment settings for the Marathon group: load, override, validate.

The settings are a small JSON document (``marathon/settings.default.json`` holds
every default).  They are parsed into frozen pydantic models with unknown keys
forbidden and strict types, and every error names the field as a dotted path
(``apps.scheduler.cpus``) plus where the value came from (a file or ``--set``).

``--set key=value`` overrides use the same dotted paths; the value is read as
JSON when it parses (``2``, ``true``, ``null``, ``"x"``) and as a plain string
otherwise (``image.tag=2.1.0``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Iterable, Literal
from urllib.parse import urlsplit

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from airflow_mesos import __version__
from airflow_mesos.marathon import paths
from airflow_mesos.marathon.errors import SettingsError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ImageSettings(_Model):
    """The airflow-mesos Docker image every Airflow component runs."""

    repository: str = Field("airflow-mesos/airflow", min_length=1)
    # The image this release builds (airflow-mesos image build tags it so); marathon/settings.default.json and
    # marathon/airflow.json carry the same, and tests/unit/marathon/test_render.py keeps them equal.
    tag: str = Field(__version__, min_length=1)
    force_pull: bool = False

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


class AppResources(_Model):
    """Resources and instance count of one app."""

    cpus: float = Field(1.0, ge=0.001)
    mem: int = Field(1024, ge=32, description="MiB")
    disk: int = Field(0, ge=0, description="MiB")
    instances: int = Field(1, ge=0)


class PostgresSettings(AppResources):
    image: str = Field("postgres:15", min_length=1)
    cpus: float = Field(0.5, ge=0.001)
    mem: int = Field(1024, ge=32)
    instances: int = Field(1, ge=0, le=1, description="a REX-Ray volume attaches to one task at a time")


class ApiServerSettings(AppResources):
    mem: int = Field(2048, ge=32)
    port: int = Field(8080, ge=1, le=65535, description="container and (pinned) host port")


class SchedulerSettings(AppResources):
    mem: int = Field(2048, ge=32)
    health_port: int = Field(8974, ge=1, le=65535)
    mesos_health_port: int = Field(8975, ge=1, le=65535)
    """The MesosExecutor's health endpoint ([mesos] health_check_port): unhealthy when Mesos is lost."""


class AppsSettings(_Model):
    postgres: PostgresSettings = PostgresSettings()
    api_server: ApiServerSettings = ApiServerSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    dag_processor: AppResources = AppResources()
    triggerer: AppResources = AppResources(cpus=0.5)


class MesosDnsSettings(_Model):
    domain: str = Field("mesos", min_length=1)
    framework: str = Field("marathon", min_length=1, description="Marathon's --framework_name")


class MesosSettings(_Model):
    master: str = Field("zk://master.mesos:2181/mesos", min_length=1)
    role: str = Field("airflow", min_length=1, description="Mesos role the MesosExecutor framework subscribes with")


class DatabaseSettings(_Model):
    name: str = Field("airflow", min_length=1)
    user: str = Field("airflow", min_length=1)
    port: int = Field(5432, ge=1, le=65535, description="container and (pinned) host port")


class VolumeSettings(_Model):
    """The REX-Ray volume that holds Postgres's data."""

    name: str = Field("airflow-pgdata", min_length=1)
    driver: str = Field("rexray", min_length=1)
    size_gib: int | None = Field(None, ge=1, description="only with containerizer MESOS")
    containerizer: Literal["DOCKER", "MESOS"] = "DOCKER"


class SecretsSettings(_Model):
    """Where the secrets come from; values are never part of the settings."""

    mode: Literal["marathon", "env-file"] = "marathon"
    db_password: str = Field("airflow/pg-password", min_length=1)
    fernet_key: str = Field("airflow/fernet-key", min_length=1)
    jwt_secret: str = Field("airflow/jwt-secret", min_length=1)
    api_secret_key: str = Field("airflow/api-secret-key", min_length=1)
    env_file_uri: str | None = Field(None, min_length=1)


class Settings(_Model):
    """Everything the renderer needs."""

    group_id: str = "/airflow"
    image: ImageSettings = ImageSettings()
    mesos_dns: MesosDnsSettings = MesosDnsSettings()
    mesos: MesosSettings = MesosSettings()
    database: DatabaseSettings = DatabaseSettings()
    volume: VolumeSettings = VolumeSettings()
    secrets: SecretsSettings = SecretsSettings()
    apps: AppsSettings = AppsSettings()


def _semantic_problems(settings: Settings) -> list[str]:
    problems = []
    if not paths.is_absolute(settings.group_id):
        problems.append(f"group_id: {settings.group_id!r} must be absolute (start with '/')")
    for problem in paths.id_problems(settings.group_id):
        problems.append(f"group_id: {settings.group_id!r} {problem}")
    if settings.volume.containerizer == "DOCKER" and settings.volume.size_gib is not None:
        problems.append(
            "volume.size_gib: the Docker containerizer cannot size a REX-Ray volume (Marathon rejects 'size' "
            "there); create the volume beforehand (rexray volume create --size) or set volume.containerizer=MESOS"
        )
    if settings.secrets.mode == "env-file" and not settings.secrets.env_file_uri:
        problems.append("secrets.env_file_uri: required when secrets.mode is 'env-file'")
    if settings.secrets.env_file_uri and urlsplit(settings.secrets.env_file_uri).password is not None:
        problems.append("secrets.env_file_uri: must not carry credentials (user:password@)")
    return problems


def _format_pydantic(exc: pydantic.ValidationError, source: str) -> list[str]:
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        else:
            message = error["msg"]
            if "input" in error and error["type"] not in ("missing",):
                message += f" (got {error['input']!r})"
        lines.append(f"{location}: {message} [{source}]")
    return lines


def build_settings(data: dict[str, Any], *, source: str = "settings") -> Settings:
    """Validate a settings mapping.

    :param source: where ``data`` came from, repeated in error messages.
    :raises SettingsError: listing every problem, each naming its field.
    """
    if not isinstance(data, dict):
        raise SettingsError([f"(top level): expected a JSON object, got {type(data).__name__} [{source}]"])
    try:
        settings = Settings.model_validate(data)
    except pydantic.ValidationError as exc:
        raise SettingsError(_format_pydantic(exc, source)) from None
    problems = _semantic_problems(settings)
    if problems:
        raise SettingsError([f"{p} [{source}]" for p in problems])
    return settings


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into a key path and a value (JSON when it parses, else the string)."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise SettingsError([f"--set {text!r}: expected KEY=VALUE, e.g. apps.scheduler.cpus=2"])
    parts = key.split(".")
    if any(not part for part in parts):
        raise SettingsError([f"--set {text!r}: empty segment in key {key!r}"])
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``KEY=VALUE`` override applied (validation happens later)."""
    result = copy.deepcopy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = result
        for index, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(parts[: index + 1])
                raise SettingsError([f"--set {text!r}: {where} is not a section"])
            node = child
        node[parts[-1]] = value
    return result


def load_settings(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Settings:
    """Read a settings JSON file (or start from the defaults), apply ``--set`` overrides, validate.

    :raises SettingsError: unreadable file, bad JSON, or invalid settings.
    """
    overrides = list(overrides)
    data: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError([f"cannot read settings file {path}: {exc.strerror or exc}"]) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SettingsError([f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}"]) from None
        if not isinstance(data, dict):
            raise SettingsError([f"(top level): expected a JSON object [{path}]"])
    if overrides:
        source = f"{source} + --set"
    return build_settings(apply_overrides(data, overrides), source=source)


def settings_as_dict(settings: Settings) -> dict[str, Any]:
    """Every setting, defaults included, as plain JSON data."""
    return settings.model_dump(mode="json")
