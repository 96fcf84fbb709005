"""The Mesos page's edge to the masters (over a fake HTTP transport) and its self-contained page."""

from __future__ import annotations

import base64
import re
from importlib import resources

import httpx

from airflow_mesos.ui.sources import read_master_state, ui_base_path

STATE = {"version": "1.11.0", "slaves": [], "frameworks": [], "leader_info": {"hostname": "m2", "port": 5050}}


def _client(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_a_standby_redirects_to_the_leader_whose_state_is_read():
    asked = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        if request.url.host == "m1":
            return httpx.Response(307, headers={"Location": "//m2:5050/master/state"})
        return httpx.Response(200, json=STATE)

    snapshot = read_master_state("http://m1:5050,http://m2:5050", shown_as="http://m1:5050,http://m2:5050",
                                 client=_client(handler))
    assert snapshot.error is None
    assert snapshot.url == "http://m2:5050"
    assert snapshot.state == STATE
    assert asked == ["http://m1:5050/master/state", "http://m2:5050/master/state"]


def test_unreachable_masters_give_a_message_naming_each_one():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    snapshot = read_master_state("http://m1:5050,http://m2:5050", shown_as="m1,m2", client=_client(handler))
    assert snapshot.state is None and snapshot.url is None
    assert "Could not reach the Mesos master at http://m1:5050" in snapshot.error
    assert "http://m2:5050" in snapshot.error
    assert snapshot.configured == "m1,m2"


def test_credentials_go_only_in_the_header_and_never_into_a_message():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(401, text="refused s3cr3t-value")

    snapshot = read_master_state("http://m1:5050", shown_as="http://m1:5050", principal="airflow",
                                 secret="s3cr3t-value", client=_client(handler))
    assert seen == ["Basic " + base64.b64encode(b"airflow:s3cr3t-value").decode()]
    assert "HTTP 401" in snapshot.error and "principal 'airflow'" in snapshot.error
    assert "s3cr3t-value" not in snapshot.error


def test_an_answer_that_is_not_a_json_object_is_an_error():
    snapshot = read_master_state("http://m1:5050", shown_as="m1",
                                 client=_client(lambda request: httpx.Response(200, json=[1, 2])))
    assert snapshot.state is None
    assert "not an object" in snapshot.error


def test_an_unusable_master_address_is_a_message_not_an_exception():
    snapshot = read_master_state("ftp://m1", shown_as="ftp://m1", client=_client(lambda r: httpx.Response(500)))
    assert snapshot.state is None
    assert snapshot.error.startswith("The Mesos master address is unusable")


class _Conf:
    def __init__(self, base_url):
        self.base_url = base_url

    def get(self, section, key, fallback=None):
        return self.base_url if (section, key) == ("api", "base_url") else fallback


def test_the_ui_base_is_the_path_of_the_api_base_url():
    assert ui_base_path(_Conf("")) == ""
    assert ui_base_path(_Conf("http://airflow.example:8080/")) == ""
    assert ui_base_path(_Conf("https://example.org/airflow/")) == "/airflow"


def test_the_page_loads_nothing_from_elsewhere_and_escapes_what_it_shows():
    page = resources.files("airflow_mesos.ui").joinpath("page.html").read_text(encoding="utf-8")
    # No script, style, image or font from another place: every src/href is relative or built at run time.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    # Data goes in as text, never as markup.
    assert "innerHTML" not in page and "insertAdjacentHTML" not in page
    assert 'STATE_URL = "api/state"' in page  # relative to the page: works under any [api] base_url
