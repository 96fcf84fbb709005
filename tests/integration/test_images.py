import pytest

from airflow_mesos.run_labels import run_labels

pytestmark = pytest.mark.integration


def test_busybox_image_runs_a_shell(docker_client, busybox_image):
    out = docker_client.containers.run(busybox_image, ["sh", "-c", "echo hello from $(hostname -s >/dev/null && echo busybox)"],
                                       remove=True, network_mode="none", labels=run_labels())
    assert out.decode().strip() == "hello from busybox"


def test_python_image_has_interpreter_ssl_and_pip(docker_client, python_image):
    out = docker_client.containers.run(
        python_image,
        ["python3", "-c", "import ssl, sqlite3, sys; import pip; print(sys.version_info[:2], ssl.OPENSSL_VERSION[:7])"],
        remove=True, network_mode="none", labels=run_labels(),
    )
    assert out.decode().startswith("(3, 11) OpenSSL")
