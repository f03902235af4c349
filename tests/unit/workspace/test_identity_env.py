"""Workspace identity (labels, devcontainerId, default mount) and the remote environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.errors import UsageError
from devenv.workspace.environment import merge_paths, parse_probe_output, probe_command, remote_environment
from devenv.workspace.identity import default_id_labels, parse_id_labels, workspace_key
from devenv.workspace.users import parse_passwd_line, resolve_remote_user, user_name, wants_uid_update


def test_devcontainer_id_matches_the_reference_algorithm() -> None:
    # Value computed with the reference's JS (sorted JSON, sha256, BigInt.toString(32), padded to 52).
    labels = default_id_labels("/home/u/proj", "/home/u/proj/.devcontainer/devcontainer.json")
    assert workspace_key(labels) == "14ak8ob72e8kj9tspe40d7s4kp04qkoe2serr1g7b3oea7nffegl"
    assert workspace_key(dict(reversed(list(labels.items())))) == workspace_key(labels)


def test_id_labels_need_name_and_value() -> None:
    assert parse_id_labels(["a=b", "c=d=e"]) == {"a": "b", "c": "d=e"}
    with pytest.raises(UsageError, match="id-label must match <name>=<value>"):
        parse_id_labels(["novalue="])


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
    env = remote_environment(
        {},
        {"A": "${containerEnv:PATH}:/extra", "B": "${containerEnv:NOPE}", "C": "${containerEnv:NOPE:fallback}",
         "D": "${localEnv:X} ${HOME}"},
        container,
    )  # fmt: skip
    assert env == {"A": "/usr/bin:/extra", "B": "", "C": "fallback", "D": "${localEnv:X} ${HOME}"}
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


def test_workspace_key_is_the_config_packages_devcontainer_id() -> None:
    from devenv.config.substitute import devcontainer_id

    for labels in ({"a": "b"}, default_id_labels("/x/ü", "/x/ü/.devcontainer.json"), {"z": "1", "y": "2"}):
        assert workspace_key(labels) == devcontainer_id(labels)


def test_state_data_root_is_the_paths_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from devenv import paths
    from devenv.workspace import state

    monkeypatch.setenv("DEVENV_ROOT", str(tmp_path / "r"))
    assert state.data_root() == str(paths.data_root())
    monkeypatch.delenv("DEVENV_ROOT")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert state.data_root() == str(paths.data_root())


def test_state_round_trip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from devenv.workspace import state

    monkeypatch.setenv("DEVENV_ROOT", str(tmp_path))
    st = state.WorkspaceState("k1", {"a": "b"}, "/w", "/w/.devcontainer.json", "docker", "cid", env={"X": "1"})
    state.save(st)
    loaded = state.load("k1")
    assert loaded is not None and loaded.to_json() == st.to_json()
    assert [s.key for s in state.all_states()] == ["k1"]
    state.forget("k1")
    assert state.load("k1") is None


def test_state_left_empty_or_cut_by_a_power_loss_reads_as_no_state(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """State is written without fsync (a power loss stops the container it describes): what such a loss
    can leave (an empty or cut file) reads as no state, so `up` sets the workspace up again; no
    temporary file is left beside it."""
    from devenv.workspace import state

    monkeypatch.setenv("DEVENV_ROOT", str(tmp_path))
    st = state.WorkspaceState("k2", {"a": "b"}, "/w", "/w/.devcontainer.json", "embedded", "cid")
    state.save(st)
    folder = Path(state.state_dir("k2"))
    assert sorted(p.name for p in folder.iterdir()) == ["state.json"]
    text = (folder / "state.json").read_text()
    for damaged in ("", text[: len(text) // 2]):
        (folder / "state.json").write_text(damaged)
        assert state.load("k2") is None


def test_container_env_is_resolved_across_the_merged_config() -> None:
    from devenv.config.merge import merge_metadata
    from devenv.workspace.environment import with_container_env

    feature = {"id": "ghcr.io/x/y:1", "postCreateCommand": "echo feature ${containerEnv:APP}"}
    config = {
        "remoteUser": "${containerEnv:WHO:dev}",
        "userEnvProbe": "${containerEnv:PROBE:none}",
        "remoteEnv": {"R": "${containerEnv:APP}-r", "U": "${containerEnv:UNSET}"},
        "onCreateCommand": "echo ${containerEnv:APP} > /tmp/x",
        "updateContentCommand": ["echo", "${containerEnv:UNSET:fallback}", "${HOME}"],
        "postStartCommand": {"a": "echo ${containerEnv:APP}", "b": ["echo", "${containerEnv:UNSET}"]},
        "customizations": {"vscode": {"settings": {"path": "${containerEnv:PATH}"}}},
    }
    merged = merge_metadata([feature], [], config)
    env = {"APP": "prod", "PATH": "/usr/bin"}
    out = with_container_env(merged, env)
    assert [h.command for h in out.hook("postCreateCommand")] == ["echo feature prod"]
    assert [h.command for h in out.hook("onCreateCommand")] == ["echo prod > /tmp/x"]
    assert [h.command for h in out.hook("updateContentCommand")] == [("echo", "fallback", "${HOME}")]
    assert [dict(h.command) for h in out.hook("postStartCommand")] == [{"a": "echo prod", "b": ("echo", "")}]  # type: ignore[arg-type]
    assert dict(out.remote_env) == {"R": "prod-r", "U": ""}
    assert (out.remote_user, out.user_env_probe) == ("dev", "none")
    assert out.customizations["vscode"][0]["settings"]["path"] == "/usr/bin"
    assert out.data["remoteEnv"] == {"R": "prod-r", "U": ""}
    # Nothing to resolve: the same object back (no work on the hot path).
    plain = merge_metadata([], [], {"postCreateCommand": "echo ${HOME}"})
    assert with_container_env(plain, env) is plain
