#!/bin/sh
# Entrypoint of the airflow-mesos image: every role goes through
# airflow_mesos.entrypoint, which loads the optional env file, derives the
# database URL, waits for and migrates the database where the role needs it,
# and finally exec()s the role's command.  `exec` here and os.execvp there mean
# no shell or helper process stays between the container and Airflow, so
# signals from Mesos/Docker reach Airflow itself.
exec python3 -m airflow_mesos.entrypoint "$@"
