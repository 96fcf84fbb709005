"""`airflow-mesos local` hands its mode and options to `python -m airflow_mesos.local` unchanged."""

import airflow_mesos.local.__main__ as local_main
from airflow_mesos import cli


def test_local_group_forwards_mode_and_options(monkeypatch):
    seen = []
    monkeypatch.setattr(local_main, "main", lambda argv, prog: seen.append((argv, prog)) or 7)
    assert cli.main(["local", "run", "--agents", "2", "--port", "5050"]) == 7
    assert seen == [(["run", "--agents", "2", "--port", "5050"], "airflow-mesos local run")]


def test_local_group_rejects_an_unknown_mode(capsys):
    assert cli.main(["local", "serve"]) == 2
    assert "invalid choice: 'serve'" in capsys.readouterr().err


def test_a_bad_option_through_airflow_mesos_local_ends_in_one_line_naming_it(capsys):
    assert cli.main(["local", "run", "--cpus", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("airflow-mesos local run: error: argument --cpus: expected a number > 0, got '-1'")


def test_every_option_of_airflow_mesos_local_has_a_help_text():
    parser = cli.build_parser()
    local = parser._subparsers._group_actions[0].choices["local"]
    assert all(action.help for action in local._actions)
