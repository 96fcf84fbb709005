"""Render the Airflow Marathon group from :class:`~airflow_mesos.marathon.settings.Settings`.

Pure: settings in, a JSON-ready dict out; the same settings always give the same
dict (key order included), so ``marathon/airflow.json`` is simply the rendered
defaults and a test keeps the two equal.

The group (ids shown for the default ``group_id`` ``/airflow``)::

    postgres  <-  api-server  <-  scheduler, dag-processor, triggerer

- ``postgres``: official Postgres image on a REX-Ray volume (dvdi provider),
  one instance, upgradeStrategy 0/0, unreachableStrategy "disabled", data in a
  sub-folder of the volume (a fresh block device has ``lost+found`` at its root,
  which makes initdb refuse the folder).
- ``api-server``: first Airflow component to start, so it is the one that runs
  ``airflow db migrate`` (under the entrypoint's advisory lock) before anything
  else talks to the database; its health check is Airflow's own
  ``/api/v2/monitor/health``.
- ``scheduler`` (MesosExecutor), ``dag-processor``, ``triggerer`` wait for a
  healthy api-server.

Marathon dependencies only order a deployment; they do nothing when a task is
restarted later.  That is why the entrypoint also waits for Postgres through
``airflow-mesos dns wait-for`` and why every address is a Mesos-DNS name rather
than something resolved at deploy time.
"""

from __future__ import annotations

import posixpath
from typing import Any
from urllib.parse import urlsplit

from airflow_mesos.dns import app_dns_names
from airflow_mesos.marathon import paths
from airflow_mesos.marathon.settings import AppResources, Settings

PGDATA_MOUNT = "/var/lib/postgresql/data"
PGDATA = PGDATA_MOUNT + "/pgdata"
SANDBOX = "/mnt/mesos/sandbox"
EXECUTOR = "airflow_mesos.executor.MesosExecutor"
API_HEALTH_PATH = "/api/v2/monitor/health"
SCHEDULER_HEALTH_PATH = "/health"
COMPONENT_LABEL = "airflow-mesos/component"
DB_URL_CMD_ENV = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD='airflow-mesos db url'"

# Marathon secret names (keys of the app's "secrets" map), not the store paths.
SECRET_DB_PASSWORD = "db-password"
SECRET_FERNET_KEY = "fernet-key"
SECRET_JWT_SECRET = "jwt-secret"
SECRET_API_SECRET_KEY = "api-secret-key"

# The Airflow components, in deployment order.
AIRFLOW_ROLES = ("api-server", "scheduler", "dag-processor", "triggerer")


def app_id(settings: Settings, name: str) -> str:
    """Absolute id of one app of the group."""
    return paths.canonical(name, settings.group_id)


def _resources(resources: AppResources) -> dict[str, Any]:
    return {
        "cpus": resources.cpus,
        "mem": resources.mem,
        "disk": resources.disk,
        "instances": resources.instances,
    }


def _health_check(protocol: str, **fields: Any) -> dict[str, Any]:
    check: dict[str, Any] = {"protocol": protocol}
    check.update(fields)
    return check


def _env_file_name(settings: Settings) -> str:
    uri = settings.secrets.env_file_uri or ""
    return posixpath.basename(urlsplit(uri).path) or "airflow.env"


def _fetch_env_file(settings: Settings) -> list[dict[str, Any]]:
    # cache false: a rotated secret must reach the next task, not a cached copy.
    return [{"uri": settings.secrets.env_file_uri, "extract": False, "executable": False, "cache": False}]


def _secret_refs(settings: Settings, names: list[str]) -> dict[str, Any]:
    sources = {
        SECRET_DB_PASSWORD: settings.secrets.db_password,
        SECRET_FERNET_KEY: settings.secrets.fernet_key,
        SECRET_JWT_SECRET: settings.secrets.jwt_secret,
        SECRET_API_SECRET_KEY: settings.secrets.api_secret_key,
    }
    return {name: {"source": sources[name]} for name in names}


def render_postgres(settings: Settings) -> dict[str, Any]:
    """The Postgres app: one instance on a REX-Ray volume."""
    db = settings.database
    pg = settings.apps.postgres
    volume = settings.volume
    options: dict[str, Any] = {"dvdi/driver": volume.driver}
    external: dict[str, Any] = {"name": volume.name, "provider": "dvdi", "options": options}
    if volume.containerizer == "MESOS" and volume.size_gib is not None:
        external["size"] = volume.size_gib
    docker: dict[str, Any] = {"image": pg.image, "forcePullImage": False}
    env: dict[str, Any] = {"PGDATA": PGDATA, "POSTGRES_DB": db.name, "POSTGRES_USER": db.user}
    app: dict[str, Any] = {"id": app_id(settings, "postgres")}
    if settings.secrets.mode == "marathon":
        env["POSTGRES_PASSWORD"] = {"secret": SECRET_DB_PASSWORD}
    else:
        # The official image reads POSTGRES_PASSWORD only from its environment, so load
        # the fetched env file in a shell first; the value never appears in the app JSON.
        app["cmd"] = (
            f'set -a && . "$MESOS_SANDBOX/{_env_file_name(settings)}" && set +a && '
            'POSTGRES_PASSWORD="$AIRFLOW_MESOS_DB_PASSWORD" exec docker-entrypoint.sh postgres'
        )
    app.update(_resources(pg))
    app["container"] = {
        "type": volume.containerizer,
        "docker": docker,
        "portMappings": [{"containerPort": db.port, "hostPort": db.port, "protocol": "tcp", "name": "postgres"}],
        "volumes": [{"containerPath": PGDATA_MOUNT, "mode": "RW", "external": external}],
    }
    app["networks"] = [{"mode": "container/bridge"}]
    app["env"] = env
    if settings.secrets.mode == "marathon":
        app["secrets"] = _secret_refs(settings, [SECRET_DB_PASSWORD])
    else:
        app["fetch"] = _fetch_env_file(settings)
    app["healthChecks"] = [
        _health_check(
            "COMMAND",
            command={"value": f"pg_isready -h 127.0.0.1 -p {db.port} -U {db.user} -d {db.name}"},
            gracePeriodSeconds=300,
            intervalSeconds=10,
            timeoutSeconds=5,
            maxConsecutiveFailures=6,
        )
    ]
    # The volume attaches to one task: never run an old and a new Postgres side by side.
    app["upgradeStrategy"] = {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}
    # A single writer: an unreachable agent may still hold the volume and run Postgres,
    # so Marathon must not start a replacement; an operator decides (see docs/marathon.md).
    app["unreachableStrategy"] = "disabled"
    # Postgres's image stops on SIGINT (fast shutdown); give it time to checkpoint.
    app["taskKillGracePeriodSeconds"] = 120
    app["labels"] = {COMPONENT_LABEL: "postgres"}
    return app


def _airflow_env(settings: Settings, role: str) -> dict[str, Any]:
    db = settings.database
    names = lambda name: app_dns_names(  # noqa: E731 - a local shorthand
        app_id(settings, name), domain=settings.mesos_dns.domain, framework=settings.mesos_dns.framework
    )
    api = settings.apps.api_server
    env: dict[str, Any] = {
        "AIRFLOW_MESOS_DB_HOST": names("postgres").a,
        "AIRFLOW_MESOS_DB_PORT": str(db.port),
        "AIRFLOW_MESOS_DB_NAME": db.name,
        "AIRFLOW_MESOS_DB_USER": db.user,
        "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{names('api-server').a}:{api.port}/execution/",
        "AIRFLOW__API__PORT": str(api.port),
        "AIRFLOW__MESOS__MASTER": settings.mesos.master,
        "AIRFLOW__MESOS__ROLE": settings.mesos.role,
        # Tasks run the image the components run, so a DAG parses in the worker as in the dag-processor.
        "AIRFLOW__MESOS__IMAGE": settings.image.reference,
        "AIRFLOW__MESOS__FORCE_PULL": str(settings.image.force_pull),
    }
    if role == "scheduler":
        env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] = "True"
        env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT"] = str(settings.apps.scheduler.health_port)
        env["AIRFLOW__MESOS__HEALTH_CHECK_PORT"] = str(settings.apps.scheduler.mesos_health_port)
    if settings.secrets.mode == "marathon":
        env["AIRFLOW_MESOS_DB_PASSWORD"] = {"secret": SECRET_DB_PASSWORD}
        env["AIRFLOW__CORE__FERNET_KEY"] = {"secret": SECRET_FERNET_KEY}
        env["AIRFLOW__API_AUTH__JWT_SECRET"] = {"secret": SECRET_JWT_SECRET}
        env["AIRFLOW__API__SECRET_KEY"] = {"secret": SECRET_API_SECRET_KEY}
    else:
        env["AIRFLOW_MESOS_ENV_FILE"] = f"{SANDBOX}/{_env_file_name(settings)}"
    return dict(sorted(env.items()))


def render_airflow_app(settings: Settings, role: str) -> dict[str, Any]:
    """One Airflow component app (``api-server``, ``scheduler``, ``dag-processor`` or ``triggerer``)."""
    apps = settings.apps
    resources: AppResources
    port_mappings: list[dict[str, Any]] = []
    if role == "api-server":
        resources = apps.api_server
        # Pinned host port: tasks reach the execution API at <dns name>:<port>, with no SRV lookup.
        port_mappings = [{"containerPort": apps.api_server.port, "hostPort": apps.api_server.port, "protocol": "tcp", "name": "api"}]
        checks = [
            _health_check(
                "MESOS_HTTP", path=API_HEALTH_PATH, portIndex=0, gracePeriodSeconds=600,
                intervalSeconds=30, timeoutSeconds=10, maxConsecutiveFailures=3,
            )
        ]
        dependencies = [app_id(settings, "postgres")]
    elif role == "scheduler":
        resources = apps.scheduler
        # hostPort 0: nobody outside calls it; Marathon's MESOS_HTTP check uses the container port.
        port_mappings = [
            {"containerPort": apps.scheduler.health_port, "hostPort": 0, "protocol": "tcp", "name": "health"},
            {"containerPort": apps.scheduler.mesos_health_port, "hostPort": 0, "protocol": "tcp",
             "name": "mesos-health"},
        ]
        checks = [
            _health_check(
                "MESOS_HTTP", path=SCHEDULER_HEALTH_PATH, portIndex=0, gracePeriodSeconds=300,
                intervalSeconds=30, timeoutSeconds=10, maxConsecutiveFailures=3,
            ),
            # The executor's own check: 503 when the scheduler lost Mesos for longer than
            # [mesos] health_disconnect_threshold, so Marathon restarts a scheduler that places nothing.
            _health_check(
                "MESOS_HTTP", path=SCHEDULER_HEALTH_PATH, portIndex=1, gracePeriodSeconds=300,
                intervalSeconds=30, timeoutSeconds=10, maxConsecutiveFailures=3,
            ),
        ]
        dependencies = [app_id(settings, "api-server")]
    elif role in ("dag-processor", "triggerer"):
        resources = apps.dag_processor if role == "dag-processor" else apps.triggerer
        job_type = "DagProcessorJob" if role == "dag-processor" else "TriggererJob"
        checks = [
            _health_check(
                # The check runs through `docker exec`, which does not see what the entrypoint
                # exported, so Airflow gets the connection from `airflow-mesos db url` (built
                # from AIRFLOW_MESOS_DB_* and the env file, like the entrypoint does).
                "COMMAND",
                command={"value": f"{DB_URL_CMD_ENV} airflow jobs check --job-type {job_type} --local"},
                gracePeriodSeconds=300, intervalSeconds=60, timeoutSeconds=30, maxConsecutiveFailures=3,
            )
        ]
        dependencies = [app_id(settings, "api-server")]
    else:
        raise ValueError(f"unknown Airflow role {role!r}; expected one of {', '.join(AIRFLOW_ROLES)}")

    app: dict[str, Any] = {"id": app_id(settings, role), "args": [role]}
    app.update(_resources(resources))
    container: dict[str, Any] = {
        "type": "DOCKER",
        "docker": {"image": settings.image.reference, "forcePullImage": settings.image.force_pull},
    }
    if port_mappings:
        container["portMappings"] = port_mappings
    app["container"] = container
    # Bridge everywhere, also without ports: the triggerer's log server (8794) and any
    # other listener stay inside the container instead of taking a port on the agent.
    app["networks"] = [{"mode": "container/bridge"}]
    app["env"] = _airflow_env(settings, role)
    if settings.secrets.mode == "marathon":
        app["secrets"] = _secret_refs(
            settings, [SECRET_API_SECRET_KEY, SECRET_DB_PASSWORD, SECRET_FERNET_KEY, SECRET_JWT_SECRET]
        )
    else:
        app["fetch"] = _fetch_env_file(settings)
    app["dependencies"] = dependencies
    app["healthChecks"] = checks
    if role == "api-server":
        # Start the new instance before stopping the old one; the pinned port puts it on another agent.
        app["upgradeStrategy"] = {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}
        app["constraints"] = [["hostname", "UNIQUE"]]
    elif role == "scheduler":
        # The scheduler holds the Mesos framework's one subscription: a second instance subscribing with
        # the same framework id fails the first one over, so stop the old before starting the new.
        app["upgradeStrategy"] = {"minimumHealthCapacity": 0, "maximumOverCapacity": 0}
    else:
        app["upgradeStrategy"] = {"minimumHealthCapacity": 0, "maximumOverCapacity": 1}
    app["taskKillGracePeriodSeconds"] = 60
    app["labels"] = {COMPONENT_LABEL: role}
    return app


def render_group(settings: Settings) -> dict[str, Any]:
    """The whole Marathon group for ``settings`` (the body for PUT /v2/groups/<id>)."""
    return {
        "id": settings.group_id,
        "apps": [render_postgres(settings)] + [render_airflow_app(settings, role) for role in AIRFLOW_ROLES],
    }


def group_to_json(group: dict[str, Any]) -> str:
    """The canonical text form of a group (what ``marathon/airflow.json`` holds)."""
    import json

    return json.dumps(group, indent=2, ensure_ascii=False) + "\n"
