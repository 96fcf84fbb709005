"""`airflow-mesos db url`: the connection for health-check commands run through docker exec."""

from __future__ import annotations


def test_cli_db_url_builds_the_url_like_the_entrypoint(monkeypatch, tmp_path):
    import io

    from airflow_mesos.cli import main

    env_file = tmp_path / "airflow.env"
    env_file.write_text("AIRFLOW_MESOS_DB_PASSWORD=p@ss:word\n")
    for name in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_MESOS_DB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRFLOW_MESOS_DB_HOST", "postgres-airflow.marathon.mesos")
    monkeypatch.setenv("AIRFLOW_MESOS_ENV_FILE", str(env_file))
    # the health check sets this very variable to run `airflow-mesos db url`; it must not stop the build
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD", "airflow-mesos db url")
    out = io.StringIO()
    assert main(["db", "url"], stdout=out) == 0
    assert out.getvalue() == "postgresql+psycopg2://airflow:p%40ss%3Aword@postgres-airflow.marathon.mesos:5432/airflow\n"

    monkeypatch.delenv("AIRFLOW_MESOS_DB_HOST")
    err = io.StringIO()
    assert main(["db", "url"], stdout=io.StringIO(), stderr=err) == 1
    assert "AIRFLOW_MESOS_DB_HOST is not set" in err.getvalue()
