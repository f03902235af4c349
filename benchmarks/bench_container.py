"""Containers: devenv's embedded runtime against Docker (the benchmark's engine), the same busybox image.

- ``devenv container run --rm IMAGE true`` against ``docker run --rm IMAGE true``: default network (a
  bridge for both) and ``--network none``. Goal: at least 5x faster. Measured twice: as runs follow each
  other (the starter an earlier run left takes the command: see docs/containers.md), and without the
  starter (``DEVENV_STARTER_LINGER=0``: a first run, or one after 10 s idle, does the work in the CLI).
- ``devenv container exec C true`` against ``docker exec C true``. Goal: no slower.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

from benchmarks.context import Context, tidy
from benchmarks.harness import Comparison, Series, alternate, run_timed


def _pair(ctx: Context, devenv: list[str], docker: list[str], **extra_env: str) -> dict[str, Series]:
    ours, env = ctx.devenv(*devenv), {**ctx.devenv_env(), **extra_env}
    theirs = ctx.engine().docker(*docker)
    return alternate(
        ctx.reps, {"devenv": lambda: run_timed(ours, env=env), f"docker {docker[0]}": lambda: run_timed(theirs)}
    )


def run_rm(ctx: Context) -> list[Comparison]:
    ref = ctx.pulled("busybox")
    rows = []
    for label, net in (("default network (bridge)", []), ("`--network none`", ["--network", "none"])):
        for how, extra_env in (("", {}), (", no starter (a first run)", {"DEVENV_STARTER_LINGER": "0"})):
            s = _pair(
                ctx, ["container", "run", "--rm", *net, ref, "true"], ["run", "--rm", *net, ref, "true"], **extra_env
            )
            title = f"`container run --rm busybox true`, {label}{how}"
            rows.append(Comparison(title, s["devenv"], [s["docker run"]], ">= 5x faster"))
    return rows


def exec_true(ctx: Context) -> list[Comparison]:
    ref = ctx.pulled("busybox")
    name = f"bench-exec-{uuid.uuid4().hex[:8]}"
    env, engine = ctx.devenv_env(), ctx.engine()

    def remove() -> None:
        tidy(ctx.devenv("container", "rm", "-f", name), env=env)
        tidy(engine.docker("rm", "-f", name))

    ctx.on_close(remove)  # also after Ctrl-C
    try:
        sleeper = [ref, "sleep", "3600"]
        subprocess.run(
            ctx.devenv("container", "run", "-d", "--name", name, *sleeper), check=True, capture_output=True, env=env
        )
        subprocess.run(engine.docker("run", "-d", "--name", name, *sleeper), check=True, capture_output=True)
        s = _pair(ctx, ["container", "exec", name, "true"], ["exec", name, "true"])
    finally:
        remove()
    return [Comparison("`container exec C true`", s["devenv"], [s["docker exec"]], "no slower (>= 1.0x)")]


SCENARIOS = [run_rm, exec_true]

if __name__ == "__main__":
    from benchmarks.__main__ import run

    raise SystemExit(run(["--only", "container", *sys.argv[1:]]))
