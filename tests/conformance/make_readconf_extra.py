# ruff: noqa: E501  (case data: long one-line configs are easier to read whole)
"""Generate the extra read-configuration cases and record what the reference tool prints for each.

Usage (needs the reference CLI: ``npm install -g @devcontainers/cli``; as root for the ``chown`` cases)::

    /opt/devenv/venv/bin/python tests/conformance/make_readconf_extra.py [CASE ...]

Each case is written to ``tests/conformance/readconf_extra/<case>/``:

* ``case.json`` — how to lay the workspace out (``chown``: give the case to that user; needs root):
  ``config_at`` (where the config file goes, relative to
  the workspace), ``args`` (extra read-configuration flags; ``@WS@`` is the workspace folder),
  ``env`` (added to ``PATH``/``HOME=/root``/``USER=root``), ``git_init`` (folders, relative to the
  case root, to ``git init``), ``workspace`` (the workspace folder relative to the case root,
  default ``.``), ``files`` (more files to create), ``setup`` (a shell script run in the case root
  before anything else, e.g. to make a git worktree), ``no_workspace_folder`` (leave out
  ``--workspace-folder``: the tools then run in the workspace folder).
* ``devcontainer.json`` — the config bytes.
* ``expected.out`` — the reference's stdout, byte for byte, minus its ``ociAuthDiagnostics`` key.

The reference ran with the case root at ``/tmp/devenv-readconf-extra/<case>``; the test lays it out
elsewhere and replaces that prefix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "readconf_extra"
ROOT = Path("/tmp/devenv-readconf-extra")
DIAGNOSTICS = re.compile(r',"ociAuthDiagnostics":\{[^{}]*\}\}$')

CRLF_BOM = '\ufeff{\r\n  // comment\r\n  "image": "debian",\r\n  "remoteUser": "vscode",\r\n}\r\n'

WORKTREE = (
    "git init -q main && git -C main -c user.email=t@example.com -c user.name=t commit -q --allow-empty -m init"
    " && mkdir -p $(dirname {path}) && git -C main worktree add -q $PWD/{path}"
    ' && printf "gitdir: {gitdir}\\n" > {path}/.git'
)

CASES: dict[str, dict[str, Any]] = {
    # --- odd JSONC ---------------------------------------------------------------------------------
    "jsonc-comments-everywhere": {
        "config": '/* head */ { // a\n "image" /* b */ : /* c */ "x", /* d */\n "name": "http://x // not a comment /* nor this */",'
        '\n // "remoteUser": "nope",\n "runArgs": [ /* e */ "--a" , // f\n "--b" /* g */ ] /* h */ , } // tail',
    },
    "jsonc-trailing-commas": {"config": '{"image": "x", "runArgs": ["a", "b",], "containerEnv": {"A": "1",},}'},
    "jsonc-duplicate-keys": {
        "config": '{"image": "first", "name": "n", "containerEnv": {"A": "1", "B": "2", "A": "3"},'
        ' "image": "second", "features": {"ghcr.io/x/y/z:1": {"a": "1"}, "ghcr.io/x/y/z:1": {"b": "2"}}}'
    },
    "jsonc-bom-crlf": {"config": CRLF_BOM},
    "jsonc-unicode-whitespace": {
        "config": '{\u00a0"image":\u2003"x",\u2028"name":\u3000"caf\u00e9 \\u00e9 \\ud83d\\ude00 😀"\ufeff}'
    },
    "jsonc-numbers": {
        "config": '{"image": "x", "forwardPorts": [3000, 1.0, 8e3], "hostRequirements": {"cpus": 2.0},'
        ' "customizations": {"n": [0.5, -0, 1e-7, 1e21, 123456789012, 1.5e300, -2.25]}}'
    },
    "jsonc-escapes": {
        "config": '{"image": "x", "name": "q\\"uote\\\\back\\/slash\\ttab\\nnl\\u0001", "remoteEnv": {"K": "\\u2028"}}'
    },
    "jsonc-integer-like-keys": {
        "config": '{"image": "x", "portsAttributes": {"web": {"label": "w"}, "8080": {"label": "a"}, '
        '"3000": {"label": "b"}, "0300": {"label": "c"}, "40000-55000": {"label": "r"}}}'
    },
    "jsonc-empty-object": {"config": "// nothing here\n{}\n"},
    # --- variables ---------------------------------------------------------------------------------
    "vars-local-env": {
        "config": '{"image": "x", "containerEnv": {"A": "${localEnv:SET_VAR}", "B": "${localEnv:UNSET_VAR}",'
        ' "C": "${localEnv:UNSET_VAR:fallback}", "D": "${localEnv:UNSET_VAR:a:b:c}", "E": "${env:SET_VAR}",'
        ' "F": "${localEnv:SET_VAR:ignored}", "G": "${localEnv:}", "H": "${localEnv:EMPTY_VAR:default}",'
        ' "I": "pre-${localEnv:SET_VAR}-${localEnv:OTHER}-post", "J": "${localEnv:WITH_COLON}"}}',
        "env": {"SET_VAR": "value", "OTHER": "o", "EMPTY_VAR": "", "WITH_COLON": "a:b"},
    },
    "vars-folders": {
        "config": '{"image": "x", "name": "${localWorkspaceFolderBasename}", "containerEnv": {'
        '"L": "${localWorkspaceFolder}", "C": "${containerWorkspaceFolder}", "CB": "${containerWorkspaceFolderBasename}"},'
        ' "mounts": ["source=${localWorkspaceFolder}/data,target=/data,type=bind"],'
        ' "postCreateCommand": ["echo", "${containerWorkspaceFolder}"]}'
    },
    "vars-custom-workspace-folder": {
        "config": '{"image": "x", "workspaceFolder": "/src/${localWorkspaceFolderBasename}",'
        ' "workspaceMount": "source=${localWorkspaceFolder},target=/src/${localWorkspaceFolderBasename},type=bind",'
        ' "remoteEnv": {"W": "${containerWorkspaceFolder}", "B": "${containerWorkspaceFolderBasename}"}}'
    },
    "vars-unknown-left-verbatim": {
        "config": '{"image": "x", "containerEnv": {"A": "${workspaceFolder}", "B": "${HOME}", "C": "${CODESPACES:-false}",'
        ' "D": "${templateOption:x}", "E": "${devcontainerId}", "F": "${containerEnv:PATH}", "G": "${}", "H": "${:x}",'
        ' "I": "$${localEnv:SET_VAR}", "J": "${localEnv:${SET_VAR}}", "K": "${ localEnv:SET_VAR}", "L": "$ {x}",'
        ' "M": "${localEnv:SET_VAR", "N": "${LOCALENV:SET_VAR}"}}',
        "env": {"SET_VAR": "value"},
    },
    "vars-keys-not-substituted": {
        "config": '{"image": "x", "containerEnv": {"${localEnv:SET_VAR}": "${localEnv:SET_VAR}"},'
        ' "customizations": {"deep": [{"a": ["${localWorkspaceFolderBasename}", 1, true, null]}]}}',
        "env": {"SET_VAR": "value"},
    },
    # --- workspace folder and mount --------------------------------------------------------------
    "workspace-empty-folder": {"config": '{"image": "x", "workspaceFolder": ""}'},
    "workspace-mount-null": {"config": '{"image": "x", "workspaceMount": null, "workspaceFolder": "/w"}'},
    "workspace-mount-empty": {"config": '{"image": "x", "workspaceMount": ""}'},
    "workspace-compose-folder": {
        "config": '{"dockerComposeFile": "compose.yml", "service": "app", "workspaceFolder": "/workspaces/${localWorkspaceFolderBasename}"}'
    },
    "workspace-compose-mount": {
        "config": '{"dockerComposeFile": ["a.yml", "b.yml"], "service": "app", "workspaceMount": "type=bind,source=/a,target=/b"}'
    },
    "workspace, with comma": {"config": '{"image": "x", "name": "${localWorkspaceFolderBasename}"}'},
    "wörkspace with spaces": {"config": '{"image": "x", "containerEnv": {"W": "${localWorkspaceFolder}"}}'},
    # --- layouts -----------------------------------------------------------------------------------
    "layout-root-dotfile": {"config": '{"image": "root-dotfile"}', "config_at": ".devcontainer.json"},
    "layout-both-prefers-folder": {
        "config": '{"image": "in-folder"}',
        "files": {".devcontainer.json": '{"image": "root-dotfile"}'},
    },
    "layout-subfolder-config": {
        "config": '{"image": "sub", "name": "${localWorkspaceFolderBasename}"}',
        "config_at": ".devcontainer/python/devcontainer.json",
        "args": ["--config", "@WS@/.devcontainer/python/devcontainer.json"],
    },
    "layout-config-elsewhere": {
        "config": '{"image": "elsewhere", "workspaceFolder": "/x/${localWorkspaceFolderBasename}"}',
        "config_at": "configs/devcontainer.json",
        "args": ["--config", "@WS@/configs/devcontainer.json"],
    },
    "git-subfolder-workspace": {
        "config": '{"image": "x", "containerEnv": {"C": "${containerWorkspaceFolder}"}}',
        "git_init": ["."],
        "workspace": "packages/app",
    },
    "git-subfolder-no-root-mount": {
        "config": '{"image": "x"}',
        "git_init": ["."],
        "workspace": "packages/app",
        "args": ["--mount-workspace-git-root", "false"],
    },
    "git-workspace-is-root": {"config": '{"image": "x"}', "git_init": ["."]},
    # git refuses a repository owned by another user (safe.directory): the folder alone is mounted.
    "git-dubious-ownership": {"config": '{"image": "x"}', "git_init": ["."], "workspace": "sub", "chown": "nobody"},
    # --- --override-config -------------------------------------------------------------------------
    # The override is read instead of the workspace's config; the config still counts as being where
    # the workspace's is (or would be): configFilePath, relative paths.
    "override-config-no-workspace-config": {
        "config": '{"image": "over", "name": "${localWorkspaceFolderBasename}", "remoteEnv": {"F": "${localWorkspaceFolder}"}}',
        "workspace": "ws",
        "config_at": "../over.json",
        "args": ["--override-config", "@WS@/../over.json"],
    },
    "override-config-replaces-workspace-config": {
        "config": '{"image": "in-workspace", "remoteUser": "nobody"}',
        "workspace": "ws",
        "config_at": ".devcontainer.json",
        "files": {"../over.json": '{"image": "over", "workspaceFolder": "/o/${localWorkspaceFolderBasename}"}'},
        "args": ["--override-config", "@WS@/../over.json"],
    },
    "override-config-with-config": {
        "config": '{"image": "over"}',
        "workspace": "ws",
        "config_at": "../over.json",
        "args": ["--config", "@WS@/missing/devcontainer.json", "--override-config", "@WS@/../over.json"],
    },
    "override-config-without-workspace": {
        "config": '{"image": "over", "name": "${localWorkspaceFolderBasename}", "workspaceFolder": "/o"}',
        "workspace": "ws",
        "config_at": "../over.json",
        "no_workspace_folder": True,
        "args": ["--id-label", "a=b", "--override-config", "@WS@/../over.json"],
    },
    # --- --id-label without a workspace folder ------------------------------------------------------
    "id-label-without-config": {
        "config": '{"image": "unused"}',
        "no_workspace_folder": True,
        "args": ["--id-label", "a=b"],
    },
    "id-label-with-config": {
        "config": '{"image": "x", "name": "${localWorkspaceFolderBasename}", "containerEnv": {"I": "${devcontainerId}"}}',
        "no_workspace_folder": True,
        "args": ["--id-label", "project=x", "--id-label", "b=c=d", "--config", "@WS@/.devcontainer/devcontainer.json"],
    },
    # --- git worktrees (--mount-git-worktree-common-dir) ------------------------------------------
    # git worktree add --relative-paths needs git 2.48: the worktree's .git file is rewritten instead.
    "worktree-common-dir": {
        "config": '{"image": "x", "containerEnv": {"C": "${containerWorkspaceFolder}"}}',
        "setup": WORKTREE.format(path="wt", gitdir="../main/.git/worktrees/wt"),
        "workspace": "wt",
        "args": ["--mount-git-worktree-common-dir"],
    },
    "worktree-common-dir-nested": {
        "config": '{"image": "x"}',
        "setup": WORKTREE.format(path="trees/feature/wt", gitdir="../../../main/.git/worktrees/wt"),
        "workspace": "trees/feature/wt/packages/app",
        "args": ["--mount-git-worktree-common-dir", "true"],
    },
    "worktree-common-dir-not-asked": {
        "config": '{"image": "x"}',
        "setup": WORKTREE.format(path="wt", gitdir="../main/.git/worktrees/wt"),
        "workspace": "wt",
    },
    "worktree-common-dir-absolute-gitdir": {
        "config": '{"image": "x"}',
        "setup": WORKTREE.format(path="wt", gitdir="$PWD/main/.git/worktrees/wt"),
        "workspace": "wt",
        "args": ["--mount-git-worktree-common-dir"],
    },
    "worktree-common-dir-without-git-root": {
        "config": '{"image": "x"}',
        "setup": WORKTREE.format(path="wt", gitdir="../main/.git/worktrees/wt"),
        "workspace": "wt",
        "args": ["--mount-git-worktree-common-dir", "--mount-workspace-git-root", "false"],
    },
    # --- legacy properties -------------------------------------------------------------------------
    "legacy-merge-into-customizations": {
        "config": '{"image": "x", "extensions": ["a.b", "c.d"], "settings": {"s1": 1, "s2": 2}, "devPort": 8000,'
        ' "customizations": {"vscode": {"extensions": ["e.f"], "settings": {"s2": "kept"}, "devPort": 9000},'
        ' "other": {"k": 1}}}'
    },
    "legacy-only-settings": {"config": '{"image": "x", "settings": {"terminal.integrated.shell.linux": "/bin/bash"}}'},
    "legacy-empty-extensions": {"config": '{"image": "x", "extensions": [], "settings": {}}'},
    "legacy-devport-only": {"config": '{"image": "x", "devPort": 0}'},
    # --- other shapes ------------------------------------------------------------------------------
    "features-forms": {
        "config": '{"image": "x", "features": {"ghcr.io/devcontainers/features/node:1": "18",'
        ' "ghcr.io/devcontainers/features/git:1": true, "./local": {"opt": false}, "docker-in-docker": "latest"},'
        ' "overrideFeatureInstallOrder": ["./local"]}'
    },
    "lifecycle-forms": {
        "config": '{"image": "x", "onCreateCommand": "echo ${localWorkspaceFolderBasename}",'
        ' "postCreateCommand": ["a", "b"], "postStartCommand": {"one": "x", "two": ["y", "z"]}, "waitFor": "onCreateCommand"}'
    },
    "mounts-forms": {
        "config": '{"image": "x", "mounts": ["source=vol,target=/v,type=volume",'
        ' {"type": "bind", "source": "${localWorkspaceFolder}", "target": "/w"}]}'
    },
    "dockerfile-legacy": {
        "config": '{"dockerFile": "Dockerfile", "context": "..", "build": {"args": {"A": "${localEnv:SET_VAR}"}}}',
        "env": {"SET_VAR": "v"},
    },
}


def layout(case: str, spec: dict[str, Any], root: Path) -> Path:
    """Create the case under ``root/case``; returns the workspace folder."""
    base = root / case
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    if spec.get("setup"):
        subprocess.run(["sh", "-ec", spec["setup"]], cwd=base, check=True, capture_output=True)
    workspace = base / spec.get("workspace", ".")
    workspace.mkdir(parents=True, exist_ok=True)
    for folder in spec.get("git_init", []):
        subprocess.run(["git", "init", "-q", str(base / folder)], check=True)
    config = workspace / spec.get("config_at", ".devcontainer/devcontainer.json")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_bytes(spec["config"].encode("utf-8"))
    for name, text in spec.get("files", {}).items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if spec.get("chown"):
        subprocess.run(["chown", "-R", spec["chown"], str(base)], check=True)
    return workspace


def args_for(spec: dict[str, Any], workspace: Path) -> list[str]:
    args = [a.replace("@WS@", str(workspace)) for a in spec.get("args", [])]
    return args if spec.get("no_workspace_folder") else ["--workspace-folder", str(workspace), *args]


def env_for(spec: dict[str, Any]) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root", "USER": "root", **spec.get("env", {})}


def main() -> int:
    reference = shutil.which("devcontainer")
    if reference is None:
        print("the reference CLI is not installed: npm install -g @devcontainers/cli", file=sys.stderr)
        return 1
    only = set(sys.argv[1:])
    for case, spec in CASES.items():
        if only and case not in only:
            continue
        workspace = layout(case, spec, ROOT)
        proc = subprocess.run(
            [reference, "read-configuration", *args_for(spec, workspace)],
            capture_output=True,
            text=True,
            env=env_for(spec),
            cwd=workspace,
        )
        if proc.returncode != 0:
            print(f"{case}: the reference failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            return 1
        out = DIAGNOSTICS.sub("}", proc.stdout.rstrip("\n"))
        json.loads(out)
        target = HERE / case
        target.mkdir(parents=True, exist_ok=True)
        meta = {k: v for k, v in spec.items() if k != "config"}
        (target / "case.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        (target / "devcontainer.json").write_bytes(spec["config"].encode("utf-8"))
        (target / "expected.out").write_text(out + "\n")
        print(f"{case}: ok")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
