"""The embedded agent running real busybox containers (both container types) and host processes.

A small recording MasterLink stands in for the master; everything else is real:
dockerd, the agent's HTTP server, sandboxes on disk.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from airflow_mesos.local.agent import Agent, AgentSpec

pytestmark = pytest.mark.integration

FRAMEWORK = {"id": {"value": "M-0000"}, "name": "test", "user": "root",
             "capabilities": [{"type": "TASK_KILLING_STATE"}]}
FID = FRAMEWORK["id"]["value"]


class RecordingMaster:
    """Records every update; acknowledges them unless told not to."""

    def __init__(self, auto_ack: bool = True) -> None:
        self.auto_ack = auto_ack
        self.agent: Agent | None = None
        self.updates: list[dict] = []
        self.reregistered: list[tuple[str, list]] = []
        self._cv = threading.Condition()

    def status_update(self, agent_id: str, framework_id: str, status: dict) -> None:
        with self._cv:
            self.updates.append(status)
            self._cv.notify_all()
        if self.auto_ack:
            self.agent.acknowledge(framework_id, status["task_id"]["value"], base64.b64decode(status["uuid"]))

    def agent_reregistered(self, agent_id: str, live_tasks: list[dict]) -> None:
        self.reregistered.append((agent_id, live_tasks))

    def of(self, task_id: str) -> list[dict]:
        with self._cv:
            return [u for u in self.updates if u["task_id"]["value"] == task_id]

    def states(self, task_id: str) -> list[str]:
        return [u["state"] for u in self.of(task_id)]

    def wait_terminal(self, task_id: str, timeout: float = 30.0) -> dict:
        terminal = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR"}
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                done = [u for u in self.updates if u["task_id"]["value"] == task_id and u["state"] in terminal]
                if done:
                    return done[0]
                left = deadline - time.monotonic()
                assert left > 0, f"task {task_id} did not end: {self.states(task_id)}"
                self._cv.wait(left)

    def wait_state(self, task_id: str, state: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._cv:
            while True:
                hits = [u for u in self.updates if u["task_id"]["value"] == task_id and u["state"] == state]
                if hits:
                    return hits[0]
                left = deadline - time.monotonic()
                assert left > 0, f"task {task_id} never reached {state}: {self.states(task_id)}"
                self._cv.wait(left)


def task_info(task_id: str, command: dict | str, container: dict | None = None, **extra) -> dict:
    info = {
        "name": task_id, "task_id": {"value": task_id}, "agent_id": {"value": "M-S0"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.2}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 64.0}},
                      {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31000, "end": 31000}]}}],
        "command": {"value": command} if isinstance(command, str) else command,
    }
    if container:
        info["container"] = container
    info.update(extra)
    return info


def docker_container(image: str, **docker) -> dict:
    return {"type": "DOCKER", "docker": {"image": image, "network": "NONE", **docker}}


def mesos_container(image: str, **extra) -> dict:
    return {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}, **extra}


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def read_file(agent: Agent, path: str) -> str:
    status, body = http_get(f"{agent.url}/files/read?path={urllib.request.quote(path)}&offset=0")
    assert status == 200, body
    return json.loads(body)["data"]


def sandbox_file(agent: Agent, task_id: str, name: str) -> str:
    return read_file(agent, f"/frameworks/{FID}/executors/{task_id}/runs/latest/{name}")


@pytest.fixture
def make_agent(tmp_path, docker_client, busybox_image):
    agents: list[Agent] = []

    def make(master: RecordingMaster, *, docker: bool = True, retry: float = 10.0) -> Agent:
        agent = Agent(agent_id=f"M-S{len(agents)}-{uuid.uuid4().hex[:6]}", spec=AgentSpec(),
                      work_dir=tmp_path / f"agent{len(agents)}", docker_client=docker_client if docker else None,
                      status_update_retry_interval=retry)
        master.agent = agent
        agent.start(master)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.close()
    # sparse: no inspect per container, which fails when another run removes its own container meanwhile.
    leftovers = docker_client.containers.list(all=True, sparse=True, filters={"label": "airflow-mesos.local"})
    ours = {a.id for a in agents}
    assert not [c for c in leftovers if (c.attrs.get("Labels") or {}).get("airflow-mesos.local.agent-id") in ours]


def test_three_ways_to_run_output_and_exit_codes(make_agent, busybox_image):
    master = RecordingMaster()
    agent = make_agent(master)
    tasks = {
        "proc-ok": task_info("proc-ok", "echo out-$MESOS_TASK_ID; echo err >&2"),
        "proc-fail": task_info("proc-fail", "exit 3"),
        "docker-ok": task_info("docker-ok", "echo out-$MESOS_TASK_ID in $MESOS_SANDBOX", docker_container(busybox_image)),
        "docker-fail": task_info("docker-fail", "exit 4", docker_container(busybox_image)),
        "mesos-ok": task_info("mesos-ok", {"shell": False, "value": "/bin/echo", "arguments": ["echo", "argv", "ok"]},
                              mesos_container(busybox_image)),
        "mesos-fail": task_info("mesos-fail", "echo bad >&2; exit 5", mesos_container(busybox_image)),
    }
    for info in tasks.values():
        agent.launch(FRAMEWORK, info)
    results = {tid: master.wait_terminal(tid) for tid in tasks}

    for tid in ("proc-ok", "docker-ok", "mesos-ok"):
        assert master.states(tid) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FINISHED"], tid
    assert results["proc-fail"]["message"] == "Command exited with status 3"
    assert results["docker-fail"]["message"] == "Container exited with status 4"
    assert results["mesos-fail"]["message"] == "Command exited with status 5"
    for tid in ("proc-fail", "docker-fail", "mesos-fail"):
        assert results[tid]["state"] == "TASK_FAILED" and results[tid]["source"] == "SOURCE_EXECUTOR"
        assert "reason" not in results[tid]   # as the executors' reaped() send it

    assert sandbox_file(agent, "proc-ok", "stdout") == "out-proc-ok\n"
    assert "err\n" in sandbox_file(agent, "proc-ok", "stderr")
    assert sandbox_file(agent, "docker-ok", "stdout") == "out-docker-ok in /mnt/mesos/sandbox\n"
    assert sandbox_file(agent, "mesos-ok", "stdout") == "argv ok\n"
    assert "bad\n" in sandbox_file(agent, "mesos-fail", "stderr")

    update = results["docker-ok"]
    assert update["agent_id"]["value"] == agent.id and update["executor_id"]["value"] == "docker-ok"
    assert len(base64.b64decode(update["uuid"])) == 16
    container_id = update["container_status"]["container_id"]["value"]

    # The real sandbox path from /state is readable too, and /state has Mesos' executor shape.
    state = json.loads(http_get(f"{agent.url}/slave(1)/state")[1])
    assert state["id"] == agent.id and state["pid"] == f"slave(1)@127.0.0.1:{agent.port}"
    executors = {e["id"]: e for f in state["frameworks"] + state["completed_frameworks"]
                 for e in f["executors"] + f["completed_executors"]}
    docker_executor = executors["docker-ok"]
    assert docker_executor["container"] == container_id
    assert docker_executor["directory"].endswith(f"/executors/docker-ok/runs/{container_id}")
    assert docker_executor["completed_tasks"][0]["state"] == "TASK_FINISHED"
    assert read_file(agent, docker_executor["directory"] + "/stdout").startswith("out-docker-ok")
    assert http_get(f"{agent.url}/health")[0] == 200
    assert http_get(f"{agent.url}/files/read?path=/frameworks/{FID}/executors/nope/runs/latest/stdout")[0] == 404


def test_kill_with_grace_period_runs_the_term_trap(make_agent, busybox_image):
    master = RecordingMaster()
    agent = make_agent(master)
    script = "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done"
    grace = {"grace_period": {"nanoseconds": 10_000_000_000}}
    agent.launch(FRAMEWORK, task_info("kill-docker", script, docker_container(busybox_image), kill_policy=grace))
    agent.launch(FRAMEWORK, task_info("kill-mesos", script, mesos_container(busybox_image), kill_policy=grace))
    agent.launch(FRAMEWORK, task_info("kill-proc", script))
    for tid in ("kill-docker", "kill-mesos", "kill-proc"):
        master.wait_state(tid, "TASK_RUNNING")
        deadline = time.monotonic() + 10
        while "ready" not in sandbox_file(agent, tid, "stdout"):
            assert time.monotonic() < deadline, f"{tid} never got ready"
            time.sleep(0.05)
        agent.kill(FID, tid)
    for tid in ("kill-docker", "kill-mesos", "kill-proc"):
        final = master.wait_terminal(tid)
        assert final["state"] == "TASK_KILLED", (tid, final)
        assert master.states(tid)[-2:] == ["TASK_KILLING", "TASK_KILLED"]
        assert "got TERM" in sandbox_file(agent, tid, "stdout"), tid


@pytest.fixture
def web_files(tmp_path):
    """A tiny HTTP server (a thread) serving a directory; yields (base URL, directory)."""
    import functools
    import http.server

    root = tmp_path / "web"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll: shutdown() waits for the next one (the default 0.5 s was this fixture's whole teardown).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_command_uris_are_fetched_into_the_sandbox_before_the_task_starts(make_agent, busybox_image, web_files,
                                                                          tmp_path):
    # src/launcher/fetcher.cpp 1.11.0: downloads and local copies, output_file, executable, extract.
    import io
    import tarfile

    base, root = web_files
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("app/main.txt")
        data = b"from the archive\n"
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    (root / "app.tar.gz").write_bytes(buffer.getvalue())
    (root / "settings.env").write_text("COLOR=blue\n")
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/sh\necho hello from the fetched script\n")
    uris = [{"value": f"{base}/app.tar.gz"}, {"value": f"{base}/settings.env", "output_file": "conf/app.env"},
            {"value": str(script), "executable": True, "cache": True}]
    command = "./hello.sh && cat app/main.txt && cat conf/app.env"
    master = RecordingMaster()
    agent = make_agent(master)
    agent.launch(FRAMEWORK, task_info("fetch-proc", {"value": command, "uris": uris}))
    agent.launch(FRAMEWORK, task_info("fetch-docker", {"value": command, "uris": uris}, docker_container(busybox_image)))
    for tid in ("fetch-proc", "fetch-docker"):
        final = master.wait_terminal(tid)
        assert final["state"] == "TASK_FINISHED", (tid, final, sandbox_file(agent, tid, "stderr"))
        assert sandbox_file(agent, tid, "stdout") == ("hello from the fetched script\nfrom the archive\nCOLOR=blue\n")
        assert f"Fetching URI '{base}/app.tar.gz'" in sandbox_file(agent, tid, "stderr")


def test_a_uri_that_cannot_be_fetched_fails_the_launch(make_agent, web_files):
    # FetcherProcess::run and Slave::executorLaunched (src/slave/*.cpp 1.11.0): TASK_FAILED, launch failed.
    base, _ = web_files
    master = RecordingMaster()
    agent = make_agent(master)
    agent.launch(FRAMEWORK, task_info("fetch-fail", {"value": "true", "uris": [{"value": f"{base}/missing.tgz"}]}))
    final = master.wait_terminal("fetch-fail")
    assert (final["state"], final["reason"], final["source"]) == (
        "TASK_FAILED", "REASON_CONTAINER_LAUNCH_FAILED", "SOURCE_AGENT")
    container_id = final["container_status"]["container_id"]["value"]
    assert final["message"] == (f"Failed to launch container: Failed to fetch all URIs for container "
                                f"'{container_id}': exited with status 1")
    assert master.states("fetch-fail") == ["TASK_FAILED"]    # never started
    assert (f"Failed to fetch '{base}/missing.tgz': Error downloading resource, received HTTP return code 404"
            in sandbox_file(agent, "fetch-fail", "stderr"))


def test_max_completion_time_kills_the_task_and_fails_it(make_agent, busybox_image):
    # taskCompletionTimeout (src/launcher/executor.cpp, src/docker/executor.cpp 1.11.0): killed with no grace, no
    # TASK_KILLING, then TASK_FAILED / REASON_MAX_COMPLETION_TIME_REACHED.
    master = RecordingMaster()
    agent = make_agent(master)
    half_a_second = {"nanoseconds": 500_000_000}
    patient = {"grace_period": {"nanoseconds": 30_000_000_000}}   # ignored: the timeout kills at once
    agent.launch(FRAMEWORK, task_info("slow-proc", "exec sleep 60", max_completion_time=half_a_second,
                                      kill_policy=patient))
    agent.launch(FRAMEWORK, task_info("slow-docker", "exec sleep 60", docker_container(busybox_image),
                                      max_completion_time=half_a_second, kill_policy=patient))
    agent.launch(FRAMEWORK, task_info("quick-proc", "true", max_completion_time={"nanoseconds": 60_000_000_000}))
    for tid, prefix in (("slow-proc", "Command"), ("slow-docker", "Container")):
        final = master.wait_terminal(tid, timeout=20)
        assert (final["state"], final.get("reason"), final["source"]) == (
            "TASK_FAILED", "REASON_MAX_COMPLETION_TIME_REACHED", "SOURCE_EXECUTOR"), final
        assert final["message"].startswith(f"{prefix} "), final
        assert master.states(tid) == ["TASK_STARTING", "TASK_RUNNING", "TASK_FAILED"]   # no TASK_KILLING
    assert master.wait_terminal("quick-proc")["state"] == "TASK_FINISHED"


def test_value_secret_reaches_a_mesos_task_but_not_state_or_docker_inspect(make_agent, docker_client, busybox_image):
    master = RecordingMaster()
    agent = make_agent(master)
    secret = "s3cr3t-'quoted' $value"
    env = {"variables": [{"name": "PLAIN", "value": "visible"},
                         {"name": "DB_PASSWORD", "type": "SECRET",
                          "secret": {"type": "VALUE", "value": {"data": base64.b64encode(secret.encode()).decode()}}}]}
    agent.launch(FRAMEWORK, task_info("secret-mesos", {"value": 'echo "pw=$DB_PASSWORD plain=$PLAIN"; sleep 30',
                                                       "environment": env}, mesos_container(busybox_image)))
    running = master.wait_state("secret-mesos", "TASK_RUNNING")
    deadline = time.monotonic() + 10
    while "pw=" not in sandbox_file(agent, "secret-mesos", "stdout"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sandbox_file(agent, "secret-mesos", "stdout") == f"pw={secret} plain=visible\n"

    container_id = running["container_status"]["container_id"]["value"]
    inspected = docker_client.api.inspect_container(f"mesos-{container_id}")
    assert "PLAIN=visible" in inspected["Config"]["Env"]
    assert not [e for e in inspected["Config"]["Env"] if "s3cr3t" in e or e.startswith("DB_PASSWORD")]
    assert "s3cr3t" not in http_get(f"{agent.url}/state")[1].decode()
    assert "s3cr3t" not in json.dumps(master.updates)
    listing = json.loads(http_get(f"{agent.url}/files/browse?path=/frameworks/{FID}/executors/secret-mesos/runs/latest")[1])
    assert sorted(e["path"].rsplit("/", 1)[1] for e in listing) == ["stderr", "stdout"]
    agent.kill(FID, "secret-mesos")
    assert master.wait_terminal("secret-mesos")["state"] == "TASK_KILLED"


@pytest.fixture
def image_with_user(docker_client, busybox_image):
    """The busybox image with ``USER 50000:0``, as the project image has (removed afterwards)."""
    repository, tag = "airflow-mesos/test-busybox-user", uuid.uuid4().hex[:12]
    base = docker_client.containers.create(busybox_image, ["true"])
    try:
        base.commit(repository=repository, tag=tag, changes=["USER 50000:0"])
    finally:
        base.remove(force=True)
    yield f"{repository}:{tag}"
    docker_client.images.remove(f"{repository}:{tag}", force=True)


def test_secret_reaches_mesos_tasks_running_as_non_root_users(make_agent, docker_client, busybox_image,
                                                               image_with_user):
    """Task user, image USER and a user name: each task sees the value (it prints only a digest)."""
    master = RecordingMaster()
    agent = make_agent(master)
    secret = "n0n-r00t-'pw' $x"
    encoded = base64.b64encode(secret.encode()).decode()
    env = {"variables": [{"name": "DB_PASSWORD", "type": "SECRET",
                          "secret": {"type": "VALUE", "value": {"data": encoded}}}]}
    script = 'echo "uid=$(id -u) sha=$(printf %s "$DB_PASSWORD" | sha256sum | cut -d" " -f1)"; sleep 30'
    no_grace = {"grace_period": {"nanoseconds": 0}}
    tasks = {  # task id: (image, CommandInfo.user, expected uid)
        "sec-uid": (busybox_image, "50000:0", 50000),
        "sec-image-user": (image_with_user, None, 50000),
        "sec-name": (busybox_image, "nobody", 65534),
    }
    for tid, (image, user, _) in tasks.items():
        command = {"value": script, "environment": env, **({"user": user} if user else {})}
        agent.launch(FRAMEWORK, task_info(tid, command, mesos_container(image), kill_policy=no_grace))
    agent.launch(FRAMEWORK, task_info("sec-no-user", {"value": "true", "environment": env, "user": "no-such-user"},
                                      mesos_container(busybox_image)))

    digest = hashlib.sha256(secret.encode()).hexdigest()
    for tid, (_, _, uid) in tasks.items():
        running = master.wait_state(tid, "TASK_RUNNING")
        deadline = time.monotonic() + 10
        while "sha=" not in sandbox_file(agent, tid, "stdout"):
            assert time.monotonic() < deadline, (tid, sandbox_file(agent, tid, "stderr"))
            time.sleep(0.05)
        assert sandbox_file(agent, tid, "stdout") == f"uid={uid} sha={digest}\n", tid

        container_id = running["container_status"]["container_id"]["value"]
        inspected = docker_client.api.inspect_container(f"mesos-{container_id}")
        config = inspected["Config"]
        shown = json.dumps([config.get(k) for k in ("Env", "Cmd", "Entrypoint", "Labels")]
                           + [inspected.get("Args"), inspected.get("Mounts")])
        assert secret not in shown and encoded not in shown and "n0n-r00t" not in shown, tid

        # On the host only that uid owns the file, and no host user can reach it (its directory is root's 0700).
        env_file = agent.work_dir / "secrets" / container_id / "env"
        file_stat, dir_stat = env_file.stat(), env_file.parent.stat()
        assert (file_stat.st_uid, stat.S_IMODE(file_stat.st_mode)) == (uid, 0o400), tid
        assert (dir_stat.st_uid, stat.S_IMODE(dir_stat.st_mode)) == (0, 0o700), tid
        as_task_uid = subprocess.run(["cat", str(env_file)], user=uid, capture_output=True)
        assert as_task_uid.returncode != 0 and as_task_uid.stdout == b"", tid

    failed = master.wait_terminal("sec-no-user")
    assert failed["state"] == "TASK_FAILED" and failed["reason"] == "REASON_CONTAINER_LAUNCH_FAILED"
    assert "unable to find user no-such-user: no matching entries in passwd file" in failed["message"]
    assert "n0n-r00t" not in json.dumps(master.updates)

    for tid in tasks:
        agent.kill(FID, tid)
        assert master.wait_terminal(tid)["state"] == "TASK_KILLED"
    deadline = time.monotonic() + 10
    while os.listdir(agent.work_dir / "secrets"):
        assert time.monotonic() < deadline, os.listdir(agent.work_dir / "secrets")
        time.sleep(0.05)


def test_a_mesos_task_running_as_a_non_root_user_owns_its_sandbox(make_agent, busybox_image, image_with_user):
    """The sandbox is chowned to the user the task runs as (``createExecutorDirectory`` under ``--switch_user``)."""
    master = RecordingMaster()
    agent = make_agent(master)
    script = 'echo written > "$MESOS_SANDBOX/own-file" && id -u'
    agent.launch(FRAMEWORK, task_info("own-uid", {"value": script, "user": "50000:0"}, mesos_container(busybox_image)))
    agent.launch(FRAMEWORK, task_info("own-image-user", {"value": script}, mesos_container(image_with_user)))
    for tid in ("own-uid", "own-image-user"):
        finished = master.wait_terminal(tid)
        assert finished["state"] == "TASK_FINISHED", (tid, finished, sandbox_file(agent, tid, "stderr"))
        assert sandbox_file(agent, tid, "stdout") == "50000\n", tid
        assert sandbox_file(agent, tid, "own-file") == "written\n", tid


def test_secrets_refused_for_docker_tasks_and_references_fail(make_agent, busybox_image):
    master = RecordingMaster()
    agent = make_agent(master)
    value = {"name": "PW", "type": "SECRET", "secret": {"type": "VALUE", "value": {"data": base64.b64encode(b"x").decode()}}}
    ref = {"name": "PW", "type": "SECRET", "secret": {"type": "REFERENCE", "reference": {"name": "/db/pw"}}}
    agent.launch(FRAMEWORK, task_info("sec-docker", {"value": "true", "environment": {"variables": [value]}},
                                      docker_container(busybox_image)))
    agent.launch(FRAMEWORK, task_info("sec-ref", {"value": "true", "environment": {"variables": [ref]}},
                                      mesos_container(busybox_image)))
    docker_failed = master.wait_terminal("sec-docker")
    ref_failed = master.wait_terminal("sec-ref")
    for update in (docker_failed, ref_failed):
        assert update["state"] == "TASK_FAILED"
        assert update["reason"] == "REASON_CONTAINER_LAUNCH_FAILED" and update["source"] == "SOURCE_AGENT"
    assert "secrets are not supported by the Docker containerizer" in docker_failed["message"]
    assert "Default secret resolver cannot resolve references" in ref_failed["message"]
    assert master.states("sec-docker") == ["TASK_FAILED"]


def test_host_path_and_local_docker_volume(make_agent, docker_client, busybox_image, tmp_path):
    master = RecordingMaster()
    agent = make_agent(master)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in.txt").write_text("from host\n")
    volume_name = f"airflow-mesos-test-{uuid.uuid4().hex[:8]}"
    volumes = [
        {"container_path": "/in", "host_path": str(shared), "mode": "RO"},
        {"container_path": "out", "mode": "RW", "source": {"type": "HOST_PATH", "host_path": {"path": str(shared)}}},
        {"container_path": "/vol", "mode": "RW",
         "source": {"type": "DOCKER_VOLUME", "docker_volume": {"driver": "local", "name": volume_name}}},
    ]
    script = ("cat /in/in.txt; echo written > $MESOS_SANDBOX/out/out.txt; echo kept > /vol/f; "
              "touch /in/nope 2>/dev/null || echo read-only")
    try:
        agent.launch(FRAMEWORK, task_info("vol-mesos", script, mesos_container(busybox_image, volumes=volumes)))
        assert master.wait_terminal("vol-mesos")["state"] == "TASK_FINISHED"
        assert sandbox_file(agent, "vol-mesos", "stdout") == "from host\nread-only\n"
        assert (shared / "out.txt").read_text() == "written\n"
        agent.launch(FRAMEWORK, task_info("vol-docker", "cat /vol/f",
                                          {**docker_container(busybox_image), "volumes": volumes[2:]}))
        assert master.wait_terminal("vol-docker")["state"] == "TASK_FINISHED"
        assert sandbox_file(agent, "vol-docker", "stdout") == "kept\n"
    finally:
        try:
            docker_client.volumes.get(volume_name).remove(force=True)
        except Exception:
            pass


MISSING_IMAGE = "127.0.0.1:1/airflow-mesos/does-not-exist:1"


def test_missing_volume_driver_and_missing_image_fail_clearly(make_agent, busybox_image):
    master = RecordingMaster()
    agent = make_agent(master)
    rexray = [{"container_path": "/data", "mode": "RW",
               "source": {"type": "DOCKER_VOLUME", "docker_volume": {"driver": "rexray", "name": "pgdata"}}}]
    agent.launch(FRAMEWORK, task_info("rexray", "true", {**docker_container(busybox_image), "volumes": rexray}))
    # A registry at a closed port on loopback: the pull is refused at once, offline too (a name on
    # Docker Hub waited ~15 s on the registry lookup).
    agent.launch(FRAMEWORK, task_info("no-image", "true", mesos_container(MISSING_IMAGE)))
    agent.launch(FRAMEWORK, task_info("bad-port", "true", docker_container(
        busybox_image, network="BRIDGE", port_mappings=[{"host_port": 45000, "container_port": 80}])))
    for tid, words in (("rexray", "rexray"), ("no-image", MISSING_IMAGE),
                       ("bad-port", "Port [45000] not included in resources")):
        update = master.wait_terminal(tid)
        assert update["state"] == "TASK_FAILED" and update["reason"] == "REASON_CONTAINER_LAUNCH_FAILED", update
        assert update["message"].startswith("Failed to launch container: ") and words in update["message"], update


def test_memory_limit_exceeded_is_a_container_limitation(make_agent, busybox_image):
    master = RecordingMaster()
    agent = make_agent(master)
    info = task_info("oom", "head -c 300000000 /dev/zero | tail > /dev/null", mesos_container(busybox_image))
    info["resources"][1]["scalar"]["value"] = 32.0
    agent.launch(FRAMEWORK, info)
    update = master.wait_terminal("oom", timeout=60)
    assert update["state"] == "TASK_FAILED"
    assert update["reason"] == "REASON_CONTAINER_LIMITATION_MEMORY", update
    assert update["message"].startswith("Memory limit exceeded")


def test_unacknowledged_update_is_resent_until_acknowledged(make_agent):
    master = RecordingMaster(auto_ack=False)
    agent = make_agent(master, retry=0.2)
    agent.launch(FRAMEWORK, task_info("retry", "true"))
    deadline = time.monotonic() + 10
    while len(master.of("retry")) < 3:
        assert time.monotonic() < deadline, master.states("retry")
        time.sleep(0.05)
    first = master.of("retry")
    # Only the head goes out, again and again, with the same uuid, until it is acknowledged.
    assert {u["state"] for u in first} == {"TASK_STARTING"}
    assert len({u["uuid"] for u in first}) == 1
    agent.acknowledge(FID, "retry", base64.b64decode(first[0]["uuid"]))
    running = master.wait_state("retry", "TASK_RUNNING")
    assert running["uuid"] != first[0]["uuid"]
    agent.acknowledge(FID, "retry", base64.b64decode(running["uuid"]))
    finished = master.wait_state("retry", "TASK_FINISHED")
    agent.acknowledge(FID, "retry", base64.b64decode(finished["uuid"]))
    assert agent.pending_updates() == []
    assert agent.live_tasks() == []


def test_crash_kills_everything_silently_and_restart_reregisters(make_agent, docker_client, busybox_image):
    master = RecordingMaster()
    agent = make_agent(master)
    agent.launch(FRAMEWORK, task_info("crash-docker", "sleep 60", docker_container(busybox_image)))
    agent.launch(FRAMEWORK, task_info("crash-proc", "sleep 60"))
    for tid in ("crash-docker", "crash-proc"):
        master.wait_state(tid, "TASK_RUNNING")
    assert {t["task_id"] for t in agent.live_tasks()} == {"crash-docker", "crash-proc"}
    port = agent.port
    seen = len(master.updates)

    agent.crash()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
    assert docker_client.containers.list(all=True, filters={"label": f"airflow-mesos.local.agent-id={agent.id}"}) == []
    # No runner is left to report and nothing is queued (a sent update stays queued until it is acknowledged),
    # so what the master has is all it will get.
    assert agent.wait_runners_ended()
    assert agent.pending_updates() == []
    assert len(master.updates) == seen
    assert agent.live_tasks() == []

    agent.restart()
    assert agent.port == port
    assert master.reregistered == [(agent.id, [])]
    assert http_get(f"{agent.url}/health")[0] == 200
    assert json.loads(http_get(f"{agent.url}/state")[1])["frameworks"] == []


def test_shutdown_framework_kills_its_tasks_and_reports_nothing_more(make_agent):
    master = RecordingMaster()
    agent = make_agent(master)
    agent.launch(FRAMEWORK, task_info("fw-proc", "sleep 60", kill_policy={"grace_period": {"nanoseconds": 0}}))
    master.wait_state("fw-proc", "TASK_RUNNING")
    agent.shutdown_framework(FID)
    # The runner has seen the task die and ended, and nothing is queued: no TASK_KILLED can follow.
    assert agent.wait_runners_ended()
    assert agent.live_tasks() == []
    assert agent.pending_updates() == []
    assert master.states("fw-proc") == ["TASK_STARTING", "TASK_RUNNING"]
    state = agent.state()
    assert state["frameworks"] == [] and state["completed_frameworks"][0]["id"] == FID
    executor = state["completed_frameworks"][0]["completed_executors"][0]
    assert executor["completed_tasks"][0]["state"] == "TASK_KILLED"


def test_without_docker_processes_run_and_container_tasks_fail(make_agent, busybox_image):
    master = RecordingMaster()
    agent = make_agent(master, docker=False)
    agent.launch(FRAMEWORK, task_info("nodocker-proc", "echo plain"))
    agent.launch(FRAMEWORK, task_info("nodocker-docker", "true", docker_container(busybox_image)))
    assert master.wait_terminal("nodocker-proc")["state"] == "TASK_FINISHED"
    assert sandbox_file(agent, "nodocker-proc", "stdout") == "plain\n"
    failed = master.wait_terminal("nodocker-docker")
    assert failed["state"] == "TASK_FAILED" and "None of the enabled containerizers" in failed["message"]


def test_containers_carry_the_id_of_the_run_that_made_them(make_agent, docker_client, busybox_image, monkeypatch):
    """scripts/lib.sh removes only containers labelled with its own AIRFLOW_MESOS_RUN_ID."""
    run = f"test-run-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW_MESOS_RUN_ID", run)
    master = RecordingMaster()
    agent = make_agent(master)
    no_grace = {"grace_period": {"nanoseconds": 0}}
    own_label = docker_container(busybox_image, parameters=[{"key": "label", "value": "team=data"}])
    agent.launch(FRAMEWORK, task_info("run-docker", "sleep 30", own_label, kill_policy=no_grace))
    agent.launch(FRAMEWORK, task_info("run-mesos", "sleep 30", mesos_container(busybox_image), kill_policy=no_grace))
    names = {tid: "mesos-" + master.wait_state(tid, "TASK_RUNNING")["container_status"]["container_id"]["value"]
             for tid in ("run-docker", "run-mesos")}
    labelled = {c.name: c.labels for c in docker_client.containers.list(filters={"label": f"airflow-mesos.run={run}"})}
    assert sorted(labelled) == sorted(names.values())
    assert labelled[names["run-docker"]]["team"] == "data"  # the task's own labels stay
    assert labelled[names["run-docker"]]["airflow-mesos.local.agent-id"] == agent.id
    for tid in names:
        agent.kill(FID, tid)
        assert master.wait_terminal(tid)["state"] == "TASK_KILLED"


def test_state_hides_docker_parameters_that_can_carry_secrets(make_agent, busybox_image):
    master = RecordingMaster()
    agent = make_agent(master)
    container = docker_container(busybox_image, parameters=[{"key": "env", "value": "API_TOKEN=tok-s3cr3t"}])
    agent.launch(FRAMEWORK, task_info("params", "sleep 30", container))
    master.wait_state("params", "TASK_RUNNING")
    state = http_get(f"{agent.url}/state")[1].decode()
    assert "tok-s3cr3t" not in state
    executor = next(e for f in json.loads(state)["frameworks"] for e in f["executors"] if e["id"] == "params")
    task = executor["tasks"][0]
    assert task["container"]["docker"]["image"] == busybox_image  # the safe parts are still shown
    assert "parameters" not in task["container"]["docker"]
    agent.kill(FID, "params")
    assert master.wait_terminal("params")["state"] == "TASK_KILLED"
