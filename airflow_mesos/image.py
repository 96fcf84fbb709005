"""Build the one airflow-mesos image (``docker/Dockerfile``) that every role runs.

The same function builds the image for people (``airflow-mesos image build``)
and for the tests, so the image a platform engineer deploys is the one the
tests built and ran.  Its default tag is the one the Marathon group renders
(``airflow-mesos/airflow:<package version>``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from airflow_mesos import __version__
from airflow_mesos.exceptions import AirflowMesosError

REPOSITORY = "airflow-mesos/airflow"
DEFAULT_TAG = f"{REPOSITORY}:{__version__}"
DOCKERFILE = "docker/Dockerfile"
SOURCE_LABEL = "airflow-mesos.source"
"""Image label holding :func:`source_digest` of what the image was built from (how staleness is told)."""


class ImageBuildFailed(AirflowMesosError):
    """``docker build`` failed; the message ends with the tail of the build log."""


_CAUSES = ("No such file or directory", "Connection refused", "Permission denied", "Name or service not known",
           "timed out")


def docker_client(environ: Mapping[str, str] | None = None) -> Any:
    """A client of the Docker engine ``DOCKER_HOST`` names (the default socket without it), checked with a ping.

    Without an engine there, :class:`ImageBuildFailed` says so in one line (where it looked, why, what to do)
    instead of the Docker SDK's chained traceback.
    """
    import docker

    environ = os.environ if environ is None else environ
    where = environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env(environment=dict(environ))
        client.ping()
    except docker.errors.DockerException as exc:
        text = str(exc)
        cause = next((c for c in _CAUSES if c.lower() in text.lower()), None)
        raise ImageBuildFailed(f"no Docker engine answers at {where}" + (f" ({cause})" if cause else "")
                               + "; start dockerd or point DOCKER_HOST at one") from None
    return client


def repository_root() -> Path:
    """The checkout this package was installed from (the build context)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / DOCKERFILE).exists():
        raise ImageBuildFailed(
            f"no {DOCKERFILE} under {root}: build from a checkout of airflow-mesos (pip install -e .)"
        )
    return root


def context_files(context: Path) -> list[Path]:
    """The files the build sends: the Dockerfile and what the root ``.dockerignore`` allows (its ``!`` lines),
    without ``__pycache__`` and ``*.pyc``; sorted."""
    allowed = [DOCKERFILE]
    ignore = context / ".dockerignore"
    if ignore.exists():
        allowed += [line[1:].strip() for line in ignore.read_text().splitlines() if line.startswith("!")]
    files: set[Path] = set()
    for entry in allowed:
        path = context / entry
        candidates = path.rglob("*") if path.is_dir() else [path]
        for candidate in candidates:
            if candidate.is_file() and "__pycache__" not in candidate.parts and candidate.suffix != ".pyc":
                files.add(candidate)
    return sorted(files)


def source_digest(context: Path, base_image: str | None) -> str:
    """A digest of every file the build sends (names and contents) and of the base image it starts from."""
    digest = hashlib.sha256(f"base={base_image or ''}\n".encode())
    for path in context_files(context):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _base_identity(client, base_image: str | None) -> str | None:
    """The base image's id where the daemon has it (a rebuilt base makes the image stale), else its name."""
    import docker.errors

    if not base_image:
        return None
    try:
        return client.images.get(base_image).id
    except docker.errors.ImageNotFound:
        return base_image


def image_is_current(client, tag: str = DEFAULT_TAG, *, base_image: str | None = None,
                     context: Path | None = None) -> tuple[bool, str]:
    """Whether ``tag`` exists and was built from this checkout as it is now; and why not, in words."""
    import docker.errors

    context = context or repository_root()
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False, "missing"
    built_from = (image.labels or {}).get(SOURCE_LABEL)
    if built_from != source_digest(context, _base_identity(client, base_image)):
        return False, "stale: the checkout (or the base image) changed since it was built"
    return True, "up to date"


def ensure_image(
    client,
    *,
    base_image: str | None = None,
    tag: str = DEFAULT_TAG,
    on_log: Callable[[str], None] | None = None,
) -> tuple[str, str]:
    """Build ``tag`` when it is missing or stale (:func:`image_is_current`); return the tag and what was done."""
    current, why = image_is_current(client, tag, base_image=base_image)
    if current:
        return tag, why
    build_image(client, base_image=base_image, tag=tag, on_log=on_log)
    return tag, f"built ({why})"


def build_image(
    client,
    *,
    base_image: str | None = None,
    tag: str = DEFAULT_TAG,
    context: Path | None = None,
    on_log: Callable[[str], None] | None = None,
) -> str:
    """Build ``docker/Dockerfile`` from the repository root; return the tag.

    The image carries :data:`SOURCE_LABEL`, the digest of what it was built from, so
    :func:`image_is_current` can tell whether it still matches the checkout.

    :param base_image: ``BASE_IMAGE`` build argument; ``None`` keeps the
        Dockerfile's default (python:3.11-slim-bookworm).
    :param on_log: called with each line of build output.
    """
    import docker.errors

    context = context or repository_root()
    buildargs = {"BASE_IMAGE": base_image} if base_image else {}
    labels = {SOURCE_LABEL: source_digest(context, _base_identity(client, base_image))}
    try:
        # The low-level API streams the log, so a person sees progress of a
        # minute-long dependency layer instead of silence.
        stream = client.api.build(
            path=str(context),
            dockerfile=DOCKERFILE,
            buildargs=buildargs,
            # pip reaches the package index through the host network: a test
            # dockerd has no NAT for its bridge.
            network_mode="host",
            tag=tag,
            labels=labels,
            rm=True,
            forcerm=True,
            decode=True,
        )
        tail: list[str] = []
        for chunk in stream:
            if "error" in chunk:
                raise ImageBuildFailed(f"building {tag} failed: {chunk['error'].strip()}\n" + "".join(tail[-40:]))
            line = chunk.get("stream")
            if line:
                tail.append(line)
                if on_log:
                    on_log(line.rstrip("\n"))
    except docker.errors.APIError as exc:
        raise ImageBuildFailed(f"building {tag} failed: {exc}") from exc
    client.images.get(tag)  # raises if the daemon reported success but made no image
    return tag
