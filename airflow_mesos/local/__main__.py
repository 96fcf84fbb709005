"""``python -m airflow_mesos.local``: run the embedded Mesos cluster, or its demo.

    python -m airflow_mesos.local [--agents N] [--cpus C] [--mem M] [--disk D] [--ports 31000-32000]
                                  [--gpus G] [--attributes "rack:r1;zone:a"] [--port 5050] [--host 127.0.0.1]
                                  [--heartbeat-interval 15] [--credentials principal:secret] [--zk zk://...]
                                  [--work-dir DIR]
    python -m airflow_mesos.local demo [same options]

The demo subscribes a tiny built-in scheduler (plain httpx + RecordIO, not our
driver), launches one Docker task on the busybox image, acknowledges and prints
every status update, prints the task's stdout read through the agent's
``/files/read``, tears the framework down and exits 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from typing import Iterator

import httpx


def _ports(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        begin, _, end = part.partition("-")
        try:
            out.append((int(begin), int(end or begin)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"--ports: expected ranges like 31000-32000, got {text!r}") from None
    return out


def _attributes(text: str) -> dict[str, str | float]:
    out: dict[str, str | float] = {}
    for item in filter(None, text.split(";")):
        name, sep, value = item.partition(":")
        if not sep or not name:
            raise argparse.ArgumentTypeError(f"--attributes: expected name:value;name:value, got {item!r}")
        try:
            out[name] = float(value)
        except ValueError:
            out[name] = value
    return out


def _credentials(text: str) -> dict[str, str]:
    principal, sep, secret = text.partition(":")
    if not sep or not principal:
        raise argparse.ArgumentTypeError("--credentials: expected principal:secret")
    return {principal: secret}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m airflow_mesos.local", description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", nargs="?", choices=["run", "demo"], default="run")
    parser.add_argument("--agents", type=int, default=1)
    parser.add_argument("--cpus", type=float, default=2.0)
    parser.add_argument("--mem", type=float, default=2048.0)
    parser.add_argument("--disk", type=float, default=10240.0)
    parser.add_argument("--ports", type=_ports, default=[(31000, 32000)])
    parser.add_argument("--gpus", type=int, default=0)
    parser.add_argument("--attributes", type=_attributes, default={})
    parser.add_argument("--port", type=int, default=5050)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--heartbeat-interval", type=float, default=15.0)
    parser.add_argument("--credentials", type=_credentials, default=None)
    parser.add_argument("--zk", default=None)
    parser.add_argument("--work-dir", default=None)
    args = parser.parse_args(argv)
    if args.mode == "demo" and "--port" not in (argv if argv is not None else sys.argv):
        args.port = 0  # the demo should not collide with a cluster someone already runs on 5050
    return args


def _records(response: httpx.Response) -> Iterator[dict]:
    buffer = b""
    for chunk in response.iter_raw():
        buffer += chunk
        while True:
            newline = buffer.find(b"\n")
            if newline < 0:
                break
            size = int(buffer[:newline])
            if len(buffer) < newline + 1 + size:
                break
            yield json.loads(buffer[newline + 1:newline + 1 + size])
            buffer = buffer[newline + 1 + size:]


def demo(cluster, image: str, out=print, timeout: float = 120.0) -> int:
    """Run the demo scheduler against ``cluster``; returns a process exit code."""
    auth = None
    url = cluster.master_url + "/api/v1/scheduler"
    info = {"user": "root", "name": "airflow-mesos-demo", "roles": ["demo"], "failover_timeout": 60.0,
            "capabilities": [{"type": "MULTI_ROLE"}, {"type": "PARTITION_AWARE"}]}
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=httpx.Timeout(10.0, read=timeout), auth=auth) as client, \
            client.stream("POST", url, json={"type": "SUBSCRIBE", "subscribe": {"framework_info": info}},
                          headers=headers) as stream:
        if stream.status_code != 200:
            out(f"SUBSCRIBE failed: {stream.status_code} {stream.read().decode(errors='replace')}")
            return 1
        stream_id = stream.headers["Mesos-Stream-Id"]
        framework_id = None

        def call(body: dict) -> None:
            response = client.post(url, json={"framework_id": {"value": framework_id}, **body},
                                   headers={"Mesos-Stream-Id": stream_id})
            if response.status_code != 202:
                raise RuntimeError(f"{body['type']} -> {response.status_code} {response.text}")

        launched = None
        for event in _records(stream):
            if time.monotonic() > deadline:
                out("demo timed out")
                return 1
            kind = event["type"]
            if kind == "SUBSCRIBED":
                framework_id = event["subscribed"]["framework_id"]["value"]
                out(f"subscribed as framework {framework_id}")
            elif kind == "OFFERS":
                for offer in event["offers"]["offers"]:
                    if launched is not None:
                        call({"type": "DECLINE", "decline": {"offer_ids": [offer["id"]]}})
                        continue
                    launched = (offer["agent_id"]["value"], "demo-task-1")
                    task = {
                        "name": "demo", "task_id": {"value": launched[1]}, "agent_id": offer["agent_id"],
                        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}}],
                        "command": {"value": "for i in 1 2 3; do echo \"hello from mesos task line $i\"; done"},
                        "container": {"type": "DOCKER", "docker": {"image": image, "network": "NONE"}},
                    }
                    out(f"launching {launched[1]} on agent {launched[0]} (offer {offer['id']['value']})")
                    call({"type": "ACCEPT", "accept": {"offer_ids": [offer["id"]], "operations": [
                        {"type": "LAUNCH", "launch": {"task_infos": [task]}}]}})
            elif kind == "UPDATE":
                status = event["update"]["status"]
                out(f"status update: {status['task_id']['value']} {status['state']}"
                    + (f" ({status['message']})" if status.get("message") else ""))
                if "uuid" in status:
                    call({"type": "ACKNOWLEDGE", "acknowledge": {"agent_id": status["agent_id"],
                                                                 "task_id": status["task_id"], "uuid": status["uuid"]}})
                if status["state"] in ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
                                       "TASK_DROPPED", "TASK_GONE"):
                    agent = cluster.agents[launched[0]]
                    path = f"/frameworks/{framework_id}/executors/{launched[1]}/runs/latest/stdout"
                    data = httpx.get(agent.url + "/files/read", params={"path": path, "offset": 0}, timeout=10).json()
                    out("task stdout:")
                    for line in data["data"].splitlines():
                        out(f"  {line}")
                    call({"type": "TEARDOWN"})
                    return 0 if status["state"] == "TASK_FINISHED" else 1
            elif kind == "ERROR":
                out(f"error: {event['error']['message']}")
                return 1
    return 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from airflow_mesos.local.agent import AgentSpec
    from airflow_mesos.local.cluster import LocalCluster

    docker_client = None
    image = None
    try:
        import docker

        docker_client = docker.from_env()
        docker_client.ping()
        from airflow_mesos.local.images import ensure_busybox_image

        image = ensure_busybox_image(docker_client)
    except Exception as exc:  # Docker is optional for 'run' (MESOS containerizer tasks still work)
        if args.mode == "demo":
            print(f"the demo needs a Docker engine (DOCKER_HOST): {exc}", file=sys.stderr)
            return 2
        docker_client = None
    specs = [AgentSpec(cpus=args.cpus, mem=args.mem, disk=args.disk, ports=args.ports, gpus=args.gpus,
                       attributes=args.attributes) for _ in range(args.agents)]
    cluster = LocalCluster(specs, host=args.host, port=args.port, work_dir=args.work_dir, docker_client=docker_client,
                           heartbeat_interval=args.heartbeat_interval, credentials=args.credentials, zk=args.zk)
    with cluster:
        print(f"master: {cluster.master_url}")
        for agent_id, agent in cluster.agents.items():
            print(f"agent {agent_id}: {agent.url}")
        sys.stdout.flush()
        if args.mode == "demo":
            return demo(cluster, image)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        print("shutting down")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
