"""The deploy client and the ``airflow-mesos marathon`` commands against a real local HTTP server.

``FakeMarathon`` is a stdlib ``ThreadingHTTPServer`` on 127.0.0.1 port 0 that answers like
Marathon's ``/v2/groups`` and ``/v2/deployments``: 201 on POST, 200 on PUT (both with
``deploymentId``/``version`` and the ``Marathon-Deployment-Id`` header), 409 while a deployment
locks the group unless ``?force=true``, 422 with ``details`` for an oversized app, 404 for a
missing group, and each deployment listed for a few polls before it disappears.  GET responses
carry what real Marathon adds (version, versionInfo, task counts, defaults, service ports).
"""

from __future__ import annotations

import copy
import io
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from airflow_mesos.cli import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_USAGE, main
from airflow_mesos.clock import FakeClock
from airflow_mesos.marathon.deploy import MarathonClient
from airflow_mesos.marathon.errors import DeploymentConflict, DeploymentTimeout, InvalidGroup
from airflow_mesos.marathon.render import render_group
from airflow_mesos.marathon.settings import load_settings

pytestmark = pytest.mark.integration

MAX_MEM = 100_000


class FakeMarathon:
    def __init__(self, polls_per_deployment: int = 3) -> None:
        self.polls_per_deployment = polls_per_deployment
        self.groups: dict[str, dict] = {}
        self.deployments: list[dict] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.next_service_port = 10000
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status, body, headers=None):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method):
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with fake.lock:
                    fake.requests.append({"method": method, "path": url.path, "query": query,
                                          "authorization": self.headers.get("Authorization")})
                    status, payload, headers = fake.route(method, url.path, query, body)
                self._send(status, payload, headers)

            def do_GET(self):
                self._handle("GET")

            def do_PUT(self):
                self._handle("PUT")

            def do_POST(self):
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="fake-marathon", daemon=True)

    # --------------------------------------------------------------- behaviour

    def route(self, method, path, query, body):
        force = query.get("force") == ["true"]
        if path == "/v2/deployments" and method == "GET":
            listed = [{k: v for k, v in d.items() if k != "polls_left"} for d in self.deployments]
            for deployment in self.deployments:
                deployment["polls_left"] -= 1
                deployment["currentStep"] = min(deployment["currentStep"] + 1, deployment["totalSteps"])
            self.deployments = [d for d in self.deployments if d["polls_left"] > 0]
            return 200, listed, {}
        if path == "/v2/groups" and method == "POST":
            if body["id"] in self.groups:
                return 409, {"message": f"Group {body['id']} is already created. Use PUT to change this group."}, {}
            return self.accept(body, force, 201)
        if path.startswith("/v2/groups/"):
            group_id = path[len("/v2/groups"):]
            if method == "GET":
                if group_id not in self.groups:
                    return 404, {"message": f"Group '{group_id}' does not exist"}, {}
                return 200, self.group_info(group_id, query.get("embed", [])), {}
            if method == "PUT":
                return self.accept(body, force, 200)
        return 404, {"message": "not found"}, {}

    def accept(self, body, force, status):
        for index, app in enumerate(body.get("apps", [])):
            if app.get("mem", 0) > MAX_MEM:
                return 422, {"message": "Object is not valid", "details": [
                    {"path": f"/apps({index})/mem", "errors": [f"got {app['mem']}, expected {MAX_MEM} or less"]}]}, {}
        locking = [d for d in self.deployments if body["id"] in d["groups"]]
        if locking and not force:
            ids = ", ".join(d["id"] for d in locking)
            return 409, {"message": "App is locked by one or more deployments. Override with the option "
                                    f"'?force=true'. View details at '/v2/deployments/{ids}'.",
                         "deployments": [{"id": d["id"]} for d in locking]}, {}
        self.deployments = [d for d in self.deployments if d not in locking]
        deployment_id = str(uuid.uuid4())
        apps = [a["id"] for a in body.get("apps", [])]
        self.deployments.append({
            "id": deployment_id, "groups": [body["id"]], "affectedApps": apps, "currentStep": 1,
            "totalSteps": len(apps), "currentActions": [{"action": "StartApplication", "app": apps[0]}],
            "polls_left": self.polls_per_deployment, "version": "2026-01-01T00:00:00.000Z",
        })
        self.groups[body["id"]] = copy.deepcopy(body)
        return status, {"deploymentId": deployment_id, "version": "2026-01-01T00:00:00.000Z"}, \
            {"Marathon-Deployment-Id": deployment_id}

    def group_info(self, group_id, embed):
        """What GET returns: the stored body plus what Marathon adds and defaults it fills in."""
        group = copy.deepcopy(self.groups[group_id])
        group.update(version="2026-01-01T00:00:00.000Z", pods=[], groups=[], dependencies=[])
        for app in group["apps"]:
            app.setdefault("backoffSeconds", 1)
            app.setdefault("backoffFactor", 1.15)
            app.setdefault("maxLaunchDelaySeconds", 3600)
            app.setdefault("gpus", 0)
            app.setdefault("killSelection", "YOUNGEST_FIRST")
            app.setdefault("constraints", [])
            app.setdefault("uris", [])
            app.setdefault("fetch", [])
            app.setdefault("secrets", {})
            app.setdefault("readinessChecks", [])
            app.setdefault("requirePorts", False)
            app.setdefault("executor", "")
            app["role"] = "*"
            app["version"] = "2026-01-01T00:00:00.000Z"
            app["versionInfo"] = {"lastScalingAt": "x", "lastConfigChangeAt": "x"}
            docker = app["container"]["docker"]
            docker.setdefault("privileged", False)
            docker.setdefault("parameters", [])
            app["container"].setdefault("volumes", [])
            for mapping in app["container"].setdefault("portMappings", []):
                mapping.setdefault("labels", {})
                mapping["servicePort"] = self.next_service_port
                self.next_service_port += 1
            for volume in app["container"]["volumes"]:
                volume["external"].setdefault("shared", False)
            for check in app.get("healthChecks", []):
                check.setdefault("delaySeconds", 15)
                check.setdefault("ipProtocol", "IPv4")
            if "group.apps.counts" in embed:
                app.update(tasksRunning=app["instances"], tasksHealthy=app["instances"], tasksStaged=0,
                           tasksUnhealthy=0)
            if "group.apps.deployments" in embed:
                app["deployments"] = [{"id": d["id"]} for d in self.deployments if app["id"] in d["affectedApps"]]
        return group

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def marathon():
    with FakeMarathon() as server:
        yield server


def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def default_group():
    return render_group(load_settings())


# ------------------------------------------------------------------------- client


def test_create_then_update_and_follow_the_deployment(marathon):
    progress = []
    with MarathonClient(marathon.url) as client:
        assert client.get_group("/airflow") is None  # 404 -> None
        created = client.deploy_group(default_group())
        assert created.created and created.deployment_id and created.version
        client.wait_for_deployment(created.deployment_id, interval=0.01, on_progress=progress.append)
        updated = client.deploy_group(default_group())
        assert not updated.created and updated.deployment_id != created.deployment_id
    methods = [(r["method"], r["path"]) for r in marathon.requests if r["path"].startswith("/v2/groups")]
    assert methods == [("GET", "/v2/groups/airflow"), ("GET", "/v2/groups/airflow"), ("POST", "/v2/groups"),
                       ("GET", "/v2/groups/airflow"), ("PUT", "/v2/groups/airflow")]
    # listed for polls_per_deployment polls, then gone
    assert [p.current_step for p in progress] == [1, 2, 3]
    assert progress[0].current_actions == (("StartApplication", "/airflow/postgres"),)
    assert progress[0].deployment_id == created.deployment_id


def test_conflict_names_the_deployment_and_force_overrides_it(marathon):
    with MarathonClient(marathon.url) as client:
        first = client.deploy_group(default_group())
        with pytest.raises(DeploymentConflict) as info:
            client.deploy_group(default_group())
        assert info.value.deployment_ids == [first.deployment_id]
        assert info.value.status == 409
        forced = client.deploy_group(default_group(), force=True)
    assert marathon.requests[-1]["query"] == {"force": ["true"]}
    assert [d["id"] for d in marathon.deployments] == [forced.deployment_id]


def test_invalid_group_carries_details(marathon):
    group = default_group()
    group["apps"][2]["mem"] = MAX_MEM + 1
    with MarathonClient(marathon.url) as client, pytest.raises(InvalidGroup) as info:
        client.put_group(group)
    assert info.value.status == 422
    assert info.value.details == [("/apps(2)/mem", [f"got {MAX_MEM + 1}, expected {MAX_MEM} or less"])]


def test_wait_times_out_with_a_fake_clock(marathon):
    marathon.polls_per_deployment = 10**6
    clock = FakeClock()
    with MarathonClient(marathon.url, clock=clock) as client:
        ref = client.deploy_group(default_group())
        with pytest.raises(DeploymentTimeout) as info:
            client.wait_for_deployment(ref.deployment_id, timeout=10, interval=3)
    assert info.value.deployment_id == ref.deployment_id
    assert clock.sleeps == [3, 3, 3, 1]


def test_basic_auth_is_sent_and_kept_out_of_repr(marathon):
    with MarathonClient(marathon.url, username="ops", password="s3cret") as client:
        client.get_group("/airflow")
        assert "s3cret" not in repr(client)
    assert marathon.requests[-1]["authorization"].startswith("Basic ")
    with MarathonClient(marathon.url, token="abc") as client:
        client.get_group("/airflow")
    assert marathon.requests[-1]["authorization"] == "token=abc"


def test_mock_transport_is_injectable():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=[])

    with MarathonClient("http://marathon.invalid", transport=httpx.MockTransport(handler), clock=FakeClock()) as client:
        assert client.wait_for_deployment("gone", timeout=1) == 0
    assert seen == ["/v2/deployments"]


@pytest.mark.parametrize("status", [200, 201, 202])
def test_any_success_status_with_a_deployment_id_is_a_deployment(status):
    # Marathon answers 201 (POST) or 200 (PUT); proxies and other versions may say 202 Accepted.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"deploymentId": "d-1", "version": "2026-01-01T00:00:00.000Z"},
                              headers={"Marathon-Deployment-Id": "d-1"})

    with MarathonClient("http://marathon.invalid", transport=httpx.MockTransport(handler), clock=FakeClock()) as client:
        ref = client.put_group({"id": "/airflow", "apps": []})
    assert ref.deployment_id == "d-1"


# ------------------------------------------------------------------------- CLI


def test_cli_deploy_create_wait_status_and_diff(marathon):
    code, out, err = run_cli("marathon", "deploy", "--marathon", marathon.url, "--interval", "0.01")
    assert code == EXIT_OK, err
    assert "creating /airflow: deployment" in out
    assert "step 1/5: StartApplication /airflow/postgres" in out
    assert "finished after" in out

    code, out, err = run_cli("marathon", "status", "--marathon", marathon.url)
    assert code == EXIT_OK, err
    lines = out.splitlines()
    assert lines[0].split() == ["APP", "INSTANCES", "RUNNING", "HEALTHY", "UNHEALTHY", "STAGED", "DEPLOYMENTS"]
    assert lines[1].split() == ["/airflow/api-server", "1", "1", "1", "0", "0", "-"]
    assert len(lines) == 6

    # Marathon's additions (version, counts, defaults, service ports) are not differences
    code, out, err = run_cli("marathon", "diff", "--marathon", marathon.url)
    assert (code, out.strip()) == (EXIT_OK, "no differences"), err

    code, out, err = run_cli("marathon", "diff", "--marathon", marathon.url, "--set", "apps.scheduler.cpus=2",
                             "--set", "image.tag=0.2.0")
    assert code == EXIT_FAILED
    assert "~ /airflow/scheduler/cpus: 1.0 -> 2" in out
    assert '~ /airflow/triggerer/container/docker/image: "airflow-mesos/airflow:0.1.0" -> ' \
           '"airflow-mesos/airflow:0.2.0"' in out


def test_cli_diff_shows_removed_env_and_redacts_secret_like_values(marathon, tmp_path):
    running = default_group()
    running["apps"][2]["env"]["OLD_API_TOKEN"] = {"secret": "x"}
    running["apps"][2]["env"]["EXTRA"] = "1"
    marathon.groups["/airflow"] = running
    code, out, _ = run_cli("marathon", "diff", "--marathon", marathon.url)
    assert code == EXIT_FAILED
    assert '- /airflow/scheduler/env/EXTRA: "1"' in out
    assert "- /airflow/scheduler/env/OLD_API_TOKEN" in out


def test_cli_conflict_then_force(marathon):
    code, out, _ = run_cli("marathon", "deploy", "--marathon", marathon.url, "--no-wait")
    assert code == EXIT_OK
    locking = marathon.deployments[0]["id"]
    code, _, err = run_cli("marathon", "deploy", "--marathon", marathon.url, "--no-wait")
    assert code == EXIT_REFUSED
    assert "HTTP 409" in err and locking in err and "--force" in err
    code, out, err = run_cli("marathon", "deploy", "--marathon", marathon.url, "--force", "--interval", "0.01")
    assert code == EXIT_OK, err
    assert "updating /airflow" in out
    assert marathon.requests[[r["method"] for r in marathon.requests].index("PUT")]["query"] == {}
    puts = [r for r in marathon.requests if r["method"] == "PUT"]
    assert puts[-1]["query"] == {"force": ["true"]}


def test_cli_prints_422_details(marathon):
    code, _, err = run_cli("marathon", "deploy", "--marathon", marathon.url, "--set",
                           f"apps.scheduler.mem={MAX_MEM + 1}")
    assert code == EXIT_REFUSED
    assert "HTTP 422" in err and "Object is not valid" in err
    assert f"/apps(2)/mem: got {MAX_MEM + 1}, expected {MAX_MEM} or less" in err


def test_cli_refuses_to_deploy_an_invalid_file(marathon, tmp_path):
    group = default_group()
    group["apps"][0]["instances"] = 2
    path = tmp_path / "group.json"
    path.write_text(json.dumps(group))
    code, _, err = run_cli("marathon", "deploy", str(path), "--marathon", marathon.url)
    assert code == EXIT_FAILED
    assert "/apps/0/instances" in err and "not deploying" in err
    assert marathon.requests == []


def test_cli_deploy_timeout(marathon):
    marathon.polls_per_deployment = 10**6
    code, _, err = run_cli("marathon", "deploy", "--marathon", marathon.url, "--timeout", "0.2", "--interval", "0.05")
    assert code == EXIT_TIMEOUT
    assert "still running after 0.2s" in err


def test_cli_status_of_a_missing_group(marathon):
    code, _, err = run_cli("marathon", "status", "--marathon", marathon.url, "--group", "/nothing")
    assert code == EXIT_FAILED
    assert "group /nothing does not exist" in err


def test_cli_unreachable_marathon():
    with FakeMarathon() as server:
        url = server.url
    code, _, err = run_cli("marathon", "status", "--marathon", url, "--request-timeout", "2")
    assert code == EXIT_UNREACHABLE
    assert "cannot reach Marathon" in err and url in err


def test_cli_usage_errors():
    assert run_cli("marathon")[0] == EXIT_USAGE
    code, _, err = run_cli("marathon", "render", "--set", "apps.scheduler.cpus=0")
    assert code == EXIT_USAGE and "apps.scheduler.cpus" in err
    code, _, err = run_cli("marathon", "validate", "/nonexistent/group.json")
    assert code == EXIT_USAGE and "cannot read /nonexistent/group.json" in err
