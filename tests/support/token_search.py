"""The places an Airflow task token must never show, as texts to search: every process' argv, ``docker inspect``
of the embedded cluster's containers and the Mesos endpoints."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from docker import errors as docker_errors

# Every JWT starts with the base64 of '{"' ("eyJ"); its base64 again (a Mesos VALUE secret) starts "ZXlK".
TOKEN_PATTERN = re.compile(r"eyJ[A-Za-z0-9_-]{10,}|ZXlK[A-Za-z0-9+/]{10,}")


def argv_texts() -> dict[str, str]:
    """The command line of every process on this host, by ``argv of <pid>``."""
    texts = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                texts[f"argv of {pid}"] = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
    return texts


def docker_texts(docker_client) -> dict[str, str]:
    """``docker inspect`` of every container of the embedded cluster, by ``docker inspect <name>``."""
    texts = {}
    for listed in docker_client.containers.list(all=True, sparse=True, filters={"label": "airflow-mesos.local=1"}):
        try:
            listed.reload()  # the full inspect; the container may be removed between the list and here
        except docker_errors.NotFound:
            continue
        texts[f"docker inspect {listed.name}"] = json.dumps(listed.attrs)
    return texts


def endpoint_texts(cluster, master_paths: Iterable[str], *, params: dict[str, Any] | None = None) -> dict[str, str]:
    """The master's ``master_paths`` (with ``params``) and each agent's /state, by ``master <path>`` and
    ``agent <id> /state``."""
    texts = {}
    for path in master_paths:
        texts[f"master {path}"] = httpx.get(cluster.master_url + path, params=params, timeout=10).text
    for agent in cluster.agents.values():
        texts[f"agent {agent.id} /state"] = httpx.get(f"http://{agent.bind_address}:{agent.port}/state",
                                                       timeout=10).text
    return texts


def token_leaks(texts: dict[str, str]) -> dict[str, list[str]]:
    """The texts that hold something token-like, each with the first one found."""
    return {where: TOKEN_PATTERN.findall(text)[:1] for where, text in texts.items() if TOKEN_PATTERN.search(text)}
