"""The benchmark harness: run commands of devenv and of the reference tools side by side, alternating,
several repetitions, and report medians, spread, ratios and peak memory.

Benchmarks are not tests: `.ci/run` does not run them (a smoke test checks the harness runs).
Scenario modules (``benchmarks/bench_*.py``) expose ``SCENARIOS``: functions ``(ctx) -> list[Comparison]``.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Sample:
    value: float  # seconds (unit "s") or MiB (unit "MiB")
    peak_rss_kib: int = 0  # of the timed process tree's largest process (wait4), 0: not measured
    cpu_seconds: float = 0.0  # user + system of the process and the children it waited for (wait4)


@dataclass
class Series:
    tool: str  # "devenv", "devcontainer up", "docker exec", ...
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.value for s in self.samples)

    @property
    def spread(self) -> tuple[float, float]:
        values = [s.value for s in self.samples]
        return min(values), max(values)

    @property
    def peak_rss_kib(self) -> int:
        return max((s.peak_rss_kib for s in self.samples), default=0)


@dataclass
class Comparison:
    """One row of the table: devenv against one or more references on the same work (lower is better)."""

    name: str
    devenv: Series
    references: list[Series] = field(default_factory=list)
    goal: str = ""  # e.g. ">= 10x faster"
    unit: str = "s"  # "s": time; "MiB": memory
    note: str = ""

    @property
    def reference(self) -> Series | None:
        return self.references[0] if self.references else None

    def ratio(self, reference: Series) -> float | None:
        """devenv median / reference median (below 1: devenv is faster or smaller)."""
        if not self.devenv.samples or not reference.samples or reference.median <= 0:
            return None
        return self.devenv.median / reference.median

    @property
    def speedup(self) -> float | None:
        """How many times faster devenv is than the first reference (reference median / devenv median)."""
        ratio = self.ratio(self.references[0]) if self.references else None
        return 1 / ratio if ratio else None


# GNU time forks the timed command from a process of ~1 MiB. Forked from this (large) Python process
# directly, the command's peak RSS as the kernel reports it would start at ours (exec records the
# high-water mark of the memory it replaces). It adds about 1 ms to the wall time of both tools.
GNU_TIME = "/usr/bin/time"


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def run_timed(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    stdin: int | None = subprocess.DEVNULL,
    timeout: float = 600,
) -> Sample:
    """Run a command; its wall time, CPU time, and the peak RSS of the largest process among it and the
    children it waited for (wait4, through GNU time). Detached processes (a container's supervisor)
    are not in it. A command still running after ``timeout`` seconds is killed (a failure)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile() as rss:
        wrapped = [GNU_TIME, "-q", "-f", "%M", "-o", rss.name, "--", *argv] if os.path.exists(GNU_TIME) else argv
        start = time.perf_counter()
        proc = subprocess.Popen(list(wrapped), env=env, cwd=cwd, stdin=stdin, stdout=out, stderr=err, process_group=0)
        watchdog = threading.Timer(timeout, _kill_group, (proc.pid,))
        watchdog.start()
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: the command (its process group) does not outlive the run
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            watchdog.cancel()
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if elapsed >= timeout:
            raise RuntimeError(f"{' '.join(argv)} did not finish within {timeout:.0f} s (killed)")
        if check and proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{tail}")
        reported = Path(rss.name).read_text().split() if wrapped is not argv else []
        peak = int(reported[-1]) if reported and reported[-1].isdigit() else 0
    return Sample(elapsed, peak, rusage.ru_utime + rusage.ru_stime)


def alternate(
    reps: int,
    runners: dict[str, Callable[[], Sample]],
    before_each: dict[str, Callable[[], None]] | None = None,
    warmup: int = 1,
) -> dict[str, Series]:
    """Run each tool once per round, reversing the order every round, ``reps`` rounds, after ``warmup``
    untimed rounds (page cache, Python's bytecode cache, first-use set-up of each tool)."""
    series = {name: Series(name) for name in runners}
    names = list(runners)
    for i in range(warmup + reps):
        order = names if i % 2 == 0 else list(reversed(names))
        for name in order:
            if before_each and name in before_each:
                before_each[name]()
            sample = runners[name]()
            if i >= warmup:
                series[name].samples.append(sample)
    return series


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


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
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def fmt_value(value: float, unit: str = "s") -> str:
    if unit == "MiB":
        return f"{value:.1f} MiB"
    if value < 0.001:
        return f"{value * 1e6:.0f} µs"
    if value < 0.01:
        return f"{value * 1000:.2f} ms"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


fmt_seconds = fmt_value


def _cell(series: Series, unit: str) -> str:
    if not series.samples:
        return "—"
    low, high = series.spread
    if len(series.samples) == 1:
        return fmt_value(series.median, unit)
    return f"{fmt_value(series.median, unit)} ({fmt_value(low, unit)}–{fmt_value(high, unit)})"


def _versus(ratio: float | None, better: str, worse: str) -> str:
    if ratio is None:
        return "—"
    if ratio <= 1:
        return f"**{1 / ratio:.1f}x {better}**"
    return f"{ratio:.1f}x {worse}"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB" if kib else "—"


def render_markdown(rows: list[Comparison], machine: dict[str, Any], reps: int) -> str:
    """The speed table, the memory table (peak RSS per command, idle footprints), the machine.
    Notes become numbered footnotes under their table."""
    timing = [
        "| benchmark | devenv median (min–max) | reference | reference median (min–max) | devenv / reference "
        "| devenv is | goal |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    memory = [
        "| command or state | devenv | reference | reference's | devenv / reference |",
        "| --- | --- | --- | --- | --- |",
    ]
    notes: dict[str, list[str]] = {"s": [], "MiB": []}
    for row in rows:
        title = row.name
        if row.note:
            text = row.note.removeprefix("(").removesuffix(")")
            notes[row.unit].append(f"[{len(notes[row.unit]) + 1}] {text}")
            title += f" [{len(notes[row.unit])}]"
        refs: list[Series | None] = list(row.references) or [None]
        for i, ref in enumerate(refs):
            ratio = row.ratio(ref) if ref is not None else None
            name = title if i == 0 else "〃"
            ref_name, ref_cell = (ref.tool, _cell(ref, row.unit)) if ref is not None else ("—", "—")
            ratio_cell = f"{ratio:.2f}" if ratio is not None else "—"
            dev = _cell(row.devenv, row.unit) if i == 0 else "〃"
            if row.unit == "MiB":
                memory.append(f"| {name} | {dev} | {ref_name} | {ref_cell} | {ratio_cell} |")
                continue
            speed = _versus(ratio, "faster", "slower")
            timing.append(f"| {name} | {dev} | {ref_name} | {ref_cell} | {ratio_cell} | {speed} | {row.goal} |")
    for row in rows:  # peak memory of every timed command, in the memory table
        if row.unit != "s" or not row.devenv.peak_rss_kib:
            continue
        for i, ref in enumerate(list(row.references) or [None]):
            ref_kib = ref.peak_rss_kib if ref is not None else 0
            mem_ratio = f"{row.devenv.peak_rss_kib / ref_kib:.2f}" if ref_kib else "—"
            name, dev_kib = (f"peak RSS: {row.name}", _mib(row.devenv.peak_rss_kib)) if i == 0 else ("〃", "〃")
            ref_name = ref.tool if ref is not None else "—"
            memory.append(f"| {name} | {dev_kib} | {ref_name} | {_mib(ref_kib)} | {mem_ratio} |")

    def block(lines: list[str], unit: str) -> str:
        return "\n".join(lines) + ("\n\n" + "\n".join(notes[unit]) if notes[unit] else "")

    machine_line = "; ".join(f"{k}: {v}" for k, v in machine.items())
    return (
        block(timing, "s")
        + "\n\nMemory — idle footprints: PSS summed over the processes that stay running (RSS and the processes "
        "in the notes); per command: the peak RSS of the command's largest process (wait4, through GNU time) — "
        "for `docker` the client's only, the work is done in dockerd.\n\n"
        + block(memory, "MiB")
        + f"\n\nMachine — {machine_line}. Repetitions per tool: {reps} (after one warm-up run each).\n"
    )
