"""The scheduler's ``[core] load_examples``, as environment for the workers it launches.

A 3.3 worker finds the DAG of its workload through the DAG bundles its own configuration
lists, and ``[core] load_examples`` adds Airflow's example bundles to that list.  Its default
is on, so a worker whose image or agent does not say otherwise loads four bundles and the
example DAGs' plugins for every task, where the scheduler that queued it (``False`` in every
deployment of ours) has one: measured as a second of a loaded machine in each task's start
(``docs/benchmarks.md``).  The executor hands its tasks the scheduler's own value, as it
hands them the DAGs folder: a worker loads the bundles the scheduler's DAGs came from.
``[mesos] env`` and a task's ``env`` still win, for a worker that must differ.

Pure: the configuration is read through the function passed in.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LOAD_EXAMPLES_VAR", "bundles_env"]

LOAD_EXAMPLES_VAR = "AIRFLOW__CORE__LOAD_EXAMPLES"


def bundles_env(get: Callable[[str, str], str | None]) -> dict[str, str]:
    """``{"AIRFLOW__CORE__LOAD_EXAMPLES": <the scheduler's value>}``, or ``{}`` when it is not set at all.

    :param get: ``get(section, key)``: the option's value, or ``None`` when it is not set.
    """
    value = get("core", "load_examples")
    if value is None or str(value).strip() == "":
        return {}
    return {LOAD_EXAMPLES_VAR: str(value).strip()}
