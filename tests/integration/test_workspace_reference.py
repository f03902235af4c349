"""Differential: the same devcontainer.json under devenv and under the reference CLI (devcontainers/cli on
Docker) gives the same observable workspace — environment, user, hooks run, mounts, working folder."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.workspace_helpers import Devenv, ensure_docker_bridge, write_config

pytestmark = [pytest.mark.docker, pytest.mark.reference, pytest.mark.slow]

CONFIG = {
    "build": {"dockerfile": "Dockerfile"},
    "remoteUser": "dev",
    "containerEnv": {"CE": "container-env"},
    "remoteEnv": {"RE": "${containerEnv:CE}-remote", "PATH": "${containerEnv:PATH}:/opt/extra"},
    "mounts": [{"type": "volume", "source": "diffvol-${devcontainerId}", "target": "/data"}],
    "onCreateCommand": "echo onCreate $(id -un) $(pwd) >> /tmp/hooks.log",
    "updateContentCommand": ["sh", "-c", "echo updateContent $(id -un) >> /tmp/hooks.log"],
    "postCreateCommand": {"x": "echo postCreate-x $RE >> /tmp/hooks.log", "y": "echo postCreate-y >> /tmp/hooks.log"},
    "postStartCommand": "echo postStart $CE >> /tmp/hooks.log",
    "postAttachCommand": "echo postAttach >> /tmp/hooks.log",
}

OBSERVE = (
    "env | sort; echo ---; id; pwd; echo ---; cat /tmp/hooks.log; echo ---; "
    "grep -E ' /(workspaces|data)' /proc/self/mountinfo | cut -d' ' -f5 | sort"
)


@pytest.fixture(scope="module")
def reference_cli() -> str:
    found = shutil.which("devcontainer")
    if found is None:
        subprocess.run(["npm", "install", "-g", "--silent", "@devcontainers/cli"], check=True, capture_output=True)
        found = shutil.which("devcontainer")
    assert found, "could not install the reference CLI (npm install -g @devcontainers/cli)"
    return found


def make_workspace(folder: Path, image: str) -> Path:
    (folder / ".devcontainer").mkdir(parents=True)
    (folder / ".devcontainer/Dockerfile").write_text(f"FROM {image}\nRUN useradd -m -u 1000 -s /bin/bash dev\n")
    write_config(folder, CONFIG)
    return folder


def observation(text: str, folder: Path) -> dict[str, object]:
    env_text, ident, hooks, mounts = text.replace(folder.name, "<ws>").split("---\n")
    env = dict(line.split("=", 1) for line in env_text.splitlines() if "=" in line)
    env.pop("HOSTNAME")  # the container's id
    hook_lines = hooks.splitlines()
    # postCreateCommand's entries run in parallel: their order is not part of the contract.
    creates = sorted(line for line in hook_lines if line.startswith("postCreate-"))
    others = [line if not line.startswith("postCreate-") else "postCreate-*" for line in hook_lines]
    return {"env": env, "id": ident.splitlines(), "hooks": others, "postCreate": creates, "mounts": mounts.split()}


@pytest.fixture
def cleanup() -> Iterator[list[Path]]:
    folders: list[Path] = []
    yield folders
    for folder in folders:
        ids = subprocess.run(
            ["docker", "ps", "-aq", "--filter", f"label=devcontainer.local_folder={folder}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f", "-v", *ids], capture_output=True)


@pytest.mark.parametrize("runtime", ["embedded", "docker"])
def test_same_workspace_as_the_reference(
    runtime: str,
    reference_cli: str,
    base_image: str,
    devenv_root: Path,
    tmp_path: Path,
    cleanup: list[Path],
) -> None:
    ensure_docker_bridge()
    ref_folder = make_workspace(tmp_path / "refws", base_image)
    our_folder = make_workspace(tmp_path / "ourws", base_image)
    cleanup.append(ref_folder)
    devenv = Devenv(devenv_root, runtime)

    ref_up = subprocess.run(
        [reference_cli, "up", "--workspace-folder", str(ref_folder)], capture_output=True, text=True, timeout=900
    )
    assert ref_up.returncode == 0, ref_up.stdout + ref_up.stderr
    ref_result = json.loads(ref_up.stdout.strip().splitlines()[-1])
    try:
        our_result = devenv.up(our_folder).result()
        for key in ("outcome", "remoteUser"):
            assert our_result[key] == ref_result[key]
        assert our_result["remoteWorkspaceFolder"] == ref_result["remoteWorkspaceFolder"].replace("refws", "ourws")

        ref_obs = subprocess.run(
            [reference_cli, "exec", "--workspace-folder", str(ref_folder), "sh", "-c", OBSERVE],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert ref_obs.returncode == 0, ref_obs.stderr
        ours = devenv.exec(our_folder, "sh", "-c", OBSERVE).stdout
        theirs_seen = observation(ref_obs.stdout, ref_folder)
        ours_seen = observation(ours, our_folder)
        assert ours_seen["id"] == theirs_seen["id"]
        assert ours_seen["hooks"] == theirs_seen["hooks"]
        assert ours_seen["postCreate"] == theirs_seen["postCreate"]
        assert ours_seen["mounts"] == theirs_seen["mounts"]
        assert ours_seen["env"] == theirs_seen["env"]
    finally:
        devenv("down", "--workspace-folder", str(our_folder), check=False)


CONTAINER_ENV_HOOKS = {
    "containerEnv": {"APP_ENV": "staging"},
    "remoteEnv": {"MODE": "${containerEnv:APP_ENV}-remote"},
    "onCreateCommand": "echo onCreate=${containerEnv:APP_ENV} >> /tmp/hooks.log",
    "updateContentCommand": ["sh", "-c", "echo updateContent=[${containerEnv:NOT_SET}] >> /tmp/hooks.log"],
    "postCreateCommand": {"d": "echo postCreate=${containerEnv:NOT_SET:fallback} >> /tmp/hooks.log"},
    "postStartCommand": "echo postStart=${containerEnv:APP_ENV},$MODE >> /tmp/hooks.log",
    "postAttachCommand": "echo postAttach=${containerEnv:HOME} >> /tmp/hooks.log",
}


@pytest.mark.parametrize("runtime", ["embedded", "docker"])
def test_container_env_in_hooks_as_the_reference(
    runtime: str,
    reference_cli: str,
    base_image: str,
    devenv_root: Path,
    tmp_path: Path,
    cleanup: list[Path],
) -> None:
    """``${containerEnv:...}`` in hooks: the reference resolves it in ``run-user-commands`` (its ``up``
    leaves it to the shell, which fails: "Bad substitution"), so both create the container without hooks
    and then run them with ``run-user-commands``; devenv's own ``up`` gives the same hooks' output."""
    ensure_docker_bridge()
    config = {"image": base_image, **CONTAINER_ENV_HOOKS}
    ref_folder, our_folder, up_folder = (tmp_path / n for n in ("refws", "ourws", "upws"))
    for folder in (ref_folder, our_folder, up_folder):
        write_config(folder, config)
    cleanup.append(ref_folder)
    devenv = Devenv(devenv_root, runtime)
    read = "cat /tmp/hooks.log"

    for argv in (["up", "--skip-post-create"], ["run-user-commands"]):
        ref = subprocess.run(
            [reference_cli, *argv, "--workspace-folder", str(ref_folder)], capture_output=True, text=True, timeout=900
        )
        assert ref.returncode == 0, ref.stdout + ref.stderr
    theirs = subprocess.run(
        [reference_cli, "exec", "--workspace-folder", str(ref_folder), "sh", "-c", read],
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    try:
        devenv.up(our_folder, "--skip-post-create")
        devenv("run-user-commands", "--workspace-folder", str(our_folder))
        assert devenv.exec(our_folder, "sh", "-c", read).stdout == theirs
        devenv.up(up_folder)
        assert devenv.exec(up_folder, "sh", "-c", read).stdout == theirs
        assert "onCreate=staging" in theirs and "postStart=staging,staging-remote" in theirs
    finally:
        for folder in (our_folder, up_folder):
            devenv("down", "--workspace-folder", str(folder), check=False)


# Each name says which layers set it: P = the login shell's profile (userEnvProbe), CFG = remoteEnv,
# CLI = --remote-env, CE = containerEnv. (remoteEnv's null is left out: the reference passes the text
# "null", devenv leaves the variable out — see docs/workspace.md.)
PRECEDENCE_PROFILE = "export P_ONLY=profile P_CFG=profile P_CLI=profile ALL3=profile"
PRECEDENCE_REMOTE_ENV = {
    "P_CFG": "config",
    "CFG_CLI": "config",
    "ALL3": "config",
    "CFG_ONLY": "config",
    "CE_CFG": "config",
    "CE_REF": "${containerEnv:CE}-config",
}
PRECEDENCE_CONFIG = {
    "build": {"dockerfile": "Dockerfile"},
    "containerEnv": {"CE": "container", "CE_CLI": "container", "CE_CFG": "container"},
    "remoteEnv": PRECEDENCE_REMOTE_ENV,
    "postCreateCommand": "env | sort > /tmp/hook.env",
}
PRECEDENCE_CLI = ["P_CLI=cli", "CFG_CLI=cli", "ALL3=cli", "CE_REF=cli", "CLI_ONLY=cli", "CE_CLI=cli"]


@pytest.mark.parametrize("runtime", ["embedded", "docker"])
def test_remote_env_precedence_as_the_reference(
    runtime: str,
    reference_cli: str,
    base_image: str,
    devenv_root: Path,
    tmp_path: Path,
    cleanup: list[Path],
) -> None:
    """probed env < ``--remote-env`` < remoteEnv (``${containerEnv:...}`` resolved), in ``up``'s hooks and
    for ``exec --remote-env``: the config's remoteEnv wins over the command line in both tools."""
    ensure_docker_bridge()
    ref_folder, our_folder = tmp_path / "refws", tmp_path / "ourws"
    for folder in (ref_folder, our_folder):
        (folder / ".devcontainer").mkdir(parents=True)
        (folder / ".devcontainer/Dockerfile").write_text(
            f"FROM {base_image}\nRUN echo '{PRECEDENCE_PROFILE}' > /etc/profile.d/zz-precedence.sh\n"
        )
        write_config(folder, PRECEDENCE_CONFIG)
    cleanup.append(ref_folder)
    cli = [arg for item in PRECEDENCE_CLI for arg in ("--remote-env", item)]

    def env_of(text: str, folder: Path) -> dict[str, str]:
        env = dict(line.split("=", 1) for line in text.replace(folder.name, "<ws>").splitlines() if "=" in line)
        env.pop("HOSTNAME")  # the container's id
        return env

    ref_up = subprocess.run(
        [reference_cli, "up", "--workspace-folder", str(ref_folder), *cli], capture_output=True, text=True, timeout=900
    )
    assert ref_up.returncode == 0, ref_up.stdout + ref_up.stderr

    def ref_exec(*argv: str) -> str:
        run = subprocess.run(
            [reference_cli, "exec", "--workspace-folder", str(ref_folder), *argv],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    theirs_hook = env_of(ref_exec("cat", "/tmp/hook.env"), ref_folder)
    theirs_exec = env_of(ref_exec(*cli, "env"), ref_folder)
    devenv = Devenv(devenv_root, runtime)
    try:
        devenv.up(our_folder, *cli)
        ours_hook = env_of(devenv.exec(our_folder, "cat", "/tmp/hook.env").stdout, our_folder)
        ours_exec = env_of(devenv.exec(our_folder, *cli, "env").stdout, our_folder)
        assert ours_hook == theirs_hook
        assert ours_exec == theirs_exec
        wanted = {"P_ONLY": "profile", "P_CFG": "config", "P_CLI": "cli", "ALL3": "config", "CFG_CLI": "config",
                  "CFG_ONLY": "config", "CE_REF": "container-config", "CLI_ONLY": "cli", "CE": "container",
                  "CE_CLI": "cli", "CE_CFG": "config"}  # fmt: skip
        assert {k: theirs_exec.get(k) for k in wanted} == wanted
        assert {k: theirs_hook.get(k) for k in wanted} == wanted
        # A workspace state written before devenv remembered remoteEnv's names: the same result.
        (state_file,) = (devenv_root / "workspaces").glob("*/state.json")
        data = json.loads(state_file.read_text())
        assert sorted(data.pop("remote_env_keys")) == sorted(PRECEDENCE_REMOTE_ENV)
        state_file.write_text(json.dumps(data))
        assert env_of(devenv.exec(our_folder, *cli, "env").stdout, our_folder) == theirs_exec
    finally:
        devenv("down", "--workspace-folder", str(our_folder), check=False)
