"""Container images made on this machine, with no registry.

The embedded cluster, its demo and the tests need images to run, and this
machine reaches no image registry.  So we make them the way ``docker import``
allows: a root filesystem tarball built from files already on the host.

- :data:`BUSYBOX_IMAGE`: ``/bin/busybox`` (Debian's busybox-static) and its
  applets; 2 MB, imports in a tenth of a second.
- :data:`PYTHON_IMAGE`: this interpreter's installation (``sys.base_prefix``,
  without site-packages) plus the shared libraries it links against, and
  busybox for a shell, and the system libraries manylinux wheels expect
  (libgcc_s, libstdc++ ...).  It is the base the project's Dockerfile builds on here
  (``--build-arg BASE_IMAGE=...``) in place of ``python:3.11-slim``.

Both are idempotent: an image that already exists is left as it is.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

from airflow_mesos.run_labels import PROJECT_LABEL, run_labels

BUSYBOX_IMAGE = "airflow-mesos/busybox:2"
PYTHON_IMAGE = "airflow-mesos/python:3.11"
BUSYBOX = Path("/bin/busybox")

# Bump when what goes into an image changes: an image whose label differs is
# made again, so machines that kept an older one (the data root persists) get
# the new recipe.
RECIPE_LABEL = "airflow-mesos.image-recipe"
BUSYBOX_RECIPE = "2"
PYTHON_RECIPE = "3"

# Libraries that manylinux wheels (pydantic-core, psycopg2-binary, greenlet,
# ...) link against and expect from the system (PEP 599's allow-list).  The
# interpreter does not load them itself, so ldd on it does not find them.
MANYLINUX_SYSTEM_LIBS = (
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
)

_APPLETS = (
    "sh ash ls cat echo sleep id hostname ps env true false wget nc ip printf test [ "
    "head tail grep sed awk mkdir rm cp mv ln chmod touch date kill seq sort uniq wc tr cut "
    "expr basename dirname pwd uname whoami nslookup sha256sum md5sum base64 xargs find stat timeout"
).split()


class ImageBuildError(RuntimeError):
    """A local base image could not be made; the message says what is missing."""


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _add_symlink(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    tar.addfile(info)


def _add_busybox(tar: tarfile.TarFile) -> None:
    if not BUSYBOX.exists():
        raise ImageBuildError(f"{BUSYBOX} is missing: install Debian's busybox-static")
    if subprocess.run(["ldd", str(BUSYBOX)], capture_output=True).returncode == 0:
        raise ImageBuildError(f"{BUSYBOX} is dynamically linked: install Debian's busybox-static")
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "mnt", "mnt/mesos", "mnt/mesos/sandbox", "var", "var/tmp"):
        _add_dir(tar, d, 0o1777 if d in ("tmp", "var/tmp") else 0o755)
    tar.add(str(BUSYBOX), arcname="bin/busybox")
    for applet in _APPLETS:
        _add_symlink(tar, f"bin/{applet}", "busybox")
    _add_bytes(
        tar,
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    _add_bytes(tar, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")


def _image_recipe(client, tag: str) -> str | None:
    """The recipe label of the image ``tag``, ``""`` if it has none, ``None`` if there is no such image."""
    import docker.errors

    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    return (image.labels or {}).get(RECIPE_LABEL, "")


def _import(client, tar_bytes: bytes, tag: str, changes: list[str]) -> None:
    repository, _, version = tag.rpartition(":")
    client.api.import_image_from_data(tar_bytes, repository=repository, tag=version, changes=changes)
    if _image_recipe(client, tag) is None:
        raise ImageBuildError(f"docker import of {tag} reported no error but the image is missing")


def ensure_busybox_image(client, tag: str = BUSYBOX_IMAGE) -> str:
    """Make the busybox image unless it exists with the current recipe; return its tag."""
    if _image_recipe(client, tag) == BUSYBOX_RECIPE:
        return tag
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_busybox(tar)
    _import(client, buf.getvalue(), tag, ["ENV PATH=/bin", 'CMD ["/bin/sh"]', f"LABEL {RECIPE_LABEL}={BUSYBOX_RECIPE}"])
    return tag


def _system_libraries(sonames: tuple[str, ...]) -> set[str]:
    """Where the host's dynamic loader finds each of ``sonames`` (one ``ldconfig -p`` for all)."""
    known: dict[str, str] = {}
    for line in subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout.splitlines():
        name, _, rest = line.strip().partition(" ")
        if "x86-64" in rest or "AArch64" in rest:
            known.setdefault(name, rest.rpartition("=> ")[2].strip())
    found = set()
    for soname in sonames:
        path = known.get(soname) or next(
            (str(Path(d, soname)) for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                                            "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                                            "/lib64", "/usr/lib64") if Path(d, soname).exists()),
            None,
        )
        if path is None:
            raise ImageBuildError(f"the host has no {soname}, which binary wheels in the image need")
        found.add(path)
    return found


def _shared_libraries(paths: list[Path]) -> set[str]:
    """Every shared library (resolved path) the given ELF files load."""
    libs: set[str] = set()
    for path in paths:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
        if out.returncode != 0:
            continue
        for match in re.finditer(r"(/\S+)", out.stdout):
            libs.add(match.group(1))
    return libs


def ensure_python_image(client, tag: str = PYTHON_IMAGE, prefix: str | None = None) -> str:
    """Make an image holding this machine's Python (no site-packages) unless it exists.

    ``python3``, ``python`` and ``pip`` (via ``python -m ensurepip``, which
    needs nothing from the network) are on ``PATH``.  ``/usr/local`` is not
    used so a Dockerfile built on it behaves like one built on python:3.11-slim.
    """
    if _image_recipe(client, tag) == PYTHON_RECIPE:
        return tag
    prefix = prefix or sys.base_prefix
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    exe = Path(prefix, "bin", f"python{version}")
    if not exe.exists():
        raise ImageBuildError(f"no interpreter at {exe}")
    stdlib = Path(prefix, "lib", f"python{version}")
    # Tk needs X11 libraries nobody uses in a container; leave _tkinter out.
    elf = [exe, *(so for so in stdlib.glob("lib-dynload/*.so") if not so.name.startswith("_tkinter"))]
    libs = {lib for lib in _shared_libraries(elf) if not lib.startswith(prefix + "/")}
    libs |= _system_libraries(MANYLINUX_SYSTEM_LIBS)
    libpython = list(Path(prefix, "lib").glob("libpython*.so*"))

    skip_dirs = {"site-packages", "test", "__pycache__", "idlelib", "tkinter", "turtledemo"}

    def skip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        if any(p in skip_dirs for p in parts):
            # Keep the (empty) site-packages directory itself so pip can install into it.
            if parts[-1] == "site-packages" and info.isdir():
                return info
            return None
        return info

    buf = io.BytesIO()
    rel_prefix = prefix.lstrip("/")
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_busybox(tar)
        for d in ("usr", "usr/bin", "usr/lib", "lib64", "etc/ssl"):
            _add_dir(tar, d)
        tar.add(str(Path(prefix, "bin")), arcname=f"{rel_prefix}/bin", filter=skip)
        tar.add(str(stdlib), arcname=f"{rel_prefix}/lib/python{version}", filter=skip)
        for lib in libpython:
            tar.add(str(lib), arcname=f"{rel_prefix}/lib/{lib.name}")
        include = Path(prefix, "include")
        if include.exists():
            tar.add(str(include), arcname=f"{rel_prefix}/include")
        for lib in sorted(libs):
            real = os.path.realpath(lib)
            tar.add(real, arcname=lib.lstrip("/"))
        if Path("/etc/ssl/certs/ca-certificates.crt").exists():
            tar.add("/etc/ssl/certs/ca-certificates.crt", arcname="etc/ssl/certs/ca-certificates.crt")
    path = f"{prefix}/bin:/bin"
    changes = [f"ENV PATH={path}", "ENV LANG=C.UTF-8", 'CMD ["python3"]', f"LABEL {RECIPE_LABEL}={PYTHON_RECIPE}"]
    _import(client, buf.getvalue(), tag, changes)
    # pip is not part of a bare interpreter tree copy; ensurepip installs the
    # wheel it ships with, offline.
    container = client.containers.run(
        tag, ["python3", "-m", "ensurepip", "--default-pip"], detach=True, network_mode="none",
        labels={PROJECT_LABEL: "images.ensurepip", **run_labels()},  # found by cleanup if we die before remove
    )
    try:
        result = container.wait(timeout=300)
        if result.get("StatusCode") != 0:
            logs = container.logs().decode(errors="replace")[-2000:]
            raise ImageBuildError(f"ensurepip failed in {tag}: {logs}")
        container.commit(repository=tag.rpartition(":")[0], tag=tag.rpartition(":")[2], changes=changes)
    finally:
        container.remove(force=True)
    return tag


def main(argv: list[str] | None = None) -> int:
    """``python -m airflow_mesos.local.images``: make both base images."""
    import docker

    client = docker.from_env()
    for build in (ensure_busybox_image, ensure_python_image):
        print(build(client))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
