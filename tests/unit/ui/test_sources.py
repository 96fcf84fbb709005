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


class _BrokenDatabase:
    """A session factory whose database is down."""

    def __init__(self):
        self.opened = 0

    def __call__(self):
        self.opened += 1
        raise ConnectionError("could not connect to server: Connection refused")


def test_a_database_that_is_down_is_a_problem_on_the_page_and_the_cluster_still_shows():
    from airflow_mesos.clock import FakeClock
    from airflow_mesos.executor.settings import DictConf
    from airflow_mesos.ui.sources import gather_view

    state = dict(STATE, slaves=[{"id": "A1", "hostname": "h1", "resources": {"cpus": 2.0},
                                 "used_resources": {"cpus": 0.5}, "attributes": {"rack": "r1"}}])
    conf = DictConf({"mesos": {"master": "http://m1:5050"},
                     "core": {"executor": "airflow_mesos.executor.MesosExecutor", "dags_folder": "/dags",
                              "execution_api_server_url": "http://api:8080/execution/"}})
    database = _BrokenDatabase()
    view = gather_view(conf=conf, session_factory=database, clock=FakeClock(start=1_764_590_000.0),
                       client=_client(lambda request: httpx.Response(200, json=state)))
    assert view["master"]["reachable"] is True
    assert [a["resources"]["cpus"]["free"] for a in view["agents"]] == [1.5]
    # Each part read from the database says it failed, and why; none of them stops the others.
    assert database.opened == 4
    assert len(view["problems"]) == 4
    assert all("ConnectionError: could not connect to server" in p for p in view["problems"])
    assert view["waiting"] == [] and view["frameworks"][0]["status"].startswith("not registered yet")
    assert view["generated_at"] == "2025-12-01T11:53:20+00:00"


def test_invalid_mesos_settings_are_a_problem_on_the_page_and_the_master_is_still_read():
    from airflow_mesos.executor.settings import DictConf
    from airflow_mesos.ui.sources import gather_view

    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        return httpx.Response(200, json=STATE)

    # No task_api_url, no dags_folder, a bad cpus: the executor could not launch, but the page can look.
    conf = DictConf({"mesos": {"master": "m1", "cpus": "lots", "principal": "ops", "secret": "pw"}})
    view = gather_view(conf=conf, session_factory=_BrokenDatabase(), client=_client(handler))
    assert view["master"]["reachable"] is True and view["master"]["configured"] == "http://m1:5050"
    assert seen == [("http://m1:5050/master/state", "Basic " + base64.b64encode(b"ops:pw").decode())]
    [settings_problem] = [p for p in view["problems"] if "settings are invalid" in p]
    assert "[mesos] cpus" in settings_problem and "pw" not in settings_problem


def test_a_zookeeper_address_is_shown_without_its_credentials_when_the_settings_are_invalid():
    from airflow_mesos.executor.settings import DictConf
    from airflow_mesos.ui.sources import _read_master_from_raw_options

    conf = DictConf({"mesos": {"master": "zk://user:s3cret@127.0.0.1:1/mesos"}})
    snapshot = _read_master_from_raw_options(conf, _client(lambda request: httpx.Response(500)), timeout=0.2)
    assert snapshot.configured == "zk://***@127.0.0.1:1/mesos"
    assert snapshot.state is None and "s3cret" not in (snapshot.error or "")
