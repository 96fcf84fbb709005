"""The task log handler for Mesos tasks: a finished try's log from its Mesos sandbox, and Mesos' word on it.

Airflow's api-server reads a task log with ``FileTaskHandler._read``: remote logs,
then (while running) the executor's ``get_task_log``, then the local file, and last
the worker's log server at ``ti.hostname:8793``.  A Mesos task runs no log server,
so without remote logging or a log folder shared with the api-server, a finished
try's log was only ever "Could not read served logs".

:class:`MesosTaskHandler` is that handler with one step changed: where Airflow
would ask the worker's log server about a try that ran through the MesosExecutor,
it reads the try's Mesos sandbox instead (:func:`~airflow_mesos.executor.sandbox_logs.read_task_logs`
with the TI's ``external_executor_id``, which is that try's Mesos task id; the
worker's stdout holds the task's JSON log lines), and adds what the executor
recorded about the try in Airflow's event log: the Mesos state, reason and message
of a try that Mesos ended (bad image, TASK_ERROR, a lost agent), an invalid
configuration, or why the try was never placed.  That record is in the metadata
database, so it shows also when the sandbox is gone and when the worker never
wrote or uploaded a log.  It is read from two kinds of entries: the executor's own
(``mesos task failed`` ...) and the ``state mismatch`` entry the scheduler writes
with the executor's words when a try ends before its worker reported running,
exactly the tries that never logged, so Mesos' word is there also where the
executor's own rows are not (Airflow 3.3.2's scheduler, with SQLAlchemy 2.1, inserts
``BaseExecutor.log_task_event`` rows empty and loses them; the MesosExecutor writes
its rows itself, an executor of an older version of this package did not).  Airflow reaches this step only when neither the remote
store nor the local log folder has the try's log.

Use it through :mod:`airflow_mesos.logging_config` (``[logging] logging_config_class
= airflow_mesos.logging_config.LOGGING_CONFIG``) on the api-server; the other
components may use it too, it changes nothing there.

Tries of other executors, and tries that are deferred (their log is the
triggerer's), are read as Airflow reads them.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow.utils.log.file_task_handler import FileTaskHandler, _stream_lines_by_chunk

if TYPE_CHECKING:
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskinstancehistory import TaskInstanceHistory

log = logging.getLogger(__name__)

__all__ = ["EXECUTOR_EVENTS", "READ_EVENTS", "MesosTaskHandler", "TryEvent", "mesos_word_lines"]

EXECUTOR_EVENTS = ("mesos task failed", "mesos invalid config", "mesos waiting")
"""The event log entries the MesosExecutor writes about a try (``BaseExecutor.log_task_event``)."""

STATE_MISMATCH = "state mismatch"
"""The scheduler's entry for a try its executor ended while the TI was not running; ends with the executor's info."""

READ_EVENTS = (*EXECUTOR_EVENTS, STATE_MISMATCH)

_EXTRA_INFO = " Extra info: "
_MESOS_TASK_INFO = re.compile(r"^Mesos task \S+: ")
_INVALID_CONFIG = "invalid Mesos task configuration"

WORD_LOGGER = "airflow_mesos.executor"
"""``logger`` of the lines made from the event log: the executor's, as in the note it appends to log files."""


@dataclass(frozen=True)
class TryEvent:
    """One event log entry about a try: its event name, its text and when it was written."""

    event: str
    extra: str
    when: datetime | None = None


def mesos_word_lines(events: Iterable[TryEvent], *, placed: bool = False) -> list[str]:
    """The log lines (JSON, as the worker writes them) that tell what the MesosExecutor recorded about a try.

    - each ``mesos task failed`` entry: "Mesos ended this try: <state (reason: words): message>", the same
      words the executor appends to the try's log file;
    - each ``mesos invalid config`` entry: the configuration problem, which kept the try from launching;
    - a ``state mismatch`` entry whose extra info is the MesosExecutor's (``Mesos task <id>: ...`` or an invalid
      configuration): the same as the two above, said once where both are there; other ones are not ours;
    - of the ``mesos waiting`` entries only the last, and only when nothing above ended the try and ``placed``
      is false (Mesos showed no sandbox of the try): the reason it was waiting for an offer when it ended (it
      was never placed).  A try that was placed waited before it ran; that wait is no news.

    Pure: the entries come in, in the order they were written.
    """
    events = list(events)
    lines = []
    said: set[str] = set()
    for item in events:
        text = _ending(item)
        if text is None or text in said:
            continue
        said.add(text)
        lines.append(_line(text, item.when, "error"))
    ended = bool(said)
    waits = [item for item in events if item.event == "mesos waiting"]
    if waits and not ended and not placed:
        last = waits[-1]
        lines.append(_line(f"This try was never placed on Mesos; the last reason it waited for an offer: "
                           f"{last.extra}", last.when, "warning"))
    return lines


def _ending(item: TryEvent) -> str | None:
    """What an entry says about how the try ended, in the executor's words; ``None`` if it says nothing of that."""
    if item.event == "mesos task failed":
        return f"Mesos ended this try: {item.extra}"
    if item.event == "mesos invalid config":
        return f"The MesosExecutor did not launch this try: {item.extra}"
    if item.event == STATE_MISMATCH and _EXTRA_INFO in item.extra:
        info = item.extra.rsplit(_EXTRA_INFO, 1)[1]
        if _MESOS_TASK_INFO.match(info):
            return f"Mesos ended this try: {_MESOS_TASK_INFO.sub('', info, count=1)}"
        if info.startswith(_INVALID_CONFIG):
            return f"The MesosExecutor did not launch this try: {info}"
    return None


def _line(text: str, when: datetime | None, level: str) -> str:
    record: dict[str, Any] = {"event": text, "level": level, "logger": WORD_LOGGER}
    if when is not None:
        record = {"timestamp": when.isoformat(), **record}
    return json.dumps(record)


class MesosTaskHandler(FileTaskHandler):
    """Airflow's ``FileTaskHandler``, reading Mesos tries from their sandbox where it would ask a log server."""

    def _read_from_logs_server(self, ti: TaskInstance | TaskInstanceHistory, worker_log_rel_path: str):
        executor = None if getattr(ti, "triggerer_job", None) else self._mesos_executor(ti)
        if executor is None:
            return super()._read_from_logs_server(ti, worker_log_rel_path)
        sources: list[str] = []
        texts: list[str] = []
        messages, sandbox = read_sandbox(executor, ti)
        sources.extend(messages)
        texts.extend(sandbox)
        try:
            events = try_events(ti)
        except Exception as exc:  # the log view must keep working without the database's part
            log.exception("reading the MesosExecutor's event log entries of %s failed", ti)
            sources.append(f"Could not read the MesosExecutor's event log entries of this try: {type(exc).__name__}")
            events = []
        # A sandbox read means Mesos placed the try, whatever it waited for before.
        word = mesos_word_lines(events, placed=bool(sandbox))
        if word:
            sources.append("What the MesosExecutor recorded about this try (Airflow's event log)")
            texts.append("\n".join(word))
        return sources, [_stream_lines_by_chunk(io.StringIO(text)) for text in texts]

    def _mesos_executor(self, ti: TaskInstance | TaskInstanceHistory) -> Any | None:
        """The try's executor if it is a MesosExecutor and the try has a Mesos task id, else ``None``."""
        from airflow_mesos.executor.executor import MesosExecutor

        if not getattr(ti, "external_executor_id", None):
            return None
        try:
            executor = self._get_executor_get_task_log(ti).__self__
        except Exception:  # an executor that cannot load here is not ours to read for
            log.debug("could not load the executor of %s", ti, exc_info=True)
            return None
        return executor if isinstance(executor, MesosExecutor) else None


def read_sandbox(executor: Any, ti: TaskInstance | TaskInstanceHistory) -> tuple[list[str], list[str]]:
    """``(messages, logs)`` from the sandbox of the try's Mesos task, with the executor's ``[mesos]`` settings."""
    from airflow_mesos.executor.sandbox_logs import read_task_logs
    from airflow_mesos.executor.settings import SettingsError

    try:
        s = executor.settings
    except SettingsError as exc:
        return [f"Cannot read the Mesos sandbox: {exc}"], []
    return read_task_logs(s.master, ti.external_executor_id, max_bytes=s.task_log_max_bytes,
                          principal=s.principal, secret=s.secret_value() if s.principal else None,
                          ca_file=s.ca_file, timeout=min(s.request_timeout, 10.0))


def try_events(ti: TaskInstance | TaskInstanceHistory, session: Any = None) -> Sequence[TryEvent]:
    """The event log entries about this try that can hold the executor's word (:data:`READ_EVENTS`), oldest
    first (one query on the metadata database)."""
    from sqlalchemy import select

    from airflow.models.log import Log
    from airflow.utils.session import create_session

    query = (
        select(Log.event, Log.extra, Log.dttm)
        .where(Log.dag_id == ti.dag_id, Log.task_id == ti.task_id, Log.run_id == ti.run_id,
               Log.map_index == ti.map_index, Log.try_number == ti.try_number, Log.event.in_(READ_EVENTS))
        .order_by(Log.dttm, Log.id)
    )
    if session is None:
        with create_session() as own:
            rows = own.execute(query).all()
    else:
        rows = session.execute(query).all()
    return [TryEvent(event=event, extra=extra or "", when=when) for event, extra, when in rows]
