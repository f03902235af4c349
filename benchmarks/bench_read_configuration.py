"""``devenv read-configuration`` against the reference ``devcontainer read-configuration`` on the same
typical config (comments, trailing commas, features, variables, legacy VS Code properties), in the same
workspace. Goal: devenv under 250 ms.
"""

from __future__ import annotations

import sys

from benchmarks.context import Context
from benchmarks.harness import Comparison, alternate, run_timed

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


def read_configuration(ctx: Context) -> list[Comparison]:
    workspace = ctx.scratch / "typical-project"
    (workspace / ".devcontainer").mkdir(parents=True, exist_ok=True)
    (workspace / ".devcontainer" / "devcontainer.json").write_text(TYPICAL_CONFIG)
    args = ("read-configuration", "--workspace-folder", str(workspace))
    ours, env = ctx.devenv(*args), ctx.devenv_env()
    runners = {"devenv": lambda: run_timed(ours, env=env)}
    if ctx.peers:  # the reference asks Docker for the workspace's container: it needs an engine
        theirs, docker_env = [ctx.devcontainer_cli(), *args], ctx.docker_env()
        runners["devcontainer read-configuration"] = lambda: run_timed(theirs, env=docker_env)
    series = alternate(max(ctx.reps, 5), runners)
    references = [s for name, s in series.items() if name != "devenv"]
    return [Comparison("`read-configuration` on a typical config", series["devenv"], references, goal="< 250 ms")]


SCENARIOS = [read_configuration]

if __name__ == "__main__":
    from benchmarks.__main__ import run

    raise SystemExit(run(["--only", "read_configuration", *sys.argv[1:]]))
