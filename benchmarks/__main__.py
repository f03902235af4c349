"""Run the benchmarks: ``python -m benchmarks [--reps N] [--only NAME ...] [--write-docs] [--no-peers]``.

Each ``benchmarks/bench_*.py`` module exposes ``SCENARIOS`` (run by default) and may expose ``OPTIONAL``
(run only when named: ``--only build.commit_run_layer``): functions taking a :class:`Context` and
returning :class:`~benchmarks.harness.Comparison` rows. The tables are printed; the raw samples are
saved as ``benchmarks/results/last-run.json``; ``--write-docs`` writes the tables into
``docs/benchmarks.md`` and the samples into ``benchmarks/results/latest.json`` (kept in git, together).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import FrameType

from benchmarks.context import Context, devenv_bin
from benchmarks.harness import REPO, Comparison, Series, load_average, machine_description, render_markdown

BEGIN = "<!-- benchmarks:begin -->"
END = "<!-- benchmarks:end -->"
# The table's order; modules not listed come after, alphabetically.
ORDER = ["startup", "read_configuration", "workspace", "build", "container", "pull", "ports", "memory"]

Scenario = Callable[[Context], list[Comparison]]


def discover() -> list[str]:
    """Scenario modules without their ``bench_`` prefix, in the table's order."""
    found = [m.name[6:] for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")]
    return sorted(found, key=lambda name: (ORDER.index(name) if name in ORDER else len(ORDER), name))


def selected(only: list[str] | None) -> list[tuple[str, Scenario]]:
    """(module.scenario, function) to run: everything in SCENARIOS, or what ``--only`` names (a module:
    its SCENARIOS; module.function: that function, also from OPTIONAL)."""
    wanted = None if only is None else [n.removeprefix("bench_") for n in only]
    out = []
    for module_name in discover():
        if wanted is not None and not any(n.split(".")[0] == module_name for n in wanted):
            continue
        module = importlib.import_module(f"benchmarks.bench_{module_name}")
        default = list(module.SCENARIOS)
        every = default + list(getattr(module, "OPTIONAL", []))
        for scenario in every:
            key = f"{module_name}.{scenario.__name__}"
            if (wanted is None and scenario in default) or (
                wanted is not None and (key in wanted or (module_name in wanted and scenario in default))
            ):
                out.append((key, scenario))
    if wanted is not None:
        known = {k for k, _ in out} | {k.split(".")[0] for k, _ in out}
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)} (modules: {', '.join(discover())})")
    return out


_stopping = False


def _terminate(signum: int, frame: FrameType | None) -> None:
    global _stopping
    if _stopping:  # a second Ctrl-C must not cut the clean-up short
        print("   stopping: removing what the benchmarks started, please wait", file=sys.stderr)
        return
    _stopping = True
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through the clean-ups


def _version(argv: list[str], env: dict[str, str] | None = None) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return out.splitlines()[0] if out else "?"


def _source_state() -> str:
    """The commit devenv was measured at, and whether its code had uncommitted changes."""
    head = _version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    changed = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "devenv"], capture_output=True, text=True
    ).stdout.strip()
    return f"commit {head}" + (", with uncommitted changes in devenv/" if changed else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per tool (default 5)")
    parser.add_argument("--only", nargs="*", default=None, help="modules (workspace) or scenarios (build.cold)")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md and results/latest.json")
    parser.add_argument("--no-peers", action="store_true", help="no Docker engine, no devcontainers/cli")
    parser.add_argument("--results", type=Path, default=None, help="where to write the raw samples (JSON)")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    scenarios = selected(args.only)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGINT: also when started in background
        signal.signal(signum, _terminate)
    machine = machine_description()
    load_start = load_average()
    rows: list[Comparison] = []
    with Context(reps=args.reps, peers=not args.no_peers) as ctx:
        print(f"scratch: {ctx.scratch} (removed at the end)", file=sys.stderr, flush=True)
        for key, scenario in scenarios:
            started = time.monotonic()
            print(f"== {key}", file=sys.stderr, flush=True)
            try:
                rows.extend(scenario(ctx))
            except Exception as exc:  # a broken scenario is reported, the others still run
                print(f"   FAILED: {exc}", file=sys.stderr)
                rows.append(Comparison(key, Series("devenv"), note=f"(failed: {str(exc).splitlines()[0]})"))
            print(f"   {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        machine["load average (1/5/15 min) at start"] = load_start
        machine["at end"] = load_average()
        machine["devenv"] = f"{_version([devenv_bin(), '--version'])} ({_source_state()})"
        if ctx.peers and ctx.engine_started:
            machine["Docker engine"] = ctx.engine().version()
        if ctx.peers:
            machine["devcontainers/cli"] = _version(["devcontainer", "--version"])
    table = render_markdown(rows, machine, args.reps)
    print(table)
    results = args.results or REPO / "benchmarks" / "results" / ("latest.json" if args.write_docs else "last-run.json")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(
        json.dumps({"machine": machine, "reps": args.reps, "rows": [asdict(r) for r in rows]}, indent=2) + "\n"
    )
    if args.write_docs:
        doc = REPO / "docs" / "benchmarks.md"
        text = doc.read_text()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        doc.write_text(text[:start] + "\n" + table + text[end:])
    failed = [r.name for r in rows if r.note.startswith("(failed")]
    return 1 if failed else 0


def run(argv: list[str] | None = None) -> int:
    """``main`` for a terminal: an interruption stops cleanly (everything started is removed)."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        return main(argv)
    except KeyboardInterrupt:
        print("interrupted: everything the benchmarks started has been stopped and removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(run())
