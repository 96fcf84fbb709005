"""Which uid gets the secrets file of a MESOS container (Docker's user rules), and handing it over."""

from __future__ import annotations

import os
import stat

import pytest

from airflow_mesos.local.secrets import SecretError, SecretValue, container_uid, hand_env_file_to, write_env_file

PASSWD = """root:x:0:0:root:/root:/bin/sh
# a comment line
broken-line
airflow:x:50000:0:airflow:/home/airflow:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
airflow:x:1:1:second entry loses:/:/bin/sh
"""


def no_passwd_read():
    raise AssertionError("a numeric or empty user must not read /etc/passwd")


@pytest.mark.parametrize(("user", "uid"), [("", 0), ("0", 0), ("50000", 50000), ("50000:0", 50000),
                                           ("123:staff", 123)])
def test_numeric_and_empty_users_need_no_passwd(user, uid):
    assert container_uid(user, no_passwd_read) == uid


@pytest.mark.parametrize(("user", "uid"), [("airflow", 50000), ("airflow:0", 50000), ("nobody:nogroup", 65534),
                                           ("root", 0)])
def test_names_are_looked_up_in_the_image_passwd_first_entry_wins(user, uid):
    assert container_uid(user, lambda: PASSWD) == uid


def test_unknown_name_fails_with_dockers_words():
    with pytest.raises(SecretError, match="^unable to find user alice: no matching entries in passwd file$"):
        container_uid("alice:0", lambda: PASSWD)
    with pytest.raises(SecretError, match="unable to find user airflow"):
        container_uid("airflow", lambda: None)  # the image has no /etc/passwd


def test_out_of_range_uid_is_refused():
    with pytest.raises(SecretError, match="uid 2147483648 is out of range"):
        container_uid("2147483648", no_passwd_read)


def test_env_file_is_handed_to_the_uid_and_stays_0400(tmp_path):
    # scripts/test runs as root (it starts dockerd), so the chown to another uid is real here.
    path = tmp_path / "secrets" / "c1" / "env"
    write_env_file(path, {"PW": SecretValue(b"x")})
    hand_env_file_to(path, 50000)
    info = path.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (50000, 0o400)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_own_uid_needs_no_chown(tmp_path, monkeypatch):
    path = tmp_path / "env"
    write_env_file(path, {"PW": SecretValue(b"x")})

    def forbidden(*args):
        raise AssertionError("no chown for the file's own uid")

    monkeypatch.setattr(os, "chown", forbidden)
    hand_env_file_to(path, os.geteuid())


def test_a_non_root_agent_that_may_not_chown_says_so(tmp_path, monkeypatch):
    path = tmp_path / "env"
    write_env_file(path, {"PW": SecretValue(b"x")})

    def denied(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "chown", denied)
    with pytest.raises(SecretError, match="cannot hand the secrets file to the container's uid 50000"):
        hand_env_file_to(path, 50000)
