"""CLI start-up: `devenv --version` (goal: under 150 ms on this machine). No reference peer."""

from __future__ import annotations

from benchmarks.context import Context
from benchmarks.harness import Comparison, alternate, run_timed


def version(ctx: Context) -> list[Comparison]:
    devenv = ctx.devenv_bin()
    series = alternate(max(ctx.reps, 10), {"devenv": lambda: run_timed([devenv, "--version"])})
    return [Comparison("`devenv --version` start-up", series["devenv"], goal="< 150 ms")]


def help_text(ctx: Context) -> list[Comparison]:
    devenv = ctx.devenv_bin()
    series = alternate(max(ctx.reps, 10), {"devenv": lambda: run_timed([devenv, "--help"])})
    return [Comparison("`devenv --help` (all command groups imported)", series["devenv"])]


SCENARIOS = [version, help_text]
