"""The Mesos UI plugin in a real Airflow 3.3 UI, driven by a real browser while a DAG runs on Mesos.

The shared deployment (``mesos_airflow``: api-server, scheduler with the MesosExecutor, dag-processor, with
``plugins/`` as its plugins folder) runs ``mesos_ui_page`` (``mesos_dags/mesos_ui.py``): one task that runs
until the test ends the run, and one that waits because no agent has ``rack=r9``.  Headless Chromium (Debian's
``/usr/bin/chromium``, driven by Playwright; no browser is downloaded) logs in through SimpleAuthManager's form,
opens the Mesos page from the navigation, and checks what it shows; the screenshot is saved in the test's
``tmp_path``.  Then the run is marked failed through the REST API, and the page (which refreshes itself) and
the executor both let go of the waiting task, leaving the deployment idle.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest

from tests.e2e.airflow_harness import USERNAME
from tests.e2e.conftest import MESOS_DAGS, PLUGINS_FOLDER

DAG_ID = "mesos_ui_page"
CHROMIUM = "/usr/bin/chromium"
# As root, Chromium needs --no-sandbox; the rest keep it from calling out on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def _password(deployment) -> str:
    passwords = Path(deployment.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    return json.loads(passwords.read_text())[USERNAME]


def _wait_events(deployment, run_id: str, task_id: str) -> list[str]:
    events = deployment.client.event_logs(dag_id=DAG_ID, run_id=run_id, event="mesos waiting")
    return [str(e.get("extra") or "") for e in events if e.get("task_id") == task_id]


def _framework(cluster, framework_id: str):
    """The embedded master's own record of the framework (the test oracle; Mesos' API does not show which roles
    a framework suppressed)."""
    registry = getattr(cluster.master, "records", cluster.master)
    return registry.frameworks.get(framework_id)


def _log_in_and_open_the_mesos_page(browser, deployment):
    """Log in through SimpleAuthManager's form, as a person would, and open "Mesos" from the UI's navigation;
    return the page and the Mesos page's frame inside it, once it rendered its first answer."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1440, "height": 1400})
    page.set_default_timeout(60_000)
    expect.set_options(timeout=30_000)  # the page polls every 3 s; the first answer may take a while
    page.goto(deployment.api_url + "/")
    page.locator("input[name=username]").fill(USERNAME)
    page.locator("input[name=password]").fill(_password(deployment))
    page.get_by_role("button", name="Sign in").click()
    # The plugin's entry in the navigation opens the page inside the UI.
    page.get_by_role("link", name="Mesos").click()
    page.wait_for_url("**/plugin/mesos**")
    frame = page.frame_locator("iframe[title=Mesos]")
    expect(frame.locator("body[data-loaded='1']")).to_be_attached()
    return page, frame


@pytest.fixture(scope="module")
def ui_run(mesos_airflow):
    """One run of ``mesos_ui_page`` for the module, with its long task RUNNING and its other task waiting with a
    reason.  The tests below use it in file order: the API, then the page (which ends the run through the REST
    API and watches the page follow), then the executor letting go.

    Afterwards the run is marked failed if no test did, so nothing of it keeps running.
    """
    deployment = mesos_airflow
    run_id = deployment.trigger(DAG_ID)

    def ready():
        states = {ti.task_id: ti.state for ti in deployment.task_instances(DAG_ID, run_id)}
        return (states.get("long_running") == "running" and states.get("never_placed") == "queued"
                and any("rack" in reason for reason in _wait_events(deployment, run_id, "never_placed")))

    try:
        deployment._wait(ready, f"{DAG_ID}: long_running running and never_placed waiting with a reason",
                         timeout=240)
        yield run_id
    finally:
        _end_run(deployment, run_id)


def _end_run(deployment, run_id: str) -> None:
    if deployment.client.dag_run(DAG_ID, run_id)["state"] not in ("success", "failed"):
        _mark_failed(deployment, run_id)


def _mark_failed(deployment, run_id: str) -> None:
    path = f"/api/v2/dags/{DAG_ID}/dagRuns/{urllib.parse.quote(run_id, safe='')}"
    response = deployment.client.request("PATCH", path, json={"state": "failed"})
    assert response.status_code == 200, response.text


def test_the_mesos_api_refuses_requests_without_authentication(mesos_airflow, ui_run):
    deployment = mesos_airflow
    url = f"{deployment.api_url}/mesos/api/state"
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=30).status_code == 403
    assert httpx.get(url, cookies={"_token": "not-a-token"}, timeout=30).status_code == 403

    token = deployment.client.token()
    by_header = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    by_cookie = httpx.get(url, cookies={"_token": token}, timeout=30)
    assert by_header.status_code == 200 and by_cookie.status_code == 200
    view = by_header.json()
    assert view["master"]["reachable"] is True
    assert [w["task_id"] for w in view["waiting"] if w["dag_id"] == DAG_ID] == ["never_placed"]
    # The page itself holds no data; it is served like the UI's own index.html, and loads nothing from elsewhere.
    page = httpx.get(f"{deployment.api_url}/mesos/ui", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")


def test_the_mesos_page_in_the_airflow_ui_shows_agents_running_and_waiting_tasks(
        mesos_airflow, mesos_cluster, ui_run, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    deployment, cluster, run_id = mesos_airflow, mesos_cluster, ui_run
    tis = {ti.task_id: ti for ti in deployment.task_instances(DAG_ID, run_id)}
    [framework_id] = [row[0] for row in deployment.query("SELECT framework_id FROM airflow_mesos_framework")]
    quoted_run = urllib.parse.quote(run_id, safe="")
    running_path = f"/dags/{DAG_ID}/runs/{quoted_run}/tasks/long_running"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page, frame = _log_in_and_open_the_mesos_page(browser, deployment)

            # The master and the framework.
            expect(frame.get_by_test_id("master-pill")).to_have_text("master reachable")
            expect(frame.get_by_test_id("framework-status")).to_have_text("connected")
            expect(frame.get_by_test_id("framework-id")).to_have_text(framework_id)

            # The agents, with their attributes and used and free resources.
            agents = frame.locator("tr[data-testid=agent-row]")
            expect(agents).to_have_count(len(cluster.agents))
            for spec in (a.spec for a in cluster.agents.values()):
                row = frame.locator(f"tr[data-testid=agent-row][data-hostname='{spec.hostname}']")
                expect(row).to_contain_text(f"rack={spec.attributes['rack']}")
                expect(row.locator("td[data-resource=cpus]")).to_contain_text(f"/ {spec.cpus:g} used")
                expect(row.locator("td[data-resource=mem]")).to_contain_text(f"/ {spec.mem:,.0f} MiB used")
                for name in ("cpus", "mem", "disk", "gpus"):
                    expect(row.locator(f"td[data-resource={name}] [data-testid=free]")).to_contain_text("free")
            # The long task holds 0.5 cpus on its agent: that agent's used cpus show it, with what else Mesos
            # counts there (its warm executor's share, and idle executors of earlier tests until they exit).
            [long_task] = [t for t in httpx.get(cluster.master_url + "/master/tasks", params={"limit": 1000},
                                                timeout=10).json()["tasks"]
                           if t["id"] == tis["long_running"].external_executor_id]
            long_agent = cluster.agents[long_task["slave_id"]]
            cpus_cell = frame.locator(f"tr[data-testid=agent-row][data-hostname='{long_agent.spec.hostname}'] "
                                      "td[data-resource=cpus]")

            def used_cpus_shown() -> bool:
                slaves = httpx.get(cluster.master_url + "/master/slaves", timeout=10).json()["slaves"]
                [used] = [s["used_resources"]["cpus"] for s in slaves if s["id"] == long_agent.id]
                shown = f"{round(used, 3):g} / {long_agent.spec.cpus:g} used"
                return used >= 0.5 and shown in cpus_cell.inner_text()

            deadline = time.monotonic() + 30
            while not used_cpus_shown():
                assert time.monotonic() < deadline, cpus_cell.inner_text()
                time.sleep(0.5)

            # The running task, linked to its task instance.
            running = frame.locator("tr[data-testid=task-row][data-task-id=long_running]")
            expect(running).to_have_attribute("data-state", "TASK_RUNNING")
            expect(running).to_have_attribute("data-mesos-task-id", tis["long_running"].external_executor_id)
            expect(running).to_contain_text("running")  # the Airflow state beside the Mesos one
            link = running.get_by_test_id("ti-link")
            expect(link).to_have_text(f"{DAG_ID} / long_running")
            expect(link).to_have_attribute("href", running_path)

            # The waiting task, with the reason the executor recorded.
            waiting = frame.locator(f"tr[data-testid=waiting-row][data-task-id=never_placed][data-run-id='{run_id}']")
            expect(waiting.get_by_test_id("wait-reason")).to_contain_text("rack")
            [reason] = _wait_events(deployment, run_id, "never_placed")[-1:]
            expect(waiting.get_by_test_id("wait-reason")).to_have_text(reason)

            screenshot = tmp_path / "mesos-page.png"
            page.screenshot(path=str(screenshot), full_page=True)
            assert screenshot.stat().st_size > 10_000

            # The task instance link opens the task instance in the UI itself, not inside the frame.
            link.click()
            page.wait_for_url(f"**{running_path}**")

            # Back on the Mesos page: it refreshes itself.  End the run through the REST API; without a
            # reload, the waiting task leaves the page and the long task leaves the active tasks.
            page.goto(deployment.api_url + "/plugin/mesos")
            frame = page.frame_locator("iframe[title=Mesos]")
            expect(frame.locator("tr[data-testid=task-row][data-task-id=long_running]")).to_have_count(1)
            _mark_failed(deployment, run_id)
            # (Airflow stops the long task when its next heartbeat is refused; Mesos then reports its end.)
            expect(frame.locator(f"tr[data-testid=waiting-row][data-run-id='{run_id}']")).to_have_count(
                0, timeout=60_000)
            expect(frame.locator("tr[data-testid=task-row][data-task-id=long_running]")).to_have_count(
                0, timeout=120_000)
            long_task_id = tis["long_running"].external_executor_id
            expect(frame.locator(f"tr[data-testid=recent-row][data-mesos-task-id='{long_task_id}']")).to_have_count(1)
            page.screenshot(path=str(tmp_path / "mesos-page-after.png"), full_page=True)
        finally:
            browser.close()


def test_the_executor_lets_go_of_the_waiting_task_when_its_run_is_marked_failed(mesos_airflow, mesos_cluster,
                                                                                 ui_run):
    """Marking the run failed makes the waiting task instance SKIPPED; the executor must stop waiting for an
    offer for it, or the shared deployment keeps reviving offers (and a parallelism slot) for nothing."""
    deployment, cluster, run_id = mesos_airflow, mesos_cluster, ui_run
    _end_run(deployment, run_id)
    [framework_id] = [row[0] for row in deployment.query("SELECT framework_id FROM airflow_mesos_framework")]
    states = {ti.task_id: ti.state for ti in deployment.task_instances(DAG_ID, run_id)}
    assert states["never_placed"] == "skipped", states

    # With nothing waiting, the executor suppresses its offers.
    def idle():
        framework = _framework(cluster, framework_id)
        return framework is not None and set(framework.roles) <= set(framework.suppressed)

    deployment._wait(idle, "the MesosExecutor to drop the waiting task of a failed run and suppress its offers",
                     timeout=120)


# ------------------------------------------------------------------------------------------------ no master


@pytest.fixture(scope="module")
def airflow_without_master(airflow_deployment, tmp_path_factory):
    """An Airflow of its own whose ``[mesos] master`` nobody listens on, with only ``mesos_ui.py``."""
    dags = tmp_path_factory.mktemp("ui-dags")
    shutil.copy(MESOS_DAGS / "mesos_ui.py", dags / "mesos_ui.py")
    with socket.socket() as probe:  # a port that was free a moment ago: nothing answers there
        probe.bind(("127.0.0.1", 0))
        dead_master = f"http://127.0.0.1:{probe.getsockname()[1]}"
    deployment = airflow_deployment(
        executor="airflow_mesos.executor.MesosExecutor", dags_folder=dags, dag_ids=[DAG_ID],
        extra_env={"AIRFLOW__MESOS__MASTER": dead_master, "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER)})
    return deployment, dead_master


def test_with_the_master_unreachable_the_page_says_so_and_still_shows_why_tasks_wait(airflow_without_master,
                                                                                     tmp_path):
    from playwright.sync_api import expect, sync_playwright

    deployment, dead_master = airflow_without_master
    run_id = deployment.trigger(DAG_ID)
    waiting = "not connected to the Mesos master"

    def both_wait_with_the_reason():
        return all(any(waiting in reason for reason in _wait_events(deployment, run_id, task_id))
                   for task_id in ("long_running", "never_placed"))

    try:
        deployment._wait(both_wait_with_the_reason, f"both tasks of {DAG_ID} to wait with {waiting!r}",
                         timeout=180)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page, frame = _log_in_and_open_the_mesos_page(browser, deployment)
                expect(frame.get_by_test_id("master-pill")).to_have_text("master unreachable")
                banner = frame.get_by_test_id("master-unreachable")
                expect(banner).to_contain_text("The Mesos master is unreachable")
                expect(banner).to_contain_text(dead_master)
                expect(frame.get_by_test_id("framework-status")).to_have_text("unknown")
                expect(frame.get_by_test_id("agents")).to_contain_text("Unknown while the master is unreachable")
                for task_id in ("long_running", "never_placed"):
                    row = frame.locator(f"tr[data-testid=waiting-row][data-task-id={task_id}]")
                    expect(row.get_by_test_id("wait-reason")).to_contain_text(waiting)
                page.screenshot(path=str(tmp_path / "mesos-page-no-master.png"), full_page=True)
            finally:
                browser.close()
    finally:
        _end_run(deployment, run_id)
