"""The pure parts of the image entrypoint: env files, the database URL and the launch plan."""

from __future__ import annotations

import pytest

from airflow_mesos.entrypoint import (
    CONN_VAR,
    EntrypointError,
    EnvFileError,
    database_endpoint,
    database_url,
    env_file_path,
    libpq_dsn,
    load_env_file,
    main,
    merge_env,
    parse_env_file,
    plan_launch,
    redact_url,
)

SECRET = "p@ss word/:?#%&é"
DB_ENV = {"AIRFLOW_MESOS_DB_HOST": "postgres-airflow.marathon.mesos", "AIRFLOW_MESOS_DB_PASSWORD": SECRET}


# ------------------------------------------------------------------ env files


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1\nB=two words\n", {"A": "1", "B": "two words"}),
        # comments, blank lines and surrounding blanks are ignored
        ("# c\n\n  A = 1  \n", {"A": "1"}),
        # shell-style export prefix
        ("export A=1\nexport\tB=2\n", {"A": "1", "B": "2"}),
        # quotes are removed, nothing inside is expanded
        ("A='$HOME x'\nB=\"a=b # c\"\n", {"A": "$HOME x", "B": "a=b # c"}),
        # "=" in the value stays; empty values are allowed
        ("A=b=c\nB=\n", {"A": "b=c", "B": ""}),
        # a later line wins
        ("A=1\nA=2\n", {"A": "2"}),
        ("", {}),
    ],
)
def test_parse_env_file_accepts(text, expected):
    assert parse_env_file(text, "f.env") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"A=1\n{SECRET}\n", "f.env, line 2: expected KEY=VALUE"),
        ("1A=x\n", "f.env, line 1: '1A' is not a valid variable name"),
        ("MY-KEY=x\n", "f.env, line 1: 'MY-KEY' is not a valid variable name"),
        (f"PASSWORD='{SECRET}\n", "f.env, line 1: the value of PASSWORD has an unclosed quote"),
    ],
)
def test_parse_env_file_errors_name_the_line_but_not_the_value(text, message):
    with pytest.raises(EnvFileError) as caught:
        parse_env_file(text, "f.env")
    assert str(caught.value) == message
    assert SECRET not in str(caught.value)


def test_load_env_file_reads_a_file_and_reports_a_missing_one(tmp_path):
    path = tmp_path / "secrets.env"
    path.write_text(f"AIRFLOW_MESOS_DB_PASSWORD={SECRET}\n", encoding="utf-8")
    assert load_env_file(str(path)) == {"AIRFLOW_MESOS_DB_PASSWORD": SECRET}
    with pytest.raises(EnvFileError, match=r"cannot read AIRFLOW_MESOS_ENV_FILE=.*missing\.env: No such file"):
        load_env_file(str(tmp_path / "missing.env"))


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"AIRFLOW_MESOS_ENV_FILE": " "}, None),
        ({"AIRFLOW_MESOS_ENV_FILE": "/etc/a.env", "MESOS_SANDBOX": "/mnt/mesos/sandbox"}, "/etc/a.env"),
        # Marathon fetches into the sandbox: relative names are found there
        ({"AIRFLOW_MESOS_ENV_FILE": "a.env", "MESOS_SANDBOX": "/mnt/mesos/sandbox"}, "/mnt/mesos/sandbox/a.env"),
        ({"AIRFLOW_MESOS_ENV_FILE": "a.env"}, "a.env"),
    ],
)
def test_env_file_path(environ, expected):
    assert env_file_path(environ) == expected


def test_the_environment_wins_over_the_env_file():
    assert merge_env({"A": "env"}, {"A": "file", "B": "file"}) == {"A": "env", "B": "file"}


# ------------------------------------------------------------------ database


def test_database_url_quotes_every_part_and_uses_the_defaults():
    url = database_url({**DB_ENV, "AIRFLOW_MESOS_DB_USER": "air flow"})
    assert url == (
        "postgresql+psycopg2://air%20flow:p%40ss%20word%2F%3A%3F%23%25%26%C3%A9"
        "@postgres-airflow.marathon.mesos:5432/airflow"
    )


def test_database_url_without_password_and_with_port_and_name():
    env = {"AIRFLOW_MESOS_DB_HOST": "db", "AIRFLOW_MESOS_DB_PORT": "6543", "AIRFLOW_MESOS_DB_NAME": "meta"}
    assert database_url(env) == "postgresql+psycopg2://airflow@db:6543/meta"


@pytest.mark.parametrize("configured", [CONN_VAR, f"{CONN_VAR}_CMD", f"{CONN_VAR}_SECRET"])
def test_database_url_leaves_a_configured_connection_alone(configured):
    assert database_url({**DB_ENV, configured: "x"}) is None


def test_database_url_needs_a_host():
    assert database_url({"AIRFLOW_MESOS_DB_PASSWORD": SECRET}) is None


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("http", "AIRFLOW_MESOS_DB_PORT='http' is not a whole number"),
        ("0", "AIRFLOW_MESOS_DB_PORT='0' must be greater than 0"),
        ("70000", "AIRFLOW_MESOS_DB_PORT=70000 is not a TCP port (1-65535)"),
    ],
)
def test_bad_database_port_is_named(port, message):
    with pytest.raises(EntrypointError) as caught:
        database_url({**DB_ENV, "AIRFLOW_MESOS_DB_PORT": port})
    assert str(caught.value) == message


def test_redact_url_hides_only_the_password():
    url = database_url(DB_ENV)
    assert redact_url(url) == "postgresql+psycopg2://airflow:***@postgres-airflow.marathon.mesos:5432/airflow"
    assert redact_url("postgresql://u@h/d") == "postgresql://u@h/d"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (DB_ENV, "postgres-airflow.marathon.mesos:5432"),
        ({CONN_VAR: "postgresql+psycopg2://u:p@db.example:6000/x"}, "db.example:6000"),
        # PostgreSQL's default port when the URL has none
        ({CONN_VAR: "postgresql://u@db/x"}, "db:5432"),
        ({CONN_VAR: "postgresql://u@[::1]:5433/x"}, "[::1]:5433"),
        # a file database has no endpoint; neither has a connection Airflow reads from a command
        ({CONN_VAR: "sqlite:////opt/airflow/airflow.db"}, None),
        ({f"{CONN_VAR}_CMD": "cat /run/conn"}, None),
    ],
)
def test_database_endpoint(env, expected):
    assert database_endpoint(env) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg2://u:p@h:1/d?sslmode=require", "postgresql://u:p@h:1/d?sslmode=require"),
        ("postgres://u@h/d", "postgresql://u@h/d"),
        ("mysql+mysqldb://u@h/d", None),
        ("sqlite:////tmp/a.db", None),
        ("not a url", None),
    ],
)
def test_libpq_dsn(url, expected):
    assert libpq_dsn(url) == expected


# ------------------------------------------------------------------ launch plan


@pytest.mark.parametrize("role", ["scheduler", "dag-processor", "triggerer"])
def test_server_roles_wait_migrate_and_exec_airflow(role):
    plan = plan_launch([role, "--extra"], DB_ENV)
    assert plan.role == role
    assert plan.wait_for == "postgres-airflow.marathon.mesos:5432"
    assert plan.wait_timeout == 300
    assert plan.migration == "migrate"
    assert plan.argv == ["airflow", role, "--extra"]
    assert plan.env[CONN_VAR] == database_url(DB_ENV)


@pytest.mark.parametrize(
    ("ports", "expected"),
    [
        # HOST networking: Marathon's host port is where to listen
        ({"PORT0": "31005"}, "31005"),
        # BRIDGE networking: PORT0 is the host side; the app names its containerPort
        ({"PORT0": "31005", "AIRFLOW__API__PORT": "8080"}, "8080"),
        ({}, "8080"),
    ],
)
def test_api_server_port(ports, expected):
    assert plan_launch(["api-server"], {**DB_ENV, **ports}).argv == ["airflow", "api-server", "--port", expected]


@pytest.mark.parametrize(
    ("ports", "message"),
    [
        ({"PORT0": "x"}, "PORT0='x' is not a port number"),
        ({"AIRFLOW__API__PORT": "70000"}, "AIRFLOW__API__PORT='70000' is not a port number"),
    ],
)
def test_bad_api_server_port_is_named(ports, message):
    with pytest.raises(EntrypointError) as caught:
        plan_launch(["api-server"], {**DB_ENV, **ports})
    assert str(caught.value) == message


def test_worker_runs_execute_workload_without_database_steps():
    plan = plan_launch(["worker", "--json-path", "/w.json"], {}, python="/py/bin/python3")
    assert plan.argv == ["/py/bin/python3", "-m", "airflow.sdk.execution_time.execute_workload", "--json-path", "/w.json"]
    assert (plan.wait_for, plan.migration) == (None, None)


def test_db_migrate_role_migrates_and_execs_nothing():
    plan = plan_launch(["db-migrate"], DB_ENV)
    assert (plan.migration, plan.argv) == ("migrate", None)
    with pytest.raises(EntrypointError, match="db-migrate takes no arguments"):
        plan_launch(["db-migrate", "x"], DB_ENV)


def test_other_commands_run_as_they_are_with_the_database_url():
    plan = plan_launch(["airflow", "db", "check-migrations"], DB_ENV)
    assert plan.role is None
    assert plan.argv == ["airflow", "db", "check-migrations"]
    assert (plan.wait_for, plan.migration) == (None, None)
    assert plan.env[CONN_VAR] == database_url(DB_ENV)


def test_migration_can_be_left_to_another_role():
    env = {**DB_ENV, "AIRFLOW_MESOS_DB_MIGRATE": "false", "AIRFLOW_MESOS_DB_MIGRATE_TIMEOUT": "90"}
    plan = plan_launch(["scheduler"], env)
    assert (plan.migration, plan.migrate_timeout) == ("check", 90)
    with pytest.raises(EntrypointError, match="AIRFLOW_MESOS_DB_MIGRATE='maybe' is neither true nor false"):
        plan_launch(["scheduler"], {**DB_ENV, "AIRFLOW_MESOS_DB_MIGRATE": "maybe"})


def test_a_server_role_without_any_database_setting_is_refused():
    with pytest.raises(EntrypointError, match="role scheduler needs the metadata database: set AIRFLOW_MESOS_DB_HOST"):
        plan_launch(["scheduler"], {})


def test_an_explicit_connection_is_kept_and_its_host_waited_for():
    env = {CONN_VAR: "postgresql+psycopg2://u:pw@pg.local:5433/af", "AIRFLOW_MESOS_DB_HOST": ""}
    plan = plan_launch(["triggerer"], env)
    assert plan.env[CONN_VAR] == env[CONN_VAR]
    assert plan.wait_for == "pg.local:5433"


def test_bad_wait_timeout_is_named():
    with pytest.raises(EntrypointError, match="AIRFLOW_MESOS_DB_WAIT_TIMEOUT='soon' is not a number"):
        plan_launch(["scheduler"], {**DB_ENV, "AIRFLOW_MESOS_DB_WAIT_TIMEOUT": "soon"})


def test_no_role_is_an_error():
    with pytest.raises(EntrypointError, match="no role given"):
        plan_launch([], {})


def test_the_plan_repr_shows_no_environment_or_arguments():
    plan = plan_launch(["worker", "--json-string", '{"token": "jwt-secret"}'], DB_ENV)
    assert SECRET not in repr(plan) and "jwt-secret" not in repr(plan)


# ------------------------------------------------------------------ main, without exec


def test_main_help_lists_the_roles(capsys):
    assert main(["--help"], {}) == 0
    out = capsys.readouterr().out
    for role in ("api-server", "scheduler", "dag-processor", "triggerer", "worker", "db-migrate"):
        assert f"  {role}" in out


def test_main_reports_a_bad_env_file_and_exits_1(tmp_path, capsys):
    path = tmp_path / "bad.env"
    path.write_text(f"GOOD=1\n{SECRET}\n")
    assert main(["scheduler"], {"AIRFLOW_MESOS_ENV_FILE": str(path)}) == 1
    err = capsys.readouterr().err
    assert f"airflow-mesos entrypoint: error: {path}, line 2: expected KEY=VALUE" in err
    assert SECRET not in err


def test_main_reports_a_missing_database_setting(capsys):
    assert main(["api-server"], {}) == 1
    assert "error: role api-server needs the metadata database" in capsys.readouterr().err
