"""Merged configuration against the reference tool on a real image with a ``devcontainer.metadata``
label: a real Docker engine, a base image from the local registry, the reference CLI.

The reference inspects the image for its label and merges it with devcontainer.json; devenv merges
the same label entries (``parse_metadata_label`` + ``merge_metadata``): the results must be equal.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from devenv.config import ReadConfigurationOptions, load, merge_metadata, parse_metadata_label, read_configuration
from devenv.config.readconf import resolved_features

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.reference, pytest.mark.slow]

LABEL = [
    {"remoteUser": "base", "containerEnv": {"A": "1", "B": "1"}, "capAdd": ["SYS_PTRACE"], "init": True},
    {
        "id": "ghcr.io/devcontainers/features/node:1",
        "postCreateCommand": "feature-hook",
        "entrypoint": "/e.sh",
        "mounts": [{"type": "volume", "source": "v", "target": "/data"}],
        "customizations": {"vscode": {"extensions": ["a"]}},
    },
    {
        "forwardPorts": [3000],
        "hostRequirements": {"cpus": 2, "memory": "4gb", "gpu": "optional"},
        "waitFor": "onCreateCommand",
        "portsAttributes": {"3000": {"label": "old"}},
        "remoteEnv": {"X": "${localWorkspaceFolderBasename}"},
    },
]

CONFIG = {
    "image": "@IMAGE@",
    "remoteUser": "me",
    "containerEnv": {"B": "2", "W": "${localWorkspaceFolderBasename}"},
    "capAdd": ["NET_ADMIN", "SYS_PTRACE"],
    "forwardPorts": ["localhost:3000", 8080, "db:5432"],
    "mounts": ["source=other,target=/data,type=volume", "source=${localWorkspaceFolder},target=/src,type=bind"],
    "postCreateCommand": ["mine", "${containerWorkspaceFolder}"],
    "postStartCommand": {"a": "x"},
    "hostRequirements": {"memory": "5000mb", "storage": "10gb", "gpu": {"cores": 1}},
    "portsAttributes": {"3000": {"label": "new"}, "9000": {"onAutoForward": "silent"}},
    "customizations": {"vscode": {"settings": {"s": 1}}},
    "shutdownAction": "none",
    "overrideCommand": False,
    "updateRemoteUserUID": False,
    "features": {"./myfeat": {"greeting": "hi"}},
}

FEATURE = {
    "id": "myfeat",
    "version": "1.0.0",
    "name": "My feature",
    "options": {"greeting": {"type": "string", "default": "hello"}, "loud": {"type": "boolean", "default": False}},
    "containerEnv": {"GREETING_FROM": "${localWorkspaceFolderBasename}"},
    "postCreateCommand": "echo from-feature",
    "privileged": True,
    "capAdd": ["SYS_ADMIN"],
    "entrypoint": "/usr/local/share/myfeat.sh",
    "mounts": [{"type": "volume", "source": "feat-cache", "target": "/data"}],
    "customizations": {"vscode": {"extensions": ["feat.ext"]}},
}


@pytest.mark.skipif(shutil.which("devcontainer") is None, reason="the reference CLI is not installed")
def test_merged_configuration_equals_the_reference(
    docker_engine: None, busybox_image: Any, tmp_path: Path, devenv_root: Path
) -> None:
    tag = f"devenv-merge-test:{uuid.uuid4().hex[:12]}"
    build = tmp_path / "build"
    build.mkdir()
    label = json.dumps(LABEL).replace("'", "'\\''")
    (build / "Dockerfile").write_text(f"FROM {busybox_image.ref}\nLABEL devcontainer.metadata='{label}'\n")
    subprocess.run(["docker", "build", "-q", "-t", tag, str(build)], check=True, capture_output=True, timeout=300)
    try:
        workspace = tmp_path / "merge-ws"
        (workspace / ".devcontainer" / "myfeat").mkdir(parents=True)
        (workspace / ".devcontainer" / "devcontainer.json").write_text(json.dumps(CONFIG).replace("@IMAGE@", tag))
        (workspace / ".devcontainer" / "myfeat" / "devcontainer-feature.json").write_text(json.dumps(FEATURE))
        (workspace / ".devcontainer" / "myfeat" / "install.sh").write_text("#!/bin/sh\necho installing\n")
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "USER": "root"}
        proc = subprocess.run(
            [
                "devcontainer",
                "read-configuration",
                "--workspace-folder",
                str(workspace),
                "--include-merged-configuration",
                "--include-features-configuration",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        reference = json.loads(proc.stdout)

        def image_metadata(loaded: Any) -> list[dict[str, Any]]:
            inspect = subprocess.run(
                ["docker", "image", "inspect", "--format", '{{index .Config.Labels "devcontainer.metadata"}}', tag],
                capture_output=True,
                text=True,
                check=True,
            )
            return list(loaded.substitute_local(parse_metadata_label(inspect.stdout.strip())))

        result = read_configuration(
            ReadConfigurationOptions(
                workspace_folder=str(workspace),
                include_merged_configuration=True,
                include_features_configuration=True,
                env=env,
            ),
            features=resolved_features,
            image_metadata=image_metadata,
        )
        ours = result.output

        assert ours["mergedConfiguration"] == reference["mergedConfiguration"]
        assert list(ours["mergedConfiguration"]) == list(reference["mergedConfiguration"])
        for ours_set, ref_set in zip(
            ours["featuresConfiguration"]["featureSets"], reference["featuresConfiguration"]["featureSets"], strict=True
        ):
            assert ours_set["sourceInformation"] == ref_set["sourceInformation"]
            for key in ("cachePath",):  # where each tool keeps its copy differs
                ours_set["features"][0].pop(key)
                ref_set["features"][0].pop(key)
            assert ours_set == ref_set

        # merge_metadata alone, from the label and the feature entry, gives the same.
        loaded = load(workspace, env=env)
        entries, _ = resolved_features(loaded)
        merged = merge_metadata(image_metadata(loaded), entries, ours["configuration"])
        assert merged.to_json() == reference["mergedConfiguration"]
    finally:
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
