"""``airflow-mesos status`` and ``airflow mesos status``: the commands around the reading and the rendering.

Both read the same settings as the MesosExecutor (``[mesos] master``,
``framework_name``, ``principal``/``secret``, ``ca_file``, ``request_timeout``;
``--master`` overrides the first) and the metadata database of ``[database]
sql_alchemy_conn``, through Airflow's configuration (so ``_cmd``/``_secret``
forms and ``AIRFLOW__...`` variables work).  No URL with a password is ever taken
from the command line.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from typing import Any, TextIO

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_UNREACHABLE = 5

HELP = "show the Mesos cluster as the MesosExecutor sees it: master, framework, agents, tasks, waiting tasks and why"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the ``status`` command (for ``airflow-mesos``; Airflow's CLI declares the same)."""
    parser.add_argument("--master", metavar="URL",
                        help="the Mesos master(s): http://host:5050[,http://other:5050] or zk://host:2181/mesos "
                             "(default: [mesos] master)")
    parser.add_argument("--framework-name", metavar="NAME",
                        help="the framework to show (default: [mesos] framework_name)")
    parser.add_argument("--no-database", action="store_true",
                        help="do not read the metadata database (no framework id from it, no waiting tasks)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="per-request timeout (default: [mesos] request_timeout)")


def _option(conf: Any, key: str) -> str | None:
    from airflow_mesos.provider import MESOS_CONFIG_OPTIONS

    value = conf.get("mesos", key, fallback=MESOS_CONFIG_OPTIONS[key]["default"])
    return value if value not in ("", None) else None


def _engine(conf: Any) -> tuple[Any, str | None]:
    """An engine on the metadata database, or None with the reason (a SQLite file that does not exist)."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    url = conf.get("database", "sql_alchemy_conn", fallback=None)
    if not url:
        return None, "no metadata database configured ([database] sql_alchemy_conn)"
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        from pathlib import Path

        # Opening a missing SQLite file would create it: status never writes.
        if parsed.database and parsed.database != ":memory:" and not Path(parsed.database).exists():
            return None, f"no metadata database at {parsed.database}"
    return sa.create_engine(parsed, poolclass=NullPool), None


def run_status(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None,
               conf: Any = None, transport: Any = None, now: datetime.datetime | None = None) -> int:
    """Read, render and print; return the exit code (5 when no master answers)."""
    from airflow_mesos.status.read import MasterReader, StatusUnavailable, collect
    from airflow_mesos.status.render import format_status

    out, err = out or sys.stdout, err or sys.stderr
    if conf is None:
        from airflow.configuration import conf as airflow_conf

        conf = airflow_conf
    master = args.master or _option(conf, "master")
    framework_name = args.framework_name or _option(conf, "framework_name")
    timeout = args.timeout if args.timeout is not None else float(_option(conf, "request_timeout") or 30)
    if timeout <= 0:
        err.write(f"airflow-mesos status: error: --timeout: expected a number > 0, got {timeout:g}\n")
        return EXIT_USAGE
    engine, why_not = (None, "--no-database given") if args.no_database else _engine(conf)
    reader = MasterReader(master, principal=_option(conf, "principal"), secret=_option(conf, "secret"),
                          transport=transport, timeout=timeout, verify=_option(conf, "ca_file") or True)
    try:
        snapshot = collect(reader, framework_name=framework_name, engine=engine)
    except StatusUnavailable as exc:
        err.write(f"airflow-mesos status: error: {exc}\n")
        return EXIT_UNREACHABLE
    finally:
        reader.close()
        if engine is not None:
            engine.dispose()
    if why_not and engine is None:
        from dataclasses import replace

        snapshot = replace(snapshot, problems=(why_not + ": waiting tasks are not shown",) + tuple(
            p for p in snapshot.problems if not p.startswith("no metadata database configured")))
    out.write(format_status(snapshot, now or datetime.datetime.now(datetime.timezone.utc)))
    return EXIT_OK


def airflow_command(args: argparse.Namespace) -> None:
    """``airflow mesos status`` (Airflow's CLI ignores the return value: the exit code goes through SystemExit)."""
    code = run_status(args)
    if code:
        raise SystemExit(code)


def airflow_cli_commands() -> list[Any]:
    """The ``airflow mesos`` group for Airflow 3.3's provider ``cli`` hook."""
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    # Airflow renders help with rich, which would read "[mesos]" as markup: escaped.
    arguments = (
        Arg(("--master",), metavar="URL",
            help="the Mesos master(s): http://host:5050[,http://other:5050] or zk://host:2181/mesos "
                 "(default: \\[mesos] master)"),
        Arg(("--framework-name",), metavar="NAME", help="the framework to show (default: \\[mesos] framework_name)"),
        Arg(("--no-database",), action="store_true",
            help="do not read the metadata database (no framework id from it, no waiting tasks)"),
        Arg(("--timeout",), type=float, default=None, metavar="SECONDS",
            help="per-request timeout (default: \\[mesos] request_timeout)"),
    )
    status = ActionCommand(name="status", help=HELP, args=arguments,
                           func=lazy_load_command("airflow_mesos.status.cli.airflow_command"))
    return [GroupCommand(name="mesos", help="the MesosExecutor's Mesos cluster", subcommands=(status,))]
