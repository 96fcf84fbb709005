"""Tasks that must fail alone, each with a clear message, while the good tasks beside them succeed."""

from __future__ import annotations

from airflow.sdk import dag, task


@dag(dag_id="mesos_bad_configs", schedule=None, catchup=False, default_args={"retries": 0}, tags=["e2e"])
def bad_configs():
    bad = {
        "negative_cpus": {"mesos": {"cpus": -1}},
        "typo_key": {"mesos": {"cpu": 1}},
        "unknown_operator": {"mesos": {"constraints": [["rack", "NEAR", "r1"]]}},
        "docker_without_opt_in": {"mesos": {"container_type": "docker"}},
    }
    for name, executor_config in bad.items():
        @task(task_id=name, executor_config=executor_config)
        def never_runs():
            print("E2E-MARKER this must not run")

        never_runs()

    @task(executor_config={"mesos": {"cpus": 0.25, "mem": 512}})
    def good_one():
        print("E2E-MARKER good one")

    # A container task like good_one: a process task would create this run's log folders as root (umask
    # 022), where the next container worker (uid 50000) could not add its own.
    @task(executor_config={"mesos": {"cpus": 0.25, "mem": 512, "disk": 64}})
    def good_two():
        print("E2E-MARKER good two")

    good_one()
    good_two()


@dag(dag_id="mesos_bad_image", schedule=None, catchup=False, default_args={"retries": 0}, tags=["e2e"])
def bad_image():
    @task(executor_config={"mesos": {"image": "no-such-registry.invalid/airflow-mesos/missing:0", "cpus": 0.25, "mem": 256}})
    def missing_image():
        print("E2E-MARKER this must not run")

    missing_image()


bad_configs()
bad_image()
