"""``devenv read-configuration`` against the reference ``devcontainer read-configuration``.

Both read the same typical config (comments, trailing commas, features, variables, legacy VS Code
properties) in the same workspace, alternating, several repetitions. Goal: devenv under 250 ms.

Run alone::

    /opt/devenv/venv/bin/python benchmarks/read_configuration.py [--reps 15]

or through the harness (``SCENARIOS``). Python byte-code caching is enabled for the devenv runs (as for
an installed package), and one warm-up run of each tool is discarded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

TYPICAL_CONFIG = """// A typical devcontainer.json: image, features, variables, hooks, VS Code settings.
{
  "name": "Python 3 & Node (${localWorkspaceFolderBasename})",
  "image": "mcr.microsoft.com/devcontainers/python:1-3.12-bookworm",
  "features": {
    "ghcr.io/devcontainers/features/node:1": { "version": "lts" },
    "ghcr.io/devcontainers/features/github-cli:1": {},
    "ghcr.io/devcontainers/features/docker-outside-of-docker:1": { "moby": false },
  },
  "forwardPorts": [8000, 5432],
  "portsAttributes": { "8000": { "label": "app", "onAutoForward": "notify" } },
  "containerEnv": { "PROJECT": "${localWorkspaceFolderBasename}", "HOME_ON_HOST": "${localEnv:HOME}" },
  "remoteEnv": { "PATH": "${containerEnv:PATH}:/workspaces/bin" },
  "mounts": ["source=${localWorkspaceFolderBasename}-cache,target=/home/vscode/.cache,type=volume"],
  "postCreateCommand": "pip install --user -r requirements.txt",
  "postStartCommand": { "db": "pg_ctl start", "web": ["make", "serve"] },
  "remoteUser": "vscode",
  /* legacy VS Code properties, still common */
  "extensions": ["ms-python.python", "ms-python.vscode-pylance"],
  "settings": { "python.defaultInterpreterPath": "/usr/local/bin/python" },
  "customizations": { "vscode": { "extensions": ["dbaeumer.vscode-eslint"] } },
}
"""


def _workspace(root: Path) -> Path:
    workspace = root / "typical-project"
    (workspace / ".devcontainer").mkdir(parents=True)
    (workspace / ".devcontainer" / "devcontainer.json").write_text(TYPICAL_CONFIG)
    return workspace


def _devenv_argv() -> list[str]:
    """The installed ``devenv`` of this interpreter's environment (a PATH lookup may find a slow shim,
    e.g. pyenv's, first)."""
    beside = Path(sys.executable).parent / "devenv"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("devenv")
    return [found] if found else [sys.executable, "-m", "devenv"]


CPU: dict[str, list[float]] = {}


def _time(argv: Sequence[str], env: dict[str, str], tool: str = "") -> float:
    """Wall time of one run; its CPU time (user + system, less sensitive to a busy machine) goes to CPU."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv)} failed: {err.read().decode(errors='replace')[-1500:]}")
    if tool:
        CPU.setdefault(tool, []).append(usage.ru_utime + usage.ru_stime)
    return elapsed


def measure(reps: int) -> dict[str, list[float]]:
    """Seconds per run for each tool, alternating the order every round."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory(prefix="devenv-bench-readconf-") as tmp:
        workspace = _workspace(Path(tmp))
        tools = {"devenv": [*_devenv_argv(), "read-configuration", "--workspace-folder", str(workspace)]}
        reference = shutil.which("devcontainer")
        if reference:
            tools["devcontainer"] = [reference, "read-configuration", "--workspace-folder", str(workspace)]
        for argv in tools.values():  # warm-up: byte-code caches, page cache
            _time(argv, env)
        times: dict[str, list[float]] = {name: [] for name in tools}
        names = list(tools)
        for i in range(reps):
            for name in names if i % 2 == 0 else reversed(names):
                times[name].append(_time(tools[name], env, name))
    return times


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.0f} ms ({min(values) * 1000:.0f}–{max(values) * 1000:.0f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args(argv)
    times = measure(args.reps)
    devenv = statistics.median(times["devenv"])
    verdict = "met" if devenv < 0.25 else "MISSED"
    print(f"devenv read-configuration:       {_ms(times['devenv'])}  (goal < 250 ms: {verdict})")
    print(f"    CPU time (user+sys):         {_ms(CPU['devenv'])}")
    if "devcontainer" in times:
        reference = statistics.median(times["devcontainer"])
        print(f"devcontainer read-configuration: {_ms(times['devcontainer'])}  speed-up {reference / devenv:.1f}x")
        print(f"    CPU time (user+sys):         {_ms(CPU['devcontainer'])}")
    else:
        print("devcontainer read-configuration: not installed (npm install -g @devcontainers/cli)")
    return 0


def scenario(ctx: object) -> list[object]:
    """The harness's entry point (``benchmarks/__main__.py``)."""
    from benchmarks.harness import Comparison, Sample, Series

    times = measure(max(int(getattr(ctx, "reps", 5)), 5))
    devenv = Series("devenv", [Sample(t) for t in times["devenv"]])
    reference = Series("devcontainer", [Sample(t) for t in times["devcontainer"]]) if "devcontainer" in times else None
    return [Comparison("`read-configuration` on a typical config", devenv, reference, goal="< 250 ms")]


SCENARIOS = [scenario]

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())
