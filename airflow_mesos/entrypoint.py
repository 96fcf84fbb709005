"""The entrypoint of the airflow-mesos image: one image, every Airflow role.

``docker/entrypoint.sh`` runs ``python3 -m airflow_mesos.entrypoint ROLE [ARGS...]``.
The steps, in order:

1. Load the optional env file named by ``AIRFLOW_MESOS_ENV_FILE`` (secrets that
   Marathon fetches into the sandbox).  Variables already in the environment
   win over the file.  Values are never printed.
2. Build ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` from ``AIRFLOW_MESOS_DB_HOST``,
   ``_PORT`` (5432), ``_NAME`` (airflow), ``_USER`` (airflow) and ``_PASSWORD``
   unless a connection is configured already.
3. For the server roles (``api-server``, ``scheduler``, ``dag-processor``,
   ``triggerer``) and ``db-migrate``: wait for the database by name
   (``airflow-mesos dns wait-for``), then run ``airflow db migrate`` while
   holding a PostgreSQL advisory lock, so roles that start together migrate one
   after the other (or, with ``AIRFLOW_MESOS_DB_MIGRATE=false``, only wait for
   ``airflow db check-migrations``).
4. ``exec`` the role's command, so Airflow replaces this process and receives
   the container's signals itself.

``worker`` runs ``python -m airflow.sdk.execution_time.execute_workload`` with
the given arguments (no database: a worker talks only to the Execution API);
any other command runs as it is, after steps 1 and 2.

:func:`plan_launch` and the parsers are pure; :func:`main` and
:func:`migrate_with_lock` are the edges that run processes and talk to
PostgreSQL.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

from airflow_mesos.clock import SYSTEM_CLOCK, Clock
from airflow_mesos.exceptions import AirflowMesosError

SERVER_ROLES = ("api-server", "scheduler", "dag-processor", "triggerer")
"""Roles that use the metadata database: they wait for it and migrate it first."""

WORKER_ROLE = "worker"
MIGRATE_ROLE = "db-migrate"
ROLES = (*SERVER_ROLES, WORKER_ROLE, MIGRATE_ROLE)

ENV_FILE_VAR = "AIRFLOW_MESOS_ENV_FILE"
CONN_VAR = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
# Airflow also reads the connection from a command or a secrets backend; if one
# of these is set the URL is not ours to build.
CONN_ALTERNATIVES = (CONN_VAR, f"{CONN_VAR}_CMD", f"{CONN_VAR}_SECRET")

DEFAULT_DB_PORT = 5432
DEFAULT_DB_NAME = "airflow"
DEFAULT_DB_USER = "airflow"
DEFAULT_DB_WAIT_TIMEOUT = 300.0
DEFAULT_MIGRATE_TIMEOUT = 600.0
DEFAULT_API_PORT = 8080

# Session-level PostgreSQL advisory lock held around `airflow db migrate`.
# Airflow's own migration lock uses the small ids of its DBLocks enum (1, 2);
# this is "airmesos" in ASCII, far from those.
MIGRATION_LOCK_ID = 0x6169726D65736F73

MESSAGE_PREFIX = "airflow-mesos entrypoint:"

USAGE = f"""\
usage: entrypoint ROLE [ARGS...]

roles:
  api-server     wait for and migrate the database, then `airflow api-server --port P`
                 (P: $AIRFLOW__API__PORT, else $PORT0, else 8080)
  scheduler      wait for and migrate the database, then `airflow scheduler`
  dag-processor  wait for and migrate the database, then `airflow dag-processor`
  triggerer      wait for and migrate the database, then `airflow triggerer`
  worker         `python -m airflow.sdk.execution_time.execute_workload ARGS` (no database)
  db-migrate     wait for and migrate the database, then exit
  anything else  is run as it is (e.g. `airflow version`, `sh`)

environment:
  {ENV_FILE_VAR}            file of KEY=VALUE lines to load first (values are never printed;
                                    a relative path is relative to $MESOS_SANDBOX)
  AIRFLOW_MESOS_DB_HOST/_PORT/_NAME/_USER/_PASSWORD
                                    build {CONN_VAR} when it is not set
  AIRFLOW_MESOS_DB_WAIT_TIMEOUT     seconds to wait for the database ({DEFAULT_DB_WAIT_TIMEOUT:g})
  AIRFLOW_MESOS_DB_MIGRATE          true: migrate under a lock; false: wait for another role's migration
  AIRFLOW_MESOS_DB_MIGRATE_TIMEOUT  seconds to wait for the migration lock / migrations ({DEFAULT_MIGRATE_TIMEOUT:g})
  PORT0                             the api-server port with HOST networking (Marathon sets it)
"""


class EntrypointError(AirflowMesosError):
    """A role cannot start; the message says what is wrong and where."""


class EnvFileError(EntrypointError):
    """The env file cannot be read or has a line that is not ``KEY=VALUE``."""


MigrationMode = Literal["migrate", "check"]


@dataclass(frozen=True)
class LaunchPlan:
    """What :func:`main` does for one start of the container.

    :param role: the role name, or ``None`` for a command that runs as it is.
    :param env: the complete environment for every process started.
    :param wait_for: ``HOST:PORT`` of the database to wait for, or ``None``.
    :param wait_timeout: seconds to wait for ``wait_for``.
    :param migration: ``"migrate"``, ``"check"`` or ``None`` (no database step).
    :param migrate_timeout: seconds to wait for the lock or for the migrations.
    :param argv: the command to exec at the end; ``None`` to exit 0 instead.
    """

    role: str | None
    env: dict[str, str] = field(repr=False)
    wait_for: str | None = None
    wait_timeout: float = DEFAULT_DB_WAIT_TIMEOUT
    migration: MigrationMode | None = None
    migrate_timeout: float = DEFAULT_MIGRATE_TIMEOUT
    argv: list[str] | None = field(default=None, repr=False)


# --------------------------------------------------------------------- env file

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def parse_env_file(text: str, source: str) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines.

    Blank lines and lines starting with ``#`` are skipped; ``export KEY=VALUE``
    is accepted.  A value may be wrapped in single or double quotes (which are
    removed); nothing is expanded.  Errors name the file, the line and the key,
    never the value, because the file holds secrets.

    :param text: the file's contents.
    :param source: the file name, for error messages.
    :return: the variables, later lines winning.
    :raises EnvFileError: on a line that is not ``KEY=VALUE``.
    """
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[len("export") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep:
            # Without "=", the whole line could be a secret pasted by mistake:
            # say only where it is.
            raise EnvFileError(f"{source}, line {number}: expected KEY=VALUE")
        if not _KEY.match(key):
            raise EnvFileError(f"{source}, line {number}: {key[:40]!r} is not a valid variable name")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif value[:1] in ("'", '"'):
            raise EnvFileError(f"{source}, line {number}: the value of {key} has an unclosed quote")
        result[key] = value
    return result


def load_env_file(path: str) -> dict[str, str]:
    """Read and parse the env file at ``path`` (see :func:`parse_env_file`).

    :raises EnvFileError: if the file cannot be read or parsed.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise EnvFileError(f"cannot read {ENV_FILE_VAR}={path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise EnvFileError(f"{ENV_FILE_VAR}={path} is not UTF-8 text") from None
    return parse_env_file(text, path)


def env_file_path(environ: Mapping[str, str]) -> str | None:
    """The env file to load, or ``None``.

    A relative ``AIRFLOW_MESOS_ENV_FILE`` is taken relative to ``MESOS_SANDBOX``
    when that is set: Marathon's ``fetch`` puts files in the task sandbox,
    which is not the container's working directory.
    """
    path = environ.get(ENV_FILE_VAR, "").strip()
    if not path:
        return None
    sandbox = environ.get("MESOS_SANDBOX", "").strip()
    if sandbox and not os.path.isabs(path):
        return os.path.join(sandbox, path)
    return path


def merge_env(environ: Mapping[str, str], from_file: Mapping[str, str]) -> dict[str, str]:
    """The environment with the file's variables added; the environment wins.

    Marathon's ``env`` is the explicit, per-app configuration, so it overrides
    the shared secrets file rather than the other way round.
    """
    merged = dict(from_file)
    merged.update(environ)
    return merged


# --------------------------------------------------------------------- database


def _number(env: Mapping[str, str], name: str, default: float, *, integer: bool = False) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise EntrypointError(f"{name}={raw!r} is not a {'whole ' if integer else ''}number") from None
    if value <= 0:
        raise EntrypointError(f"{name}={raw!r} must be greater than 0")
    return value


def _db_port(env: Mapping[str, str]) -> int:
    port = int(_number(env, "AIRFLOW_MESOS_DB_PORT", DEFAULT_DB_PORT, integer=True))
    if port > 65535:
        raise EntrypointError(f"AIRFLOW_MESOS_DB_PORT={port} is not a TCP port (1-65535)")
    return port


def database_url(env: Mapping[str, str]) -> str | None:
    """The SQLAlchemy URL built from ``AIRFLOW_MESOS_DB_*``, or ``None``.

    ``None`` when the connection is configured already (``SQL_ALCHEMY_CONN`` or
    its ``_CMD``/``_SECRET`` forms) or ``AIRFLOW_MESOS_DB_HOST`` is not set.
    User, password and database name are percent-quoted, so any character is
    safe in them.
    """
    if any(env.get(name) for name in CONN_ALTERNATIVES):
        return None
    host = env.get("AIRFLOW_MESOS_DB_HOST", "").strip()
    if not host:
        return None
    port = _db_port(env)
    user = env.get("AIRFLOW_MESOS_DB_USER") or DEFAULT_DB_USER
    name = env.get("AIRFLOW_MESOS_DB_NAME") or DEFAULT_DB_NAME
    password = env.get("AIRFLOW_MESOS_DB_PASSWORD", "")
    credentials = quote(user, safe="")
    if password:
        credentials += ":" + quote(password, safe="")
    return f"postgresql+psycopg2://{credentials}@{host}:{port}/{quote(name, safe='')}"


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable database URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


def database_endpoint(env: Mapping[str, str]) -> str | None:
    """``HOST:PORT`` of the metadata database, or ``None`` if it cannot be known.

    From ``AIRFLOW_MESOS_DB_HOST``/``_PORT`` when set, else from the host of
    ``SQL_ALCHEMY_CONN`` (a connection given as ``_CMD``/``_SECRET`` is only
    known to Airflow, and a SQLite file has no endpoint).
    """
    host = env.get("AIRFLOW_MESOS_DB_HOST", "").strip()
    if host:
        return f"{host}:{_db_port(env)}"
    url = env.get(CONN_VAR, "")
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EntrypointError(f"{CONN_VAR} is not a valid URL: {redact_url(url)}") from None
    if not parts.hostname:
        return None
    if port is None:
        port = DEFAULT_DB_PORT if parts.scheme.startswith("postgres") else None
    if port is None:
        return None
    host = parts.hostname
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def libpq_dsn(url: str) -> str | None:
    """The libpq URI for a SQLAlchemy PostgreSQL URL, or ``None`` for other databases.

    ``postgresql+psycopg2://...`` becomes ``postgresql://...``: libpq knows no
    driver suffix.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    dialect = scheme.partition("+")[0]
    if dialect not in ("postgresql", "postgres"):
        return None
    return f"postgresql://{rest}"


# ------------------------------------------------------------------------ plan


def _truthy(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise EntrypointError(f"{name}={raw!r} is neither true nor false")


def role_command(role: str, args: Sequence[str], env: Mapping[str, str], python: str) -> list[str] | None:
    """The command a role execs, or ``None`` for ``db-migrate`` (which execs nothing)."""
    if role == "api-server":
        # Marathon's PORT0 is the port on the *host*.  With HOST networking that
        # is where to listen; with BRIDGE networking the container listens on
        # its fixed containerPort, which the app states as AIRFLOW__API__PORT.
        source = "AIRFLOW__API__PORT" if env.get("AIRFLOW__API__PORT", "").strip() else "PORT0"
        port = env.get(source, "").strip() or str(DEFAULT_API_PORT)
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise EntrypointError(f"{source}={port!r} is not a port number")
        return ["airflow", "api-server", "--port", port, *args]
    if role in SERVER_ROLES:
        return ["airflow", role, *args]
    if role == WORKER_ROLE:
        return [python, "-m", "airflow.sdk.execution_time.execute_workload", *args]
    if role == MIGRATE_ROLE:
        if args:
            raise EntrypointError(f"{MIGRATE_ROLE} takes no arguments (got {len(args)})")
        return None
    raise EntrypointError(f"unknown role {role!r}")


def plan_launch(argv: Sequence[str], env: Mapping[str, str], python: str = "python3") -> LaunchPlan:
    """Decide what to do for ``entrypoint ARGV`` in environment ``env``.

    Pure: reads nothing but its arguments.

    :param argv: the container's arguments (role first).
    :param env: the environment, with the env file already merged in.
    :param python: the interpreter that runs the worker.
    :raises EntrypointError: for no arguments or bad settings.
    """
    if not argv:
        raise EntrypointError("no role given; run with --help for the roles")
    env = dict(env)
    url = database_url(env)
    if url is not None:
        env[CONN_VAR] = url
    first, rest = argv[0], list(argv[1:])
    if first not in ROLES:
        return LaunchPlan(role=None, env=env, argv=list(argv))
    if first == WORKER_ROLE:
        return LaunchPlan(role=first, env=env, argv=role_command(first, rest, env, python))

    if not any(env.get(name) for name in CONN_ALTERNATIVES):
        raise EntrypointError(
            f"role {first} needs the metadata database: set AIRFLOW_MESOS_DB_HOST "
            f"(and AIRFLOW_MESOS_DB_PASSWORD etc.) or {CONN_VAR}"
        )
    return LaunchPlan(
        role=first,
        env=env,
        wait_for=database_endpoint(env),
        wait_timeout=_number(env, "AIRFLOW_MESOS_DB_WAIT_TIMEOUT", DEFAULT_DB_WAIT_TIMEOUT),
        migration="migrate" if _truthy(env, "AIRFLOW_MESOS_DB_MIGRATE", True) else "check",
        migrate_timeout=_number(env, "AIRFLOW_MESOS_DB_MIGRATE_TIMEOUT", DEFAULT_MIGRATE_TIMEOUT),
        argv=role_command(first, rest, env, python),
    )


# ----------------------------------------------------------------------- edges

Runner = Callable[..., "subprocess.CompletedProcess[Any]"]


def say(message: str) -> None:
    """Print one entrypoint message to stderr (the container log)."""
    print(f"{MESSAGE_PREFIX} {message}", file=sys.stderr, flush=True)


def wait_for_database(endpoint: str, timeout: float, env: Mapping[str, str], run: Runner = subprocess.run) -> None:
    """Wait until ``endpoint`` resolves and accepts TCP, via ``airflow-mesos dns wait-for``.

    :raises EntrypointError: when the wait fails (the command has printed why).
    """
    say(f"waiting up to {timeout:g} s for the database at {endpoint}")
    command = ["airflow-mesos", "dns", "wait-for", endpoint, "--timeout", f"{timeout:g}"]
    try:
        result = run(command, env=dict(env))
    except OSError as exc:
        raise EntrypointError(f"cannot run {command[0]}: {exc}") from None
    if result.returncode != 0:
        raise EntrypointError(
            f"the database at {endpoint} did not become reachable within {timeout:g} s "
            f"(AIRFLOW_MESOS_DB_WAIT_TIMEOUT); exit code {result.returncode}"
        )


def _run_airflow(command: list[str], env: Mapping[str, str], run: Runner) -> None:
    try:
        result = run(command, env=dict(env))
    except OSError as exc:
        raise EntrypointError(f"cannot run {command[0]}: {exc}") from None
    if result.returncode != 0:
        raise EntrypointError(f"`{' '.join(command)}` failed with exit code {result.returncode}")


def migrate_with_lock(
    env: Mapping[str, str],
    timeout: float,
    *,
    clock: Clock = SYSTEM_CLOCK,
    run: Runner = subprocess.run,
    connect: Callable[[str], Any] | None = None,
    poll_interval: float = 1.0,
) -> None:
    """Run ``airflow db migrate`` while holding a PostgreSQL advisory lock.

    Why a lock of our own when Airflow takes one inside ``db migrate``: Airflow
    decides "new database, create all tables" *before* taking its lock, so two
    roles starting on an empty database can both take the create path.  Holding
    one session-level lock around the whole command makes the second role run
    ``db migrate`` only after the first finished, as a no-op.  A session lock
    is released by PostgreSQL when the connection ends, so a role killed while
    migrating does not leave the lock behind.

    For a database that is not PostgreSQL (SQLite in development) or a
    connection only Airflow knows (``_CMD``/``_SECRET``), the command runs
    without the lock.

    :param env: the environment (``SQL_ALCHEMY_CONN`` is read from it).
    :param timeout: seconds to wait for another role's migration to finish.
    :param clock: for the waiting loop.
    :param run: runs the ``airflow`` command (``subprocess.run``).
    :param connect: opens a DB-API connection from a libpq URI (``psycopg2.connect``).
    :param poll_interval: seconds between lock attempts.
    :raises EntrypointError: if the lock cannot be had in time or the migration fails.
    """
    command = ["airflow", "db", "migrate"]
    url = env.get(CONN_VAR, "")
    dsn = libpq_dsn(url) if url else None
    if dsn is None:
        say("the database is not a PostgreSQL URL in the environment; migrating without the lock")
        _run_airflow(command, env, run)
        return
    if connect is None:
        import psycopg2

        connect = psycopg2.connect
    where = redact_url(url)
    try:
        connection = connect(dsn)
    except Exception as exc:  # psycopg2.Error and friends; the message names no password
        raise EntrypointError(f"cannot connect to {where} for the migration lock: {str(exc).strip()}") from None
    held = False
    try:
        connection.autocommit = True
        cursor = connection.cursor()
        deadline = clock.monotonic() + timeout
        announced = False
        while True:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
            held = bool(cursor.fetchone()[0])
            if held:
                break
            if not announced:
                say("another role is migrating the database; waiting for it to finish")
                announced = True
            if clock.monotonic() >= deadline:
                raise EntrypointError(
                    f"gave up after {timeout:g} s (AIRFLOW_MESOS_DB_MIGRATE_TIMEOUT) waiting for the "
                    f"migration lock (advisory lock {MIGRATION_LOCK_ID}) on {where}, held by another role"
                )
            clock.sleep(poll_interval)
        say("holding the migration lock; running `airflow db migrate`")
        _run_airflow(command, env, run)
        say("database migrated")
    finally:
        # Unlock explicitly: the server drops a closed session's locks only
        # when its backend has exited, which can lag behind close().
        if held:
            try:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
            except Exception:  # the session is gone; its end released the lock
                pass
        connection.close()


def check_migrations(env: Mapping[str, str], timeout: float, run: Runner = subprocess.run) -> None:
    """Wait for another role to have migrated the database (``airflow db check-migrations``)."""
    say(f"AIRFLOW_MESOS_DB_MIGRATE is false: waiting up to {timeout:g} s for the migrations")
    _run_airflow(["airflow", "db", "check-migrations", "--migration-wait-timeout", f"{int(timeout)}"], env, run)


def _exit_on_term(signum: int, frame: object) -> None:
    # Until exec, this process is PID 1 in the container, where a signal
    # without a handler is ignored; turn SIGTERM into a prompt exit (the
    # running subprocess is killed by subprocess.run's cleanup).
    say(f"stopped by signal {signum} before the role started")
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the entrypoint; returns an exit code unless it execs the role."""
    args = list(sys.argv[1:] if argv is None else argv)
    environ = dict(os.environ if environ is None else environ)
    if args[:1] in (["--help"], ["-h"], ["help"]):
        print(USAGE, end="")
        return 0
    previous_handler = signal.signal(signal.SIGTERM, _exit_on_term)
    try:
        env_file = env_file_path(environ)
        from_file = load_env_file(env_file) if env_file else {}
        if env_file:
            # Names only: the values are secrets.
            say(f"loaded {len(from_file)} variable(s) from {env_file}: {', '.join(sorted(from_file)) or '-'}")
        plan = plan_launch(args, merge_env(environ, from_file), python=sys.executable or "python3")
        if plan.wait_for:
            wait_for_database(plan.wait_for, plan.wait_timeout, plan.env)
        if plan.migration == "migrate":
            migrate_with_lock(plan.env, plan.migrate_timeout)
        elif plan.migration == "check":
            check_migrations(plan.env, plan.migrate_timeout)
        if plan.argv is None:
            return 0
        # The worker's arguments carry the workload and its token: name the
        # program only.
        say(f"starting {plan.role or plan.argv[0]}")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            os.execvpe(plan.argv[0], plan.argv, plan.env)
        except OSError as exc:
            raise EntrypointError(f"cannot run {plan.argv[0]}: {exc.strerror or exc}") from None
    except EntrypointError as exc:
        say(f"error: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    return 0  # not reached: execvpe does not return


if __name__ == "__main__":
    raise SystemExit(main())
