"""``python -m airflow_mesos.warm``: the warm executor, as an agent starts it (the ExecutorInfo's command)."""

from __future__ import annotations

import logging
import os
import sys

from airflow_mesos.warm.settings import AUTH_TOKEN_VAR, SettingsError, settings_from_env

EXIT_BAD_ENVIRONMENT = 2


def main() -> int:
    level = os.environ.get("AIRFLOW_MESOS_WARM_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(stream=sys.stderr, level=level if level in logging.getLevelNamesMapping() else "INFO",
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One line per HTTP call is noise beside our own line per UPDATE.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = settings_from_env(os.environ)
    except SettingsError as exc:
        print(f"airflow-mesos warm executor: {exc}", file=sys.stderr)
        return EXIT_BAD_ENVIRONMENT
    if not os.path.isdir(settings.sandbox):
        print(f"airflow-mesos warm executor: the sandbox {settings.sandbox} (MESOS_SANDBOX) is not a directory",
              file=sys.stderr)
        return EXIT_BAD_ENVIRONMENT
    # As the v1 executor library: the agent's token leaves the environment, so no task inherits it.
    os.environ.pop(AUTH_TOKEN_VAR, None)

    from airflow_mesos.warm.runtime import WarmExecutor, install_sigterm

    executor = WarmExecutor(settings, dict(os.environ))
    install_sigterm(executor)
    return executor.run()


if __name__ == "__main__":
    raise SystemExit(main())
