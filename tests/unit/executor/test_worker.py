"""The worker command takes the token from the secret variable and never from argv."""

from __future__ import annotations

import json

import pytest

from airflow_mesos.worker import TOKEN_VAR, WORKLOAD_VAR, WorkerError, take_workload_json


def test_token_joins_the_workload_and_leaves_the_environment():
    environ = {WORKLOAD_VAR: json.dumps({"type": "ExecuteTask", "ti": {}}), TOKEN_VAR: "tok", "OTHER": "1"}
    assert json.loads(take_workload_json(environ)) == {"type": "ExecuteTask", "ti": {}, "token": "tok"}
    assert TOKEN_VAR not in environ and environ["OTHER"] == "1"


@pytest.mark.parametrize(("environ", "words"), [
    ({}, f"{WORKLOAD_VAR} is not set"),
    ({WORKLOAD_VAR: "{nope"}, "is not JSON"),
    ({WORKLOAD_VAR: "[1]"}, "must be a JSON object"),
    ({WORKLOAD_VAR: "{}"}, f"{TOKEN_VAR} is not set"),
])
def test_bad_environment_names_the_variable(environ, words):
    with pytest.raises(WorkerError, match=words):
        take_workload_json(dict(environ))


def test_an_invalid_workload_exits_2_naming_fields_but_never_the_token(capsys):
    from airflow_mesos.worker import EXIT_BAD_WORKLOAD, run_workload_json

    code = run_workload_json(json.dumps({"type": "ExecuteTask", "token": "tok-secret", "ti": {}}))
    err = capsys.readouterr().err
    assert code == EXIT_BAD_WORKLOAD
    assert "the workload is not valid" in err and "dag_rel_path" in err and "tok-secret" not in err


def test_the_worker_ends_with_its_code_its_exit_handlers_run_and_its_output_flushed():
    import subprocess
    import sys

    script = ("import atexit, logging, sys\n"
              "from airflow_mesos.worker import exit_without_teardown\n"
              "atexit.register(lambda: print('exit handler ran', flush=True))\n"
              "logging.basicConfig(stream=sys.stderr)\n"
              "logging.getLogger('t').warning('logged before the end')\n"
              "sys.stdout.write('buffered, not flushed\\n')\n"
              "exit_without_teardown(3)\n"
              "print('never reached')\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 3
    assert run.stdout.splitlines() == ["buffered, not flushed", "exit handler ran"]
    assert "logged before the end" in run.stderr
