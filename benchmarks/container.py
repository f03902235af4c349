"""Containers: devenv's embedded runtime against Docker, same image, same run, alternating.

- ``devenv container run --rm IMAGE true`` against ``docker run --rm IMAGE true`` (default network: a
  bridge for both), and both with ``--network none``. Goal: at least 5x faster.
- ``devenv container exec C true`` against ``docker exec C true``. Goal: no slower.
- The memory of an idle container's supervisor (RSS and PSS) beside Docker's containerd-shim of an
  idle container. Goal: under 15 MB.

``python -m benchmarks.container [--reps N]`` (root; starts the local registry and dockerd if needed),
or through the harness: ``python -m benchmarks --only container``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

from benchmarks.context import Context
from benchmarks.harness import Comparison, Series, alternate, machine_description, render_markdown, run_timed

GOAL_START = ">= 5x faster"
GOAL_EXEC = "no slower (>= 1.0x)"


def _image(ctx: Context) -> str:
    """The busybox test image, in the local registry, pulled by both devenv and Docker."""
    ref = ctx.image("busybox")
    ctx.docker()
    subprocess.run(["docker", "pull", "-q", ref], check=True, capture_output=True)
    subprocess.run([ctx.devenv_bin(), "image", "pull", ref], check=True, capture_output=True, env=ctx.devenv_env())
    return ref


def _pair(ctx: Context, devenv: list[str], docker: list[str]) -> dict[str, Series]:
    env = ctx.devenv_env()
    bin_ = ctx.devenv_bin()
    run_timed([bin_, *devenv], env=env)  # warm-up: page cache, first-use setup (bridge, cgroup parents)
    run_timed(["docker", *docker])
    return alternate(
        ctx.reps,
        {
            "devenv": lambda: run_timed([bin_, *devenv], env=env),
            "docker": lambda: run_timed(["docker", *docker]),
        },
    )


def run_rm(ctx: Context) -> list[Comparison]:
    ref = _image(ctx)
    rows = []
    for label, net in (("default network (bridge)", []), ("--network none", ["--network", "none"])):
        s = _pair(ctx, ["container", "run", "--rm", *net, ref, "true"], ["run", "--rm", *net, ref, "true"])
        rows.append(Comparison(f"`container run --rm busybox true`, {label}", s["devenv"], s["docker"], GOAL_START))
    return rows


def exec_true(ctx: Context) -> list[Comparison]:
    ref = _image(ctx)
    env = ctx.devenv_env()
    bin_ = ctx.devenv_bin()
    subprocess.run([bin_, "container", "rm", "-f", "bench-exec"], capture_output=True, env=env)
    subprocess.run(["docker", "rm", "-f", "devenv-bench-exec"], capture_output=True)
    subprocess.run(
        [bin_, "container", "run", "-d", "--name", "bench-exec", ref, "sleep", "3600"],
        check=True,
        capture_output=True,
        env=env,
    )
    subprocess.run(
        ["docker", "run", "-d", "--name", "devenv-bench-exec", ref, "sleep", "3600"], check=True, capture_output=True
    )
    try:
        s = _pair(ctx, ["container", "exec", "bench-exec", "true"], ["exec", "devenv-bench-exec", "true"])
    finally:
        subprocess.run([bin_, "container", "rm", "-f", "bench-exec"], capture_output=True, env=env)
        subprocess.run(["docker", "rm", "-f", "devenv-bench-exec"], capture_output=True)
    return [Comparison("`container exec C true`", s["devenv"], s["docker"], GOAL_EXEC)]


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB."""
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    pss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        if line.startswith("Pss:")
    )
    return rss, pss


def supervisor_memory(ctx: Context) -> list[Comparison]:
    ref = _image(ctx)
    env = ctx.devenv_env()
    bin_ = ctx.devenv_bin()
    cid = did = ""
    try:
        cid = subprocess.run(
            [bin_, "container", "run", "-d", ref, "sleep", "3600"], check=True, capture_output=True, text=True, env=env
        ).stdout.strip()
        did = subprocess.run(
            ["docker", "run", "-d", ref, "sleep", "3600"], check=True, capture_output=True, text=True
        ).stdout.strip()
        time.sleep(3)  # idle: the supervisor has handed off to its lean monitor
        state = json.loads((ctx.devenv_root / "containers" / cid / "state.json").read_text())
        rss, pss = _memory_kib(int(state["supervisor"]["pid"]))
        pid = int(
            subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Pid}}", did], check=True, capture_output=True, text=True
            ).stdout
        )
        shim = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        shim_rss, shim_pss = _memory_kib(shim)
    finally:
        if cid:
            subprocess.run([bin_, "container", "rm", "-f", cid], capture_output=True, env=env)
        if did:
            subprocess.run(["docker", "rm", "-f", did], capture_output=True)
    note = (
        f"(devenv supervisor: RSS {rss / 1024:.1f} MB, PSS {pss / 1024:.1f} MB; "
        f"Docker's containerd-shim: RSS {shim_rss / 1024:.1f} MB, PSS {shim_pss / 1024:.1f} MB)"
    )
    return [Comparison("idle container's supervisor memory", Series("devenv"), None, "< 15 MB", note=note)]


SCENARIOS = [run_rm, exec_true, supervisor_memory]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.container")
    parser.add_argument("--reps", type=int, default=10)
    args = parser.parse_args(argv)
    rows: list[Comparison] = []
    with Context(reps=args.reps) as ctx:
        for scenario in SCENARIOS:
            rows += scenario(ctx)
        machine = machine_description()
    print(render_markdown(rows, machine, args.reps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
