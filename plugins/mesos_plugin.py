"""The Mesos plugin for the Airflow 3.3 UI: a "Mesos" page in the navigation, and its API under ``/mesos``.

Put this folder in ``[core] plugins_folder`` (``AIRFLOW__CORE__PLUGINS_FOLDER``) of the api-server.  The code
lives in :mod:`airflow_mesos.ui`; this file only declares the plugin.

Importing it is cheap in every component: the FastAPI app is built only in the api-server (as the edge3
provider does), and nothing connects to Mesos or the database until the page asks.
"""

from __future__ import annotations

import sys
import urllib.parse

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/mesos"


def _serves_the_api() -> bool:
    """True in the api-server: ``airflow api-server``, or an app server that already imported Airflow's app."""
    return sys.argv[1:2] == ["api-server"] or "airflow.api_fastapi.app" in sys.modules


def _ui_base() -> str:
    return urllib.parse.urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def _fastapi_apps() -> list[dict]:
    if not _serves_the_api():
        return []
    from airflow_mesos.ui.app import create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Mesos"}]


class MesosPlugin(AirflowPlugin):
    name = "Mesos"
    fastapi_apps = _fastapi_apps()
    external_views = [
        {
            "name": "Mesos",
            "href": f"{_ui_base()}{URL_PREFIX}/ui",
            "destination": "nav",
            "url_route": "mesos",
            "icon": f"{_ui_base()}{URL_PREFIX}/icon.svg",
        }
    ]
