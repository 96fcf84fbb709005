"""Container tasks on a real Docker engine, through the ``docker`` SDK.

Both DOCKER containers (the Docker containerizer) and MESOS containers with a
Docker image (the unified containerizer) run here; :mod:`.containerizer` has
already decided every setting, this module only talks to the engine:

- the image must exist locally or be pullable (``force_pull_image`` always pulls);
- the container is created as ``mesos-<container_id>`` with the
  ``airflow-mesos.local`` labels, the sandbox bind-mounted at
  ``/mnt/mesos/sandbox``, and (MESOS containers with secrets) the secrets shim,
  whose file is then handed to the container's user (see :mod:`.secrets`);
- its output is streamed into the sandbox ``stdout``/``stderr`` by a thread
  attached before the container starts, so nothing is lost;
- kill is ``docker stop --time <grace>`` (SIGTERM, SIGKILL after the grace);
- the container and its secrets file are removed when the task is over.
"""

from __future__ import annotations

import io
import logging
import math
import os
import shutil
import tarfile
import threading
from pathlib import Path

from airflow_mesos.local.launch_planner import LaunchError, RunSpec, docker_create_kwargs
from airflow_mesos.local.process_containerizer import ExitInfo
from airflow_mesos.local.secrets import SecretError, container_uid, hand_env_file_to, write_env_file

log = logging.getLogger(__name__)

LABEL = "airflow-mesos.local"
STATIC_BUSYBOX = Path("/bin/busybox")
MAX_PASSWD_BYTES = 1 << 20
"""An image's /etc/passwd larger than this is not read (it is a few hundred bytes in practice)."""
MAX_SYMLINK_HOPS = 8


def _docker_message(exc: Exception) -> str:
    """The daemon's own words for an API error, without the SDK's URL noise."""
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return explanation if isinstance(explanation, str) else explanation.decode(errors="replace")
    return str(exc)


def remove_labelled_containers(client, agent_id: str | None = None) -> int:
    """Force-remove every container this embedded cluster (or one agent of it) created."""
    filters = {"label": [LABEL] if agent_id is None else [f"{LABEL}.agent-id={agent_id}"]}
    removed = 0
    for container in client.containers.list(all=True, filters=filters):
        try:
            container.remove(force=True)
            removed += 1
        except Exception:  # already gone: the SDK raises NotFound/APIError variants
            pass
    return removed


class DockerRun:
    """One container started from a :class:`RunSpec` of kind ``docker`` or ``mesos``."""

    def __init__(self, plan: RunSpec, sandbox: Path, *, client, agent_id: str, secrets_dir: Path) -> None:
        self.plan = plan
        self.sandbox = sandbox
        self.client = client
        self.agent_id = agent_id
        self.secrets_dir = secrets_dir
        self.message_prefix = "Container" if plan.kind == "docker" else "Command"
        self.container = None
        self._log_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._destroyed = False

    # -- launch -------------------------------------------------------------

    def _image(self):
        import docker.errors

        image = self.plan.image
        if not self.plan.force_pull:
            try:
                return self.client.images.get(image)
            except docker.errors.ImageNotFound:
                pass
            except docker.errors.APIError as exc:
                raise LaunchError(f"Failed to inspect image '{image}': {_docker_message(exc)}") from None
        try:
            return self.client.images.pull(image)
        except docker.errors.APIError as exc:
            raise LaunchError(f"Failed to pull image '{image}': {_docker_message(exc)}") from None

    def prepare(self) -> None:
        """Make sure the image is there and create the (not yet started) container."""
        import docker.errors
        import docker.types

        image = self._image()
        shim = None
        env_file = None
        if self.plan.secrets:
            if not STATIC_BUSYBOX.exists():
                raise LaunchError(f"secrets need a static busybox at {STATIC_BUSYBOX} on the agent host")
            # Written (root-owned, 0400) before the container exists, because Docker checks a
            # bind mount's source at create; handed to the container's user right after.
            env_file = self.secrets_dir / "env"
            write_env_file(env_file, self.plan.secrets)
            shim = (str(env_file), str(STATIC_BUSYBOX))
        kwargs = docker_create_kwargs(self.plan, agent_id=self.agent_id, sandbox_dir=str(self.sandbox),
                                      image_config=image.attrs.get("Config") or {}, shim=shim)
        if "ulimits" in kwargs:
            kwargs["ulimits"] = [docker.types.Ulimit(name=n, soft=s, hard=h) for n, (s, h) in kwargs["ulimits"].items()]
        with self._lock:
            if self._destroyed:
                raise LaunchError("the agent is shutting down")
            try:
                self.container = self.client.containers.create(**kwargs)
            except docker.errors.APIError as exc:
                raise LaunchError(f"Failed to create container: {_docker_message(exc)}") from None
        uid = self._container_uid()
        if env_file is not None:
            try:
                hand_env_file_to(env_file, uid)
            except SecretError as exc:
                raise LaunchError(f"Failed to hand secrets to the container's user: {exc}") from None
        self._hand_sandbox_to(uid)

    def _container_uid(self) -> int:
        """The uid the created container will run as."""
        # The created container's Config.User is the effective one: Docker has already
        # filled in the image's USER when the task set none.
        user = (self.container.attrs.get("Config") or {}).get("User") or ""
        try:
            return container_uid(user, lambda: self._read_container_file("/etc/passwd"))
        except SecretError as exc:
            raise LaunchError(f"Failed to resolve the container's user: {exc}") from None

    def _hand_sandbox_to(self, uid: int) -> None:
        """Make the sandbox the container user's, as Mesos chowns a sandbox to the user its executor runs as.

        ``Slave::launchExecutor`` -> ``createExecutorDirectory`` -> ``os::chown(user, directory)`` under
        ``--switch_user`` (the default): a task or executor running as a non-root user can then write its
        own stdout/stderr and, for a custom executor, its tasks' directories.  An agent that is not root
        cannot give files away.
        """
        if self.plan.kind != "mesos" or uid == 0 or os.geteuid() != 0:
            # The Docker containerizer runs the image's USER in a sandbox its framework's user owns, as in
            # Mesos (a non-root image cannot write its sandbox there either); only the Mesos containerizer
            # runs the process as the user the sandbox was made for.
            return
        try:
            os.chown(self.sandbox, uid, -1)
            for name in ("stdout", "stderr"):
                path = Path(self.sandbox) / name
                if path.exists():
                    os.chown(path, uid, -1)
        except OSError as exc:
            raise LaunchError(f"Failed to chown sandbox '{self.sandbox}' to uid {uid}: {exc.strerror}") from None

    def _read_container_file(self, path: str) -> str | None:
        """A small text file of the created (not started) container's filesystem, or None if absent."""
        import docker.errors

        for _ in range(MAX_SYMLINK_HOPS):
            try:
                stream, stat = self.container.get_archive(path)
            except docker.errors.NotFound:
                return None
            except docker.errors.APIError as exc:
                raise LaunchError(f"Failed to read {path} of image '{self.plan.image}': {_docker_message(exc)}") \
                    from None
            if stat.get("linkTarget"):
                # The archive of a symlink holds the link itself; Docker gives its resolved target.
                for _chunk in stream:
                    pass
                path = stat["linkTarget"]
                continue
            if int(stat.get("size") or 0) > MAX_PASSWD_BYTES:
                raise LaunchError(f"{path} of image '{self.plan.image}' is larger than {MAX_PASSWD_BYTES} bytes")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                member = tar.next()
                handle = tar.extractfile(member) if member is not None and member.isfile() else None
                return handle.read().decode("utf-8", errors="replace") if handle is not None else None
        raise LaunchError(f"{path} of image '{self.plan.image}': too many levels of symbolic links")

    def start(self) -> None:
        """Attach the log streamer, then start the container."""
        import docker.errors

        assert self.container is not None
        stream = self.client.api.attach(self.container.id, stdout=True, stderr=True, stream=True, logs=True, demux=True)
        self._log_thread = threading.Thread(target=self._copy_logs, args=(stream,), daemon=True,
                                            name=f"logs-{self.plan.container_id[:8]}")
        self._log_thread.start()
        try:
            self.container.start()
        except docker.errors.APIError as exc:
            raise LaunchError(f"Failed to start container: {_docker_message(exc)}") from None

    def _copy_logs(self, stream) -> None:
        try:
            with open(self.sandbox / "stdout", "ab", buffering=0) as out, \
                    open(self.sandbox / "stderr", "ab", buffering=0) as err:
                for stdout_chunk, stderr_chunk in stream:
                    if stdout_chunk:
                        out.write(stdout_chunk)
                    if stderr_chunk:
                        err.write(stderr_chunk)
        except Exception as exc:  # the stream breaks when the container is force-removed; that is fine
            log.debug("log stream of %s ended: %s", self.plan.container_id, exc)

    # -- observe ------------------------------------------------------------

    def network_ips(self, agent_ip: str) -> list[str]:
        """IPs to report in ``container_status.network_infos`` (the agent's on the host network)."""
        if self.plan.network == "host":
            return [agent_ip]
        try:
            self.container.reload()
        except Exception:
            return []
        networks = (self.container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
        return [n["IPAddress"] for n in networks.values() if n.get("IPAddress")]

    def wait(self) -> ExitInfo:
        """Block until the container exits and its output is in the sandbox."""
        import docker.errors

        assert self.container is not None
        try:
            result = self.container.wait()
            code = int(result.get("StatusCode", -1))
            self.container.reload()
            oom = bool((self.container.attrs.get("State") or {}).get("OOMKilled"))
        except docker.errors.NotFound:
            return ExitInfo(error="Failed to get exit status of container")
        except Exception as exc:
            return ExitInfo(error=f"Failed to wait for container: {exc}")
        if self._log_thread is not None:
            self._log_thread.join(timeout=10)
        return ExitInfo(exit_code=code, oom_killed=oom)

    # -- resize -------------------------------------------------------------

    def update_limits(self, cpus: float | None, mem_mb: float | None) -> None:
        """``docker update`` of the running container's CPU shares, CFS quota and memory (an executor's container
        follows its tasks, as ``DockerContainerizerProcess::update`` does).  A failure (the container ended, or
        its memory use is above the new limit) is logged and left: the executor's tasks still run."""
        from airflow_mesos.local.launch_planner import cpu_limits, memory_limits

        container = self.container
        if container is None:
            return
        settings = {**cpu_limits(cpus), **memory_limits(mem_mb)}
        if not settings:
            return
        try:
            container.update(**settings)
        except Exception as exc:
            log.info("docker update of %s to cpus=%s mem=%sMB failed: %s", self.plan.container_id, cpus, mem_mb,
                     _docker_message(exc))

    # -- stop ---------------------------------------------------------------

    def kill(self, grace: float) -> None:
        """``docker stop --time`` (blocks up to ``grace`` seconds)."""
        container = self.container
        if container is None:
            return
        try:
            container.stop(timeout=int(math.ceil(grace)))
        except Exception as exc:
            log.debug("stop of %s: %s", self.plan.container_id, exc)

    def destroy(self) -> None:
        """Remove the container at once (SIGKILL); no grace, no output guarantee."""
        with self._lock:
            self._destroyed = True
            container = self.container
        if container is not None:
            try:
                container.remove(force=True)
            except Exception:
                pass
        self._remove_secrets()

    def cleanup(self) -> None:
        """Remove the exited container and the secrets file (the sandbox stays, as in Mesos until GC)."""
        container = self.container
        if container is not None:
            try:
                container.remove(force=True, v=False)
            except Exception:
                pass
        self._remove_secrets()

    def _remove_secrets(self) -> None:
        shutil.rmtree(self.secrets_dir, ignore_errors=True)
