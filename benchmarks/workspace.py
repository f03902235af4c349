"""Workspaces: ``devenv up`` / ``devenv exec`` against the reference CLI (devcontainers/cli on Docker).

The same devcontainer.json (the Debian test image from the local registry, containerEnv, remoteEnv,
a postCreateCommand and a postStartCommand) in two folders of the same name depth; devenv runs on its
embedded runtime and on Docker, the reference on Docker. Alternating, ``--reps`` rounds:

- ``up`` on a running workspace. Goal: at least 10x faster.
- ``up`` creating the container from an image that is already there (the container is removed before
  each round, untimed). Goal: at least 5x faster.
- ``exec true``. Goal: at least 4x faster than ``devcontainer exec``.

``python -m benchmarks.workspace [--reps N] [--runtimes embedded docker]`` (root), or through the
harness: ``python -m benchmarks --only workspace``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from benchmarks.context import Context
from benchmarks.harness import Comparison, Sample, alternate, machine_description, render_markdown, run_timed

RUNTIMES = ("embedded", "docker")


def _config(image: str) -> dict[str, object]:
    return {
        "image": image,
        "containerEnv": {"APP_ENV": "bench"},
        "remoteEnv": {"TOOLS": "${containerEnv:PATH}:/opt/tools"},
        "postCreateCommand": "echo created > /tmp/created",
        "postStartCommand": "echo started > /tmp/started",
    }


def devenv_bin(ctx: Context) -> str:
    """The command scripts/install.sh installs (PATH may put a wrapper such as a pyenv shim first)."""
    installed = Path("/usr/local/bin/devenv")
    return str(installed) if installed.exists() else ctx.devenv_bin()


class Workspaces:
    """One folder per tool, the same config in each; removes what it created at the end."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        image = ctx.image("debian")
        ctx.docker()
        subprocess.run(["docker", "pull", "-q", image], check=True, capture_output=True)
        self.devcontainer = ctx.devcontainer_cli()
        self.folders: dict[str, Path] = {}
        for tool in ("reference", *RUNTIMES):
            folder = ctx.scratch / "ws" / tool / "project"
            (folder / ".devcontainer").mkdir(parents=True, exist_ok=True)
            (folder / ".devcontainer" / "devcontainer.json").write_text(json.dumps(_config(image), indent=2))
            self.folders[tool] = folder

    def devenv(self, runtime: str, *args: str) -> list[str]:
        return [devenv_bin(self.ctx), *args, "--workspace-folder", str(self.folders[runtime])]

    def devenv_up(self, runtime: str) -> list[str]:
        return [*self.devenv(runtime, "up"), "--runtime", runtime]

    def reference(self, *args: str) -> list[str]:
        return [self.devcontainer, *args, "--workspace-folder", str(self.folders["reference"])]

    def env(self) -> dict[str, str]:
        env = self.ctx.devenv_env()
        # As on a user's machine: Python keeps compiled modules (a session may have turned that off).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        return env

    def remove_devenv(self, runtime: str) -> None:
        subprocess.run(self.devenv(runtime, "down"), capture_output=True, env=self.env())

    def remove_reference(self) -> None:
        folder = self.folders["reference"]
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=devcontainer.local_folder={folder}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)

    def ensure_up(self) -> None:
        """Everything up once (untimed: pulls, first builds, warm caches)."""
        run_timed(self.reference("up"))
        for runtime in RUNTIMES:
            run_timed(self.devenv_up(runtime), env=self.env())

    def close(self) -> None:
        self.remove_reference()
        for runtime in RUNTIMES:
            self.remove_devenv(runtime)


_WS: dict[int, Workspaces] = {}


def _workspaces(ctx: Context) -> Workspaces:
    ws = _WS.get(id(ctx))
    if ws is None:
        ws = _WS[id(ctx)] = Workspaces(ctx)
        ws.ensure_up()
    return ws


def _rows(
    ctx: Context,
    title: str,
    goal: str,
    ours: Callable[[str], Callable[[], Sample]],
    theirs: Callable[[], Sample],
    before: Callable[[str], Callable[[], None]] | None = None,
) -> list[Comparison]:
    runners: dict[str, Callable[[], Sample]] = {f"devenv ({rt})": ours(rt) for rt in RUNTIMES}
    runners["devcontainer"] = theirs
    before_each = None
    if before is not None:
        before_each = {f"devenv ({rt})": before(rt) for rt in RUNTIMES}
        before_each["devcontainer"] = before("reference")
    series = alternate(ctx.reps, runners, before_each)
    reference = series["devcontainer"]
    return [
        Comparison(f"{title}, devenv on {rt} vs devcontainers/cli on Docker", series[f"devenv ({rt})"], reference, goal)
        for rt in RUNTIMES
    ]


def up_running(ctx: Context) -> list[Comparison]:
    ws = _workspaces(ctx)
    return _rows(
        ctx,
        "`up` on a running workspace",
        ">= 10x faster",
        lambda rt: lambda: run_timed(ws.devenv_up(rt), env=ws.env()),
        lambda: run_timed(ws.reference("up")),
    )


def up_create(ctx: Context) -> list[Comparison]:
    ws = _workspaces(ctx)

    def before(tool: str) -> Callable[[], None]:
        return ws.remove_reference if tool == "reference" else (lambda: ws.remove_devenv(tool))

    rows = _rows(
        ctx,
        "`up` creating the container (image cached)",
        ">= 5x faster",
        lambda rt: lambda: run_timed(ws.devenv_up(rt), env=ws.env()),
        lambda: run_timed(ws.reference("up")),
        before,
    )
    ws.ensure_up()
    return rows


def exec_true(ctx: Context) -> list[Comparison]:
    ws = _workspaces(ctx)
    return _rows(
        ctx,
        "`exec true`",
        ">= 4x faster",
        lambda rt: lambda: run_timed([*ws.devenv(rt, "exec"), "true"], env=ws.env()),
        lambda: run_timed([*ws.reference("exec"), "true"]),
    )


def cleanup(ctx: Context) -> list[Comparison]:
    ws = _WS.pop(id(ctx), None)
    if ws is not None:
        ws.close()
    return []


SCENARIOS = [up_running, up_create, exec_true, cleanup]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workspace")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    rows: list[Comparison] = []
    with Context(reps=args.reps) as ctx:
        try:
            for scenario in SCENARIOS:
                rows += scenario(ctx)
        finally:
            cleanup(ctx)
        machine = machine_description()
    print(render_markdown(rows, machine, args.reps))
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "workspace.json").write_text(
        json.dumps(
            [
                {
                    "name": r.name,
                    "devenv": r.devenv.median,
                    "reference": r.reference.median if r.reference else None,
                    "speedup": r.speedup,
                }
                for r in rows
            ],
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
