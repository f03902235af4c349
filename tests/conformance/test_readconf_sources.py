"""``read-configuration`` against the reference where it looks outside devcontainer.json: the base image's
``devcontainer.metadata`` label and the workspace's container. Real parts: a Docker engine, images in the
local registry, the reference CLI (``devcontainer``), devenv's CLI with an isolated data root.

* Merged configuration of image configs whose label carries metadata, of image + local features (and
  ``--additional-features``), and of Dockerfile configs (the label of the image the Dockerfile starts
  from, as the reference: nothing is built) — on devenv's own store and on the Docker engine.
* Container-based substitution (``${devcontainerId}``, ``${containerEnv:...}``) and the merged
  configuration of an existing container: found by its labels, by ``--container-id``, by ``--id-label``,
  by the legacy folder label; without a metadata label; with features.
* A workspace devenv brought up (on Docker, and on the embedded runtime) reads the same as the reference
  reads the Docker one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ImageFixture
from tests.integration.build_helpers import publish_feature
from tests.integration.workspace_helpers import Devenv, ensure_docker_bridge, write_config
from tests.support.registry import Registry

pytestmark = [pytest.mark.docker, pytest.mark.registry, pytest.mark.reference, pytest.mark.slow]

REFERENCE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "USER": "root",
}

LABEL = [
    {
        "remoteUser": "base",
        "containerEnv": {"A": "1", "W": "${localWorkspaceFolderBasename}"},
        "capAdd": ["SYS_PTRACE"],
        "postCreateCommand": "base-hook ${containerWorkspaceFolder}",
    },
    {
        "id": "ghcr.io/devcontainers/features/node:1",
        "init": True,
        "entrypoint": "/node.sh",
        "mounts": [{"type": "volume", "source": "v", "target": "/data"}],
        "customizations": {"vscode": {"extensions": ["base.ext"]}},
    },
    {
        "forwardPorts": [3000],
        "remoteEnv": {"X": "${devcontainerId}", "Y": "${containerEnv:HOME}", "Z": "${localEnv:USER}"},
        "portsAttributes": {"3000": {"label": "base"}},
        "hostRequirements": {"cpus": 2, "memory": "4gb"},
    },
]

FEATURE = {
    "id": "myfeat",
    "version": "1.0.0",
    "name": "My feature",
    "options": {"greeting": {"type": "string", "default": "hello"}},
    "containerEnv": {"GREETING_FROM": "${localWorkspaceFolderBasename}"},
    "postCreateCommand": "echo ${containerEnv:GREETING_FROM}",
    "capAdd": ["SYS_ADMIN"],
    "mounts": [{"type": "volume", "source": "feat-cache", "target": "/data"}],
}
EXTRA_FEATURE = {
    "id": "extra",
    "version": "0.1.0",
    "options": {"level": {"type": "string", "default": "1"}},
    "init": True,
}


@pytest.fixture(scope="module")
def reference_cli() -> str:
    found = shutil.which("devcontainer")
    if found is None:
        pytest.skip("the reference CLI is not installed (npm install -g @devcontainers/cli)")
    return found


@pytest.fixture(scope="module")
def labelled_image(
    docker_engine: None, busybox_image: ImageFixture, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A busybox image whose ``devcontainer.metadata`` label carries :data:`LABEL`, in the local registry
    (and the Docker engine, where it is removed at the end)."""
    registry = busybox_image.ref.split("/", 1)[0]
    ref = f"{registry}/devenv-readconf/labelled:{uuid.uuid4().hex[:10]}"
    context = tmp_path_factory.mktemp("labelled")
    (context / "Dockerfile").write_text(f"FROM {busybox_image.ref}\n")
    label = json.dumps(LABEL, separators=(",", ":"))
    subprocess.run(
        ["docker", "build", "-q", "-t", ref, "--label", f"devcontainer.metadata={label}", str(context)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    subprocess.run(["docker", "push", "-q", ref], check=True, capture_output=True, timeout=300)
    yield ref
    subprocess.run(["docker", "image", "rm", "-f", ref], capture_output=True)


@pytest.fixture
def containers() -> Iterator[list[str]]:
    """Docker containers a test creates (removed at the end)."""
    created: list[str] = []
    yield created
    if created:
        subprocess.run(["docker", "rm", "-f", *created], capture_output=True)


def reference(cli: str, *args: str, cwd: Path | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [cli, "read-configuration", *args], capture_output=True, text=True, env=REFERENCE_ENV, cwd=cwd, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(proc.stdout)
    out.pop("ociAuthDiagnostics", None)
    return out


def ours(devenv: Devenv, *args: str, cwd: Path | None = None) -> dict[str, Any]:
    run = devenv("read-configuration", *args, cwd=cwd)
    out: dict[str, Any] = json.loads(run.stdout)
    return out


def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Equal outputs, key order included; features compared without each tool's own cache folders."""
    got, want = json.loads(json.dumps(got)), json.loads(json.dumps(want))
    for out in (got, want):
        features = out.get("featuresConfiguration")
        if features is not None:
            features.pop("dstFolder")
            for feature_set in features["featureSets"]:
                for feature in feature_set["features"]:
                    feature.pop("cachePath")
    assert list(got) == list(want)
    for key in want:
        assert got[key] == want[key], key
    if "mergedConfiguration" in want:
        assert list(got["mergedConfiguration"]) == list(want["mergedConfiguration"])


def devenv_for(root: Path, runtime: str) -> Devenv:
    devenv = Devenv(root, runtime)
    devenv.env = lambda: {**Devenv.env(devenv), **REFERENCE_ENV}  # type: ignore[method-assign]
    return devenv


def write_feature(folder: Path, name: str, metadata: dict[str, Any]) -> None:
    path = folder / ".devcontainer" / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "devcontainer-feature.json").write_text(json.dumps(metadata))
    (path / "install.sh").write_text("#!/bin/sh\necho installing\n")


# --- the base image's label ----------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["embedded", "docker"])
def test_image_label_merged_like_the_reference(
    runtime: str, reference_cli: str, labelled_image: str, devenv_root: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "img-ws"
    write_config(
        workspace,
        {
            "image": labelled_image,
            "remoteUser": "me",
            "containerEnv": {"B": "2", "W": "${localWorkspaceFolderBasename}"},
            "capAdd": ["NET_ADMIN", "SYS_PTRACE"],
            "forwardPorts": ["localhost:3000", 8080],
            "postCreateCommand": ["mine", "${containerWorkspaceFolder}"],
            "portsAttributes": {"3000": {"label": "mine"}},
            "remoteEnv": {"R": "${containerEnv:PATH}"},
            "hostRequirements": {"memory": "5000mb"},
        },
    )
    args = ("--workspace-folder", str(workspace), "--include-merged-configuration")
    if runtime == "docker":
        # Not in the engine: devenv pulls it there, as the reference would.
        subprocess.run(["docker", "image", "rm", labelled_image], check=True, capture_output=True)
    got = ours(devenv_for(devenv_root, runtime), *args)
    if runtime == "docker":
        assert subprocess.run(["docker", "image", "inspect", labelled_image], capture_output=True).returncode == 0
    else:  # pulled into devenv's own store
        from devenv.store.store import Store

        assert Store().image(labelled_image).config.labels["devcontainer.metadata"]
    want = reference(reference_cli, *args)
    assert_same(got, want)
    assert got["mergedConfiguration"]["remoteUser"] == "me"
    assert got["mergedConfiguration"]["entrypoints"] == ["/node.sh"]  # from the label


@pytest.mark.parametrize("runtime", ["embedded", "docker"])
def test_image_and_local_features_merged_like_the_reference(
    runtime: str, reference_cli: str, labelled_image: str, devenv_root: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "feat-ws"
    write_config(
        workspace,
        {
            "image": labelled_image,
            "features": {"./myfeat": {"greeting": "hi"}},
            "containerEnv": {"B": "2"},
            "postStartCommand": {"a": "x"},
        },
    )
    write_feature(workspace, "myfeat", FEATURE)
    write_feature(workspace, "extra", EXTRA_FEATURE)
    args = (
        "--workspace-folder",
        str(workspace),
        "--include-merged-configuration",
        "--include-features-configuration",
        "--additional-features",
        '{"./extra": {"level": "2"}, "./myfeat": {"greeting": "not used: the config has it"}}',
    )
    got = ours(devenv_for(devenv_root, runtime), *args)
    want = reference(reference_cli, *args)
    assert_same(got, want)
    ids = [s["sourceInformation"]["userFeatureId"] for s in got["featuresConfiguration"]["featureSets"]]
    assert sorted(ids) == ["./extra", "./myfeat"]  # the additional feature is in (install order: by id)
    assert got["mergedConfiguration"]["init"] is True


def test_oci_features_like_the_reference(
    reference_cli: str, labelled_image: str, registry: Registry, devenv_root: Path, tmp_path: Path
) -> None:
    """Features from a registry (the reference speaks plain HTTP only to ``localhost``): one without a
    name, one that depends on another, a string shorthand."""
    ns = f"localhost:{registry.port}/rc{uuid.uuid4().hex[:8]}"
    publish_feature(
        f"{ns}/plain:1",
        {"id": "plain", "version": "1.0.0", "options": {"version": {"type": "string", "default": "a"}}},
    )
    publish_feature(f"{ns}/base:1", {"id": "base", "version": "1.0.0", "name": "Base", "containerEnv": {"B": "1"}})
    publish_feature(
        f"{ns}/withdep:1",
        {
            "id": "withdep",
            "version": "0.3.1",
            "name": "With dep",
            "dependsOn": {f"{ns}/base:1": {}},
            "postCreateCommand": "withdep ${containerWorkspaceFolder}",
            "customizations": {"vscode": {"extensions": ["w.x"]}},
        },
    )
    workspace = tmp_path / "oci-ws"
    write_config(workspace, {"image": labelled_image, "features": {f"{ns}/withdep:1": {}, f"{ns}/plain:1": "2.0"}})
    args = (
        "--workspace-folder",
        str(workspace),
        "--include-merged-configuration",
        "--include-features-configuration",
    )
    got = ours(devenv_for(devenv_root, "embedded"), *args)
    want = reference(reference_cli, *args)
    assert_same(got, want)
    features = [s["features"][0] for s in got["featuresConfiguration"]["featureSets"]]
    assert [f["id"] for f in features] == ["base", "plain", "withdep"]  # withdep after what it depends on
    assert features[1]["value"] == "2.0"  # the string shorthand, printed as written


@pytest.mark.parametrize("runtime", ["embedded", "docker"])
def test_dockerfile_config_merges_the_label_of_its_base_image(
    runtime: str, reference_cli: str, labelled_image: str, devenv_root: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "df-ws"
    (workspace / ".devcontainer").mkdir(parents=True)
    (workspace / ".devcontainer" / "Dockerfile").write_text(
        "ARG BASE=wrong:tag\n"
        "ARG UNUSED\n"
        "FROM ${BASE} AS base\n"
        """LABEL devcontainer.metadata='[{"remoteUser": "from-the-dockerfile"}]'\n"""
        "FROM base AS dev\n"
        "RUN false\n"
        "FROM scratch AS last\n"
    )
    write_config(
        workspace,
        {
            "build": {"dockerfile": "Dockerfile", "args": {"BASE": labelled_image}, "target": "dev"},
            "remoteEnv": {"D": "${localWorkspaceFolderBasename}"},
        },
    )
    args = ("--workspace-folder", str(workspace), "--include-merged-configuration")
    got = ours(devenv_for(devenv_root, runtime), *args)
    want = reference(reference_cli, *args)
    assert_same(got, want)
    assert got["mergedConfiguration"]["remoteUser"] == "base"  # the base image's, nothing was built


def test_missing_image_is_a_clear_error(devenv_root: Path, tmp_path: Path, labelled_image: str) -> None:
    workspace = tmp_path / "missing-ws"
    registry = labelled_image.split("/", 1)[0]
    write_config(workspace, {"image": f"{registry}/devenv-readconf/nothing-here:1"})
    run = devenv_for(devenv_root, "embedded")(
        "read-configuration", "--workspace-folder", str(workspace), "--include-merged-configuration", check=False
    )
    assert run.returncode != 0
    assert "nothing-here" in run.stderr and "Traceback" not in run.stderr
    assert run.stdout == ""


# --- an existing container -----------------------------------------------------------------------

CONTAINER_CONFIG = {
    "image": "@IMAGE@",
    "name": "n-${devcontainerId}",
    "workspaceFolder": "/w/${devcontainerId}",
    "remoteEnv": {
        "P": "${containerEnv:PATH}",
        "M": "${containerEnv:MISSING:dflt}",
        "I": "${devcontainerId}",
        "L": "${localWorkspaceFolderBasename}",
    },
    "containerEnv": {"C": "${containerEnv:FOO}"},
    "postCreateCommand": "echo ${containerEnv:FOO}",
    "remoteUser": "${containerEnv:USERNAME}",
    "userEnvProbe": "none",
}
CONTAINER_LABEL = [
    {"remoteUser": "cu", "remoteEnv": {"Q": "${containerEnv:FOO}-${devcontainerId}-${localWorkspaceFolderBasename}"}},
    {"postStartCommand": "started ${containerEnv:USERNAME}", "containerEnv": {"K": "v"}},
]


def docker_create(image: str, labels: dict[str, str], env: dict[str, str]) -> str:
    args = ["docker", "create"]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    proc = subprocess.run([*args, image, "sleep", "1"], check=True, capture_output=True, text=True, timeout=300)
    return proc.stdout.strip()


CONTAINER_CASES = {
    # name: (labels beyond the metadata label, read-configuration arguments; @WS@ / @CONFIG@ / @ID@)
    "found-by-labels": ("folder+config", ["--workspace-folder", "@WS@"]),
    "container-id-with-other-id-labels": (
        "folder+config",
        ["--workspace-folder", "@WS@", "--container-id", "@ID@", "--id-label", "x=y"],
    ),
    "id-label-without-folder": ("project", ["--id-label", "project=@NAME@", "--config", "@CONFIG@"]),
    "container-id-alone": ("folder+config", ["--container-id", "@ID@"]),
    "container-id-and-config": ("folder+config", ["--container-id", "@ID@", "--config", "@CONFIG@"]),
    "legacy-folder-label": ("folder", ["--workspace-folder", "@WS@"]),
    "no-metadata-label": ("folder+config-no-metadata", ["--workspace-folder", "@WS@"]),
    "with-features": (
        "folder+config",
        [
            "--workspace-folder",
            "@WS@",
            "--container-id",
            "@ID@",
            "--id-label",
            "x=y",
            "--include-features-configuration",
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CONTAINER_CASES))
def test_existing_container_like_the_reference(
    case: str,
    reference_cli: str,
    labelled_image: str,
    devenv_root: Path,
    tmp_path: Path,
    containers: list[str],
) -> None:
    kind, template = CONTAINER_CASES[case]
    workspace = tmp_path / f"ct-{case}"
    config = write_config(workspace, {**CONTAINER_CONFIG, "image": labelled_image}).resolve()
    if case == "with-features":
        data = {**CONTAINER_CONFIG, "image": labelled_image, "features": {"./myfeat": {}}}
        config = write_config(workspace, data).resolve()
        write_feature(workspace, "myfeat", FEATURE)
    name = uuid.uuid4().hex[:12]
    labels: dict[str, str] = {}
    if kind.startswith("folder"):
        labels["devcontainer.local_folder"] = str(workspace)
    if kind.startswith("folder+config"):
        labels["devcontainer.config_file"] = str(config)
    if kind == "project":
        labels["project"] = name
    if not kind.endswith("no-metadata"):
        labels["devcontainer.metadata"] = json.dumps(CONTAINER_LABEL)
    subprocess.run(["docker", "pull", "-q", labelled_image], check=True, capture_output=True, timeout=300)
    container_id = docker_create(labelled_image, labels, {"FOO": "bar", "USERNAME": f"user-{name}"})
    containers.append(container_id)
    replacements = {"@WS@": str(workspace), "@CONFIG@": str(config), "@ID@": container_id, "@NAME@": name}
    args = [*template, "--include-merged-configuration"]
    for old, new in replacements.items():
        args = [a.replace(old, new) for a in args]

    got = ours(devenv_for(devenv_root, "docker"), *args, cwd=workspace)
    want = reference(reference_cli, *args, cwd=workspace)
    assert_same(got, want)
    if "configFilePath" in want["configuration"]:
        # The container was found and used: its environment went into the configuration.
        assert got["configuration"]["containerEnv"] == {"C": "bar"}
        assert got["configuration"]["remoteUser"] == f"user-{name}"
    assert got["mergedConfiguration"]


def test_unknown_container_id_is_a_clear_error(devenv_root: Path, tmp_path: Path, docker_engine: None) -> None:
    run = devenv_for(devenv_root, "docker")(
        "read-configuration", "--container-id", "no-such-container-" + uuid.uuid4().hex[:8], check=False
    )
    assert run.returncode != 0
    assert "no such container" in run.stderr.lower() and "Traceback" not in run.stderr


# --- workspaces devenv brought up ----------------------------------------------------------------

UP_CONFIG = {
    "image": "@IMAGE@",
    "containerEnv": {"FOO": "bar", "W": "${localWorkspaceFolderBasename}"},
    "remoteEnv": {"I": "${devcontainerId}", "F": "${containerEnv:FOO}", "P": "${containerEnv:PATH}"},
    "mounts": [{"type": "volume", "source": "rc-${devcontainerId}", "target": "/cache"}],
    "postCreateCommand": "echo created ${localWorkspaceFolderBasename} > /tmp/created",
}


@pytest.fixture(scope="module")
def debian_in_docker(docker_engine: None, debian_image: ImageFixture) -> str:
    ensure_docker_bridge()
    subprocess.run(["docker", "pull", "--quiet", debian_image.ref], check=True, capture_output=True, timeout=600)
    return debian_image.ref


def reference_reads_devenv_docker_workspace(reference_cli: str, devenv_root: Path, workspace: Path) -> dict[str, Any]:
    """Bring the workspace up with devenv on Docker; what both tools read of it then must be equal."""
    args = ("--workspace-folder", str(workspace), "--include-merged-configuration")
    docker = devenv_for(devenv_root, "docker")
    docker.up(workspace)
    try:
        want = reference(reference_cli, *args)
        assert_same(ours(docker, *args), want)
    finally:
        docker("down", "--workspace-folder", str(workspace), "--volumes", check=False)
    assert ours(docker, *args)["configuration"]["remoteEnv"]["I"] == "${devcontainerId}"  # no container now
    return want


def test_devenv_docker_workspace_reads_like_the_reference(
    reference_cli: str, debian_in_docker: str, devenv_root: Path, tmp_path: Path
) -> None:
    workspace = tmp_path / "up-ws"
    write_config(workspace, {**UP_CONFIG, "image": debian_in_docker})
    want = reference_reads_devenv_docker_workspace(reference_cli, devenv_root, workspace)
    remote_env = want["configuration"]["remoteEnv"]
    assert remote_env["F"] == "bar" and remote_env["I"] != "${devcontainerId}"


def test_devenv_embedded_workspace_reads_like_the_reference_reads_docker(
    reference_cli: str, debian_in_docker: str, devenv_root: Path, tmp_path: Path
) -> None:
    """One workspace folder, brought up by devenv on Docker (read by the reference) and then on the
    embedded runtime (read by devenv, which finds the container without being told the runtime)."""
    workspace = tmp_path / "up-ws"
    write_config(workspace, {**UP_CONFIG, "image": debian_in_docker})
    want = reference_reads_devenv_docker_workspace(reference_cli, devenv_root, workspace)
    embedded = devenv_for(devenv_root, "embedded")
    embedded.up(workspace)
    try:
        args = ("--workspace-folder", str(workspace), "--include-merged-configuration")
        got = ours(devenv_for(devenv_root, "docker"), *args)  # DEVENV_RUNTIME=docker: the state says embedded
        assert_same(got, want)
        remote_env = got["configuration"]["remoteEnv"]
        assert remote_env["F"] == "bar" and remote_env["P"].endswith("/usr/bin:/sbin:/bin")
    finally:
        embedded("down", "--workspace-folder", str(workspace), "--volumes", check=False)
