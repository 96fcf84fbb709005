"""The I/O of ``airflow-mesos status``: the master's read-only endpoints and the metadata database.

Read-only on both sides: GETs of ``/master/state``, ``/master/frameworks``,
``/master/slaves`` and ``/master/tasks`` on the leading master, and SELECTs on
the metadata database (no table is created, nothing is written).  The HTTP
transport and the database engine are injectable, so the tests run the real
reading against a real embedded master and a real database.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from airflow_mesos.exceptions import AirflowMesosError
from airflow_mesos.status import model as m

TASKS_LIMIT = 1000
"""How many of the framework's most recent tasks ``/master/tasks`` is asked for."""


class StatusUnavailable(AirflowMesosError):
    """The Mesos master could not be read; the message says which and why."""


@dataclass(frozen=True)
class DatabaseView:
    """What the metadata database says: the stored framework id, queued TIs and their waiting reasons."""

    framework_id: str | None
    queued: tuple[m.QueuedTaskInstance, ...]
    events: tuple[m.WaitEvent, ...]


class MasterReader:
    """GETs of the leading master's read-only JSON endpoints.

    :param master: ``[mesos] master``: URLs (tried in turn; a standby's 307 is followed) or ``zk://``.
    :param principal: / :param secret: HTTP basic authentication, when the masters require it.
    """

    def __init__(self, master: str | Sequence[str], *, principal: str | None = None, secret: str | None = None,
                 transport: httpx.BaseTransport | None = None, timeout: float = 10.0, verify: bool | str = True,
                 zk_timeout: float = 10.0) -> None:
        self._master = master
        self._headers = {"Accept": "application/json"}
        if principal is not None and secret is not None:
            token = base64.b64encode(f"{principal}:{secret}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"
        self._client = httpx.Client(transport=transport, timeout=timeout, verify=verify, follow_redirects=True,
                                    max_redirects=3)
        self._zk_timeout = zk_timeout
        self.url: str | None = None
        """The master that answered (after redirects); set by :meth:`state`."""

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> MasterReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _candidates(self) -> list[str]:
        from airflow_mesos.mesos.detector import master_urls_once
        from airflow_mesos.mesos.errors import MasterDetectionError

        try:
            return master_urls_once(self._master, timeout=self._zk_timeout)
        except MasterDetectionError as exc:
            raise StatusUnavailable(str(exc)) from None

    def _get(self, base: str, path: str, params: Mapping[str, Any] | None = None) -> tuple[str, Any]:
        try:
            response = self._client.get(base + path, params=dict(params or {}), headers=self._headers)
        except httpx.HTTPError as exc:
            raise StatusUnavailable(f"cannot reach the Mesos master at {base}: {type(exc).__name__}: {exc}") from None
        answered = f"{response.url.scheme}://{response.url.netloc.decode('ascii')}"
        if response.status_code != 200:
            text = response.text.strip()[:300]
            hint = " (give [mesos] principal and secret)" if response.status_code == 401 else ""
            raise StatusUnavailable(f"the Mesos master at {answered} answered GET {path} with HTTP "
                                    f"{response.status_code}{': ' + text if text else ''}{hint}")
        try:
            return answered, response.json()
        except ValueError:
            raise StatusUnavailable(f"the Mesos master at {answered} answered GET {path} with something that is "
                                    "not JSON") from None

    def state(self) -> dict:
        """``/master/state`` from the first master that answers; remembers it for the other calls."""
        problems = []
        for base in self._candidates():
            try:
                self.url, document = self._get(base, "/master/state")
                return document
            except StatusUnavailable as exc:
                problems.append(str(exc))
        raise StatusUnavailable("; ".join(problems))

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict:
        if self.url is None:
            self.state()
        return self._get(self.url, path, params)[1]


def _when(value: Any) -> datetime.datetime | None:
    """A timestamp column: drivers give datetimes; SQLite through a plain SELECT gives its text."""
    if value is None or isinstance(value, datetime.datetime):
        return value
    try:
        return datetime.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def read_database(engine: Any, framework_key: str) -> DatabaseView:
    """The stored framework id, the queued task instances and their ``mesos waiting`` rows (SELECTs only).

    :param framework_key: the row name in ``airflow_mesos_framework`` (the framework name, ``name@team`` per team).
    """
    import sqlalchemy as sa

    with engine.connect() as conn:
        framework_id = None
        if sa.inspect(conn).has_table("airflow_mesos_framework"):
            row = conn.execute(sa.text("SELECT framework_id FROM airflow_mesos_framework WHERE name = :name"),
                               {"name": framework_key}).first()
            framework_id = row[0] if row else None
        queued = conn.execute(sa.text(
            "SELECT dag_id, run_id, task_id, map_index, try_number, external_executor_id, queued_dttm "
            "FROM task_instance WHERE state = 'queued'")).all()
        events = conn.execute(sa.text(
            "SELECT l.dag_id, l.run_id, l.task_id, l.map_index, l.try_number, l.dttm, l.extra FROM log l "
            "JOIN task_instance ti ON ti.dag_id = l.dag_id AND ti.run_id = l.run_id AND ti.task_id = l.task_id "
            "AND ti.map_index = l.map_index AND ti.try_number = l.try_number "
            "WHERE l.event = :event AND ti.state = 'queued'"), {"event": m.WAIT_EVENT}).all()
    return DatabaseView(
        framework_id=framework_id,
        queued=tuple(m.QueuedTaskInstance(dag_id=r[0], run_id=r[1], task_id=r[2], map_index=r[3], try_number=r[4],
                                          external_executor_id=r[5], queued_at=_when(r[6])) for r in queued),
        events=tuple(m.WaitEvent(dag_id=r[0], run_id=r[1], task_id=r[2], map_index=r[3], try_number=r[4], when=_when(r[5]),
                                 reason=r[6] or "") for r in events),
    )


def collect(reader: MasterReader, *, framework_name: str, framework_key: str | None = None,
            engine: Any = None) -> m.Snapshot:
    """Read the master (required) and the database (optional: its trouble becomes a note) into a snapshot.

    :raises StatusUnavailable: when no master answers.
    """
    state = reader.state()
    master = m.master_info(reader.url or "", state)
    problems: list[str] = []
    database = None
    if engine is not None:
        try:
            database = read_database(engine, framework_key or framework_name)
        except Exception as exc:  # SQLAlchemy and the drivers raise many types; the master part still shows
            problems.append(f"the metadata database could not be read ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:200] if str(exc) else ''})")
    else:
        problems.append("no metadata database configured: waiting tasks are not shown")
    stored_id = database.framework_id if database else None
    framework = m.framework_info(reader.get("/master/frameworks"), framework_name, stored_id)
    agents = m.agents_info(reader.get("/master/slaves"))
    tasks: tuple[m.MesosTask, ...] = ()
    if framework.id is not None:
        document = reader.get("/master/tasks", {"framework_id": framework.id, "limit": TASKS_LIMIT})
        tasks = m.mesos_tasks(document, framework.id, agents)
    waiting = None
    if database is not None:
        waiting = m.waiting_tasks(database.queued, database.events, (t.id for t in tasks))
    return m.Snapshot(master=master, framework=framework, agents=agents, tasks=tasks, waiting=waiting,
                      problems=tuple(problems))
