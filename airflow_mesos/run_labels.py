"""The Docker labels that say which run made a container, so each run removes only its own.

Several runs can share one Docker engine on a machine (a developer's tests beside a benchmark, both started
by ``scripts/lib.sh``). Every container this package creates carries :data:`PROJECT_LABEL` and, when the
environment names the run, :data:`RUN_LABEL` = ``$AIRFLOW_MESOS_RUN_ID``. ``scripts/lib.sh`` exports a fresh
id for every shell that sources it and, when that run ends, removes the containers that carry its id and
no others. A container made with no run id set (pytest started by hand) carries no run label: no script
removes it, whoever made it does.
"""

from __future__ import annotations

import os
import re
from typing import Mapping

from airflow_mesos.exceptions import AirflowMesosError

PROJECT_LABEL = "airflow-mesos.local"
"""On every container of this project; its value says what made it (``1`` for an embedded agent's task)."""

RUN_LABEL = "airflow-mesos.run"
"""The id of the run that made the container (``$AIRFLOW_MESOS_RUN_ID``)."""

RUN_ID_ENV = "AIRFLOW_MESOS_RUN_ID"

_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class InvalidRunId(AirflowMesosError):
    """``AIRFLOW_MESOS_RUN_ID`` is set to something that cannot be a label value to filter on."""


def run_id(environ: Mapping[str, str] | None = None) -> str | None:
    """This run's id from ``AIRFLOW_MESOS_RUN_ID``, or None when it is unset or empty.

    :raises InvalidRunId: when it is not 1-128 letters, digits, ``_``, ``.`` or ``-`` (starting with a letter
        or digit), which ``docker ps --filter label=...`` could not match reliably.
    """
    value = (os.environ if environ is None else environ).get(RUN_ID_ENV, "")
    if not value:
        return None
    if not _RUN_ID.fullmatch(value):
        raise InvalidRunId(f"{RUN_ID_ENV}={value!r}: expected 1-128 letters, digits, '_', '.' or '-', "
                           f"starting with a letter or digit")
    return value


def run_labels(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{RUN_LABEL: <run id>}`` for a container this run creates; empty when no run id is set."""
    value = run_id(environ)
    return {RUN_LABEL: value} if value else {}
