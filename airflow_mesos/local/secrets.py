"""Environment secrets for tasks, resolved as stock Mesos' default secret resolver does.

- ``Environment.Variable`` of ``type: SECRET`` with ``secret.type: VALUE``: the
  value is ``secret.value.data`` (base64 in JSON);
- ``secret.type: REFERENCE``: stock Mesos has no secret store, so its default
  resolver fails with "Default secret resolver cannot resolve references"
  (apache/mesos ``src/secret/resolver.cpp``) and so do we;
- the Docker containerizer has no secret support (docs/secrets.md: "Secrets are
  only supported for Mesos containerizer and not for the Docker containerizer");
  :func:`refuse_for_docker` refuses such tasks.

A resolved value is held in :class:`SecretValue`, whose ``repr``/``str`` never
show it, so it cannot leak through a log line, an error message or a state
endpoint by accident.

How a secret reaches a task in a container without showing in ``docker
inspect``: the agent writes the secrets to a ``0400`` file *outside* the
sandbox (so ``/files`` cannot serve it) and bind-mounts it, together with the
host's static busybox, read-only into the container.  The container's
entrypoint is a tiny shell shim (:func:`shim_entrypoint`) that sources the
file and ``exec``\\ s the real command, so ``Config.Env`` holds only plain
variables.  The file is deleted when the container is removed.

Whatever user the task runs as, it gets its secrets: in Mesos the
``environment_secret`` isolator puts the resolved values into the
``ContainerLaunchInfo``'s task environment, and the user switch comes after
that, so the user plays no part.  Here the shim runs as the container's own
user, so the file is handed to exactly that user: once the container exists,
its effective ``Config.User`` (the task's ``CommandInfo.user``, else the
image's ``USER``, else root) is resolved to a uid with Docker's rules
(:func:`container_uid`, reading the image's ``/etc/passwd`` only for a user
name) and the file is ``chown``\\ ed to that uid, still mode ``0400``.  Its
directory stays ``0700`` root, so no host user (not even one with that uid)
can reach it; inside the container the bind mount bypasses the host path.

The other way (start the shim as root, source the file, then drop to the
configured user with busybox) was not taken: ``docker inspect`` would show
``User: 0`` instead of the task's user, and the shim would have to redo
Docker's user switch (supplementary groups, ``HOME``, capabilities) by hand,
where any difference changes how the task runs.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airflow_mesos.exceptions import AirflowMesosError

SHIM_DIR = "/.mesos-secrets"
"""Where the shim's files are mounted inside a container."""
SHIM_ENV_FILE = f"{SHIM_DIR}/env"
SHIM_BUSYBOX = f"{SHIM_DIR}/busybox"


class SecretError(AirflowMesosError):
    """A secret could not be resolved; the message names the variable, never the value."""


class SecretValue:
    """A secret's bytes that never print themselves."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def reveal(self) -> str:
        """The value, for the one place that hands it to a task."""
        return self._data.decode("utf-8", errors="surrogateescape")

    def __repr__(self) -> str:
        return "SecretValue(******)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and other._data == self._data

    def __hash__(self) -> int:
        return hash(self._data)


@dataclass(frozen=True)
class ResolvedEnvironment:
    """A task's environment split into plain variables and secrets (in declaration order)."""

    plain: dict[str, str]
    secrets: dict[str, SecretValue]


def secret_names(variables: list[dict]) -> list[str]:
    """Names of the SECRET-typed variables of an ``Environment.variables`` list."""
    return [v.get("name", "") for v in variables if v.get("type") == "SECRET"]


def refuse_for_docker(variables: list[dict]) -> str | None:
    """The refusal message if a DOCKER-containerizer task declares secret variables, else None."""
    names = secret_names(variables)
    if not names:
        return None
    listed = ", ".join(f"'{n}'" for n in names)
    return (
        f"Environment variable(s) {listed} of type SECRET: secrets are not supported by the Docker "
        "containerizer; use a MESOS container (container.type MESOS with container.mesos.image)"
    )


def resolve_environment(variables: list[dict]) -> ResolvedEnvironment:
    """Split and resolve an ``Environment.variables`` list (validation as ``common/validation.cpp``).

    :raises SecretError: for a malformed variable or a REFERENCE secret.
    """
    plain: dict[str, str] = {}
    secrets: dict[str, SecretValue] = {}
    for index, variable in enumerate(variables):
        name = variable.get("name")
        if not isinstance(name, str) or not name:
            raise SecretError(f"environment.variables[{index}] has no 'name'")
        kind = variable.get("type", "VALUE")
        if kind == "VALUE":
            if "secret" in variable:
                raise SecretError(f"Environment variable '{name}' of type 'VALUE' must not have a secret set")
            value = variable.get("value")
            if not isinstance(value, str):
                raise SecretError(f"Environment variable '{name}' of type 'VALUE' must have a value set")
            plain[name] = value
            secrets.pop(name, None)
        elif kind == "SECRET":
            secrets[name] = _resolve_secret(name, variable)
            plain.pop(name, None)
        else:
            raise SecretError(f"Environment variable '{name}' has unknown type '{kind}'")
    return ResolvedEnvironment(plain, secrets)


def _resolve_secret(name: str, variable: dict) -> SecretValue:
    secret = variable.get("secret")
    if not isinstance(secret, dict):
        raise SecretError(f"Environment variable '{name}' of type 'SECRET' must have a secret set")
    if "value" in variable:
        raise SecretError(f"Environment variable '{name}' of type 'SECRET' must not have a value set")
    kind = secret.get("type")
    if kind == "REFERENCE" or "reference" in secret:
        raise SecretError(
            f"Environment variable '{name}': Default secret resolver cannot resolve references "
            "(no secret resolver module is configured on this agent)"
        )
    if kind not in (None, "VALUE"):
        raise SecretError(f"Invalid secret specified in environment '{name}': secret type '{kind}' is unknown")
    data = (secret.get("value") or {}).get("data")
    if not isinstance(data, str):
        raise SecretError(
            f"Invalid secret specified in environment '{name}': Secret of type VALUE must have the 'value' field set"
        )
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(f"Invalid secret specified in environment '{name}': value.data is not valid base64") from None
    if b"\0" in raw:
        raise SecretError(
            f"Environment variable '{name}' specifies a secret containing null bytes, which is not allowed "
            "in the environment"
        )
    return SecretValue(raw)


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def env_file_text(secrets: dict[str, SecretValue]) -> str:
    """The shim's env file: one ``export NAME='value'`` per secret (single-quote safe for any byte but NUL)."""
    lines = []
    for name, value in secrets.items():
        if not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise SecretError(f"Environment variable name '{name}' cannot be exported by a shell")
        lines.append(f"export {name}={_shell_quote(value.reveal())}\n")
    return "".join(lines)


def write_env_file(path: Path, secrets: dict[str, SecretValue]) -> None:
    """Write the env file with mode 0400 from its first byte (no window where it is world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(env_file_text(secrets))


MAX_ID = 2**31 - 1
"""The largest uid runc accepts."""


def container_uid(user: str, read_passwd: Callable[[], str | None]) -> int:
    """The uid a Docker container whose ``Config.User`` is ``user`` runs as, by Docker's (runc's) rules.

    ``user`` is ``""`` (root), ``uid``, ``name`` or either with ``:group``.  A
    numeric user is that uid; a name is looked up in the image's
    ``/etc/passwd``, which ``read_passwd`` returns (None when the image has
    none) and is only called for a name.  The group does not matter here: the
    secrets file is readable by its owner only.

    :raises SecretError: for a name the image does not know (Docker's own
        words), or an out-of-range uid.
    """
    name = user.split(":", 1)[0]
    if not name:
        return 0
    if name.isdigit():
        uid = int(name)
        if uid > MAX_ID:
            raise SecretError(f"container user '{user}': uid {uid} is out of range (at most {MAX_ID})")
        return uid
    for line in (read_passwd() or "").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    raise SecretError(f"unable to find user {name}: no matching entries in passwd file")


def hand_env_file_to(path: Path, uid: int) -> None:
    """Make the env file (mode 0400) owned by ``uid``, the one user that may read it.

    :raises SecretError: when the agent may not give the file away (it is not
        root and ``uid`` is not its own).
    """
    if os.stat(path).st_uid == uid:
        return
    try:
        os.chown(path, uid, -1)
    except PermissionError:
        raise SecretError(
            f"cannot hand the secrets file to the container's uid {uid}: the agent runs as uid {os.geteuid()} "
            "and may not chown; run the agent as root, or the task as the agent's uid"
        ) from None


def shim_entrypoint(entrypoint: list[str], command: list[str]) -> tuple[list[str], list[str]]:
    """Wrap ``entrypoint + command`` so the secrets file is sourced first.

    Returns the new (entrypoint, command); both original lists must be known
    (the image's defaults are filled in by the caller).
    """
    script = f'. {SHIM_ENV_FILE} && exec "$@"'
    return [SHIM_BUSYBOX, "sh", "-c", script, "mesos-secret-shim"], [*entrypoint, *command]
