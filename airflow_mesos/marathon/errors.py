"""Errors of the Marathon tooling.

::

    AirflowMesosError
     └── MarathonError
          ├── SettingsError            bad settings file or --set override (lists every problem)
          ├── GroupFileError           a group JSON file that cannot be read or parsed
          └── MarathonApiError         Marathon answered with an error status
               ├── DeploymentConflict  409: the group is locked by running deployments (retry with force)
               ├── InvalidGroup        400/422: Marathon rejected the body (details carry JSON paths)
               └── (other statuses: 401/403/404/5xx)
          ├── MarathonUnavailable      connection refused, DNS failure, read timeout
          └── DeploymentTimeout        the deployment was still running when the wait ran out
"""

from __future__ import annotations

from typing import Any

from airflow_mesos.exceptions import AirflowMesosError


class MarathonError(AirflowMesosError):
    """Base class of the Marathon tooling's errors."""


class SettingsError(MarathonError, ValueError):
    """Invalid deployment settings; ``problems`` holds one line per problem, each naming its field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid settings:\n  " + "\n  ".join(self.problems))


class GroupFileError(MarathonError, ValueError):
    """A group JSON file that cannot be read or is not valid JSON."""


class MarathonUnavailable(MarathonError):
    """Marathon could not be reached (connection, DNS, TLS or read timeout)."""


class MarathonApiError(MarathonError):
    """Marathon answered with an error status."""

    def __init__(self, status: int, method: str, path: str, message: str, body: Any = None) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.api_message = message
        self.body = body
        super().__init__(f"{method} {path} -> HTTP {status}: {message}")


class DeploymentConflict(MarathonApiError):
    """409: running deployments lock the group; ``deployment_ids`` names them."""

    def __init__(self, status: int, method: str, path: str, message: str, body: Any, deployment_ids: list[str]) -> None:
        self.deployment_ids = deployment_ids
        super().__init__(status, method, path, message, body)


class InvalidGroup(MarathonApiError):
    """400/422: Marathon rejected the group; ``details`` is a list of (path, [errors])."""

    def __init__(self, status: int, method: str, path: str, message: str, body: Any, details: list[tuple[str, list[str]]]) -> None:
        self.details = details
        super().__init__(status, method, path, message, body)


class DeploymentTimeout(MarathonError):
    """The deployment did not finish within the wait."""

    def __init__(self, deployment_id: str, timeout: float) -> None:
        self.deployment_id = deployment_id
        self.timeout = timeout
        super().__init__(
            f"deployment {deployment_id} was still running after {timeout:g}s; it goes on in Marathon "
            f"(see GET /v2/deployments, or roll back with a new deploy)"
        )
