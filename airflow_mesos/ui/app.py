"""The Mesos plugin's FastAPI app, mounted by the api-server (``plugins/mesos_plugin.py``) under ``/mesos``.

- ``GET /mesos/ui``: the page (one self-contained HTML file with its script and styles; nothing is fetched from
  elsewhere).  It holds no data, so it is served like the UI's own ``index.html``; it shows inside the Airflow
  UI through the plugin's ``external_views`` entry (``/plugin/mesos``) and polls the API below.
- ``GET /mesos/api/state``: the view model (:func:`airflow_mesos.ui.sources.gather_view`), for an
  authenticated user only (Airflow's JWT as ``Authorization: Bearer`` or the UI's ``_token`` cookie; 401
  without), and only the task instances of the DAGs that user may read.
- ``GET /mesos/icon.svg``: the navigation icon.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response

from airflow.api_fastapi.core_api.security import GetUserDep, requires_authenticated

__all__ = ["PAGE_PATH", "STATE_PATH", "create_app"]

PAGE_PATH = "/ui"
STATE_PATH = "/api/state"
ICON_PATH = "/icon.svg"

_NO_STORE = {"Cache-Control": "no-store"}

# A ring of four nodes: a cluster.  currentColor cannot reach an <img>, so a mid grey that reads on light and
# dark navigation bars.
ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#7a8594" '
    'stroke-width="2"><circle cx="12" cy="4.5" r="2.5"/><circle cx="19.5" cy="12" r="2.5"/>'
    '<circle cx="12" cy="19.5" r="2.5"/><circle cx="4.5" cy="12" r="2.5"/>'
    '<path d="M13.8 6.3l3.9 3.9M17.7 13.8l-3.9 3.9M10.2 17.7l-3.9-3.9M6.3 10.2l3.9-3.9"/></svg>'
)


def _page_html() -> str:
    return resources.files("airflow_mesos.ui").joinpath("page.html").read_text(encoding="utf-8")


def _readable_dag_ids(user: Any) -> set[str]:
    """The DAGs ``user`` may read, from the auth manager."""
    from airflow.api_fastapi.app import get_auth_manager

    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


def create_app(*, gather: Any = None, readable_dag_ids: Any = _readable_dag_ids) -> FastAPI:
    """The plugin's app.

    :param gather: ``gather(dag_ids) -> view model`` (tests); by default Airflow's conf and metadata database
        through :func:`airflow_mesos.ui.sources.gather_view`.
    :param readable_dag_ids: ``readable_dag_ids(user) -> set | None`` (tests); by default the auth manager's.
    """
    if gather is None:
        gather = _gather_from_airflow
    app = FastAPI(title="Mesos", description="The Mesos cluster and the MesosExecutor's tasks", docs_url=None,
                  redoc_url=None, openapi_url=None)

    @app.get(PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(_page_html(), headers=_NO_STORE)

    @app.get(ICON_PATH, include_in_schema=False)
    def icon() -> Response:
        return Response(ICON_SVG, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    @app.get(STATE_PATH, dependencies=[Depends(requires_authenticated())])
    def state(user: GetUserDep) -> JSONResponse:
        return JSONResponse(gather(readable_dag_ids(user)), headers=_NO_STORE)

    return app


def _gather_from_airflow(dag_ids: set[str] | None) -> dict[str, Any]:
    from airflow.configuration import conf
    from airflow.utils.session import create_session

    from airflow_mesos.ui.sources import gather_view

    # Not the scoped session: these requests run in FastAPI's thread pool, beside the api-server's own work.
    return gather_view(conf=conf, session_factory=lambda: create_session(scoped=False), dag_ids=dag_ids)
