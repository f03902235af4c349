"""The workspace container spec: mounts, the keep-alive command, metadata entries (pure parts)."""

from __future__ import annotations

from typing import Any

import pytest

from devenv.config import loads, merge_metadata
from devenv.errors import UsageError
from devenv.runtime.base import Container, ContainerSpec, ContainerStatus, MountSpec
from devenv.workspace.spec import (
    WorkspaceMounts,
    check_mount_arg,
    keep_alive_command,
    mount_from_config,
    parse_mount,
    workspace_spec,
)
from devenv.workspace.up import changed_properties, image_entries, merged_for_container


def test_parse_mount_forms() -> None:
    assert parse_mount("type=bind,source=/a,target=/b") == MountSpec("bind", "/b", "/a")
    assert parse_mount("src=/a,dst=/b,type=bind,readonly") == MountSpec("bind", "/b", "/a", read_only=True)
    assert parse_mount("target=/cache") == MountSpec("volume", "/cache", "")
    assert parse_mount('type=bind,"source=/a,b","target=/w/a,b"') == MountSpec("bind", "/w/a,b", "/a,b")
    assert parse_mount({"type": "volume", "source": "v", "target": "/data"}) == MountSpec("volume", "/data", "v")
    with pytest.raises(UsageError, match="no target"):
        parse_mount("type=bind,source=/a")
    with pytest.raises(UsageError, match="not supported"):
        parse_mount("type=npipe,target=/x")


def test_mount_arg_format_is_the_references() -> None:
    assert check_mount_arg("type=bind,source=/a,target=/b,external=true")
    with pytest.raises(UsageError, match="mount must match"):
        check_mount_arg("source=/a,target=/b")


def merged(config: dict[str, Any], entries: list[dict[str, Any]] | None = None) -> Any:
    return merge_metadata(entries or [], [], config)


def test_keep_alive_runs_feature_entrypoints_and_the_image_command_only_without_override() -> None:
    m = merged({"overrideCommand": True}, [{"id": "f", "entrypoint": "/usr/local/share/start.sh"}])
    argv = keep_alive_command(m, ["/entry"], ["serve"])
    assert argv[:2] == ("/bin/sh", "-c") and argv[3] == "-" and len(argv) == 4
    assert "/usr/local/share/start.sh" in argv[2] and 'trap "exit 0" 15' in argv[2]
    argv = keep_alive_command(merged({"overrideCommand": False}), ["/entry"], ["serve"])
    assert argv[3:] == ("-", "/entry", "serve")


def test_workspace_spec_env_user_and_security() -> None:
    m = merged(
        {"containerEnv": {"PATH": "/x:/usr/bin", "A": "1"}, "containerUser": "app", "capAdd": ["SYS_PTRACE"]},
        [{"id": "f", "privileged": True, "init": True, "securityOpt": ["seccomp=unconfined"]}],
    )
    spec = workspace_spec(
        image="img",
        name="ws-1",
        labels={"k": "v"},
        settings=m,
        mounts=WorkspaceMounts(MountSpec("bind", "/workspaces/p", "/src/p"), (MountSpec("volume", "/c", "v"),)),
        image_env=["PATH=/usr/bin", "LANG=C"],
        image_entrypoint=[],
        image_cmd=["bash"],
    )
    assert spec.env == ("LANG=C", "PATH=/x:/usr/bin", "A=1")
    assert spec.user == "app" and spec.privileged and spec.init
    assert spec.cap_add == ("SYS_PTRACE",) and spec.security_opt == ("seccomp=unconfined",)
    assert [m.target for m in spec.mounts] == ["/workspaces/p", "/c"]


def test_mount_from_config_keeps_the_written_form() -> None:
    loaded = loads('{"image": "x", "mounts": ["source=/h,target=/t,type=bind", {"type": "volume", "target": "/v"}]}',
                   "/w/.devcontainer/devcontainer.json", "/w")  # fmt: skip
    mounts = [mount_from_config(m) for m in merge_metadata([], [], loaded.data).mounts]
    assert mounts == [MountSpec("bind", "/t", "/h"), MountSpec("volume", "/v", "")]


def test_image_entries_drop_the_config_entry_a_built_image_ends_with() -> None:
    loaded = loads('{"image": "x", "postCreateCommand": "make"}', "/w/.devcontainer/devcontainer.json", "/w")
    base = [{"remoteUser": "vscode"}, {"id": "ghcr.io/f/node:1", "postCreateCommand": "npm i"}]
    assert image_entries([*base, {"postCreateCommand": "make"}], loaded) == base
    assert image_entries(base, loaded) == base


def container_with(labels: dict[str, str]) -> Container:
    return Container("id", "n", ContainerSpec("img", labels=labels), ContainerStatus.RUNNING, 0.0)


def test_existing_container_uses_its_image_entries_and_the_current_config() -> None:
    loaded = loads('{"image": "x", "postStartCommand": "new"}', "/w/.devcontainer/devcontainer.json", "/w")
    label = '[{"id":"f","postStartCommand":"feature"},{"postStartCommand":"old"}]'
    ours = merged_for_container(
        container_with({"devcontainer.metadata": label, "dev.devenv.image_entries": "1"}), loaded
    )
    assert [h.command for h in ours.hook("postStartCommand")] == ["feature", "new"]
    # A container another tool made: its entries, plus only remoteUser/userEnvProbe/remoteEnv of today's config.
    theirs = merged_for_container(container_with({"devcontainer.metadata": label}), loaded)
    assert [h.command for h in theirs.hook("postStartCommand")] == ["feature", "old"]


def test_changed_properties() -> None:
    c = container_with({"dev.devenv.config": '{"image":"aaa","containerEnv":"bbb"}'})
    assert changed_properties(c, {"image": "aaa", "containerEnv": "ccc", "mounts": "ddd"}) == ("containerEnv", "mounts")
    assert changed_properties(container_with({}), {"image": "x"}) == ()


def test_run_args_apply_over_the_spec_and_unknown_ones_are_named() -> None:
    from devenv.runtime.base import PortMapping
    from devenv.workspace.runargs import apply_run_args

    base = ContainerSpec("img", env=("A=1",), user="root", cap_add=("X",))
    spec, warnings = apply_run_args(
        base,
        ["--cap-add=SYS_PTRACE", "--security-opt", "seccomp=unconfined", "-e", "A=2", "--env=B=3", "--privileged",
         "-u", "dev", "--network=host", "-v", "/h:/c:ro", "-p", "127.0.0.1:9000:80", "--memory", "1g",
         "--device", "/dev/fuse", "--rm", "--label", "k=v"],
    )  # fmt: skip
    assert spec.cap_add == ("X", "SYS_PTRACE") and spec.security_opt == ("seccomp=unconfined",)
    assert spec.env == ("A=2", "B=3") and spec.privileged and spec.user == "dev" and spec.network == "host"
    assert spec.mounts == (MountSpec("bind", "/c", "/h", read_only=True),)
    assert spec.ports == (PortMapping(80, 9000, "127.0.0.1", require_local_port=True),)
    assert spec.resources.memory_bytes == 1 << 30 and spec.labels["k"] == "v"
    assert warnings == ["runArgs: --device /dev/fuse is not supported by devenv (ignored)"]
