"""Pull: the Debian test image from the local registry — ``devenv image pull`` into an empty store
against ``docker pull`` into an empty Docker engine (an engine of its own, emptied before each run, so
that no layer can be reused). Goal: devenv at least as fast as Docker. The note gives the CPU time of
both sides (devenv and its children; the engine's whole process tree).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time

from benchmarks import processes
from benchmarks.context import Context
from benchmarks.harness import Comparison, Sample, alternate, run_timed


def debian(ctx: Context) -> list[Comparison]:
    ref = ctx.image("debian")
    engine = ctx.fresh_engine("pull-engine")
    root = ctx.scratch / "pull-root"
    devenv, env = ctx.devenv("image", "pull", ref), ctx.devenv_env(root)
    engine_cpu: list[float] = []

    def settle() -> None:
        """Let the deletion of the previous run reach the disk, so that it does not slow the next one."""
        os.sync()
        time.sleep(1.0)

    def empty_store() -> None:
        ctx.remove_devenv_containers(root)
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        settle()

    def empty_engine() -> None:
        engine.empty()
        settle()

    def docker_pull() -> Sample:
        before = processes.cpu_seconds(processes.tree(engine.daemon_pids()))
        sample = run_timed(engine.docker("pull", "-q", ref))
        engine_cpu.append(processes.cpu_seconds(processes.tree(engine.daemon_pids())) - before)
        sample.cpu_seconds += engine_cpu[-1]
        return sample

    series = alternate(
        ctx.reps,
        {"devenv": lambda: run_timed(devenv, env=env), "docker pull": docker_pull},
        before_each={"devenv": empty_store, "docker pull": empty_engine},
    )
    engine.stop()
    shutil.rmtree(root, ignore_errors=True)
    cpu_devenv = statistics.median(s.cpu_seconds for s in series["devenv"].samples)
    cpu_docker = statistics.median(s.cpu_seconds for s in series["docker pull"].samples)
    return [
        Comparison(
            "`image pull` Debian bookworm minbase (one 60 MB layer) from the local registry into an empty store",
            series["devenv"],
            [series["docker pull"]],
            goal=">= 1x (at least as fast as docker pull)",
            note=f"(CPU time, median: devenv {cpu_devenv:.2f} s, docker CLI + engine {cpu_docker:.2f} s)",
        )
    ]


SCENARIOS = [debian]

if __name__ == "__main__":
    from benchmarks.__main__ import run

    raise SystemExit(run(["--only", "pull", *sys.argv[1:]]))
