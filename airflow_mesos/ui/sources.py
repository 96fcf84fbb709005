"""The Mesos page's I/O: the leading master's state and the rows the MesosExecutor records.

Everything comes from two places, so the page works in the api-server, which has no scheduler memory:

- the leading Mesos master's read-only ``GET /master/state`` (found as the sandbox log reader finds it:
  the ``[mesos] master`` URLs in turn, following a standby's 307, or a one-shot ZooKeeper lookup for
  ``zk://``; HTTP basic auth with ``[mesos] principal``/``secret``, ``[mesos] ca_file`` for https);
- Airflow's metadata database: ``airflow_mesos_framework`` (the framework ids, see
  :mod:`airflow_mesos.executor.store`), the QUEUED task instances of the MesosExecutor, their
  ``mesos waiting`` events in Airflow's ``log`` table, and the task instances of the Mesos tasks shown.

:func:`gather_view` reads them and hands them to :func:`airflow_mesos.ui.view_model.build_view`.  Trouble
with Mesos or the database never raises: it is a message on the page (the master's part says why it could not
be read; the rest of the page still shows what the database has).
"""

from __future__ import annotations

import datetime
import logging
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import httpx
import sqlalchemy as sa

from airflow_mesos.clock import SYSTEM_CLOCK, Clock
# The sandbox log reader's way to the leading master (candidates, 307s, refusals worded for people, secrets
# redacted) is the one this page needs too; one implementation, so both say the same about a broken master.
from airflow_mesos.executor.sandbox_logs import MesosReader, MesosUnavailable, leader_candidates, redact_credentials
from airflow_mesos.executor.settings import SettingsError, load_settings
from airflow_mesos.executor.store import framework_table
from airflow_mesos.mesos.detector import ZooKeeperSpec, parse_master_spec
from airflow_mesos.mesos.errors import MasterDetectionError
from airflow_mesos.mesos.transport import ssl_context
from airflow_mesos.ui import view_model as vm

__all__ = [
    "MAX_QUEUED_SHOWN",
    "gather_view",
    "read_frameworks",
    "read_known_task_instances",
    "read_master_state",
    "read_queued",
    "read_wait_events",
    "ui_base_path",
]

log = logging.getLogger(__name__)

MAX_QUEUED_SHOWN = 500
"""Queued task instances listed at most (the oldest); the page says how many there are in all."""

MASTER_TIMEOUT = 5.0
"""Seconds for each request to a master (and the ZooKeeper lookup): the page polls every few seconds."""

EVENT_CLOCK_SLACK = datetime.timedelta(minutes=5)
"""How far before a task instance's ``queued_dttm`` its wait events are looked for (clocks of schedulers and
database differ a little; events of its current try are written after it was queued)."""

_IN_CHUNK = 200
"""Keys per ``IN (...)`` query, to keep statements small."""


# ------------------------------------------------------------------------------------------------ Mesos


def read_master_state(
    master: str | Sequence[str],
    *,
    shown_as: str,
    principal: str | None = None,
    secret: str | None = None,
    ca_file: str | None = None,
    timeout: float = MASTER_TIMEOUT,
    client: httpx.Client | None = None,
    zk_scheme: str = "http",
) -> vm.MasterSnapshot:
    """The leading master's ``/master/state``, or why it could not be read (never raises for Mesos trouble).

    :param master: ``[mesos] master``: URLs or ``zk://``.
    :param shown_as: the address as the page shows it (ZooKeeper credentials masked).
    :param secret: sent only in the ``Authorization`` header; removed from any message.
    :param client: the ``httpx.Client`` to use (tests); by default one is made and closed here.
    """
    own_client = client is None
    try:
        if own_client:
            client = httpx.Client(verify=ssl_context(True, ca_file), follow_redirects=False, trust_env=False)
        reader = MesosReader(client, principal=principal, secret=secret, timeout=timeout)
        masters = leader_candidates(master, zk_scheme=zk_scheme, timeout=timeout)
        answer = reader.master_get(masters, "/master/state", {})
        if not isinstance(answer.document, Mapping):
            raise MesosUnavailable(f"The Mesos master at {answer.url} answered /master/state with JSON that is not "
                               "an object")
        return vm.MasterSnapshot(configured=shown_as, url=answer.url, state=answer.document)
    except MesosUnavailable as exc:
        return vm.MasterSnapshot(configured=shown_as, error=redact_credentials(str(exc), secret))
    except Exception as exc:  # the page must keep working; the traceback is in the api-server log
        log.exception("reading the Mesos master's state failed")
        return vm.MasterSnapshot(configured=shown_as,
                                 error=f"Reading the Mesos master's state failed unexpectedly ({type(exc).__name__}); "
                                       "see the api-server log")
    finally:
        if own_client and client is not None:
            client.close()


# ------------------------------------------------------------------------------------------------ database


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def read_frameworks(session: Any) -> list[vm.FrameworkRecord]:
    """The rows of ``airflow_mesos_framework`` (none before the executor first subscribed)."""
    if not sa.inspect(session.get_bind()).has_table(framework_table.name):
        return []
    rows = session.execute(sa.select(framework_table.c.name, framework_table.c.framework_id,
                                     framework_table.c.master, framework_table.c.updated_at)).all()
    return [vm.FrameworkRecord(name=r.name, framework_id=r.framework_id, master=r.master, updated_at=r.updated_at)
            for r in rows]


def _task_instance_table() -> sa.Table:
    from airflow.models.taskinstance import TaskInstance

    return TaskInstance.__table__


def _executor_filter(ti: sa.Table, names: Collection[str], default_is_mesos: bool) -> Any:
    conditions = [ti.c.executor.in_(sorted(names))] if names else []
    if default_is_mesos:
        conditions.append(ti.c.executor.is_(None))
    return sa.or_(*conditions) if conditions else sa.false()


def read_queued(session: Any, *, executor_names: Collection[str], default_is_mesos: bool,
                dag_ids: Collection[str] | None = None,
                limit: int = MAX_QUEUED_SHOWN) -> tuple[list[vm.QueuedTaskInstance], int]:
    """The QUEUED task instances of the MesosExecutor, oldest first, and how many there are in all.

    :param dag_ids: only these DAGs (the ones the user may read); None for all.
    """
    ti = _task_instance_table()
    where = [ti.c.state == "queued", _executor_filter(ti, executor_names, default_is_mesos)]
    if dag_ids is not None:
        if not dag_ids:
            return [], 0
        where.append(ti.c.dag_id.in_(sorted(dag_ids)))
    total = session.execute(sa.select(sa.func.count()).select_from(ti).where(*where)).scalar_one()
    rows = session.execute(
        sa.select(ti.c.dag_id, ti.c.task_id, ti.c.run_id, ti.c.map_index, ti.c.try_number, ti.c.queued_dttm,
                  ti.c.external_executor_id, ti.c.executor, ti.c.pool, ti.c.priority_weight)
        .where(*where).order_by(ti.c.queued_dttm, ti.c.dag_id, ti.c.task_id, ti.c.map_index).limit(limit)
    ).all()
    return [vm.QueuedTaskInstance(dag_id=r.dag_id, task_id=r.task_id, run_id=r.run_id, map_index=r.map_index,
                                  try_number=r.try_number, queued_at=r.queued_dttm,
                                  external_executor_id=r.external_executor_id, executor=r.executor, pool=r.pool,
                                  priority_weight=r.priority_weight)
            for r in rows], int(total)


def read_wait_events(session: Any, queued: Sequence[vm.QueuedTaskInstance]) -> list[vm.WaitEvent]:
    """The ``mesos waiting`` rows of Airflow's ``log`` table that may belong to the queued task instances.

    Narrowed by DAG run and by time (from shortly before the oldest of them was queued); the pure
    :func:`~airflow_mesos.ui.view_model.current_wait_reasons` picks each one's current row.
    """
    if not queued:
        return []
    from airflow.models.log import Log

    table = Log.__table__
    since = [ti.queued_at for ti in queued if ti.queued_at is not None]
    events: list[vm.WaitEvent] = []
    runs = sorted({(ti.dag_id, ti.run_id) for ti in queued})
    for chunk in _chunks(runs):
        where = [table.c.event == vm.WAIT_EVENT, sa.tuple_(table.c.dag_id, table.c.run_id).in_(list(chunk))]
        if len(since) == len(queued):
            where.append(table.c.dttm >= min(since) - EVENT_CLOCK_SLACK)
        rows = session.execute(
            sa.select(table.c.id, table.c.dag_id, table.c.task_id, table.c.run_id, table.c.map_index,
                      table.c.try_number, table.c.extra, table.c.dttm).where(*where)
        ).all()
        events.extend(vm.WaitEvent(id=r.id, dag_id=r.dag_id, task_id=r.task_id, run_id=r.run_id,
                                   map_index=r.map_index, try_number=r.try_number, reason=r.extra, at=r.dttm)
                      for r in rows)
    return events


def read_known_task_instances(session: Any, tasks: Sequence[Mapping[str, Any]]) -> list[vm.KnownTaskInstance]:
    """The task instances of our Mesos tasks, looked up by the keys in their labels (the table's unique key,
    so no scan of ``task_instance``); only those whose ``external_executor_id`` is the Mesos task's id."""
    wanted: dict[tuple[str, str, str, int], set[str]] = {}
    for task in tasks:
        labels = vm.labels_of(task)
        try:
            key = (labels["airflow.dag_id"], labels["airflow.task_id"], labels["airflow.run_id"],
                   int(labels.get("airflow.map_index", "-1")))
        except (KeyError, ValueError):
            continue  # a callback, or not a task of ours
        wanted.setdefault(key, set()).add(str(task.get("id")))
    if not wanted:
        return []
    ti = _task_instance_table()
    found = []
    for chunk in _chunks(sorted(wanted)):
        rows = session.execute(
            sa.select(ti.c.dag_id, ti.c.task_id, ti.c.run_id, ti.c.map_index, ti.c.try_number, ti.c.state,
                      ti.c.external_executor_id)
            .where(sa.tuple_(ti.c.dag_id, ti.c.task_id, ti.c.run_id, ti.c.map_index).in_(list(chunk)))
        ).all()
        for r in rows:
            if r.external_executor_id in wanted.get((r.dag_id, r.task_id, r.run_id, r.map_index), ()):
                found.append(vm.KnownTaskInstance(external_executor_id=r.external_executor_id, dag_id=r.dag_id,
                                                  task_id=r.task_id, run_id=r.run_id, map_index=r.map_index,
                                                  try_number=r.try_number, state=r.state))
    return found


# ------------------------------------------------------------------------------------------------ the page


def ui_base_path(conf: Any) -> str:
    """The UI's root path from ``[api] base_url`` ("" when Airflow is served at the root)."""
    base_url = conf.get("api", "base_url", fallback="") or ""
    return urllib.parse.urlsplit(base_url).path.rstrip("/")


def _read_master_from_raw_options(conf: Any, client: httpx.Client | None,
                                  timeout: float = MASTER_TIMEOUT) -> vm.MasterSnapshot:
    """The master's state from ``[mesos] master``, ``principal``, ``secret`` and ``ca_file`` alone."""
    def option(key: str) -> str | None:
        value = conf.get("mesos", key, fallback=None)
        if value is None:
            return None
        return str(value).strip() or None

    address = option("master")
    if address is None:
        return vm.MasterSnapshot(configured="(not set)", error="[mesos] master is not set")
    try:
        spec = parse_master_spec(address)
    except MasterDetectionError as exc:
        return vm.MasterSnapshot(configured="(unusable)", error=f"The Mesos master address is unusable: {exc}")
    if isinstance(spec, ZooKeeperSpec):
        shown = f"zk://{'***@' if spec.credentials else ''}{spec.hosts}{spec.path}"
    else:
        shown = ",".join(spec)
    principal = option("principal")
    return read_master_state(address, shown_as=shown, principal=principal,
                             secret=option("secret") if principal else None, ca_file=option("ca_file"),
                             timeout=timeout, client=client)


def _problem(what: str, exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{what}: {type(exc).__name__}: {text[:300]}"


def gather_view(
    *,
    conf: Any,
    session_factory: Callable[[], Any],
    dag_ids: Collection[str] | None = None,
    client: httpx.Client | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> dict[str, Any]:
    """Read everything the page shows and build its view model.

    :param conf: Airflow's ``conf`` (or anything with ``get(section, key, fallback=)``) for ``[mesos]``,
        ``[core] executor`` and ``[api] base_url``.
    :param session_factory: a context manager factory giving an SQLAlchemy session on the metadata database
        (``airflow.utils.session.create_session``).
    :param dag_ids: the DAGs whose task instances the user may see; None for all.
    :param client: the ``httpx.Client`` for the master (tests).
    """
    problems: list[str] = []
    ui_base = ui_base_path(conf)
    framework_name = conf.get("mesos", "framework_name", fallback="airflow") or "airflow"
    try:
        settings = load_settings(conf)
    except SettingsError as exc:
        # Options this page does not need (task_api_url, cpus ...) must not hide the cluster: read the master
        # with the few options it needs, as configured.
        problems.append(f"The [mesos] settings are invalid: {exc}")
        master = _read_master_from_raw_options(conf, client)
    else:
        framework_name = settings.framework_name
        master = read_master_state(
            settings.master, shown_as=str(settings.master), principal=settings.principal,
            secret=settings.secret_value() if settings.principal else None, ca_file=settings.ca_file,
            timeout=min(settings.request_timeout, MASTER_TIMEOUT), client=client)

    names, default_is_mesos = vm.mesos_executor_names(conf.get("core", "executor", fallback=""))

    def attempt(what: str, read: Callable[[Any], Any], fallback: Any) -> Any:
        # One session per read: a failed statement spoils a PostgreSQL transaction, and the other parts
        # of the page should still show.
        try:
            with session_factory() as session:
                return read(session)
        except Exception as exc:
            log.warning("Mesos page: %s failed: %s", what.lower(), exc)
            problems.append(_problem(what, exc))
            return fallback

    frameworks = attempt("Reading the framework ids", read_frameworks, [])
    queued, queued_total = attempt(
        "Reading the queued task instances",
        lambda session: read_queued(session, executor_names=names, default_is_mesos=default_is_mesos,
                                    dag_ids=dag_ids), ([], 0))
    events = attempt("Reading the wait reasons", lambda session: read_wait_events(session, queued), [])
    shown = vm.shown_tasks(vm.mesos_tasks(master.state, [f.framework_id for f in frameworks]))
    known = attempt("Reading the task instances of the Mesos tasks",
                    lambda session: read_known_task_instances(session, shown), [])

    now = datetime.datetime.fromtimestamp(clock.time(), tz=datetime.timezone.utc)
    return vm.build_view(master=master, frameworks=frameworks, framework_name=framework_name, queued=queued,
                         wait_events=events, known_task_instances=known, ui_base=ui_base, now=now,
                         queued_total=queued_total, problems=problems, dag_ids=dag_ids)
