"""Pure parts of master detection: URL lists, zk:// specs, leader choice, MasterInfo addresses."""

import pytest

from airflow_mesos.mesos.detector import (
    ZooKeeperSpec,
    leading_member,
    master_info_url,
    normalize_master_url,
    parse_master_spec,
)
from airflow_mesos.mesos.errors import MasterDetectionError


@pytest.mark.parametrize("given, expected", [
    ("http://127.0.0.1:5050", "http://127.0.0.1:5050"),
    ("https://m1:5050/", "https://m1:5050"),
    ("m1", "http://m1:5050"),
    ("m1:6060", "http://m1:6060"),
    ("http://m1:5050/api/v1/scheduler", "http://m1:5050"),
    ("http://[::1]:5050", "http://[::1]:5050"),
])
def test_normalize_master_url(given, expected):
    assert normalize_master_url(given) == expected


@pytest.mark.parametrize("bad, words", [
    ("", "empty"),
    ("ftp://m1:5050", "scheme"),
    ("http://user:pw@m1:5050", "principal"),
    ("http://m1:5050/other", "path"),
    ("http://m1:notaport", "m1:notaport"),
])
def test_bad_master_urls_are_explained(bad, words):
    with pytest.raises(MasterDetectionError, match=words):
        normalize_master_url(bad)


def test_credentials_in_a_master_url_are_not_echoed():
    with pytest.raises(MasterDetectionError) as caught:
        normalize_master_url("http://user:hunter2@m1:5050")
    assert "hunter2" not in str(caught.value)


def test_comma_list_and_list():
    assert parse_master_spec("http://m1:5050, http://m2:5050") == ["http://m1:5050", "http://m2:5050"]
    assert parse_master_spec(["m1", "m2:1"]) == ["http://m1:5050", "http://m2:1"]
    with pytest.raises(MasterDetectionError):
        parse_master_spec(" , ")
    with pytest.raises(MasterDetectionError, match="alone"):
        parse_master_spec(["zk://h:2181/mesos", "http://m1"])


def test_zk_spec():
    spec = parse_master_spec("zk://h1:2181,h2:2181/mesos")
    assert spec == ZooKeeperSpec(hosts="h1:2181,h2:2181", path="/mesos")


def test_zk_spec_with_credentials_hides_them():
    spec = parse_master_spec("zk://alice:s3cret@h1:2181/a/b/")
    assert (spec.hosts, spec.path, spec.credentials) == ("h1:2181", "/a/b", "alice:s3cret")
    assert "s3cret" not in repr(spec)


@pytest.mark.parametrize("bad", ["zk://h1:2181", "zk:///mesos", "zk://h1/mesos", "zk://h1:2181/"])
def test_bad_zk_specs(bad):
    with pytest.raises(MasterDetectionError, match="ZooKeeper"):
        parse_master_spec(bad)


def test_leader_is_the_lowest_sequence_json_member():
    children = ["json.info_0000000012", "log_replicas", "info_0000000001", "json.info_0000000009",
                "json.info_0000000010", "json.info_garbage"]
    assert leading_member(children) == "json.info_0000000009"
    assert leading_member(["log_replicas"]) is None
    assert leading_member([]) is None


def test_master_info_url_prefers_address_hostname():
    info = {"id": "x", "ip": 16777343, "port": 5050, "hostname": "legacy",
            "address": {"hostname": "m1.example", "ip": "10.0.0.1", "port": 5051}}
    assert master_info_url(info) == "http://m1.example:5051"
    assert master_info_url({"address": {"ip": "10.0.0.1", "port": 5050}}, "https") == "https://10.0.0.1:5050"


def test_master_info_url_legacy_uint32_ip():
    assert master_info_url({"ip": 16777343, "port": 5050}) == "http://127.0.0.1:5050"


def test_master_info_without_address_is_an_error():
    with pytest.raises(MasterDetectionError, match="no usable address"):
        master_info_url({"id": "x"})
