"""A small client for Marathon's REST API: deploy a group, follow the deployment, show status.

The edges are injectable: ``transport`` (an ``httpx.BaseTransport``; tests use a
real local HTTP server or ``httpx.MockTransport``) and ``clock``.  TLS
verification is on by default; credentials (basic auth or a DC/OS-style token)
go into headers and never into ``repr`` or error messages.

Marathon facts this relies on (v1.4-1.10):

- ``POST /v2/groups`` creates (201), ``PUT /v2/groups/<id>`` creates or updates
  (200); both answer ``{"deploymentId", "version"}`` and the header
  ``Marathon-Deployment-Id``; ``?force=true`` overrides a deployment lock.
- 409 while running deployments lock the group: the body lists them
  (``deployments: [{"id"}]``).  400/422 carry ``details: [{"path", "errors"}]``.
- A deployment is done when it no longer appears in ``GET /v2/deployments``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable
from urllib.parse import quote

import httpx

from airflow_mesos.clock import SYSTEM_CLOCK, Clock
from airflow_mesos.marathon import paths
from airflow_mesos.marathon.errors import (
    DeploymentConflict,
    DeploymentTimeout,
    InvalidGroup,
    MarathonApiError,
    MarathonUnavailable,
)

DEFAULT_TIMEOUT = 30.0
MAX_ERROR_BODY = 4096


@dataclasses.dataclass(frozen=True)
class DeploymentRef:
    """What Marathon answers to a group create/update."""

    deployment_id: str
    version: str
    created: bool


@dataclasses.dataclass(frozen=True)
class DeploymentProgress:
    """One poll of a running deployment, for progress displays."""

    deployment_id: str
    elapsed: float
    current_step: int
    total_steps: int
    current_actions: tuple[tuple[str, str], ...]  # (action, app id)
    affected_apps: tuple[str, ...]

    def describe(self) -> str:
        actions = ", ".join(f"{action} {app}" for action, app in self.current_actions) or "waiting"
        return f"[{self.elapsed:6.1f}s] step {self.current_step}/{self.total_steps}: {actions}"


@dataclasses.dataclass(frozen=True)
class AppStatus:
    """Counts of one app from ``GET /v2/groups/<id>?embed=group.apps.counts``."""

    app_id: str
    instances: int
    running: int
    healthy: int
    unhealthy: int
    staged: int
    deployments: tuple[str, ...]


class MarathonClient:
    """Marathon REST client.

    :param base_url: e.g. ``https://marathon.mesos:8443``.
    :param username: with ``password``: HTTP basic auth.
    :param token: an auth token, sent as ``Authorization: token=<value>`` (DC/OS ACS form)
        or, with ``token_scheme="Bearer"``, as ``Authorization: Bearer <value>``.
    :param verify: TLS verification: ``True``, ``False`` or a CA bundle path.
    :param timeout: per-request timeout in seconds.
    :param transport: an ``httpx.BaseTransport`` (tests); default: a real connection.
    :param clock: time source for waiting.
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        token_scheme: str = "token",
        verify: bool | str = True,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if token and (username or password):
            raise ValueError("give either username/password or a token, not both")
        headers = {"Accept": "application/json"}
        auth = None
        if token:
            headers["Authorization"] = f"Bearer {token}" if token_scheme == "Bearer" else f"token={token}"
        elif username is not None:
            auth = httpx.BasicAuth(username, password or "")
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, auth=auth, verify=verify, timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"MarathonClient({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MarathonClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _request(self, method: str, path: str, *, params: Any = None, json: Any = None) -> httpx.Response:
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TimeoutException as exc:
            raise MarathonUnavailable(f"{method} {self.base_url}{path}: timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise MarathonUnavailable(f"{method} {self.base_url}{path}: {exc}") from exc
        if response.status_code >= 400:
            raise _api_error(method, path, response)
        return response

    # ------------------------------------------------------------------ groups

    def get_group(self, group_id: str, *, embed: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """``GET /v2/groups/<id>``; ``None`` when the group does not exist (404)."""
        params = [("embed", item) for item in embed]
        try:
            return self._request("GET", _group_path(group_id), params=params).json()
        except MarathonApiError as exc:
            if exc.status == 404:
                return None
            raise

    def put_group(self, group: dict[str, Any], *, force: bool = False) -> DeploymentRef:
        """``PUT /v2/groups/<id>``: create or update."""
        response = self._request("PUT", _group_path(group["id"]), params=_force(force), json=group)
        return _deployment_ref(response, created=response.status_code == 201)

    def post_group(self, group: dict[str, Any], *, force: bool = False) -> DeploymentRef:
        """``POST /v2/groups``: create (409 when it exists)."""
        response = self._request("POST", "/v2/groups", params=_force(force), json=group)
        return _deployment_ref(response, created=True)

    def deploy_group(self, group: dict[str, Any], *, force: bool = False) -> DeploymentRef:
        """Create the group (POST) when absent, else update it (PUT)."""
        if self.get_group(group["id"]) is None:
            return self.post_group(group, force=force)
        return self.put_group(group, force=force)

    # ------------------------------------------------------------------ deployments

    def deployments(self) -> list[dict[str, Any]]:
        """``GET /v2/deployments``."""
        body = self._request("GET", "/v2/deployments").json()
        return body if isinstance(body, list) else []

    def wait_for_deployment(
        self,
        deployment_id: str,
        *,
        timeout: float = 600.0,
        interval: float = 2.0,
        on_progress: Callable[[DeploymentProgress], None] | None = None,
    ) -> float:
        """Poll ``GET /v2/deployments`` until ``deployment_id`` is gone; return the seconds waited.

        :raises DeploymentTimeout: still listed after ``timeout`` seconds.
        """
        start = self.clock.monotonic()
        while True:
            elapsed = self.clock.monotonic() - start
            current = next((d for d in self.deployments() if d.get("id") == deployment_id), None)
            if current is None:
                return elapsed
            if on_progress is not None:
                on_progress(progress_of(current, elapsed))
            if elapsed >= timeout:
                raise DeploymentTimeout(deployment_id, timeout)
            self.clock.sleep(min(interval, max(timeout - elapsed, 0.0)) or interval)

    # ------------------------------------------------------------------ status

    def group_status(self, group_id: str) -> list[AppStatus] | None:
        """Per-app counts of a group and its subgroups, or ``None`` when it does not exist."""
        group = self.get_group(
            group_id, embed=("group.groups", "group.apps", "group.apps.counts", "group.apps.deployments")
        )
        return None if group is None else app_statuses(group)


# ---------------------------------------------------------------------- pure helpers


def _group_path(group_id: str) -> str:
    canonical = paths.canonical(group_id)
    return "/v2/groups" + "/".join(quote(part, safe="") for part in [""] + paths.segments(canonical))


def _force(force: bool) -> dict[str, str]:
    return {"force": "true"} if force else {}


def _deployment_ref(response: httpx.Response, *, created: bool) -> DeploymentRef:
    try:
        body = response.json()
    except ValueError:
        body = {}
    deployment_id = response.headers.get("Marathon-Deployment-Id") or (body or {}).get("deploymentId") or ""
    return DeploymentRef(deployment_id=deployment_id, version=str((body or {}).get("version", "")), created=created)


def _api_error(method: str, path: str, response: httpx.Response) -> MarathonApiError:
    text = response.text[:MAX_ERROR_BODY]
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) and isinstance(body.get("message"), str) else text.strip()
    message = message or response.reason_phrase
    status = response.status_code
    if status == 409 and isinstance(body, dict):
        ids = [d.get("id") for d in body.get("deployments") or [] if isinstance(d, dict) and d.get("id")]
        return DeploymentConflict(status, method, path, message, body, ids)
    if status in (400, 422):
        details = []
        for item in (body or {}).get("details") or [] if isinstance(body, dict) else []:
            if isinstance(item, dict):
                errors = item.get("errors") or []
                details.append((str(item.get("path", "")), [str(e) for e in errors]))
        return InvalidGroup(status, method, path, message, body, details)
    return MarathonApiError(status, method, path, message, body)


def progress_of(deployment: dict[str, Any], elapsed: float) -> DeploymentProgress:
    """Summarise one ``/v2/deployments`` entry."""
    actions = tuple(
        (str(a.get("action", "?")), str(a.get("app") or a.get("pod") or "?"))
        for a in deployment.get("currentActions") or []
        if isinstance(a, dict)
    )
    return DeploymentProgress(
        deployment_id=str(deployment.get("id", "")),
        elapsed=elapsed,
        current_step=int(deployment.get("currentStep") or 0),
        total_steps=int(deployment.get("totalSteps") or 0),
        current_actions=actions,
        affected_apps=tuple(str(a) for a in deployment.get("affectedApps") or []),
    )


def app_statuses(group: dict[str, Any]) -> list[AppStatus]:
    """Flatten a GroupInfo's apps (subgroups included) into :class:`AppStatus` rows, sorted by id."""
    rows = []

    def walk(node: dict[str, Any]) -> None:
        for app in node.get("apps") or []:
            rows.append(
                AppStatus(
                    app_id=str(app.get("id")),
                    instances=int(app.get("instances") or 0),
                    running=int(app.get("tasksRunning") or 0),
                    healthy=int(app.get("tasksHealthy") or 0),
                    unhealthy=int(app.get("tasksUnhealthy") or 0),
                    staged=int(app.get("tasksStaged") or 0),
                    deployments=tuple(str(d.get("id")) for d in app.get("deployments") or [] if isinstance(d, dict)),
                )
            )
        for child in node.get("groups") or []:
            walk(child)

    walk(group)
    return sorted(rows, key=lambda row: row.app_id)


def format_status(rows: list[AppStatus]) -> str:
    """A table of app counts."""
    header = ("APP", "INSTANCES", "RUNNING", "HEALTHY", "UNHEALTHY", "STAGED", "DEPLOYMENTS")
    table = [header] + [
        (r.app_id, str(r.instances), str(r.running), str(r.healthy), str(r.unhealthy), str(r.staged),
         ",".join(r.deployments) or "-")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table)


def format_api_error(exc: MarathonApiError) -> str:
    """A multi-line explanation of a Marathon error, with detail paths for 400/422."""
    lines = [f"Marathon refused {exc.method} {exc.path} (HTTP {exc.status}): {exc.api_message}"]
    if isinstance(exc, InvalidGroup):
        for path, errors in exc.details:
            for error in errors or ["(no message)"]:
                lines.append(f"  {path or '/'}: {error}")
    if isinstance(exc, DeploymentConflict):
        ids = ", ".join(exc.deployment_ids) or "unknown"
        lines.append(f"  the group is locked by deployment(s) {ids} (see GET /v2/deployments);")
        lines.append("  wait for them, or rerun with --force to replace them")
    return "\n".join(lines)
