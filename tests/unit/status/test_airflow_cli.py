"""`airflow mesos status` through Airflow 3.3's provider "cli" hook, and `airflow-mesos status`'s parser."""

from __future__ import annotations

import pytest

from airflow_mesos import cli
from airflow_mesos.provider import get_cli_commands


def test_the_provider_declares_the_mesos_group_with_status():
    (group,) = get_cli_commands()
    assert group.name == "mesos" and group.help
    (status,) = group.subcommands
    assert status.name == "status" and status.help
    flags = [arg.flags for arg in status.args]
    assert flags == [("--master",), ("--framework-name",), ("--no-database",), ("--timeout",)]
    assert all(arg.kwargs.get("help") for arg in status.args)
    assert status.func.__name__ == "airflow_command"  # loaded only when the command runs


def test_airflows_parser_knows_airflow_mesos_status():
    from airflow.cli import cli_parser

    args = cli_parser.get_parser().parse_args(["mesos", "status", "--master", "http://m:5050", "--no-database"])
    assert (args.master, args.no_database, args.framework_name, args.timeout) == ("http://m:5050", True, None, None)
    assert args.func.__name__ == "airflow_command"


def test_airflow_mesos_status_options_have_help_and_are_checked(capsys):
    parser = cli.build_parser()
    status = parser._subparsers._group_actions[0].choices["status"]
    assert all(action.help for action in status._actions)
    with pytest.raises(SystemExit):
        parser.parse_args(["status", "--timeout", "soon"])
    assert "argument --timeout: invalid float value: 'soon'" in capsys.readouterr().err
