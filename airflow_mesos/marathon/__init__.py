"""Render, validate and deploy the Airflow Marathon app group.

- :mod:`.settings` -- the deployment settings (JSON file + ``--set`` overrides), validated.
- :mod:`.render` -- pure: settings -> group dict (``marathon/airflow.json`` is the rendered default).
- :mod:`.validate` -- pure: group -> problems (Marathon's v1.7 JSON schema + our rules).
- :mod:`.deploy` -- the Marathon REST client (create/update, follow deployments, status).
- :mod:`.diff` -- pure: rendered group vs. the group Marathon returns.
- :mod:`.paths` -- Marathon id resolution.
- :mod:`.errors` -- the error tree.

See docs/marathon.md.
"""
