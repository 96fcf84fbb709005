"""`airflow-mesos image build` builds through airflow_mesos.image.build_image, the function the image tests use."""

import io

import pytest

import airflow_mesos.image as image
from airflow_mesos import cli


class FakeDocker:
    pass


@pytest.fixture
def builds(monkeypatch):
    calls = []

    def fake_build(client, *, base_image=None, tag=image.DEFAULT_TAG, context=None, on_log=None):
        calls.append({"base_image": base_image, "tag": tag})
        if on_log:
            on_log("Step 1/9 : FROM base")
        return tag

    monkeypatch.setattr(image, "build_image", fake_build)
    monkeypatch.setattr(image, "docker_client", lambda: FakeDocker())
    return calls


def test_default_build_uses_the_tag_the_group_renders(builds):
    out = io.StringIO()
    assert cli.main(["image", "build"], stdout=out) == 0
    assert builds == [{"base_image": None, "tag": image.DEFAULT_TAG}]
    assert "Step 1/9" in out.getvalue() and f"built {image.DEFAULT_TAG}" in out.getvalue()


def test_base_image_and_tag_are_passed_through_and_quiet_hides_the_log(builds):
    out = io.StringIO()
    assert cli.main(["image", "build", "--base-image", "python:3.11-slim", "--tag", "me/af:1", "-q"], stdout=out) == 0
    assert builds == [{"base_image": "python:3.11-slim", "tag": "me/af:1"}]
    assert out.getvalue() == "built me/af:1\n"


def test_a_failed_build_is_reported_with_exit_1(monkeypatch):
    def failing(client, **kwargs):
        raise image.ImageBuildFailed("building x failed: pip exploded")

    monkeypatch.setattr(image, "build_image", failing)
    monkeypatch.setattr(image, "docker_client", lambda: FakeDocker())
    err = io.StringIO()
    assert cli.main(["image", "build", "-q"], stdout=io.StringIO(), stderr=err) == 1
    assert "pip exploded" in err.getvalue()


def test_base_image_and_local_base_are_exclusive(capsys):
    assert cli.main(["image", "build", "--base-image", "x", "--local-base"]) == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_without_a_docker_engine_the_client_fails_in_one_clear_line(tmp_path):
    with pytest.raises(image.ImageBuildFailed) as caught:
        image.docker_client({"DOCKER_HOST": f"unix://{tmp_path}/no-dockerd.sock"})
    message = str(caught.value)
    assert message == (f"no Docker engine answers at unix://{tmp_path}/no-dockerd.sock (No such file or directory); "
                       "start dockerd or point DOCKER_HOST at one")
    assert "\n" not in message and caught.value.__cause__ is None


def test_image_build_without_a_docker_engine_ends_in_one_line_and_exit_1(monkeypatch, tmp_path):
    def no_build(client, **kwargs):
        raise AssertionError("build_image must not run without an engine")

    monkeypatch.setattr(image, "build_image", no_build)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-dockerd.sock")
    err = io.StringIO()
    assert cli.main(["image", "build", "-q"], stdout=io.StringIO(), stderr=err) == 1
    assert err.getvalue() == (f"airflow-mesos: no Docker engine answers at unix://{tmp_path}/no-dockerd.sock "
                              "(No such file or directory); start dockerd or point DOCKER_HOST at one\n")
