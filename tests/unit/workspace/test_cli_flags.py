"""The logic behind ``up --secrets-file`` / ``--dotfiles-*`` and the fast paths' option parsing.

The dotfiles install script is run for real here, with the host's /bin/sh and git, in a temporary home.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devenv.cli.workspace_fast import _parse_up, fast_exec
from devenv.errors import DevenvError, UsageError
from devenv.events import RecordingReporter
from devenv.workspace.dotfiles import Dotfiles, install_script, repository_url
from devenv.workspace.secrets import MASK, MaskingReporter, read_secrets_file


def test_secrets_file_read_with_comments_numbers_and_booleans(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{\n  // a comment\n  "A": "x=y", "N": 42, "B": true, "F": 1.5,\n}')
    assert read_secrets_file(str(path)) == {"A": "x=y", "N": "42", "B": "true", "F": "1.5"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "cannot read the secrets file"),
        ("{", "not valid JSON"),
        ('"x"', "must hold a JSON object, not a string"),
        ('{"A": null}', "the value of 'A' must be a string, not null"),
        ('{"A=B": "1"}', "'A=B' is not a valid environment variable name"),
    ],
)
def test_secrets_file_errors_name_the_file(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "s.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UsageError) as info:
        read_secrets_file(str(path))
    assert str(path) in info.value.message
    assert message in info.value.render()


def test_masking_reporter_hides_values_everywhere() -> None:
    inner = RecordingReporter()
    masking = MaskingReporter(inner, {"A": "abc", "B": "abcdef", "EMPTY": ""})
    masking.event("hook.output", line="x abcdef y abc", message="[h] abc", items=["abc", {"k": "abc"}], n=3)
    _kind, fields = inner.events[0]
    assert fields == {
        "line": f"x {MASK} y {MASK}",
        "message": f"[h] {MASK}",
        "items": [MASK, {"k": MASK}],
        "n": 3,
    }
    error = DevenvError("failed with abc", detail="out: abcdef", remedy="abc")
    masking.mask_error(error)
    assert (error.message, error.detail, error.remedy, str(error)) == (
        f"failed with {MASK}",
        f"out: {MASK}",
        MASK,
        f"failed with {MASK}",
    )


def test_repository_url_rules() -> None:
    assert repository_url("owner/dots") == "https://github.com/owner/dots.git"
    assert repository_url("https://git.example/dots.git") == "https://git.example/dots.git"
    assert repository_url("git@host:dots.git") == "git@host:dots.git"
    assert repository_url("/srv/dots") == "/srv/dots"
    assert repository_url("./dots") == "./dots"
    assert repository_url("../dots") == "../dots"


def _repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "d"], cwd=path, check=True)
    return path


def _run(script: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": os.environ["PATH"]}
    return subprocess.run(["/bin/sh", "-c", script], env=env, cwd=home, capture_output=True, text=True)


def test_install_script_runs_the_first_install_script_once(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path / "dots",
        {"setup.sh": "echo setup >> $HOME/ran\n", "bootstrap": "echo bootstrap >> $HOME/ran\n", ".vimrc": "x\n"},
    )
    home = tmp_path / "home"
    home.mkdir()
    script = install_script(Dotfiles(str(repo)))
    first = _run(script, home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (home / "ran").read_text() == "bootstrap\n"  # bootstrap comes before setup.sh
    assert os.access(home / "dotfiles" / "bootstrap", os.X_OK)  # made executable
    assert not (home / ".vimrc").exists()  # an install script: no symlinks
    assert (home / ".devcontainer" / ".dotfilesMarker").exists()
    again = _run(script, home)
    assert again.returncode == 0 and (home / "ran").read_text() == "bootstrap\n"


def test_install_script_links_dotfiles_without_an_install_script(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "dots", {".bashrc": "b\n", ".config/x": "c\n", "README.md": "r\n", ".z": "z\n"})
    home = tmp_path / "home"
    home.mkdir()
    result = _run(install_script(Dotfiles(str(repo), target_path="~/my dots")), home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.readlink(home / ".bashrc") == f"{home}/my dots/.bashrc"
    assert os.readlink(home / ".config") == f"{home}/my dots/.config"
    assert not (home / ".git").exists() and not (home / "README.md").exists()
    assert not (home / ".z").exists()  # the reference's filter leaves out two-character names


def test_install_script_with_a_command(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "dots", {"tools/go.sh": "echo go:$1 > $HOME/ran\n", "install.sh": "exit 9\n"})
    home = tmp_path / "home"
    home.mkdir()
    target = tmp_path / "clone"
    ok = _run(install_script(Dotfiles(str(repo), "tools/go.sh", str(target))), home)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (home / "ran").read_text() == "go:\n"
    missing_home = tmp_path / "home2"
    missing_home.mkdir()
    missing = _run(install_script(Dotfiles(str(repo), "nope.sh", str(tmp_path / "clone2"))), missing_home)
    assert missing.returncode == 126 and "Could not locate nope.sh" in missing.stdout


def test_fast_up_accepts_the_ignored_options_and_defers_the_rare_ones() -> None:
    parsed = _parse_up(
        ["--workspace-folder", "/w", "--log-level", "trace", "--terminal-columns=80", "--buildkit", "never",
         "--skip-feature-auto-mapping", "--experimental-lockfile", "--frozen-lockfile", "--docker-path", "d"]
    )  # fmt: skip
    assert parsed is not None
    opts, log_format = parsed
    assert opts == {"workspace_folder": "/w", "frozen_lockfile": True}
    assert log_format is None
    for rare in ("--secrets-file", "--override-config", "--dotfiles-repository", "--include-configuration"):
        assert _parse_up(["--workspace-folder", "/w", rare, "x"]) is None


def test_fast_exec_defers_the_rare_options(devenv_root: Path) -> None:
    for rare in ("--override-config", "--default-user-env-probe"):
        assert fast_exec([rare, "x", "true"]) is None
    # --container-id of a container no workspace knows: the full command handles it.
    assert fast_exec(["--container-id", "0123456789ab", "true"]) is None


def test_state_of_container_by_id_prefix_or_name(devenv_root: Path) -> None:
    from devenv.workspace import state as states
    from devenv.workspace.by_container import state_of_container

    for key, cid, name in (("k1", "abcd1234" * 8, "one"), ("k2", "abcd9999" * 8, "two")):
        states.save(states.WorkspaceState(key, {}, "/w", "/w/c.json", "embedded", cid, name))
    found = state_of_container("one")
    assert found is not None and found.key == "k1"
    found = state_of_container("abcd9999")
    assert found is not None and found.key == "k2"
    assert state_of_container("abc") is None  # prefixes shorter than 4 characters are not taken
    assert state_of_container("nothere") is None
    with pytest.raises(DevenvError, match="matches 2 workspaces"):
        state_of_container("abcd")


def test_fast_up_leaves_a_bad_probe_value_to_the_full_command() -> None:
    assert _parse_up(["--default-user-env-probe", "bogus"]) is None
    assert _parse_up(["--default-user-env-probe", "none"]) == ({"default_user_env_probe": "none"}, None)


def test_fast_exec_skips_the_ignored_boolean_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # (they are skipped, not taken for the command: the lookup of the workspace is what fails here)
    from devenv.cli import main

    reported: list[str] = []

    def report(exc: BaseException, code: int, message: str, *rest: object) -> int:
        reported.append(message)
        return code

    monkeypatch.setattr(main, "_report", report)
    code = fast_exec(["--mount-workspace-git-root", "--workspace-folder", str(tmp_path), "true"])
    assert code is not None and code != 0
    assert reported and "no dev container config found" in reported[0]


# The reference's options (devcontainers/cli 0.89, `<command> --help`; --skip-feature-auto-mapping is hidden there)
# that mean nothing to devenv, per command: devenv must accept each and behave exactly as without it.
_COMMON_NO_OPS = ["--log-level", "--terminal-columns", "--terminal-rows", "--docker-path", "--user-data-folder",
                  "--container-data-folder", "--container-system-data-folder"]  # fmt: skip
REFERENCE_NO_OPS = {
    "up": [*_COMMON_NO_OPS, "--docker-compose-path", "--container-session-data-folder", "--buildkit",
           "--workspace-mount-consistency", "--gpu-availability", "--skip-feature-auto-mapping"],
    "exec": [*_COMMON_NO_OPS, "--docker-compose-path", "--mount-workspace-git-root", "--no-mount-workspace-git-root",
             "--mount-git-worktree-common-dir"],
    "run-user-commands": [*_COMMON_NO_OPS, "--docker-compose-path", "--container-session-data-folder"],
    "set-up": [*_COMMON_NO_OPS, "--container-session-data-folder"],
}  # fmt: skip
_NO_OP_BOOLEANS = {
    "--skip-feature-auto-mapping",
    "--mount-workspace-git-root",
    "--no-mount-workspace-git-root",
    "--mount-git-worktree-common-dir",
}
_BASE_ARGV = {
    "up": ["--workspace-folder", "/w"],
    "exec": ["--workspace-folder", "/w"],
    "run-user-commands": ["--workspace-folder", "/w"],
    "set-up": ["--container-id", "c0ffee"],
}


def _what_reaches_the_api(command: str, extra: list[str], monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Run the typer command with the api replaced by a recorder: what the command passed on."""
    from typer.testing import CliRunner

    from devenv import api
    from devenv.cli.app import app

    class Result:
        def to_json(self) -> dict[str, object]:
            return {"outcome": "success"}

    seen: list[object] = []

    def record(opts: object, reporter: object = None) -> Result:
        seen.append(opts)
        return Result()

    def record_exec(argv: list[str], **kwargs: object) -> int:
        seen.append((argv, kwargs))
        return 0

    attribute = {"up": "up", "run-user-commands": "run_user_commands", "set-up": "set_up"}.get(command)
    if attribute:
        monkeypatch.setattr(api, attribute, record)
    else:
        monkeypatch.setattr(api, "exec_in_workspace", record_exec)
    tail = ["--", "true"] if command == "exec" else []
    result = CliRunner().invoke(app, [command, *_BASE_ARGV[command], *extra, *tail])
    assert result.exit_code == 0, result.output
    return seen


@pytest.mark.parametrize(
    ("command", "flag"), [(command, flag) for command, flags in REFERENCE_NO_OPS.items() for flag in flags]
)
def test_every_command_accepts_the_reference_options_that_mean_nothing_to_devenv(
    command: str, flag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    without = _what_reaches_the_api(command, [], monkeypatch)
    extra = [flag] if flag in _NO_OP_BOOLEANS else [flag, "x"]
    with_flag = _what_reaches_the_api(command, extra, monkeypatch)
    assert len(without) == 1
    assert with_flag == without  # (for exec, a flag typer did not take would have joined the command)


@pytest.mark.parametrize("command", sorted(REFERENCE_NO_OPS))
def test_help_says_the_reference_options_have_no_effect(command: str) -> None:
    import typer.core
    import typer.main

    from devenv.cli.app import app

    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    options = [param for param in group.commands[command].params if isinstance(param, typer.core.TyperOption)]
    for flag in REFERENCE_NO_OPS[command]:
        option = next((option for option in options if flag in (*option.opts, *option.secondary_opts)), None)
        assert option is not None, f"{command} has no {flag}"
        assert option.help == "Accepted for compatibility with devcontainers/cli; no effect in devenv.", flag
