"""``python -m airflow_mesos.local``: run the embedded Mesos cluster, or its demo.

    python -m airflow_mesos.local [--agents N | --agent SPEC ...] [--cpus C] [--mem M] [--disk D]
                                  [--ports 31000-32000] [--gpus G] [--attributes "rack:r1;zone:a"]
                                  [--port 5050] [--host 127.0.0.1] [--heartbeat-interval 15] [--allocation-interval 1]
                                  [--offer-timeout S]
                                  [--principal P [--secret-file F]] [--zk zk://...] [--work-dir DIR]
    python -m airflow_mesos.local demo [same options]

``--agent cpus=4,mem=8192,disk=20000,gpus=1,attributes=rack:r1;zone:a`` (repeatable) gives
each agent its own resources and attributes (see :mod:`airflow_mesos.local.options`);
agents get distinct loopback hostnames 127.0.0.1, 127.0.0.2, ...  The secret of
``--principal`` comes from ``--secret-file`` or ``$AIRFLOW_MESOS_LOCAL_SECRET``, never
from argv.  A bad option ends in one line naming it, exit code 2.

The demo subscribes a tiny built-in scheduler (plain httpx + RecordIO, not our
driver), launches one Docker task on the busybox image, acknowledges and prints
every status update, prints the task's stdout read through the agent's
``/files/read``, tears the framework down and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import NoReturn

import httpx

from airflow_mesos.local import options


class _OneLineErrors(argparse.ArgumentParser):
    """Bad usage ends in one line naming the option (no usage block, no traceback)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def _typed(parse: Callable[..., object], **kwargs: object) -> Callable[[str], object]:
    """An argparse ``type=`` whose message is the option's own (argparse prefixes 'argument --x: ')."""

    def convert(text: str) -> object:
        try:
            return parse(text, **kwargs)
        except options.OptionError as exc:
            raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[-1]) from None

    return convert


def _refuse_credentials(_text: str) -> None:
    raise argparse.ArgumentTypeError(options.REFUSED_CREDENTIALS.split(": ", 1)[1])


def build_parser(prog: str = "python -m airflow_mesos.local") -> argparse.ArgumentParser:
    parser = _OneLineErrors(
        prog=prog, description="Run the embedded Mesos cluster (a master and its agents in this process), or its demo.",
        epilog="Per-agent specs: --agent cpus=4,mem=8192,disk=20000,gpus=1,attributes=rack:r1;zone:a "
               "(repeatable; keys: " + ", ".join(options.AGENT_KEYS) + "; left-out keys take --cpus, --mem, ...).",
    )
    parser.add_argument("mode", nargs="?", choices=["run", "demo"], default="run",
                        help="run: serve the cluster until Ctrl-C (default); demo: run one Docker task through "
                             "an offer, print its updates and output, and exit")
    agents = parser.add_argument_group("agents")
    agents.add_argument("--agents", type=_typed(options.whole, option="--agents", minimum=1), default=None,
                        metavar="N", help="this many identical agents (default 1; not with --agent)")
    agents.add_argument("--agent", action="append", default=[], metavar="SPEC",
                        help="one agent with its own resources and attributes, e.g. "
                             "'cpus=4,mem=8192,gpus=1,attributes=rack:r1;zone:a' (repeatable)")
    agents.add_argument("--cpus", type=_typed(options.number, option="--cpus"), default=2.0,
                        help="CPUs of each agent (default 2)")
    agents.add_argument("--mem", type=_typed(options.number, option="--mem"), default=2048.0,
                        metavar="MIB", help="memory of each agent, MiB (default 2048)")
    agents.add_argument("--disk", type=_typed(options.number, option="--disk", inclusive=True), default=10240.0,
                        metavar="MIB", help="sandbox disk of each agent, MiB (default 10240)")
    agents.add_argument("--ports", type=_typed(options.port_ranges), default=[(31000, 32000)],
                        metavar="RANGES", help="port ranges each agent offers (default 31000-32000)")
    agents.add_argument("--gpus", type=_typed(options.whole, option="--gpus"), default=0,
                        metavar="N", help="GPUs of each agent, a whole number (default 0)")
    agents.add_argument("--attributes", type=_typed(options.attributes), default={}, metavar="ATTRS",
                        help="attributes of each agent, 'name:value;name:value' (default none)")
    agents.add_argument("--executor-registration-timeout", default=60.0, metavar="SECONDS",
                        type=_typed(options.number, option="--executor-registration-timeout"),
                        help="how long a custom executor has to subscribe before it is destroyed and its tasks "
                             "fail (Mesos' --executor_registration_timeout; default 60)")
    agents.add_argument("--executor-shutdown-grace-period", default=5.0, metavar="SECONDS",
                        type=_typed(options.number, option="--executor-shutdown-grace-period", inclusive=True),
                        help="between SHUTDOWN to a custom executor and its destruction, unless its ExecutorInfo "
                             "says otherwise (Mesos' --executor_shutdown_grace_period; default 5)")
    master = parser.add_argument_group("master")
    master.add_argument("--port", type=_typed(options.whole, option="--port", maximum=65535), default=None,
                        help="the master's port (default 5050; 0 picks a free one; the demo's default is 0)")
    master.add_argument("--host", type=_typed(options.host, option="--host"), default="127.0.0.1",
                        help="the address the master listens on (default 127.0.0.1)")
    master.add_argument("--heartbeat-interval", type=_typed(options.number, option="--heartbeat-interval"),
                        default=15.0, metavar="SECONDS",
                        help="seconds between HEARTBEAT events on scheduler streams (default 15)")
    master.add_argument("--allocation-interval", type=_typed(options.number, option="--allocation-interval"),
                        default=1.0, metavar="SECONDS",
                        help="seconds between allocation rounds (batches of offers), as Mesos' "
                             "--allocation_interval (default 1)")
    master.add_argument("--offer-timeout", type=_typed(options.number, option="--offer-timeout"), default=None,
                        metavar="SECONDS",
                        help="rescind offers a framework holds longer than this, as Mesos' --offer_timeout "
                             "(default: never)")
    master.add_argument("--principal", default=None,
                        help="turn on HTTP basic authentication of frameworks with this principal; its secret "
                             f"comes from --secret-file or ${options.SECRET_ENV}")
    master.add_argument("--secret-file", default=None, metavar="FILE",
                        help="a file holding --principal's secret (a trailing newline is ignored)")
    master.add_argument("--credentials", type=_refuse_credentials, default=None, metavar="REMOVED",
                        help="removed: a secret in argv shows in ps; use --principal with --secret-file or "
                             f"${options.SECRET_ENV}")
    master.add_argument("--zk", type=_typed(_zk), default=None, metavar="zk://HOST:PORT/PATH",
                        help="also register the master in this ZooKeeper group, as Mesos masters do")
    parser.add_argument("--work-dir", default=None, metavar="DIR",
                        help="where agents keep sandboxes (default: a temporary folder, removed at the end)")
    return parser


def _zk(text: str) -> str:
    from airflow_mesos.mesos.detector import parse_zk_url
    from airflow_mesos.mesos.errors import MasterDetectionError

    if not text.startswith("zk://"):
        raise options.OptionError(f"--zk: expected zk://host:port[,host:port]/path, got {text!r}")
    try:
        parse_zk_url(text)
    except MasterDetectionError as exc:
        raise options.OptionError(f"--zk: {exc}") from None
    return text


def parse_args(argv: list[str] | None, prog: str = "python -m airflow_mesos.local",
               environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Parse and check the options; on a bad one, print one line naming it and exit 2."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ
    if args.port is None:
        # The demo should not collide with a cluster someone already runs on 5050.
        args.port = 0 if args.mode == "demo" else 5050
    from airflow_mesos.local.agent import AgentSpec

    defaults = AgentSpec(cpus=args.cpus, mem=args.mem, disk=args.disk, ports=args.ports, gpus=args.gpus,
                         attributes=args.attributes)
    secret_text = None
    try:
        if args.secret_file is not None:
            try:
                with open(args.secret_file, encoding="utf-8") as handle:
                    secret_text = handle.read()
            except OSError as exc:
                raise options.OptionError(f"--secret-file: cannot read {args.secret_file}: "
                                          f"{exc.strerror or exc}") from None
        args.specs = options.agent_specs(args.agent, args.agents, defaults)
        args.credentials = options.credentials(args.principal, secret_text, environ.get(options.SECRET_ENV))
    except options.OptionError as exc:
        parser.error(str(exc))
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


def demo(cluster, image: str, out=print, timeout: float = 120.0, auth: tuple[str, str] | None = None) -> int:
    """Run the demo scheduler against ``cluster``; returns a process exit code.

    :param auth: ``(principal, secret)`` when the master authenticates frameworks.
    """
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


def describe_agent(spec) -> str:
    """One line of what an agent offers: ``cpus 4, mem 8192 MiB, disk 20000 MiB, gpus 1; rack=r1 zone=a``."""
    parts = [f"cpus {spec.cpus:g}", f"mem {spec.mem:g} MiB", f"disk {spec.disk:g} MiB"]
    if spec.gpus:
        parts.append(f"gpus {spec.gpus}")
    ports = ",".join(f"{b}-{e}" for b, e in spec.ports)
    parts.append(f"ports {ports}")
    attrs = " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in spec.attributes.items())
    return ", ".join(parts) + (f"; {attrs}" if attrs else "")


def main(argv: list[str] | None = None, prog: str = "python -m airflow_mesos.local") -> int:
    try:
        args = parse_args(argv, prog)
    except SystemExit as exc:  # --help (0) or a bad option (2), already printed
        return int(exc.code or 0)
    from airflow_mesos.local.cluster import LocalCluster

    docker_client = None
    image = None
    try:
        import docker

        docker_client = docker.from_env()
        docker_client.ping()
        from airflow_mesos.local.images import ensure_busybox_image

        image = ensure_busybox_image(docker_client)
    except Exception as exc:  # the SDK raises several unrelated types; Docker is optional for 'run'
        if args.mode == "demo":
            print(f"{prog}: error: the demo needs a Docker engine (DOCKER_HOST): {exc}", file=sys.stderr)
            return 2
        print(f"no Docker engine reachable ({type(exc).__name__}): tasks with a container image fail; tasks "
              "without one run as processes", file=sys.stderr)
        docker_client = None
    cluster = LocalCluster(args.specs, host=args.host, port=args.port, work_dir=args.work_dir,
                           docker_client=docker_client, heartbeat_interval=args.heartbeat_interval,
                           credentials=args.credentials, zk=args.zk, offer_timeout=args.offer_timeout,
                           allocation_interval=args.allocation_interval,
                           executor_registration_timeout=args.executor_registration_timeout,
                           executor_shutdown_grace_period=args.executor_shutdown_grace_period)
    try:
        cluster.start()
    except OSError as exc:
        # Most often a port in use, or a --host this machine does not have.
        print(f"{prog}: error: cannot start the cluster on {args.host} (--port {args.port}): "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        print(f"master: {cluster.master_url}")
        for agent_id, agent in cluster.agents.items():
            print(f"agent {agent_id}: {agent.url} ({describe_agent(agent.spec)})")
        sys.stdout.flush()
        if args.mode == "demo":
            auth = next(iter(args.credentials.items())) if args.credentials else None
            return demo(cluster, image, auth=auth)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        print("shutting down", flush=True)
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
