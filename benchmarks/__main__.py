"""Run the benchmarks: ``python -m benchmarks [--reps N] [--only NAME ...] [--write-docs]``.

Each ``benchmarks/bench_*.py`` module exposes ``SCENARIOS``: functions taking a :class:`Context` and
returning :class:`~benchmarks.harness.Comparison` rows. The table is printed, saved as
``benchmarks/results/latest.json`` and, with ``--write-docs``, written into ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.context import Context
from benchmarks.harness import REPO, Comparison, machine_description, render_markdown

BEGIN = "<!-- benchmarks:begin -->"
END = "<!-- benchmarks:end -->"


def discover() -> list[str]:
    pkg = Path(__file__).parent
    return sorted(m.name for m in pkgutil.iter_modules([str(pkg)]) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--reps", type=int, default=5, help="repetitions per tool (default 5)")
    parser.add_argument("--only", nargs="*", default=None, help="module names (bench_x or x) to run")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md with the table")
    parser.add_argument("--no-peers", action="store_true", help="do not install/start Docker and devcontainers/cli")
    args = parser.parse_args(argv)

    wanted = None if args.only is None else {n if n.startswith("bench_") else f"bench_{n}" for n in args.only}
    rows: list[Comparison] = []
    with Context(reps=args.reps, peers=not args.no_peers) as ctx:
        for name in discover():
            if wanted is not None and name not in wanted:
                continue
            module = importlib.import_module(f"benchmarks.{name}")
            for scenario in module.SCENARIOS:
                started = time.monotonic()
                print(f"== {name}.{scenario.__name__}", file=sys.stderr, flush=True)
                try:
                    rows.extend(scenario(ctx))
                except Exception as exc:  # a broken scenario is reported, the others still run
                    print(f"   FAILED: {exc}", file=sys.stderr)
                    rows.append(Comparison(f"{name}.{scenario.__name__}", ctx.empty_series(), note=f"(failed: {exc})"))
                print(f"   {time.monotonic() - started:.1f} s", file=sys.stderr)
        machine = machine_description()
    table = render_markdown(rows, machine, args.reps)
    print(table)
    results = REPO / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.json").write_text(
        json.dumps({"machine": machine, "reps": args.reps, "rows": [asdict(r) for r in rows]}, indent=2)
    )
    if args.write_docs:
        doc = REPO / "docs" / "benchmarks.md"
        text = doc.read_text()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        doc.write_text(text[:start] + "\n" + table + text[end:])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
