"""The options of `python -m airflow_mesos.local`: per-agent specs, hostnames, credentials, one-line errors."""

from __future__ import annotations

import pytest

import airflow_mesos.local.__main__ as local_main
from airflow_mesos.local import options
from airflow_mesos.local.agent import AgentSpec

PROG = "python -m airflow_mesos.local"


def parse(argv, environ=None):
    return local_main.parse_args(argv, PROG, environ=environ or {})


def one_line_error(capsys, argv, environ=None) -> str:
    with pytest.raises(SystemExit) as exited:
        parse(argv, environ)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    assert captured.err.startswith(f"{PROG}: error: ")
    return captured.err


def test_every_option_has_a_help_text():
    parser = local_main.build_parser()
    for action in parser._actions:
        assert action.help, action.option_strings or action.dest


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--cpus", "-1"], "argument --cpus: expected a number > 0, got '-1'"),
        (["--cpus", "many"], "argument --cpus: expected a number > 0, got 'many'"),
        (["--mem", "0"], "argument --mem: expected a number > 0, got '0'"),
        (["--disk", "-5"], "argument --disk: expected a number >= 0, got '-5'"),
        (["--gpus", "1.5"], "argument --gpus: expected a whole number >= 0, got '1.5'"),
        (["--agents", "0"], "argument --agents: expected a whole number >= 1, got '0'"),
        (["--port", "70000"], "argument --port: expected a whole number from 0 to 65535, got '70000'"),
        (["--ports", "31000-30000"], "'31000-30000' is not a range of ports"),
        (["--attributes", "rack"], "argument --attributes: expected name:value;name:value, got 'rack'"),
        (["--heartbeat-interval", "0"], "argument --heartbeat-interval: expected a number > 0, got '0'"),
        (["--offer-timeout", "0"], "argument --offer-timeout: expected a number > 0, got '0'"),
        (["--allocation-interval", "0"], "argument --allocation-interval: expected a number > 0, got '0'"),
        (["--offer-timeout", "soon"], "argument --offer-timeout: expected a number > 0, got 'soon'"),
        (["--zk", "http://zk:2181"], "argument --zk: expected zk://host:port[,host:port]/path"),
        (["--zk", "zk://zk/mesos"], "ZooKeeper host 'zk' in the master address: expected host:port"),
        (["--agent", "cpu=4"], "--agent 'cpu=4': unknown key 'cpu' (did you mean 'cpus'?)"),
        (["--agent", "cpus=4,cpus=2"], "--agent 'cpus=4,cpus=2': cpus is given twice"),
        (["--agent", "cpus=-2"], "--agent 'cpus=-2': cpus: expected a number > 0, got '-2'"),
        (["--agent", "4"], "--agent '4': expected key=value items separated by commas, got '4'"),
        (["--agent", "gpus=x"], "--agent 'gpus=x': gpus: expected a whole number >= 0, got 'x'"),
        (["--agent", "attributes=rack"], "attributes: expected name:value;name:value, got 'rack'"),
        (["--agent", "colour=red"], "unknown key 'colour' (known: hostname, cpus, mem, disk, gpus, ports, attributes)"),
        (["--agents", "2", "--agent", "cpus=1"], "--agents: give either --agents N"),
        (["serve"], "argument mode: invalid choice: 'serve'"),
    ],
)
def test_a_bad_value_ends_in_one_line_naming_the_option(capsys, argv, words):
    assert words in one_line_error(capsys, argv)


def test_per_agent_specs_take_their_own_resources_and_attributes_and_the_defaults_for_the_rest():
    args = parse(["--mem", "1024", "--attributes", "zone:z",
                  "--agent", "cpus=4,mem=8192,disk=20000,gpus=1,attributes=rack:r1;zone:a",
                  "--agent", "cpus=1,ports=[31000-31009,32000-32009],attributes=rack:r2;level:3",
                  "--agent", "hostname=127.0.0.1"])
    first, second, third = args.specs
    assert first == AgentSpec(hostname="127.0.0.2", cpus=4, mem=8192, disk=20000, gpus=1,
                              attributes={"rack": "r1", "zone": "a"})
    assert second == AgentSpec(hostname="127.0.0.3", cpus=1, mem=1024, ports=[(31000, 31009), (32000, 32009)],
                               attributes={"rack": "r2", "level": 3.0})
    # Only what the spec leaves out comes from the cluster-wide options.
    assert third == AgentSpec(hostname="127.0.0.1", mem=1024, attributes={"zone": "z"})


def test_identical_agents_get_distinct_loopback_hostnames():
    args = parse(["--agents", "3", "--cpus", "3"])
    assert [s.hostname for s in args.specs] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert {s.cpus for s in args.specs} == {3.0}
    assert [s.hostname for s in parse([]).specs] == ["127.0.0.1"]


def test_explicit_hostnames_are_kept_and_skipped_by_the_others():
    assert options.loopback_hostnames([None, "127.0.0.1", None, "agent.example"]) == [
        "127.0.0.2", "127.0.0.1", "127.0.0.3", "agent.example"]


def test_the_port_defaults_to_5050_and_to_a_free_one_for_the_demo():
    assert parse([]).port == 5050
    assert parse(["demo"]).port == 0
    assert parse(["demo", "--port", "5051"]).port == 5051


def test_the_secret_comes_from_the_environment_or_a_file_never_argv(tmp_path):
    assert parse([]).credentials is None
    assert parse(["--principal", "ops"], {options.SECRET_ENV: "s3cr3t"}).credentials == {"ops": "s3cr3t"}
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-file\n")
    args = parse(["--principal", "ops", "--secret-file", str(secret_file)], {options.SECRET_ENV: "ignored"})
    assert args.credentials == {"ops": "from-file"}


def test_credentials_problems_are_one_line_each_and_never_show_the_secret(capsys, tmp_path):
    err = one_line_error(capsys, ["--credentials", "ops:hunter2"])
    assert "--credentials: no longer takes principal:secret" in err and "--secret-file" in err
    assert "hunter2" not in err
    assert "no secret" in one_line_error(capsys, ["--principal", "ops"])
    missing = tmp_path / "nope"
    assert f"--secret-file: cannot read {missing}: No such file or directory" in one_line_error(
        capsys, ["--principal", "ops", "--secret-file", str(missing)])
    secret_file = tmp_path / "secret"
    secret_file.write_text("x\n")
    assert "--secret-file: needs --principal" in one_line_error(capsys, ["--secret-file", str(secret_file)])
    assert "--principal: expected a name without ':'" in one_line_error(
        capsys, ["--principal", "a:b"], {options.SECRET_ENV: "s"})


def test_main_returns_2_for_a_bad_option_and_0_for_help(capsys):
    assert local_main.main(["--cpus", "-1"]) == 2
    assert local_main.main(["--help"]) == 0
    assert "--agent SPEC" in capsys.readouterr().out


def test_an_agent_line_says_what_it_offers():
    spec = AgentSpec(cpus=4, mem=8192, disk=20000, gpus=1, attributes={"rack": "r1", "level": 3.0})
    assert local_main.describe_agent(spec) == (
        "cpus 4, mem 8192 MiB, disk 20000 MiB, gpus 1, ports 31000-32000; rack=r1 level=3")


def test_a_port_in_use_ends_in_one_line_and_leaves_no_work_dir(capsys, monkeypatch, tmp_path):
    import socket

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")  # no engine: not needed here
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert local_main.main(["--port", str(port)]) == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last == f"{PROG}: error: cannot start the cluster on 127.0.0.1 (--port {port}): Address already in use"
    assert list(tmp_path.iterdir()) == []


def test_offer_timeout_and_allocation_interval_reach_the_cluster(monkeypatch, tmp_path):
    import airflow_mesos.local.cluster as cluster_module

    made = []

    class RecordingCluster:
        def __init__(self, specs, **kwargs):
            made.append(kwargs)

        def start(self):
            raise OSError(98, "Address already in use")  # ends main() before it serves

    monkeypatch.setattr(cluster_module, "LocalCluster", RecordingCluster)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    assert parse([]).offer_timeout is None
    assert local_main.main(["--offer-timeout", "2.5", "--allocation-interval", "0.25"]) == 2
    assert local_main.main([]) == 2
    assert [kwargs["offer_timeout"] for kwargs in made] == [2.5, None]
    # Mesos' --allocation_interval defaults to 1 second.
    assert [kwargs["allocation_interval"] for kwargs in made] == [0.25, 1.0]
