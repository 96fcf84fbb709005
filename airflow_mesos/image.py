"""Build the one airflow-mesos image (``docker/Dockerfile``) that every role runs.

The same function builds the image for people (``airflow-mesos image build``)
and for the tests, so the image a platform engineer deploys is the one the
tests built and ran.  Its default tag is the one the Marathon group renders
(``airflow-mesos/airflow:<package version>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from airflow_mesos import __version__
from airflow_mesos.exceptions import AirflowMesosError

REPOSITORY = "airflow-mesos/airflow"
DEFAULT_TAG = f"{REPOSITORY}:{__version__}"
DOCKERFILE = "docker/Dockerfile"


class ImageBuildFailed(AirflowMesosError):
    """``docker build`` failed; the message ends with the tail of the build log."""


def repository_root() -> Path:
    """The checkout this package was installed from (the build context)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / DOCKERFILE).exists():
        raise ImageBuildFailed(
            f"no {DOCKERFILE} under {root}: build from a checkout of airflow-mesos (pip install -e .)"
        )
    return root


def build_image(
    client,
    *,
    base_image: str | None = None,
    tag: str = DEFAULT_TAG,
    context: Path | None = None,
    on_log: Callable[[str], None] | None = None,
) -> str:
    """Build ``docker/Dockerfile`` from the repository root; return the tag.

    :param base_image: ``BASE_IMAGE`` build argument; ``None`` keeps the
        Dockerfile's default (python:3.11-slim-bookworm).
    :param on_log: called with each line of build output.
    """
    import docker.errors

    context = context or repository_root()
    buildargs = {"BASE_IMAGE": base_image} if base_image else {}
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
