"""The import layers of the embedded cluster (airflow_mesos/local/), read from each module's AST.

- Every module has a layer; it imports modules of its own layer or lower ones, never a higher one.
- There is no import cycle among them (function-level and TYPE_CHECKING imports count too).
- The pure layers import no threads, sockets, processes, clocks or HTTP, so the views and the decision
  logic cannot take a lock or do I/O.
- local/ never imports the driver (airflow_mesos.mesos), the executor or Airflow: the embedded cluster is the
  test oracle for Mesos clients and must not share their code.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LOCAL = Path(__file__).resolve().parents[2] / "airflow_mesos" / "local"

FACTS, PURE, EDGE, RUNTIME, ASSEMBLY = range(5)
LAYER_NAMES = {FACTS: "facts", PURE: "pure", EDGE: "edge", RUNTIME: "runtime", ASSEMBLY: "assembly"}

LAYERS = {
    # Facts about Mesos, defined once.
    "constants": FACTS,
    # Pure data and decisions: records, views, validation, protobuf conversion, allocation, launch planning.
    "proto": PURE, "allocator": PURE, "validation": PURE, "status_updates": PURE, "secrets": PURE,
    "launch_planner": PURE, "records": PURE, "agent_records": PURE, "views_common": PURE, "master_views": PURE,
    "agent_views": PURE, "master_core": PURE,
    # Edges: HTTP, event streams, the host, the filesystem, processes, Docker.
    "http_util": EDGE, "event_stream": EDGE, "host_metrics": EDGE, "sandbox": EDGE, "master_http": EDGE,
    "agent_http": EDGE, "fetcher": EDGE, "process_containerizer": EDGE, "docker_containerizer": EDGE, "images": EDGE,
    # The master and agent objects with their threads.
    "master": RUNTIME, "agent": RUNTIME, "agent_executors": RUNTIME,
    # Putting it together.
    "cluster": ASSEMBLY, "options": ASSEMBLY, "__main__": ASSEMBLY, "__init__": ASSEMBLY,
}

FORBIDDEN_IN_PURE = ("threading", "socket", "select", "http", "subprocess", "queue", "time", "urllib.request",
                     "asyncio", "docker", "kazoo", "httpx")
"""Modules (and their submodules) the facts and pure layers may not import."""

OUTSIDE_ALLOWED = {"airflow_mesos.clock", "airflow_mesos.exceptions", "airflow_mesos.run_labels"}
"""The only modules of the rest of the package local/ may import."""

KNOWN_VIOLATIONS = {
    # __main__ checks --zk with the driver's ZooKeeper URL parser; it belongs to the CLI's owners, who know
    # it must go (the rule stands: the oracle must not share code with the clients it tests).
    ("__main__", "airflow_mesos.mesos.detector"), ("__main__", "airflow_mesos.mesos.errors"),
}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (absolute names; relative ones resolved)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = "airflow_mesos.local" if node.level == 1 else "airflow_mesos"
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.add(module)
            if module in ("airflow_mesos.local", "airflow_mesos"):
                # `from airflow_mesos.local import master_views` imports the submodule.
                names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _local_name(module: str) -> str | None:
    prefix = "airflow_mesos.local."
    if module.startswith(prefix):
        return module[len(prefix):].split(".")[0]
    return None


MODULES = sorted(p.stem for p in LOCAL.glob("*.py"))
GRAPH = {name: _imports(LOCAL / f"{name}.py") for name in MODULES}


def test_every_module_has_a_layer():
    assert sorted(set(MODULES) - set(LAYERS)) == [], "give the new module a layer in LAYERS"
    assert sorted(set(LAYERS) - set(MODULES)) == [], "a module in LAYERS no longer exists"


@pytest.mark.parametrize("module", MODULES)
def test_imports_go_down_the_layers_only(module):
    upward = []
    for imported in sorted(GRAPH[module]):
        target = _local_name(imported)
        if target is not None and target in LAYERS and LAYERS[target] > LAYERS[module]:
            upward.append(f"{imported} ({LAYER_NAMES[LAYERS[target]]})")
    assert upward == [], f"{module} ({LAYER_NAMES[LAYERS[module]]}) imports a higher layer: {upward}"


@pytest.mark.parametrize("module", [m for m in MODULES if LAYERS.get(m) in (FACTS, PURE)])
def test_pure_layers_take_no_locks_and_do_no_io(module):
    bad = sorted(name for name in GRAPH[module]
                 if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN_IN_PURE))
    assert bad == [], f"{module} is {LAYER_NAMES[LAYERS[module]]} but imports {bad}"


@pytest.mark.parametrize("module", MODULES)
def test_local_never_imports_the_driver_the_executor_or_airflow(module):
    bad = sorted(name for name in GRAPH[module]
                 if (name == "airflow" or name.startswith("airflow.")
                     or (name.startswith("airflow_mesos.") and not name.startswith("airflow_mesos.local")
                         and name not in OUTSIDE_ALLOWED))
                 and (module, name) not in KNOWN_VIOLATIONS)
    assert bad == [], f"{module} imports {bad}"


def test_no_import_cycles():
    edges = {m: sorted({t for name in GRAPH[m] if (t := _local_name(name)) in LAYERS and t != m}) for m in MODULES}
    cycles = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in MODULES:
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_checker_sees_function_level_and_relative_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from . import records\n\ndef f():\n    from airflow_mesos.mesos import driver\n"
                      "    import threading\n")
    assert _imports(source) >= {"airflow_mesos.local.records", "airflow_mesos.mesos", "threading"}
