"""Run every benchmark, print each figure beside its target, and write docs/benchmarks.md (what scripts/bench runs).

Each benchmark runs in a process of its own and hands back its tables and figures as JSON
(``--json``, see ``benchlib.Section``).  Before each one this waits (up to ``--max-wait`` seconds)
for the machine's 1-minute load to drop under ``--calm-load``, and records the load before and
after, so every figure says what it was taken under.  The results go to ``docs/benchmarks.json``
(kept per section: ``--only`` reruns some and keeps the others) and are rendered into
``docs/benchmarks.md`` between the ``bench:results`` markers; the rest of that page (the
before/after record of optimisations, the analysis) is written by hand and left as it is.

    scripts/bench                           # everything (about 12 minutes on two cores)
    scripts/bench --quick                   # every benchmark at tiny sizes, nothing written
    scripts/bench --only matcher executor   # some of them; the page keeps the others' last results
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchlib import ROOT, Figure, Section, Table, load, load_text, machine, print_figures  # noqa: E402

BENCHMARKS = {
    "matcher": ("matcher.py", []),
    "driver": ("driver_throughput.py", []),
    "airflow": ("airflow_fanout.py", []),
    "executor": ("executor_loop.py", []),
    "start": ("launch_latency.py", None),  # prints text; kept as its lines
}
ORDER = ["matcher", "driver", "airflow", "executor", "start"]
BEGIN, END = "<!-- bench:results:begin -->", "<!-- bench:results:end -->"
DEFAULT_DOC = ROOT / "docs" / "benchmarks.md"
JSON_ARGUMENT = re.compile(r"\s--json\s+\S+")


def wait_for_calm(limit: float, max_wait: float) -> tuple[float, float, float]:
    deadline = time.monotonic() + max_wait
    current = load()
    if current[0] >= limit and max_wait > 0:
        print(f"  load {current[0]:.2f} >= {limit:g}: waiting up to {max_wait:.0f} s for the machine to calm down",
              flush=True)
    while current[0] >= limit and time.monotonic() < deadline:
        time.sleep(15)
        current = load()
    return current


def run_one(key: str, extra: list[str], quick: bool) -> Section:
    script, _ = BENCHMARKS[key]
    argv = [sys.executable, str(HERE / script)]
    if key == "start":
        return run_start_latency(argv, extra, quick)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        command = argv + (["--quick"] if quick else []) + extra + ["--json", str(out)]
        completed = subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        if completed.returncode != 0 or not out.stat().st_size:
            section = Section(key, f"{key} (failed)", " ".join(command[1:]))
            section.notes.append(f"exited with code {completed.returncode}; its output is above")
            return section
        return Section.read(out)
    finally:
        out.unlink(missing_ok=True)


def run_start_latency(argv: list[str], extra: list[str], quick: bool) -> Section:
    """benchmarks/launch_latency.py prints its figures as text: one run per task kind, its lines kept."""
    section = Section("start", "5. Task start latency on the embedded cluster, per kind of task",
                      "benchmarks/launch_latency.py --kind {docker,mesos,process} " + " ".join(extra))
    section.load_before = load()
    started = time.monotonic()
    rows = []
    for kind in ("docker", "mesos", "process"):
        command = argv + ["--kind", kind] + (["--tasks", "4"] if quick else []) + extra
        completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        sys.stdout.write(completed.stdout)
        sys.stderr.write(completed.stderr)
        lines = completed.stdout.strip().splitlines() or [f"exited with code {completed.returncode}"]
        rows += [[kind if i == 0 else "", line.strip()] for i, line in enumerate(lines)]
    section.tables.append(Table("launch_latency.py, one run per kind", ["kind", "output"], rows))
    section.seconds = time.monotonic() - started
    section.load_after = load()
    return section


# --- the page ---------------------------------------------------------------------------------------


def _md_table(table: Table) -> list[str]:
    def cell(value) -> str:
        return str(value).replace("|", "\\|")

    lines = [f"**{table.title}**", "", "| " + " | ".join(cell(h) for h in table.header) + " |",
             "|" + "|".join("---" for _ in table.header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"*{table.note}*"]
    return lines + [""]


def render(results: dict) -> str:
    sections, when = [], {}
    for key in ORDER:
        data = dict(results["sections"].get(key) or {})
        if not data:
            continue
        when[key] = (data.pop("date", "?"), data.pop("commit", "?"))
        data["tables"] = [Table(**t) for t in data.get("tables", [])]
        data["figures"] = [Figure(**f) for f in data.get("figures", [])]
        sections.append(Section(**data))
    m = results["machine"]
    out = [BEGIN, "", "*Generated by `scripts/bench` (benchmarks/run_all.py) from docs/benchmarks.json; do not edit "
                      "between these markers.*", "", "## Every figure beside its target", "",
           "| benchmark | figure | measured | target | verdict | note |", "|---|---|---|---|---|---|"]
    for s in sections:
        for f in s.figures:
            out.append(f"| {s.key} | {f.name} | {f.shown()} | {f.target} | {f.verdict()} | {f.note} |")
    out += ["", "## Machine and load", "",
            f"- CPU: {m.get('cpu')} ({m.get('cores')} cores), {m.get('memory_gib')} GiB memory, Linux {m.get('kernel')}",
            f"- Python {m.get('python')}, Apache Airflow {m.get('airflow')}",
            "- the machine is shared (other engineers' test runs): each section below says the 1/5/15-minute load "
            "averages before and after it; a benchmark waits for a load under the calm limit first, and runs "
            "anyway when it does not come", ""]
    out += ["## How to reproduce", "", "```bash", "scripts/bench                  # all of it, then this page",
            "scripts/bench --only matcher   # one part (matcher, driver, airflow, executor, start)",
            "scripts/bench --quick          # tiny sizes, a smoke run; writes nothing", "```", "",
            "Each part also runs on its own, e.g. `.venv/bin/python benchmarks/matcher.py --help`.", ""]
    for s in sections:
        command = JSON_ARGUMENT.sub("", s.command).strip()
        out += [f"## {s.title}", "",
                f"`{command}` on {when[s.key][0]}, commit {when[s.key][1]}; "
                f"load before {load_text(s.load_before)}, after {load_text(s.load_after)}; took {s.seconds:.0f} s", ""]
        for table in s.tables:
            out += _md_table(table)
        for note in s.notes:
            out += [f"- {note}"]
        if s.notes:
            out.append("")
    out.append(END)
    return "\n".join(out) + "\n"


def write_page(doc: Path, rendered: str) -> None:
    if doc.exists():
        text = doc.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            _, tail = rest.split(END, 1)
            doc.write_text(head + rendered.rstrip("\n") + tail)
            return
        doc.write_text(text.rstrip("\n") + "\n\n" + rendered)
        return
    doc.write_text("# Benchmarks\n\nHow fast and how far the MesosExecutor scales, beside what users would pick "
                   "instead (issue 10).\n\n" + rendered)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=ORDER, help="run only these")
    parser.add_argument("--skip", nargs="+", choices=ORDER, default=[], help="run all but these")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no waiting for calm, nothing written")
    parser.add_argument("--calm-load", type=float, default=1.5, help="1-minute load to wait for before each part")
    parser.add_argument("--max-wait", type=float, default=600.0, help="seconds to wait for it, at most")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC)
    parser.add_argument("--no-doc", action="store_true", help="print only; write no files")
    args = parser.parse_args(argv)
    keys = [k for k in (args.only or ORDER) if k not in args.skip]
    results_path = args.doc.with_suffix(".json")
    results = json.loads(results_path.read_text()) if results_path.exists() else {"sections": {}}
    ran: list[Section] = []
    info = machine()
    for key in keys:
        print(f"\n=== {key} ===", flush=True)
        if not args.quick:
            wait_for_calm(args.calm_load, args.max_wait)
        section = run_one(key, [], args.quick)
        ran.append(section)
        data = asdict(section)
        data.update({"date": info["date"], "commit": info["commit"]})
        results["sections"][key] = data
    print("\n=== every figure beside its target ===")
    for section in ran:
        print(f"\n{section.title} (load before {load_text(section.load_before)}, after {load_text(section.load_after)})")
        print_figures(section.figures)
        for note in section.notes:
            print(f"  note: {note}")
    if args.quick or args.no_doc:
        return 0 if all(s.figures or s.tables for s in ran) else 1
    results["machine"] = info
    results_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
    write_page(args.doc, render(results))
    print(f"\nwrote {args.doc.relative_to(ROOT)} and {results_path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
