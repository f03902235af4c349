"""Workspaces: ``devenv up`` / ``devenv exec`` against the reference CLI (devcontainers/cli on Docker).

The same devcontainer.json (the Debian test image, containerEnv, remoteEnv, an appPort, a
postCreateCommand and a postStartCommand) in three folders of the same depth: devenv on its embedded
runtime, devenv on the benchmark's Docker engine (``--runtime docker``), the reference on that engine.

- ``up`` on a running workspace (goal: at least 10x faster);
- ``up`` after stop (``devenv stop``; ``docker stop`` for the reference, which has no stop command);
- ``up`` creating the container from an image already there (the container is removed first, untimed);
- ``exec true``: devenv exec against ``devcontainer exec`` and ``docker exec`` (goal: at least 4x faster
  than devcontainer exec).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

from benchmarks.context import Context, tidy
from benchmarks.harness import Comparison, Sample, alternate, run_timed

RUNTIMES = ("embedded", "docker")
REFERENCE = "devcontainer up"


def config(image: str) -> dict[str, object]:
    return {
        "image": image,
        "appPort": ["127.0.0.1::8000"],  # published on a free host port (both tools: Docker's -p syntax)
        "containerEnv": {"APP_ENV": "bench"},
        "remoteEnv": {"TOOLS": "${containerEnv:PATH}:/opt/tools"},
        "postCreateCommand": "echo created > /tmp/created",
        "postStartCommand": "echo started > /tmp/started",
    }


def label(runtime: str) -> str:
    return "devenv" if runtime == "embedded" else "devenv --runtime docker"


class Workspaces:
    """One folder per tool, the same config in each; everything up once (untimed: image pulls, first
    set-up). Removes what it created when the context closes."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        image = ctx.pulled("debian")
        self.engine = ctx.engine()
        self.devcontainer = ctx.devcontainer_cli()
        self.folders: dict[str, Path] = {}
        for tool in ("reference", *RUNTIMES):
            folder = ctx.scratch / "ws" / tool / "project"
            (folder / ".devcontainer").mkdir(parents=True, exist_ok=True)
            (folder / ".devcontainer" / "devcontainer.json").write_text(json.dumps(config(image), indent=2))
            self.folders[tool] = folder
        ctx.on_close(self.close)
        self.up_all()

    # -- commands --------------------------------------------------------------------------------
    def devenv(self, runtime: str, *args: str) -> list[str]:
        return self.ctx.devenv(*args, "--workspace-folder", str(self.folders[runtime]))

    def devenv_up(self, runtime: str) -> list[str]:
        return [*self.devenv(runtime, "up"), "--runtime", runtime]

    def reference(self, *args: str) -> list[str]:
        return [self.devcontainer, *args, "--workspace-folder", str(self.folders["reference"])]

    def run_devenv(self, argv: list[str]) -> Sample:
        return run_timed(argv, env=self.ctx.devenv_env())

    def run_reference(self, argv: list[str]) -> Sample:
        return run_timed(argv, env=self.ctx.docker_env())

    # -- state -----------------------------------------------------------------------------------
    def up_all(self) -> None:
        self.run_reference(self.reference("up"))
        for runtime in RUNTIMES:
            self.run_devenv(self.devenv_up(runtime))

    def container_id(self, tool: str) -> str:
        """The workspace's container id, from the result JSON of a (quick) ``up``."""
        argv = self.reference("up") if tool == "reference" else self.devenv_up(tool)
        env = self.ctx.docker_env() if tool == "reference" else self.ctx.devenv_env()
        out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout
        return str(json.loads(out.strip().splitlines()[-1])["containerId"])

    def reference_ids(self) -> list[str]:
        folder = self.folders["reference"]
        return self.engine.output("ps", "-aq", "--filter", f"label=devcontainer.local_folder={folder}").split()

    def stop(self, tool: str) -> None:
        if tool == "reference":
            tidy(self.engine.docker("stop", *self.reference_ids()))
        else:
            tidy(self.devenv(tool, "stop"), env=self.ctx.devenv_env())

    def remove(self, tool: str) -> None:
        if tool == "reference":
            ids = self.reference_ids()
            if ids:
                tidy(self.engine.docker("rm", "-f", *ids))
        else:
            tidy(self.devenv(tool, "down"), env=self.ctx.devenv_env())

    def close(self) -> None:
        for tool in ("reference", *RUNTIMES):
            self.remove(tool)


def workspaces(ctx: Context) -> Workspaces:
    return ctx.shared("workspaces", lambda: Workspaces(ctx))


def _up_rows(ctx: Context, title: str, goal: str, before: Callable[[str], None] | None = None) -> list[Comparison]:
    ws = workspaces(ctx)
    runners = {label(rt): partial(ws.run_devenv, ws.devenv_up(rt)) for rt in RUNTIMES}
    runners[REFERENCE] = partial(ws.run_reference, ws.reference("up"))
    before_each = None
    if before is not None:
        before_each = {label(rt): partial(before, rt) for rt in RUNTIMES}
        before_each[REFERENCE] = partial(before, "reference")
    series = alternate(ctx.reps, runners, before_each)
    # The goals are the product's: devenv on its own runtime. On Docker, devenv waits for the same engine
    # as the reference (docker create/start/exec), so that row shows what is left of the gain there.
    ref = [series[REFERENCE]]
    rows = [Comparison(title, series[label(rt)], ref, goal if rt == "embedded" else "") for rt in RUNTIMES]
    rows[1].name = f"{title}, devenv on Docker"
    return rows


def up_running(ctx: Context) -> list[Comparison]:
    return _up_rows(ctx, "`up` on a running workspace", ">= 10x faster")


def up_after_stop(ctx: Context) -> list[Comparison]:
    return _up_rows(ctx, "`up` after stop", "", workspaces(ctx).stop)


def up_create(ctx: Context) -> list[Comparison]:
    return _up_rows(ctx, "`up` creating the container (image cached)", ">= 5x faster", workspaces(ctx).remove)


def exec_true(ctx: Context) -> list[Comparison]:
    ws = workspaces(ctx)
    ref_id = ws.container_id("reference")
    runners = {label(rt): partial(ws.run_devenv, [*ws.devenv(rt, "exec"), "true"]) for rt in RUNTIMES}
    runners["devcontainer exec"] = partial(ws.run_reference, [*ws.reference("exec"), "true"])
    runners["docker exec"] = partial(ws.run_reference, ws.engine.docker("exec", ref_id, "true"))
    series = alternate(ctx.reps, runners)
    refs = [series["devcontainer exec"], series["docker exec"]]
    return [
        Comparison("`exec true`", series[label("embedded")], refs, ">= 4x faster than devcontainer exec"),
        Comparison("`exec true`, devenv on Docker", series[label("docker")], refs),
    ]


SCENARIOS = [up_running, up_after_stop, up_create, exec_true]

if __name__ == "__main__":
    from benchmarks.__main__ import run

    raise SystemExit(run(["--only", "workspace", *sys.argv[1:]]))
