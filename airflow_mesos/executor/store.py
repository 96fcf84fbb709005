"""What the MesosExecutor keeps in Airflow's metadata database.

The framework id lives in a table of ours, ``airflow_mesos_framework``, keyed by
framework name (and team), so a scheduler that Marathon restarts on another
agent finds it and re-subscribes as the same framework: Mesos then keeps the
tasks of the earlier scheduler running, within ``failover_timeout``.  A local
file would be lost with the agent.

The table is created on first use (``CREATE TABLE IF NOT EXISTS`` semantics
through SQLAlchemy's ``checkfirst``); Airflow's own migrations never touch it.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

import sqlalchemy as sa

log = logging.getLogger(__name__)

_metadata = sa.MetaData()

framework_table = sa.Table(
    "airflow_mesos_framework",
    _metadata,
    sa.Column("name", sa.String(250), primary_key=True),
    sa.Column("framework_id", sa.String(250), nullable=False),
    sa.Column("master", sa.String(2000), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


class FrameworkStore:
    """Reads and writes the framework id through an SQLAlchemy engine (Airflow's by default)."""

    def __init__(self, engine: Any = None) -> None:
        self._engine = engine
        self._created = False

    @property
    def engine(self) -> Any:
        if self._engine is None:
            from airflow import settings

            if settings.engine is None:
                settings.configure_orm()
            self._engine = settings.engine
        return self._engine

    def _ensure_table(self) -> None:
        if not self._created:
            _metadata.create_all(self.engine, tables=[framework_table], checkfirst=True)
            self._created = True

    def load(self, name: str) -> str | None:
        self._ensure_table()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(framework_table.c.framework_id).where(framework_table.c.name == name)).first()
        return row[0] if row else None

    def save(self, name: str, framework_id: str, master: str | None = None) -> None:
        self._ensure_table()
        now = datetime.datetime.now(datetime.timezone.utc)
        with self.engine.begin() as conn:
            updated = conn.execute(
                sa.update(framework_table).where(framework_table.c.name == name)
                .values(framework_id=framework_id, master=master, updated_at=now)
            ).rowcount
            if not updated:
                conn.execute(sa.insert(framework_table).values(name=name, framework_id=framework_id, master=master,
                                                               updated_at=now))

    def clear(self, name: str) -> None:
        self._ensure_table()
        with self.engine.begin() as conn:
            conn.execute(sa.delete(framework_table).where(framework_table.c.name == name))
