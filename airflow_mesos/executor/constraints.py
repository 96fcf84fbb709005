"""Placement constraints in Marathon's form, ``[field, operator, value]``.

``field`` is ``hostname`` (also spelled ``@hostname``) or the name of an agent
attribute (``rack``, ``zone`` ...).  Operators, as Marathon defines them for the
instances of one app; here the instances are the running and placing task
instances of one Airflow task (same ``dag_id`` and ``task_id``: its map indexes,
its runs):

======== ============ ===========================================================
operator value        meaning
======== ============ ===========================================================
UNIQUE   (none)       at most one instance per value of the field
CLUSTER  optional     all instances on one value: the given one, or the value of
                      the first instance placed
GROUP_BY optional int spread instances evenly over the field's values (the value,
                      if given, is how many distinct values to expect)
MAX_PER  int >= 1     at most that many instances per value of the field
LIKE     regex        the field's value matches the regex (whole value)
UNLIKE   regex        the field's value does not match the regex (an agent without
                      the attribute matches UNLIKE)
IS       text/number  the field's value equals the value
======== ============ ===========================================================

This module only parses and validates; :mod:`~airflow_mesos.executor.matcher`
evaluates constraints against offers.  Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_mesos.exceptions import AirflowMesosError

__all__ = ["OPERATORS", "Constraint", "ConstraintError", "parse_constraint", "parse_constraints"]

OPERATORS = ("UNIQUE", "CLUSTER", "GROUP_BY", "MAX_PER", "LIKE", "UNLIKE", "IS")
HOSTNAME_FIELDS = ("hostname", "@hostname")

_NEEDS_VALUE = frozenset({"MAX_PER", "LIKE", "UNLIKE", "IS"})
_NO_VALUE = frozenset({"UNIQUE"})


class ConstraintError(AirflowMesosError, ValueError):
    """A constraint is malformed; the message names where (``constraints[1]``) and what."""


@dataclass(frozen=True)
class Constraint:
    """One validated constraint.  ``field`` is normalised (``@hostname`` -> ``hostname``)."""

    field: str
    operator: str
    value: str | None = None
    # Compiled once here, so the matcher never compiles a regex per offer.
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def is_hostname(self) -> bool:
        return self.field == "hostname"

    @property
    def count(self) -> int | None:
        """The integer value of MAX_PER and GROUP_BY (None when GROUP_BY has none)."""
        if self.operator in ("MAX_PER", "GROUP_BY") and self.value is not None:
            return int(self.value)
        return None

    def as_list(self) -> list[str]:
        """Marathon's JSON form."""
        return [self.field, self.operator] + ([self.value] if self.value is not None else [])

    def __str__(self) -> str:
        return " ".join(self.as_list())


def parse_constraint(raw: Any, where: str = "constraint") -> Constraint:
    """Parse ``[field, operator]`` or ``[field, operator, value]``.

    :param where: the path named in errors (``executor_config.mesos.constraints[2]``).
    :raises ConstraintError: naming ``where`` and the problem.
    """
    if isinstance(raw, Constraint):
        return raw
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise ConstraintError(f"{where}: expected a list [field, operator, value], got {type(raw).__name__} {raw!r}")
    items = list(raw)
    if len(items) not in (2, 3):
        raise ConstraintError(f"{where}: expected [field, operator] or [field, operator, value], got {items!r}")
    name, operator = items[0], items[1]
    value = items[2] if len(items) == 3 else None
    if not isinstance(name, str) or not name.strip():
        raise ConstraintError(f"{where}[0]: the field must be 'hostname' or an agent attribute name, got {name!r}")
    if not isinstance(operator, str):
        raise ConstraintError(f"{where}[1]: the operator must be a string, got {operator!r}")
    operator = operator.upper()
    if operator not in OPERATORS:
        raise ConstraintError(f"{where}[1]: unknown operator {items[1]!r}; expected one of {', '.join(OPERATORS)}")
    if isinstance(value, bool):
        raise ConstraintError(f"{where}[2]: expected a string or number, got {value!r}")
    if isinstance(value, (int, float)):
        value = str(int(value)) if float(value).is_integer() else str(value)
    if value is not None and not isinstance(value, str):
        raise ConstraintError(f"{where}[2]: expected a string or number, got {type(value).__name__} {value!r}")
    if operator in _NEEDS_VALUE and value is None:
        raise ConstraintError(f"{where}: {operator} needs a value ([{name!r}, {operator!r}, value])")
    if operator in _NO_VALUE and value is not None:
        raise ConstraintError(f"{where}: {operator} takes no value, got {value!r}")
    pattern = None
    if operator in ("MAX_PER", "GROUP_BY") and value is not None:
        if not value.isdigit() or int(value) < 1:
            raise ConstraintError(f"{where}[2]: {operator} needs a whole number >= 1, got {value!r}")
    if operator in ("LIKE", "UNLIKE"):
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ConstraintError(f"{where}[2]: {operator} value {value!r} is not a valid regular expression ({exc})") \
                from None
    name = name.strip()
    if name in HOSTNAME_FIELDS:
        name = "hostname"
    return Constraint(field=name, operator=operator, value=value, pattern=pattern)


def parse_constraints(raw: Any, where: str = "constraints") -> tuple[Constraint, ...]:
    """Parse a list of constraints (``None`` is no constraints)."""
    if raw is None:
        return ()
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise ConstraintError(f"{where}: expected a list of [field, operator, value] lists, got {raw!r}")
    return tuple(parse_constraint(item, f"{where}[{i}]") for i, item in enumerate(raw))
