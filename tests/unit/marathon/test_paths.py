"""Marathon id resolution (PathId.canonicalPath semantics)."""

import pytest

from airflow_mesos.marathon import paths


@pytest.mark.parametrize(
    ("path", "base", "expected"),
    [
        ("/airflow/postgres", "/other", "/airflow/postgres"),
        ("postgres", "/airflow", "/airflow/postgres"),
        ("../database", "/product/service", "/product/database"),
        ("specific/../../database", "/product/service", "/product/database"),
        ("./x", "/g", "/g/x"),
        ("../../../x", "/a", "/x"),  # never above the root
        ("/a//b/", "/", "/a/b"),
        ("/a/../b", "/", "/b"),
    ],
)
def test_canonical(path, base, expected):
    assert paths.canonical(path, base) == expected


def test_base_must_be_absolute():
    with pytest.raises(ValueError, match="not absolute"):
        paths.canonical("x", "relative")


def test_id_problems():
    assert paths.id_problems("/airflow/api-server") == []
    assert paths.id_problems("/") == ["must contain at least one path segment"]
    assert "segment '-x'" in paths.id_problems("/-x")[0]
    assert paths.parent("/a/b") == "/a" and paths.parent("/a") == "/"
