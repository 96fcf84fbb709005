"""scripts/run-local's options and its choice of DAG."""

from __future__ import annotations

import pytest

from airflow_mesos.localrun import __main__ as localrun


def test_every_option_has_a_help_text():
    assert all(action.help for action in localrun.build_parser()._actions)


@pytest.mark.parametrize(("argv", "words"), [
    (["--api-port", "0"], "argument --api-port: expected a port from 1 to 65535, got '0'"),
    (["--timeout", "-3"], "argument --timeout: expected a number of seconds > 0, got '-3'"),
    (["--tasks", "vm"], "argument --tasks: invalid choice: 'vm'"),
])
def test_a_bad_option_is_one_line_and_exit_code_2(capsys, argv, words):
    assert localrun.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and err.startswith("scripts/run-local: error: ")


def test_the_dag_is_the_one_asked_for_else_the_resources_example_for_containers_else_the_quickstart(tmp_path):
    assert localrun.choose_dag("mine", True, tmp_path) == "mine"
    assert localrun.choose_dag(None, True, tmp_path) == localrun.QUICKSTART_DAG
    (tmp_path / f"{localrun.RESOURCES_DAG}.py").write_text("")
    assert localrun.choose_dag(None, True, tmp_path) == localrun.RESOURCES_DAG
    # A process task may not have volumes, which the resources example mounts.
    assert localrun.choose_dag(None, False, tmp_path) == localrun.QUICKSTART_DAG


def test_the_agents_differ_in_size_and_attributes_and_one_has_a_gpu():
    from airflow_mesos.local.agent import AgentSpec
    from airflow_mesos.local.options import agent_specs

    specs = agent_specs(localrun.AGENTS, None, AgentSpec())
    assert [s.hostname for s in specs] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert [s.attributes["rack"] for s in specs] == ["r1", "r2", "r2"]
    assert [s.gpus for s in specs] == [0, 0, 1] and len({(s.cpus, s.mem) for s in specs}) == 2
