"""The task log handler for Mesos tries and the logging configuration that installs it."""

from __future__ import annotations

import datetime
import json
import logging.config
from types import SimpleNamespace

import pytest

from airflow_mesos.executor import task_log_handler as handler_module
from airflow_mesos.executor.task_log_handler import MesosTaskHandler, TryEvent, mesos_word_lines

T0 = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)


def _at(seconds: int) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def _events(lines: list[str]) -> list[str]:
    return [json.loads(line)["event"] for line in lines]


@pytest.mark.parametrize(("events", "expected"), [
    # Mesos ended the try: its state, reason and message, in the words the executor also appends to the file.
    ([TryEvent("mesos waiting", "no agent with rack=r3", _at(0)),
      TryEvent("mesos task failed", "TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED: the container could not be "
                                    "launched): pull failed", _at(5))],
     ["Mesos ended this try: TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED: the container could not be launched): "
      "pull failed"]),
    # An invalid configuration kept the try from launching.
    ([TryEvent("mesos invalid config", "invalid Mesos task configuration: executor_config.mesos.cpus: ...")],
     ["The MesosExecutor did not launch this try: invalid Mesos task configuration: executor_config.mesos.cpus: ..."]),
    # Never placed: only the last reason it waited for counts.
    ([TryEvent("mesos waiting", "needs 8 cpus; the largest offer has 4", _at(0)),
      TryEvent("mesos waiting", "not connected to the Mesos master (refused)", _at(9))],
     ["This try was never placed on Mesos; the last reason it waited for an offer: not connected to the Mesos "
      "master (refused)"]),
    # The scheduler's "state mismatch" entry ends with the executor's info: the same words, once.
    ([TryEvent("state mismatch", "Executor MesosExecutor(parallelism=16) reported that the task instance <TI> "
               "finished with state failed, but the task instance's state attribute is queued. Learn more: "
               "https://airflow.apache.org/... Extra info: Mesos task 0b1c-77: TASK_ERROR (REASON_TASK_INVALID: "
               "Mesos refused the task): bad resources", _at(1)),
      TryEvent("mesos task failed", "TASK_ERROR (REASON_TASK_INVALID: Mesos refused the task): bad resources", _at(1))],
     ["Mesos ended this try: TASK_ERROR (REASON_TASK_INVALID: Mesos refused the task): bad resources"]),
    ([TryEvent("state mismatch", "Executor MesosExecutor reported ... Extra info: invalid Mesos task configuration: "
               "executor_config.mesos.cpu: unknown key")],
     ["The MesosExecutor did not launch this try: invalid Mesos task configuration: executor_config.mesos.cpu: "
      "unknown key"]),
    # A state mismatch without the executor's words is not ours to explain.
    ([TryEvent("state mismatch", "Executor LocalExecutor reported ... Extra info: killed")], []),
    ([TryEvent("state mismatch", "Executor MesosExecutor reported ... state attribute is queued.")], []),
    # Nothing recorded: nothing to add.
    ([], []),
    # Other events are not the executor's word.
    ([TryEvent("running", "", _at(0))], []),
])
def test_what_the_executor_recorded_becomes_log_lines(events, expected):
    assert _events(mesos_word_lines(events)) == expected


def test_the_lines_are_records_the_log_view_parses_with_their_time_and_level():
    [line] = mesos_word_lines([TryEvent("mesos task failed", "TASK_ERROR (REASON_TASK_INVALID): bad", _at(3))])
    record = json.loads(line)
    assert record["timestamp"] == _at(3).isoformat()
    assert record["level"] == "error" and record["logger"] == "airflow_mesos.executor"


class _FakeMesosExecutor:
    """Stands in for the MesosExecutor the handler loads (its class is swapped in below)."""

    def get_task_log(self, ti, try_number):
        return [], []


@pytest.fixture
def mesos_handler(tmp_path, monkeypatch):
    calls = []

    def read_sandbox(executor, ti):
        calls.append(("sandbox", ti.external_executor_id))
        return ([f"Reading the sandbox of Mesos task {ti.external_executor_id} (TASK_FINISHED, framework f1)"],
                ['{"timestamp": "2026-01-01T12:00:01+00:00", "event": "hello from the task", "level": "info"}\n'])

    def try_events(ti):
        calls.append(("events", ti.try_number))
        return [TryEvent("mesos task failed", "TASK_KILLED (REASON_CONTAINER_LIMITATION_MEMORY): OOM", _at(2))]

    monkeypatch.setattr(handler_module, "read_sandbox", read_sandbox)
    monkeypatch.setattr(handler_module, "try_events", try_events)
    handler = MesosTaskHandler(str(tmp_path))
    executor = _FakeMesosExecutor()
    monkeypatch.setattr(handler, "_get_executor_get_task_log", lambda ti: executor.get_task_log)
    return handler, executor, calls


def _ti(**overrides):
    values = {"dag_id": "d", "task_id": "t", "run_id": "r", "map_index": -1, "try_number": 2,
              "external_executor_id": "mesos-task-1", "executor": None, "state": "failed", "hostname": "agent-1",
              "triggerer_job": None}
    return SimpleNamespace(**{**values, **overrides})


def test_a_finished_mesos_try_is_read_from_its_sandbox_with_the_executors_word(mesos_handler, monkeypatch):
    handler, executor, calls = mesos_handler
    monkeypatch.setattr("airflow_mesos.executor.executor.MesosExecutor", _FakeMesosExecutor)
    sources, streams = handler._read_from_logs_server(_ti(), "dag_id=d/run_id=r/task_id=t/attempt=2.log")
    lines = [line for stream in streams for line in stream]
    assert calls == [("sandbox", "mesos-task-1"), ("events", 2)]
    assert sources[0].startswith("Reading the sandbox of Mesos task mesos-task-1")
    assert "Airflow's event log" in sources[-1]
    assert any("hello from the task" in line for line in lines)
    assert any("Mesos ended this try: TASK_KILLED (REASON_CONTAINER_LIMITATION_MEMORY): OOM" in line
               for line in lines)
    assert not any("Could not read served logs" in s for s in sources)


@pytest.mark.parametrize("ti", [
    _ti(external_executor_id=None),          # never had a Mesos task id: not a Mesos try
    _ti(triggerer_job=SimpleNamespace(id=7)),  # deferred: the triggerer has its log
])
def test_other_tries_are_read_as_airflow_reads_them(mesos_handler, monkeypatch, ti):
    handler, _, calls = mesos_handler
    monkeypatch.setattr("airflow_mesos.executor.executor.MesosExecutor", _FakeMesosExecutor)
    monkeypatch.setattr(handler_module.FileTaskHandler, "_read_from_logs_server",
                        lambda self, ti, path: (["asked the log server"], []))
    assert handler._read_from_logs_server(ti, "x.log") == (["asked the log server"], [])
    assert calls == []


def test_a_try_of_another_executor_is_read_as_airflow_reads_it(mesos_handler, monkeypatch):
    handler, _, calls = mesos_handler  # the real MesosExecutor class stays: the fake is not one
    monkeypatch.setattr(handler_module.FileTaskHandler, "_read_from_logs_server",
                        lambda self, ti, path: (["asked the log server"], []))
    assert handler._read_from_logs_server(_ti(), "x.log") == (["asked the log server"], [])
    assert calls == []


def test_a_broken_event_log_read_still_shows_the_sandbox(mesos_handler, monkeypatch):
    handler, _, calls = mesos_handler
    monkeypatch.setattr("airflow_mesos.executor.executor.MesosExecutor", _FakeMesosExecutor)

    def no_database(ti):
        raise RuntimeError("database gone")

    monkeypatch.setattr(handler_module, "try_events", no_database)
    sources, streams = handler._read_from_logs_server(_ti(), "x.log")
    assert any("hello from the task" in line for stream in streams for line in stream)
    assert "Could not read the MesosExecutor's event log entries of this try: RuntimeError" in sources


def test_the_logging_config_is_airflows_with_our_task_handler(tmp_path):
    from airflow.config_templates.airflow_local_settings import DEFAULT_LOGGING_CONFIG

    from airflow_mesos import logging_config

    config = logging_config.LOGGING_CONFIG
    assert config["handlers"]["task"]["class"] == "airflow_mesos.executor.task_log_handler.MesosTaskHandler"
    assert DEFAULT_LOGGING_CONFIG["handlers"]["task"]["class"].endswith(".FileTaskHandler")  # not changed in place
    assert {k: v for k, v in config["handlers"]["task"].items() if k != "class"} == {
        k: v for k, v in DEFAULT_LOGGING_CONFIG["handlers"]["task"].items() if k != "class"}
    # dictConfig builds it (in a copy with a folder of our own, so this test leaves the process' logging alone)
    trial = {"version": 1, "disable_existing_loggers": False,
             "handlers": {"task": {"class": config["handlers"]["task"]["class"], "base_log_folder": str(tmp_path)}},
             "loggers": {"airflow_mesos.test.task": {"handlers": ["task"]}}}
    logging.config.dictConfig(trial)
    built = logging.getLogger("airflow_mesos.test.task").handlers
    assert [type(h).__name__ for h in built] == ["MesosTaskHandler"]
    assert logging_config.REMOTE_TASK_LOG is None  # remote logging is off here, as in Airflow's default


def test_a_try_that_mesos_placed_is_not_said_to_have_never_been_placed():
    waited = [TryEvent("mesos waiting", "waiting for offers from Mesos", _at(1))]
    assert "never placed" in mesos_word_lines(waited)[0]
    assert mesos_word_lines(waited, placed=True) == []
