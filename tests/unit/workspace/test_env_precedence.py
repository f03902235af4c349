"""The order of a tool process's environment, as the reference's ``probeRemoteEnv`` builds it:
probed shell env, then ``--remote-env``, then the merged ``remoteEnv`` (its ``${containerEnv:...}``
resolved) — for ``up``'s hooks and for ``exec --remote-env`` alike. The differential test against the
reference CLI is ``tests/integration/test_workspace_reference.py::test_remote_env_precedence_as_the_reference``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devenv.workspace import access
from devenv.workspace import state as states
from devenv.workspace.environment import remote_environment

PROBED = {"P_ONLY": "profile", "P_CFG": "profile", "P_CLI": "profile", "ALL3": "profile", "P_NULL": "profile"}
CONFIG: dict[str, str | None] = {
    "P_CFG": "config",
    "CFG_CLI": "config",
    "ALL3": "config",
    "CE_REF": "${containerEnv:CE}-config",
    "NULL_CLI": None,
    "P_NULL": None,
}
CLI = {"P_CLI": "cli", "CFG_CLI": "cli", "ALL3": "cli", "CE_REF": "cli", "NULL_CLI": "cli", "CLI_ONLY": "cli"}
EXPECTED = {
    "P_ONLY": "profile",
    "P_CFG": "config",
    "P_CLI": "cli",
    "ALL3": "config",
    "CFG_CLI": "config",
    "CE_REF": "container-config",
    "CLI_ONLY": "cli",
}  # NULL_CLI and P_NULL: left out (remoteEnv's null wins over the probe and over --remote-env)


def test_up_env_is_probed_then_cli_then_remote_env() -> None:
    assert remote_environment(PROBED, CONFIG, {"CE": "container"}, extra=CLI) == EXPECTED


def test_exec_remote_env_goes_under_the_config_remote_env() -> None:
    env = remote_environment(PROBED, CONFIG, {"CE": "container"})
    assert access.with_exec_remote_env(env, CLI, list(CONFIG)) == EXPECTED
    # The same as giving the values to `up`: exec's --remote-env is not a stronger layer.
    assert access.with_exec_remote_env(env, CLI, list(CONFIG)) == remote_environment(
        PROBED, CONFIG, {"CE": "container"}, extra=CLI
    )
    assert access.with_exec_remote_env(env, None, list(CONFIG)) == env
    # Keys unknown (a foreign caller's state without them): --remote-env simply goes on top.
    assert access.with_exec_remote_env({"A": "1"}, {"A": "2"}, None) == {"A": "2"}


def test_exec_remote_env_wins_over_up_remote_env() -> None:
    """``up --remote-env`` is remembered for later execs (a devenv extension); an exec's own value wins."""
    env = remote_environment({}, {"R": "config"}, {}, extra={"U": "up", "R": "up"})
    assert access.with_exec_remote_env(env, {"U": "exec", "R": "exec"}, ["R"]) == {"U": "exec", "R": "config"}


def _run_capturing_env(
    monkeypatch: pytest.MonkeyPatch, st: states.WorkspaceState, remote_env: dict[str, str]
) -> dict[str, str]:
    seen: dict[str, Any] = {}

    def fake_exec(st: states.WorkspaceState, argv: Any, env: dict[str, str], *args: Any) -> int:
        seen["env"] = env
        return 0

    monkeypatch.setattr(access, "_runtime_exec", fake_exec)
    target = access.Target(st.workspace_folder, st.config_file, st.id_labels)
    assert access.run(target, ["true"], tty=False, remote_env=remote_env, state=st) == 0
    env: dict[str, str] = seen["env"]
    return env


def test_exec_applies_the_state_remote_env_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "devcontainer.json"
    config.write_text("{}")
    env = remote_environment(PROBED, CONFIG, {"CE": "container"})
    st = states.WorkspaceState(
        "k", {}, str(tmp_path), str(config), "embedded", "cid", env=env, remote_env_keys=list(CONFIG),
        config_stamp=states.config_stamp(str(config)),
    )  # fmt: skip
    assert _run_capturing_env(monkeypatch, st, CLI) == EXPECTED


def test_state_remembers_remote_env_keys_and_old_states_still_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DEVENV_ROOT", str(tmp_path))
    st = states.WorkspaceState("k3", {}, "/w", "/w/c.json", "embedded", "cid", remote_env_keys=["A", "N"])
    states.save(st)
    loaded = states.load("k3")
    assert loaded is not None and loaded.remote_env_keys == ["A", "N"]
    # A state file written before the field existed reads as "not known" (None), not as "no keys".
    path = Path(states.state_dir("k3")) / "state.json"
    data = json.loads(path.read_text())
    del data["remote_env_keys"]
    path.write_text(json.dumps(data))
    old = states.load("k3")
    assert old is not None and old.remote_env_keys is None and old.container_id == "cid"


def test_old_state_is_recomputed_before_exec_remote_env_applies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A state without the keys: an exec with --remote-env recomputes the environment (which learns the
    keys) first; one without --remote-env uses the state as it is."""
    config = tmp_path / "devcontainer.json"
    config.write_text("{}")
    st = states.WorkspaceState(
        "k", {}, str(tmp_path), str(config), "embedded", "cid", env={"A": "config"},
        config_stamp=states.config_stamp(str(config)),
    )  # fmt: skip
    refreshed: list[states.WorkspaceState] = []

    def fake_refresh(st: states.WorkspaceState) -> dict[str, str]:
        refreshed.append(st)
        st.remote_env_keys = ["A"]
        return {"A": "config"}

    import devenv.workspace.refresh

    monkeypatch.setattr(devenv.workspace.refresh, "refresh_env", fake_refresh)
    assert access.exec_env(st) == {"A": "config"} and refreshed == []
    assert _run_capturing_env(monkeypatch, st, {"A": "cli", "B": "cli"}) == {"A": "config", "B": "cli"}
    assert refreshed == [st]
