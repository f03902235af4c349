"""CLI start-up: `devenv --version` (goal: under 150 ms on this machine). No reference peer."""

from __future__ import annotations

import sys

from benchmarks.context import Context
from benchmarks.harness import Comparison, alternate, run_timed


def version(ctx: Context) -> list[Comparison]:
    argv, env = ctx.devenv("--version"), ctx.devenv_env()
    series = alternate(max(ctx.reps, 10), {"devenv": lambda: run_timed(argv, env=env)})
    return [Comparison("`devenv --version` start-up", series["devenv"], goal="< 150 ms")]


SCENARIOS = [version]

if __name__ == "__main__":
    from benchmarks.__main__ import run

    raise SystemExit(run(["--only", "startup", *sys.argv[1:]]))
