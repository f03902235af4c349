"""Workspace identity (labels, devcontainerId, default mount) and the remote environment."""

from __future__ import annotations

import pytest

from devenv.errors import UsageError
from devenv.workspace.environment import (
    merge_paths,
    parse_probe_output,
    probe_command,
    remote_environment,
    substitute_container_env,
)
from devenv.workspace.identity import (
    default_id_labels,
    default_workspace_mount,
    devcontainer_id,
    parse_id_labels,
    workspace_mount_string,
)
from devenv.workspace.users import parse_passwd_line, resolve_remote_user, user_name, wants_uid_update


def test_devcontainer_id_matches_the_reference_algorithm() -> None:
    # Value computed with the reference's JS (sorted JSON, sha256, BigInt.toString(32), padded to 52).
    labels = default_id_labels("/home/u/proj", "/home/u/proj/.devcontainer/devcontainer.json")
    assert devcontainer_id(labels) == "14ak8ob72e8kj9tspe40d7s4kp04qkoe2serr1g7b3oea7nffegl"
    assert devcontainer_id(dict(reversed(list(labels.items())))) == devcontainer_id(labels)


def test_id_labels_need_name_and_value() -> None:
    assert parse_id_labels(["a=b", "c=d=e"]) == {"a": "b", "c": "d=e"}
    with pytest.raises(UsageError, match="id-label must match <name>=<value>"):
        parse_id_labels(["novalue="])


def test_default_mount_uses_the_git_root_and_keeps_the_relative_folder() -> None:
    m = default_workspace_mount("/src/repo/sub/dir", "/src/repo")
    assert (m.host_folder, m.container_mount, m.workspace_folder) == (
        "/src/repo",
        "/workspaces/repo",
        "/workspaces/repo/sub/dir",
    )
    m = default_workspace_mount("/src/plain", None)
    assert (m.host_folder, m.container_mount, m.workspace_folder) == (
        "/src/plain",
        "/workspaces/plain",
        "/workspaces/plain",
    )
    assert workspace_mount_string(m) == "type=bind,source=/src/plain,target=/workspaces/plain"
    odd = default_workspace_mount("/src/a,b", None)
    assert workspace_mount_string(odd) == 'type=bind,"source=/src/a,b","target=/workspaces/a,b"'


def test_probe_command_and_output() -> None:
    argv, _ = probe_command("/bin/bash", "loginInteractiveShell", mark="M")
    assert argv == ["/bin/bash", "-lic", "echo -n M; cat /proc/self/environ; echo -n M"]
    assert probe_command("/bin/sh", "loginShell", mark="M")[0][1] == "-lc"
    assert probe_command("/bin/sh", "interactiveShell", mark="M")[0][1] == "-ic"
    out = b"motd noise\nX1Y" + b"HOME=/root\0PATH=/bin:/usr/bin\0PWD=/x\0EMPTY=\0" + b"X1Y trailing"
    assert parse_probe_output(out, "X1Y") == {"HOME": "/root", "PATH": "/bin:/usr/bin", "EMPTY": ""}
    assert parse_probe_output(b"no marks", "X1Y") is None


def test_merge_paths_like_the_reference() -> None:
    assert merge_paths("/a:/usr/bin", "/usr/local/sbin:/usr/bin:/bin", root_user=False) == "/a:/usr/bin:/bin"
    assert merge_paths("/a:/usr/bin", "/usr/local/sbin:/usr/bin:/bin", root_user=True) == (
        "/usr/local/sbin:/a:/usr/bin:/bin"
    )


def test_remote_env_resolves_container_env_references() -> None:
    container = {"PATH": "/usr/bin", "HOME": "/home/dev"}
    assert substitute_container_env("${containerEnv:PATH}:/extra", container) == "/usr/bin:/extra"
    assert substitute_container_env("${containerEnv:NOPE}", container) == ""
    assert substitute_container_env("${containerEnv:NOPE:fallback}", container) == "fallback"
    assert substitute_container_env("${localEnv:X} ${HOME}", container) == "${localEnv:X} ${HOME}"
    env = remote_environment(
        {"PATH": "/usr/bin", "DROP": "1", "KEEP": "k"},
        {"PATH": "${containerEnv:PATH}:/opt/bin", "DROP": None, "NEW": "n"},
        container,
        extra={"KEEP": "from-cli"},
    )
    assert env == {"PATH": "/usr/bin:/opt/bin", "KEEP": "from-cli", "NEW": "n"}


def test_users() -> None:
    entry = parse_passwd_line("dev:x:1000:1001:Dev:/home/dev:/bin/bash\n")
    assert entry is not None and (entry.uid, entry.gid, entry.home, entry.shell) == (
        1000,
        1001,
        "/home/dev",
        "/bin/bash",
    )
    assert parse_passwd_line("broken") is None
    assert user_name("0") == "root" and user_name("dev:staff") == "dev"
    assert resolve_remote_user(None, None, None) == "root"
    assert resolve_remote_user(None, "app", "img") == "app"
    assert resolve_remote_user("dev", "app", None) == "dev"
    assert wants_uid_update(None, "dev") and not wants_uid_update(False, "dev")
    assert not wants_uid_update(True, "root") and not wants_uid_update(True, "1000")
