"""The ``airflow-mesos`` command line.

::

    airflow-mesos marathon render   [--settings F] [--set KEY=VALUE ...] [-o OUT]
    airflow-mesos marathon validate FILE [--json]
    airflow-mesos marathon deploy   [FILE | --settings F] --marathon URL [--force] [--no-wait] [--timeout S]
    airflow-mesos marathon status   --marathon URL [--group ID]
    airflow-mesos marathon diff     [FILE | --settings F] --marathon URL
    airflow-mesos dns name APP_ID [--domain mesos] [--framework marathon] [--rfc952]
    airflow-mesos dns wait-for HOST:PORT [--timeout S] [--interval S]
    airflow-mesos db url
    airflow-mesos status [--master URL] [--framework-name NAME] [--no-database] [--timeout S]

Each command group is added by one function taking the top-level subparsers
(see :data:`COMMAND_GROUPS`); a new group (e.g. ``local``) is one more function.

Exit codes: 0 success; 1 the check failed (validation errors, differences,
wait-for timeout); 2 bad usage or input (argparse, settings, unreadable file);
3 Marathon refused the request; 4 the deployment did not finish in time;
5 Marathon unreachable.

Marathon credentials come from the environment, never from argv (argv shows up
in ``ps``): ``MARATHON_PASSWORD`` with ``--user``, or ``MARATHON_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence, TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_TIMEOUT = 4
EXIT_UNREACHABLE = 5


class CommandError(Exception):
    """A failure the CLI reports as one message and an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


# ----------------------------------------------------------------------------- helpers


def _out(args: argparse.Namespace) -> TextIO:
    return getattr(args, "stdout", None) or sys.stdout


def _err(args: argparse.Namespace) -> TextIO:
    return getattr(args, "stderr", None) or sys.stderr


def _load_group_file(path: str) -> dict[str, Any]:
    from airflow_mesos.marathon.errors import GroupFileError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise GroupFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise GroupFileError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def _desired_group(args: argparse.Namespace) -> dict[str, Any]:
    """The group from FILE, or rendered from --settings/--set (defaults when neither is given)."""
    if getattr(args, "file", None):
        if args.settings or args.set:
            raise CommandError("give either a group FILE or --settings/--set, not both")
        return _load_group_file(args.file)
    from airflow_mesos.marathon.render import render_group
    from airflow_mesos.marathon.settings import load_settings

    return render_group(load_settings(args.settings, args.set or ()))


def _add_settings_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--settings", metavar="FILE", help="settings JSON (default: built-in defaults)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                        help="override one setting, e.g. apps.scheduler.cpus=2 (repeatable)")


def _add_marathon_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--marathon", required=True, metavar="URL", help="Marathon base URL, e.g. http://marathon.mesos:8080")
    parser.add_argument("--user", help="HTTP basic auth user (password from $MARATHON_PASSWORD)")
    parser.add_argument("--insecure", action="store_true", help="do not verify Marathon's TLS certificate")
    parser.add_argument("--ca-bundle", metavar="FILE", help="CA bundle to verify Marathon's TLS certificate")
    parser.add_argument("--request-timeout", type=float, default=30.0, metavar="S", help="per-request timeout (30)")


def _client(args: argparse.Namespace):
    from airflow_mesos.marathon.deploy import MarathonClient

    verify: bool | str = args.ca_bundle or not args.insecure
    token = os.environ.get("MARATHON_TOKEN") or None
    if args.user:
        return MarathonClient(args.marathon, username=args.user, password=os.environ.get("MARATHON_PASSWORD", ""),
                              verify=verify, timeout=args.request_timeout, transport=getattr(args, "transport", None))
    return MarathonClient(args.marathon, token=token, verify=verify, timeout=args.request_timeout,
                          transport=getattr(args, "transport", None))


def _group_id(args: argparse.Namespace) -> str:
    if getattr(args, "group", None):
        return args.group
    from airflow_mesos.marathon.settings import load_settings

    return load_settings(getattr(args, "settings", None), getattr(args, "set", None) or ()).group_id


# ----------------------------------------------------------------------------- marathon


def cmd_render(args: argparse.Namespace) -> int:
    from airflow_mesos.marathon.render import group_to_json, render_group
    from airflow_mesos.marathon.settings import load_settings

    text = group_to_json(render_group(load_settings(args.settings, args.set)))
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        _out(args).write(text)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from airflow_mesos.marathon.validate import format_problems, has_errors, problems_json, validate_group

    problems = validate_group(_load_group_file(args.file), domain=args.domain, framework=args.framework)
    _out(args).write((problems_json(problems) if args.json else format_problems(problems)) + "\n")
    return EXIT_FAILED if has_errors(problems) else EXIT_OK


def cmd_deploy(args: argparse.Namespace) -> int:
    from airflow_mesos.marathon.deploy import DeploymentProgress
    from airflow_mesos.marathon.validate import format_problems, has_errors, validate_group

    group = _desired_group(args)
    problems = validate_group(group)
    if has_errors(problems):
        _err(args).write(format_problems(problems) + "\nnot deploying: fix the errors above\n")
        return EXIT_FAILED
    out = _out(args)
    with _client(args) as client:
        ref = client.deploy_group(group, force=args.force)
        verb = "creating" if ref.created else "updating"
        out.write(f"{verb} {group['id']}: deployment {ref.deployment_id} (version {ref.version})\n")
        if args.no_wait:
            return EXIT_OK
        last: list[str] = []

        def show(progress: DeploymentProgress) -> None:
            line = progress.describe()
            key = line.split("]", 1)[1]
            if not last or last[-1] != key:  # print when the step or actions change
                out.write(line + "\n")
                out.flush()
                last.append(key)

        waited = client.wait_for_deployment(ref.deployment_id, timeout=args.timeout, interval=args.interval,
                                            on_progress=show)
        out.write(f"deployment {ref.deployment_id} finished after {waited:.1f}s\n")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from airflow_mesos.marathon.deploy import format_status

    group_id = _group_id(args)
    with _client(args) as client:
        rows = client.group_status(group_id)
    if rows is None:
        raise CommandError(f"group {group_id} does not exist in Marathon at {args.marathon}", EXIT_FAILED)
    _out(args).write(format_status(rows) + "\n")
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    from airflow_mesos.marathon.diff import diff_groups, format_diff

    desired = _desired_group(args)
    with _client(args) as client:
        running = client.get_group(desired["id"], embed=("group.groups", "group.apps"))
    if running is None:
        _out(args).write(f"group {desired['id']} is not deployed; everything would be added\n")
    changes = diff_groups(desired, running)
    _out(args).write(format_diff(changes) + "\n")
    return EXIT_FAILED if changes else EXIT_OK


def add_marathon_commands(subparsers: argparse._SubParsersAction) -> None:
    """``airflow-mesos marathon ...``."""
    from airflow_mesos.dns import DEFAULT_DOMAIN, DEFAULT_FRAMEWORK

    group = subparsers.add_parser("marathon", help="render, validate and deploy the Airflow Marathon group")
    sub = group.add_subparsers(dest="marathon_command", metavar="COMMAND", required=True)

    render = sub.add_parser("render", help="print the group JSON for the settings")
    _add_settings_options(render)
    render.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    render.set_defaults(func=cmd_render)

    validate = sub.add_parser("validate", help="check a group JSON against Marathon's schema and our rules")
    validate.add_argument("file", metavar="FILE")
    validate.add_argument("--json", action="store_true", help="machine-readable output")
    validate.add_argument("--domain", default=DEFAULT_DOMAIN, help="Mesos-DNS domain (mesos)")
    validate.add_argument("--framework", default=DEFAULT_FRAMEWORK, help="Marathon framework name (marathon)")
    validate.set_defaults(func=cmd_validate)

    deploy = sub.add_parser("deploy", help="create or update the group and follow the deployment")
    deploy.add_argument("file", metavar="FILE", nargs="?", help="group JSON (default: render from settings)")
    _add_settings_options(deploy)
    _add_marathon_connection(deploy)
    deploy.add_argument("--force", action="store_true", help="override deployments that lock the group")
    deploy.add_argument("--no-wait", action="store_true", help="return once Marathon accepted the deployment")
    deploy.add_argument("--timeout", type=float, default=900.0, metavar="S", help="wait at most S seconds (900)")
    deploy.add_argument("--interval", type=float, default=2.0, metavar="S", help="poll every S seconds (2)")
    deploy.set_defaults(func=cmd_deploy)

    status = sub.add_parser("status", help="instances, healthy and staged tasks of each app")
    _add_marathon_connection(status)
    status.add_argument("--group", metavar="ID", help="group id (default: from settings, /airflow)")
    _add_settings_options(status)
    status.set_defaults(func=cmd_status)

    diff = sub.add_parser("diff", help="compare the running group with the rendered one (exit 1 if they differ)")
    diff.add_argument("file", metavar="FILE", nargs="?", help="group JSON (default: render from settings)")
    _add_settings_options(diff)
    _add_marathon_connection(diff)
    diff.set_defaults(func=cmd_diff)


# ----------------------------------------------------------------------------- dns


def cmd_dns_name(args: argparse.Namespace) -> int:
    from airflow_mesos.dns import app_dns_names

    names = app_dns_names(args.app_id, domain=args.domain, framework=args.framework, rfc952=args.rfc952)
    out = _out(args)
    out.write(f"A    {names.a}\n")
    out.write(f"A    {names.a_agent}  (agent IPs)\n")
    out.write(f"SRV  {names.srv_tcp}\n")
    out.write(f"SRV  {names.srv_udp}\n")
    return EXIT_OK


def cmd_dns_wait_for(args: argparse.Namespace) -> int:
    from airflow_mesos.dns import WaitTimeout, parse_host_port, wait_for

    try:
        host, port = parse_host_port(args.endpoint)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    err = _err(args)

    def report(attempt: int, error: str) -> None:
        if args.verbose:
            err.write(f"waiting for {host}:{port} (attempt {attempt}): {error}\n")

    try:
        result = wait_for(host, port, timeout=args.timeout, interval=args.interval, on_attempt=report)
    except WaitTimeout as exc:
        raise CommandError(str(exc), EXIT_FAILED) from None
    _out(args).write(f"{host}:{port} is accepting connections (after {result.attempts} attempt(s))\n")
    return EXIT_OK


def add_dns_commands(subparsers: argparse._SubParsersAction) -> None:
    """``airflow-mesos dns ...``."""
    from airflow_mesos.dns import DEFAULT_DOMAIN, DEFAULT_FRAMEWORK

    group = subparsers.add_parser("dns", help="Mesos-DNS names and waiting for a service")
    sub = group.add_subparsers(dest="dns_command", metavar="COMMAND", required=True)

    name = sub.add_parser("name", help="A and SRV names of a Marathon app id")
    name.add_argument("app_id", metavar="APP_ID", help="e.g. /airflow/postgres")
    name.add_argument("--domain", default=DEFAULT_DOMAIN)
    name.add_argument("--framework", default=DEFAULT_FRAMEWORK)
    name.add_argument("--rfc952", action="store_true", help="Mesos-DNS runs with enforceRFC952")
    name.set_defaults(func=cmd_dns_name)

    wait = sub.add_parser("wait-for", help="resolve HOST and connect to PORT until it works")
    wait.add_argument("endpoint", metavar="HOST:PORT")
    wait.add_argument("--timeout", type=float, default=300.0, metavar="S", help="give up after S seconds (300)")
    wait.add_argument("--interval", type=float, default=2.0, metavar="S", help="retry every S seconds (2)")
    wait.add_argument("-v", "--verbose", action="store_true", help="report each failed attempt on stderr")
    wait.set_defaults(func=cmd_dns_wait_for)


# ----------------------------------------------------------------------------- db


def cmd_db_url(args: argparse.Namespace) -> int:
    """Print the SQLAlchemy URL for Airflow's ``sql_alchemy_conn_cmd`` (health-check commands).

    Built like the image entrypoint builds it: ``AIRFLOW_MESOS_DB_*`` from the
    environment, then from the env file named by ``AIRFLOW_MESOS_ENV_FILE``.
    """
    from airflow_mesos import entrypoint

    environ = dict(os.environ)
    if environ.get(entrypoint.CONN_VAR):
        _out(args).write(environ[entrypoint.CONN_VAR] + "\n")
        return EXIT_OK
    env_file = environ.get(entrypoint.ENV_FILE_VAR, "").strip()
    try:
        if env_file:
            environ = entrypoint.merge_env(environ, entrypoint.load_env_file(env_file))
        # This command IS the _CMD Airflow runs, so ignore that variable when building.
        clean = {k: v for k, v in environ.items() if k not in entrypoint.CONN_ALTERNATIVES}
        url = entrypoint.database_url(clean)
    except entrypoint.EntrypointError as exc:
        raise CommandError(str(exc), EXIT_FAILED) from None
    if url is None:
        raise CommandError("AIRFLOW_MESOS_DB_HOST is not set, cannot build the database URL", EXIT_FAILED)
    _out(args).write(url + "\n")
    return EXIT_OK


def add_db_commands(subparsers: argparse._SubParsersAction) -> None:
    """``airflow-mesos db ...``."""
    group = subparsers.add_parser("db", help="metadata database helpers")
    sub = group.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    url = sub.add_parser("url", help="print the database URL (for AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD)")
    url.set_defaults(func=cmd_db_url)


def cmd_image_build(args: argparse.Namespace) -> int:
    from airflow_mesos import image

    out = args.stdout or sys.stdout
    # Without an engine this is one ImageBuildFailed line (main prints it), not the SDK's traceback.
    client = image.docker_client()
    base = args.base_image
    if args.local_base:
        from airflow_mesos.local.images import ensure_python_image

        base = ensure_python_image(client)
    on_log = None if args.quiet else (lambda line: out.write(line + "\n"))
    tag = image.build_image(client, base_image=base, tag=args.tag, on_log=on_log)
    out.write(f"built {tag}\n")
    return EXIT_OK


def add_image_commands(subparsers: argparse._SubParsersAction) -> None:
    """``airflow-mesos image build``: the image every role runs (docker/Dockerfile)."""
    from airflow_mesos.image import DEFAULT_TAG

    group = subparsers.add_parser("image", help="build the airflow-mesos Docker image")
    sub = group.add_subparsers(dest="image_command", metavar="COMMAND", required=True)
    build = sub.add_parser("build", help="build docker/Dockerfile from this checkout")
    build.add_argument("--tag", default=DEFAULT_TAG, help=f"image tag (default {DEFAULT_TAG}, what the group renders)")
    base = build.add_mutually_exclusive_group()
    base.add_argument("--base-image", help="BASE_IMAGE build argument (default: the Dockerfile's python:3.11-slim)")
    base.add_argument("--local-base", action="store_true",
                      help="build on the registry-free base made from this machine's Python (no registry needed)")
    build.add_argument("-q", "--quiet", action="store_true", help="do not print the build log")
    build.set_defaults(func=cmd_image_build)


def cmd_local(args: argparse.Namespace) -> int:
    from airflow_mesos.local.__main__ import main as local_main

    return local_main([args.local_mode, *args.local_args], prog=f"airflow-mesos local {args.local_mode}")


def add_local_commands(subparsers: argparse._SubParsersAction) -> None:
    """``airflow-mesos local run|demo ...``: the embedded Mesos cluster (same options as ``python -m airflow_mesos.local``)."""
    group = subparsers.add_parser(
        "local",
        help="run the embedded one-machine Mesos cluster, or its demo",
        description="Options after the mode are those of `python -m airflow_mesos.local --help`.",
    )
    group.add_argument("local_mode", choices=["run", "demo"], metavar="{run,demo}",
                       help="run: serve the cluster until Ctrl-C; demo: run one Docker task through an offer and exit")
    group.add_argument("local_args", nargs=argparse.REMAINDER, help="cluster options (--agents, --cpus, --port, ...)")
    group.set_defaults(func=cmd_local)


def cmd_mesos_status(args: argparse.Namespace) -> int:
    from airflow_mesos.status.cli import run_status

    return run_status(args, out=args.stdout, err=args.stderr, transport=args.transport)


def add_status_command(subparsers: argparse._SubParsersAction) -> None:
    """``airflow-mesos status``: master, framework, agents, tasks, waiting tasks and why (also ``airflow mesos status``)."""
    from airflow_mesos.status.cli import HELP, add_arguments

    status = subparsers.add_parser("status", help=HELP, description=HELP + ".")
    add_arguments(status)
    status.set_defaults(func=cmd_mesos_status)


# ----------------------------------------------------------------------------- main

COMMAND_GROUPS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_marathon_commands,
    add_dns_commands,
    add_db_commands,
    add_local_commands,
    add_image_commands,
    add_status_command,
]
"""One function per command group; each adds its parser to the top-level subparsers."""


def build_parser() -> argparse.ArgumentParser:
    from airflow_mesos import __version__

    parser = argparse.ArgumentParser(prog="airflow-mesos", description="Apache Airflow on Apache Mesos: tools")
    parser.add_argument("--version", action="version", version=f"airflow-mesos {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_group in COMMAND_GROUPS:
        add_group(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None,
         transport: Any = None) -> int:
    """Run the CLI; return the exit code.

    :param stdout: / :param stderr: streams (tests); default the process's.
    :param transport: an ``httpx`` transport for Marathon requests (tests).
    """
    from airflow_mesos.dns import DnsError
    from airflow_mesos.image import ImageBuildFailed
    from airflow_mesos.marathon.deploy import format_api_error
    from airflow_mesos.marathon.errors import (
        DeploymentTimeout,
        GroupFileError,
        MarathonApiError,
        MarathonUnavailable,
        SettingsError,
    )

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return int(exc.code or 0)
    args.stdout, args.stderr, args.transport = stdout, stderr, transport
    err = stderr or sys.stderr
    try:
        return args.func(args)
    except CommandError as exc:
        err.write(f"airflow-mesos: {exc}\n")
        return exc.code
    except (SettingsError, GroupFileError, DnsError, ValueError) as exc:
        err.write(f"airflow-mesos: {exc}\n")
        return EXIT_USAGE
    except MarathonApiError as exc:
        err.write(format_api_error(exc) + "\n")
        return EXIT_REFUSED
    except DeploymentTimeout as exc:
        err.write(f"airflow-mesos: {exc}\n")
        return EXIT_TIMEOUT
    except MarathonUnavailable as exc:
        err.write(f"airflow-mesos: cannot reach Marathon: {exc}\n")
        return EXIT_UNREACHABLE
    except ImageBuildFailed as exc:
        err.write(f"airflow-mesos: {exc}\n")
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
