"""Differential: ``up --override-config --include-configuration --include-merged-configuration
--secrets-file`` under devenv and under the reference CLI (devcontainers/cli on Docker) — the same result
objects, the same secrets in the hooks, masked the same way in the output."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_workspace_reference import cleanup, reference_cli  # noqa: F401
from tests.integration.workspace_helpers import Devenv, ensure_docker_bridge, write_config

pytestmark = [pytest.mark.docker, pytest.mark.reference, pytest.mark.slow]

SECRET = "very-secret-9c1"


def _normalised(value: Any, folder: Path) -> Any:
    text = json.dumps(value, sort_keys=True).replace(str(folder), "<ws>").replace(folder.name, "<name>")
    return json.loads(text)


@pytest.mark.parametrize("runtime", ["embedded", "docker"])
def test_up_result_configurations_and_secrets_as_the_reference(
    runtime: str,
    reference_cli: str,  # noqa: F811
    base_image: str,
    devenv_root: Path,
    tmp_path: Path,
    cleanup: list[Path],  # noqa: F811
) -> None:
    ensure_docker_bridge()
    override = write_config(
        tmp_path / "cfg",
        {
            "image": base_image,
            "containerEnv": {"CE": "ce-value"},
            "remoteEnv": {"RE": "${containerEnv:CE}-re"},
            "postCreateCommand": 'echo "secret is $MY_SECRET"; printf %s "$MY_SECRET" > /tmp/secret',
        },
        name="override.json",
    )
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"MY_SECRET": SECRET}))
    ref_folder, our_folder = tmp_path / "ws-ref", tmp_path / "ws-ours"
    for folder in (ref_folder, our_folder):
        folder.mkdir()
    cleanup.append(ref_folder)
    args = ["--override-config", str(override), "--include-configuration", "--include-merged-configuration",
            "--secrets-file", str(secrets)]  # fmt: skip
    ref = subprocess.run(
        [reference_cli, "up", "--workspace-folder", str(ref_folder), *args], capture_output=True, text=True, timeout=900
    )
    assert ref.returncode == 0, ref.stdout + ref.stderr
    theirs = json.loads(ref.stdout.strip().splitlines()[-1])
    devenv = Devenv(devenv_root, runtime)
    try:
        run = devenv.up(our_folder, *args)
        ours = run.result()
        assert sorted(ours) == sorted(k for k in theirs if k != "ociAuthDiagnostics")  # (registry auth notes)
        assert _normalised(ours["configuration"], our_folder) == _normalised(theirs["configuration"], ref_folder)
        assert _normalised(ours["mergedConfiguration"], our_folder) == _normalised(
            theirs["mergedConfiguration"], ref_folder
        )
        # The secret reached the hook in both, and neither printed it.
        assert "secret is ********" in ref.stderr and SECRET not in ref.stderr
        assert "secret is ********" in run.stderr and SECRET not in run.stderr
        assert devenv.exec(our_folder, "--override-config", str(override), "cat", "/tmp/secret").stdout == SECRET
    finally:
        devenv("down", "--workspace-folder", str(our_folder), check=False)
