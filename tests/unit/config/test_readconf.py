"""read-configuration's logic around the file: the container it substitutes from, the image label it merges,
the Dockerfile base image, --override-config, --additional-features, git worktrees. Fakes stand in for the
runtime and the image store here; tests/conformance/test_readconf_sources.py runs the real ones against
the reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from devenv.config import ReadConfigurationOptions, devcontainer_id, read_configuration
from devenv.config.locator import worktree_mounts
from devenv.config.readconf import WorkspaceContainer, parse_additional_features
from devenv.config.sources import dockerfile_base_image
from devenv.errors import ConfigError, DevenvError, UsageError

REPO = Path(__file__).resolve().parents[3]
ENV = {"HOME": "/root", "USER": "me"}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


class FakeRuntime:
    """Containers by labels, as a runtime lists them; records the lookups."""

    def __init__(self, *containers: WorkspaceContainer) -> None:
        self.containers = list(containers)
        self.lookups: list[tuple[dict[str, str], str | None]] = []

    def __call__(self, labels: Mapping[str, str], container_id: str | None) -> WorkspaceContainer | None:
        self.lookups.append((dict(labels), container_id))
        if container_id is not None:
            found = [c for c in self.containers if c.id == container_id]
            if not found:
                raise DevenvError(f"no such container: {container_id}")
            return found[0]
        matching = [c for c in self.containers if all(c.labels.get(k) == v for k, v in labels.items())]
        return matching[0] if matching else None


CONFIG = {
    "image": "img",
    "name": "n-${devcontainerId}",
    "workspaceFolder": "/w/${devcontainerId}",
    "remoteEnv": {"P": "${containerEnv:PATH}", "M": "${containerEnv:MISSING:dflt}", "L": "${localEnv:USER}"},
    "remoteUser": "${containerEnv:WHO}",
    "postCreateCommand": "make",
}


def workspace_with(tmp_path: Path, config: dict[str, Any] = CONFIG) -> tuple[Path, Path]:
    folder = tmp_path / "ws"
    path = write(folder / ".devcontainer" / "devcontainer.json", json.dumps(config))
    return folder, path


def id_labels(folder: Path, config: Path) -> dict[str, str]:
    return {"devcontainer.local_folder": str(folder), "devcontainer.config_file": str(config)}


def test_without_a_container_the_later_phases_wait(tmp_path: Path) -> None:
    folder, _ = workspace_with(tmp_path)
    runtime = FakeRuntime()
    out = read_configuration(ReadConfigurationOptions(str(folder), env=ENV), container=runtime).output
    assert out["configuration"]["name"] == "n-${devcontainerId}"
    assert out["configuration"]["remoteEnv"] == {
        "P": "${containerEnv:PATH}",
        "M": "${containerEnv:MISSING:dflt}",
        "L": "me",
    }
    # Looked up by folder + config file, then (legacy containers) by the folder alone.
    assert [sorted(labels) for labels, _ in runtime.lookups] == [
        ["devcontainer.config_file", "devcontainer.local_folder"],
        ["devcontainer.local_folder"],
    ]


def test_a_container_found_by_its_labels_substitutes_id_and_env(tmp_path: Path) -> None:
    folder, config = workspace_with(tmp_path)
    labels = id_labels(folder, config)
    container = WorkspaceContainer("c1", {**labels, "other": "x"}, ("PATH=/bin:/usr/bin", "WHO=alice", "EMPTY="))
    result = read_configuration(ReadConfigurationOptions(str(folder), env=ENV), container=FakeRuntime(container))
    the_id = devcontainer_id(labels)
    configuration = result.output["configuration"]
    assert result.container == container
    assert configuration["name"] == f"n-{the_id}"
    assert configuration["workspaceFolder"] == f"/w/{the_id}"
    assert configuration["remoteEnv"] == {"P": "/bin:/usr/bin", "M": "dflt", "L": "me"}
    assert configuration["remoteUser"] == "alice"
    # The workspace object keeps the first phase, as the reference prints it.
    assert result.output["workspace"]["workspaceFolder"] == "/w/${devcontainerId}"


def test_a_legacy_container_with_only_the_folder_label_gives_the_id_of_that_label(tmp_path: Path) -> None:
    folder, _ = workspace_with(tmp_path)
    legacy = WorkspaceContainer("old", {"devcontainer.local_folder": str(folder)}, ("WHO=bob",))
    out = read_configuration(ReadConfigurationOptions(str(folder), env=ENV), container=FakeRuntime(legacy)).output
    assert out["configuration"]["name"] == "n-" + devcontainer_id({"devcontainer.local_folder": str(folder)})
    assert out["configuration"]["remoteUser"] == "bob"


def test_the_container_of_another_config_in_the_folder_is_not_the_workspaces(tmp_path: Path) -> None:
    folder, _ = workspace_with(tmp_path)
    labels = {"devcontainer.local_folder": str(folder), "devcontainer.config_file": "/else/devcontainer.json"}
    out = read_configuration(
        ReadConfigurationOptions(str(folder), env=ENV), container=FakeRuntime(WorkspaceContainer("other", labels))
    ).output
    assert out["configuration"]["name"] == "n-${devcontainerId}"


def test_only_id_labels_and_no_config(tmp_path: Path) -> None:
    container = WorkspaceContainer("c", {"project": "p", "devcontainer.metadata": '[{"remoteUser": "u"}]'})
    options = ReadConfigurationOptions(id_labels=("project=p",), include_merged_configuration=True, cwd=str(tmp_path))
    out = read_configuration(options, container=FakeRuntime(container)).output
    assert out["configuration"] == {}
    assert "workspace" not in out
    assert out["mergedConfiguration"]["remoteUser"] == "u"


def test_merged_configuration_of_a_container_with_its_id_labels(tmp_path: Path) -> None:
    folder, config = workspace_with(tmp_path)
    label = [{"remoteUser": "from-label", "postCreateCommand": "label-hook ${containerEnv:WHO}"}]
    container = WorkspaceContainer(
        "c", {**id_labels(folder, config), "devcontainer.metadata": json.dumps(label)}, ("WHO=carol",)
    )
    options = ReadConfigurationOptions(str(folder), env=ENV, include_merged_configuration=True)
    merged = read_configuration(options, container=FakeRuntime(container)).output["mergedConfiguration"]
    # The label, then devcontainer.json's remoteUser/userEnvProbe/remoteEnv only: its hooks need a new container.
    assert merged["postCreateCommands"] == ["label-hook carol"]
    assert merged["remoteUser"] == "carol"
    assert merged["remoteEnv"]["M"] == "dflt"


def test_merged_configuration_of_a_container_without_the_id_labels(tmp_path: Path) -> None:
    folder, _ = workspace_with(tmp_path)
    label = [{"remoteUser": "from-label", "postCreateCommand": "label-hook"}]
    container = WorkspaceContainer("c9", {"devcontainer.metadata": json.dumps(label)}, ("WHO=dave",))
    options = ReadConfigurationOptions(
        str(folder), env=ENV, include_merged_configuration=True, container_id="c9", id_labels=("x=y",)
    )
    merged = read_configuration(options, container=FakeRuntime(container)).output["mergedConfiguration"]
    assert merged["postCreateCommands"] == ["label-hook", "make"]
    assert merged["remoteUser"] == "dave"
    assert merged["name"] == "n-" + devcontainer_id({"x": "y"})


def test_merged_configuration_from_the_image_label(tmp_path: Path) -> None:
    folder, _ = workspace_with(tmp_path, {"image": "img", "postCreateCommand": "mine"})
    seen: list[str] = []

    def image_metadata(loaded: Any) -> list[dict[str, Any]]:
        seen.append(loaded.config.image)
        return [{"postCreateCommand": "base ${localWorkspaceFolderBasename}", "remoteUser": "base"}]

    options = ReadConfigurationOptions(str(folder), env=ENV, include_merged_configuration=True)
    merged = read_configuration(options, image_metadata=image_metadata).output["mergedConfiguration"]
    assert seen == ["img"]
    assert merged["postCreateCommands"] == ["base ws", "mine"]
    assert merged["remoteUser"] == "base"


def test_no_image_lookup_without_the_merged_configuration(tmp_path: Path) -> None:
    folder, _ = workspace_with(tmp_path)

    def image_metadata(loaded: Any) -> list[dict[str, Any]]:
        raise AssertionError("the image was looked up")

    read_configuration(ReadConfigurationOptions(str(folder), env=ENV), image_metadata=image_metadata)


def test_unknown_container_id_is_an_error(tmp_path: Path) -> None:
    folder, _ = workspace_with(tmp_path)
    with pytest.raises(DevenvError, match="no such container"):
        read_configuration(ReadConfigurationOptions(str(folder), container_id="nope"), container=FakeRuntime())


# --- the base image of a Dockerfile ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dockerfile", "args", "target", "expected"),
    [
        ("FROM debian:12\nRUN true\n", {}, None, "debian:12"),
        ("ARG V=11\nFROM debian:${V}\n", {}, None, "debian:11"),
        ("ARG V=11\nFROM debian:${V}\n", {"V": "12"}, None, "debian:12"),
        ("FROM debian:${UNDECLARED:-x}\n", {"UNDECLARED": "ignored"}, None, "debian:x"),
        ("ARG B=a\nFROM ${B} AS base\nFROM base AS dev\nFROM base\nFROM scratch AS last\n", {}, "dev", "a"),
        ("FROM one AS a\nFROM two AS b\nFROM a\n", {}, None, "one"),
        ("FROM one AS A\nFROM a\n", {}, None, "one"),  # stage names are case-insensitive
        ("FROM scratch\n", {}, None, None),
        ("FROM one AS a\n", {}, "missing", None),
        ("FROM --platform=$BUILDPLATFORM img:${TARGETARCH}\n", {}, None, "img:amd64"),
    ],
)
def test_dockerfile_base_image(dockerfile: str, args: dict[str, str], target: str | None, expected: str | None) -> None:
    assert dockerfile_base_image(dockerfile, "Dockerfile", args, target, platform="linux/amd64") == expected


# --- --override-config, --additional-features, worktrees, .code-workspace ----------------------------


def test_override_config_errors_point_into_the_override_file(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    folder.mkdir()
    override = write(tmp_path / "over.json", '{\n  "image": 3\n}')
    with pytest.raises(ConfigError) as info:
        read_configuration(ReadConfigurationOptions(str(folder), override_config=str(override)))
    assert f"{override}:2:" in str(info.value.render())
    with pytest.raises(ConfigError, match="not found"):
        read_configuration(ReadConfigurationOptions(str(folder), override_config=str(tmp_path / "missing.json")))


def test_additional_features_are_a_jsonc_object() -> None:
    assert parse_additional_features('{"./a": {}, // note\n "b": "1",}') == {"./a": {}, "b": "1"}
    with pytest.raises(UsageError, match="JSON object"):
        parse_additional_features('["./a"]')
    with pytest.raises(ConfigError) as info:
        parse_additional_features('{"./a": }')
    assert "--additional-features:1:" in info.value.render()


def test_worktree_mounts(tmp_path: Path) -> None:
    wt = tmp_path / "trees" / "wt"
    write(wt / ".git", "gitdir: ../../main/.git/worktrees/wt\r\n")
    assert worktree_mounts(str(wt)) == (
        "/workspaces/trees/wt",
        f"type=bind,source={tmp_path}/main/.git,target=/workspaces/main/.git",
    )
    write(wt / ".git", f"gitdir: {tmp_path}/main/.git/worktrees/wt\n")
    assert worktree_mounts(str(wt)) is None  # an absolute gitdir: nothing to do, as the reference
    (wt / ".git").unlink()
    (wt / ".git").mkdir()
    assert worktree_mounts(str(wt)) is None  # a repository, not a worktree


def test_a_code_workspace_file_gets_a_clear_error(tmp_path: Path) -> None:
    write(tmp_path / ".devcontainer" / "devcontainer.json", '{"image": "x"}')
    file = write(tmp_path / "app.code-workspace", '{"folders": [{"path": "."}]}')
    with pytest.raises(ConfigError, match="code-workspace") as info:
        read_configuration(ReadConfigurationOptions(str(file)))
    assert info.value.remedy is not None and str(tmp_path) in info.value.remedy


# --- speed: no runtime import to find that there is no container --------------------------------------


def test_looking_for_a_container_imports_no_runtime(tmp_path: Path) -> None:
    """With no state for the workspace and no embedded container with its labels, read-configuration
    decides there is no container from plain files: neither the runtime nor its contract is imported."""
    folder, _ = workspace_with(tmp_path)
    root = tmp_path / "root"
    other = root / "containers" / "c1" / "container.json"
    write(other, json.dumps({"id": "c1", "spec": {"labels": {"devcontainer.local_folder": "/elsewhere"}}}))
    script = (
        "import sys\n"
        "from devenv import api\n"
        "from devenv.config.readconf import ReadConfigurationOptions\n"
        f"out = api.read_configuration(ReadConfigurationOptions({str(folder)!r})).output\n"
        "assert out['configuration']['name'] == 'n-${devcontainerId}', out\n"
        "print(sorted(m for m in sys.modules if m.startswith(('devenv.runtime.embedded.runtime', 'devenv.runtime.base',"
        " 'devenv.workspace.up', 'devenv.store', 'devenv.build'))))\n"
    )
    env = {**os.environ, "DEVENV_ROOT": str(root), "PYTHONPATH": str(REPO)}
    env.pop("DEVENV_RUNTIME", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
