"""`airflow-mesos local` hands its mode and options to `python -m airflow_mesos.local` unchanged."""

import airflow_mesos.local.__main__ as local_main
from airflow_mesos import cli


def test_local_group_forwards_mode_and_options(monkeypatch):
    seen = []
    monkeypatch.setattr(local_main, "main", lambda argv: seen.append(argv) or 7)
    assert cli.main(["local", "run", "--agents", "2", "--port", "5050"]) == 7
    assert seen == [["run", "--agents", "2", "--port", "5050"]]


def test_local_group_rejects_an_unknown_mode(capsys):
    assert cli.main(["local", "serve"]) == 2
    assert "invalid choice: 'serve'" in capsys.readouterr().err
