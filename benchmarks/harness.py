"""The benchmark harness: run commands of devenv and of the reference side by side, alternating,
several repetitions, and report medians, spread and ratios.

Benchmarks are not tests: `.ci/run` does not run them (a smoke test checks the harness runs).
Scenario modules (``benchmarks/bench_*.py``) expose ``SCENARIOS``: functions ``(ctx) -> list[Comparison]``.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Sample:
    seconds: float
    peak_rss_kib: int = 0


@dataclass
class Series:
    tool: str  # "devenv", "devcontainer", "docker", ...
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def spread(self) -> tuple[float, float]:
        values = [s.seconds for s in self.samples]
        return min(values), max(values)

    @property
    def peak_rss_kib(self) -> int:
        return max((s.peak_rss_kib for s in self.samples), default=0)


@dataclass
class Comparison:
    """One row of the table: devenv against a reference on the same work."""

    name: str
    devenv: Series
    reference: Series | None = None
    goal: str = ""  # e.g. ">= 10x faster"
    unit: str = "s"
    note: str = ""

    @property
    def speedup(self) -> float | None:
        """How many times faster devenv is (reference median / devenv median)."""
        if self.reference is None or not self.devenv.samples or not self.reference.samples:
            return None
        return self.reference.median / self.devenv.median if self.devenv.median > 0 else None


def run_timed(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    stdin: int | None = subprocess.DEVNULL,
) -> Sample:
    """Run a command; its wall time and the peak RSS of the process itself (from wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=env, cwd=cwd, stdin=stdin, stdout=out, stderr=err)
        _, status, rusage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if check and proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{tail}")
    return Sample(elapsed, rusage.ru_maxrss)


def alternate(
    reps: int, runners: dict[str, Callable[[], Sample]], before_each: dict[str, Callable[[], None]] | None = None
) -> dict[str, Series]:
    """Run each tool once per round, alternating the order every round, ``reps`` rounds."""
    series = {name: Series(name) for name in runners}
    names = list(runners)
    for i in range(reps):
        order = names if i % 2 == 0 else list(reversed(names))
        for name in order:
            if before_each and name in before_each:
                before_each[name]()
            series[name].samples.append(runners[name]())
    return series


def machine_description() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30

    def version(argv: list[str]) -> str:
        if shutil.which(argv[0]) is None:
            return "not installed"
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
            return out.splitlines()[0] if out else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "?"

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "devenv": version(["devenv", "--version"]),
        "docker": version(["docker", "version", "--format", "{{.Server.Version}}"]),
        "devcontainer": version(["devcontainer", "--version"]),
    }


def fmt_seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


def render_markdown(rows: list[Comparison], machine: dict[str, Any], reps: int) -> str:
    lines = [
        "| benchmark | devenv median (min–max) | reference | reference median (min–max) | speed-up | goal |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        d = row.devenv
        dev = f"{fmt_seconds(d.median)} ({fmt_seconds(d.spread[0])}–{fmt_seconds(d.spread[1])})" if d.samples else "—"
        if row.reference is not None and row.reference.samples:
            r = row.reference
            ref = f"{fmt_seconds(r.median)} ({fmt_seconds(r.spread[0])}–{fmt_seconds(r.spread[1])})"
            ref_name = r.tool
        else:
            ref, ref_name = "—", "—"
        speed = f"{row.speedup:.1f}x" if row.speedup is not None else "—"
        note = f" {row.note}" if row.note else ""
        lines.append(f"| {row.name}{note} | {dev} | {ref_name} | {ref} | {speed} | {row.goal} |")
    machine_line = ", ".join(f"{k}: {v}" for k, v in machine.items())
    return "\n".join(lines) + f"\n\nMachine: {machine_line}. Repetitions: {reps}.\n"
