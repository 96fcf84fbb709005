"""A scheduler written with pymesos (douban/pymesos 0.3.15), run as a separate process by the tests.

pymesos is someone else's Mesos v1 HTTP client: running it against the
embedded master checks that the master speaks Mesos' protocol, not just the
dialect of our own driver.  It runs in its own process because pymesos
interrupts the main thread (``_thread.interrupt_main``) when its I/O thread
fails, which must not hit the test runner.

    python pymesos_scheduler.py MASTER [--image IMAGE] [--principal P --secret S]

MASTER is ``host:port`` or ``zk://host:port/path`` (pymesos' own forms).  Prints
one JSON object per line: {"event": ...}.  Exits 0 when the scenario ran to
its end, 1 on timeout.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import warnings

# pymesos' http_parser fallback (pure Python) has invalid escape sequences.
warnings.simplefilter("ignore")

from pymesos import MesosSchedulerDriver, Scheduler  # noqa: E402

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR", "TASK_DROPPED", "TASK_GONE"}


def emit(**fields) -> None:
    print(json.dumps(fields), flush=True)


def task(offer, task_id: str, command: str, image: str | None = None, container_type: str = "DOCKER") -> dict:
    info = {
        "task_id": {"value": task_id},
        "agent_id": {"value": offer["agent_id"]["value"]},
        "name": task_id,
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
        ],
        "command": {"value": command},
    }
    if image and container_type == "DOCKER":
        info["container"] = {"type": "DOCKER", "docker": {"image": image, "network": "NONE"}}
    elif image:
        info["container"] = {"type": "MESOS", "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}}
    return info


class Scenario(Scheduler):
    """Launch a short and a long task; reconcile; kill the long one; stop when all are terminal."""

    def __init__(self, image: str | None) -> None:
        self.image = image
        self.launched = False
        self.reconciled = False
        self.final: dict[str, str] = {}
        self.done = threading.Event()

    def registered(self, driver, framework_id, master_info):
        emit(event="registered", framework_id=framework_id["value"], master_id=master_info["id"])

    def resourceOffers(self, driver, offers):
        for offer in offers:
            emit(event="offer", cpus=sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "cpus"),
                 hostname=offer["hostname"])
            if self.launched:
                driver.declineOffer(offer["id"])
                continue
            tasks = [task(offer, "py-short", "echo hello from pymesos"), task(offer, "py-long", "sleep 60")]
            if self.image:
                tasks.append(task(offer, "py-docker", "echo hello from a docker task", self.image, "DOCKER"))
                tasks.append(task(offer, "py-mesos", "echo hello from a mesos task", self.image, "MESOS"))
            driver.launchTasks(offer["id"], tasks)
            self.launched = True

    def statusUpdate(self, driver, update):
        task_id, state = update["task_id"]["value"], update["state"]
        emit(event="update", task_id=task_id, state=state, reason=update.get("reason"),
             has_uuid="uuid" in update, source=update.get("source"))
        if task_id == "py-long" and state == "TASK_RUNNING" and not self.reconciled:
            self.reconciled = True
            driver.reconcileTasks([{"task_id": {"value": "py-long"}}])
        elif task_id == "py-long" and state == "TASK_RUNNING" and update.get("reason") == "REASON_RECONCILIATION":
            driver.killTask({"value": "py-long"})
        if state in TERMINAL:
            self.final[task_id] = state
            if len(self.final) == (4 if self.image else 2):
                self.done.set()

    def error(self, driver, message):
        emit(event="error", message=message)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("master")
    parser.add_argument("--image")
    parser.add_argument("--principal")
    parser.add_argument("--secret")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    framework = {"user": "root", "name": "pymesos-conformance", "hostname": "localhost", "failover_timeout": 30.0}
    if args.principal:
        framework["principal"] = args.principal
    scenario = Scenario(args.image)
    driver = MesosSchedulerDriver(scenario, framework, args.master, use_addict=True,
                                  principal=args.principal, secret=args.secret)
    driver.start()
    finished = scenario.done.wait(args.timeout)
    emit(event="final", tasks=scenario.final, finished=finished)
    driver.stop()
    driver.join()
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
