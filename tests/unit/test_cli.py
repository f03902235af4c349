"""The CLI skeleton: help, version, the shared error handler and log formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devenv import __version__
from devenv.cli.main import main
from devenv.errors import ConfigError, DevenvError, LifecycleCommandFailed


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devenv", *args], capture_output=True, text=True, timeout=60)


def test_version_prints_the_package_version() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"devenv {__version__}"


def test_help_lists_the_command_groups() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for group in ("image", "container"):
        assert group in proc.stdout


def test_bad_global_option_is_a_usage_error_without_traceback() -> None:
    proc = run_cli("--log-format", "yaml", "image")
    assert proc.returncode == 2
    assert "--log-format must be 'text' or 'json'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unknown_command_exits_2() -> None:
    proc = run_cli("no-such-command")
    assert proc.returncode == 2
    assert "No such command" in proc.stderr


def test_error_handler_renders_message_and_remedy(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import devenv.cli.app as cli_app

    def boom(*_a: object, **_k: object) -> None:
        raise DevenvError("the thing broke", remedy="do the other thing")

    monkeypatch.setattr(cli_app, "app", boom)
    assert main(["anything"]) == 1
    err = capsys.readouterr().err
    assert "error: the thing broke" in err
    assert "hint: do the other thing" in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import devenv.cli.app as cli_app

    def boom(*_a: object, **_k: object) -> None:
        raise ConfigError("expected a string", path="x/devcontainer.json", line=3, col=7, pointer="/image")

    monkeypatch.setattr(cli_app, "app", boom)
    assert main(["--debug", "x"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "x/devcontainer.json:3:7: /image: expected a string" in err


def test_json_log_format_puts_the_error_object_on_stdout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import devenv.cli.app as cli_app
    from devenv.cli import output

    def boom(*_a: object, **_k: object) -> None:
        output.settings.log_format = "json"
        raise LifecycleCommandFailed("postCreateCommand", 7)

    monkeypatch.setattr(cli_app, "app", boom)
    try:
        assert main(["x"]) == 9
    finally:
        output.settings.log_format = "text"
    out = json.loads(capsys.readouterr().out)
    assert out["outcome"] == "error"
    assert out["message"] == "the postCreateCommand failed (exit code 7)"
    assert "hint:" in out["description"]


def test_config_error_location_format() -> None:
    err = ConfigError(
        'expected a port number or "host:port", got "abc"',
        path="devcontainer.json",
        line=12,
        col=5,
        pointer='"forwardPorts"[1]',
    )
    assert str(err) == 'devcontainer.json:12:5: "forwardPorts"[1]: expected a port number or "host:port", got "abc"'


def test_version_does_not_import_typer() -> None:
    """`devenv --version` takes the fast path: no typer, no command modules (start-up time)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "devenv", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "devenv.cli.main" in imported
    assert "typer" not in imported
    assert "devenv.cli.app" not in imported


def test_command_exits_with_its_code_and_its_output_without_finalization(tmp_path: Path) -> None:
    """`python -m devenv` (and the installed launcher) leave through `os._exit` once the command has
    returned: what it wrote to a pipe is still there (flushed first), the exit code is the command's, and
    the interpreter's finalization (atexit handlers) does not run."""
    boot = (
        "import atexit, sys; atexit.register(lambda: sys.stderr.write('finalized\\n')); "
        "sys.argv[0] = 'devenv'; from devenv.cli.main import run; run()"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # (as users run it: buffered)
    ok = subprocess.run([sys.executable, "-c", boot, "--version"], capture_output=True, text=True, timeout=60, env=env)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, f"devenv {__version__}\n", "")
    missing = str(tmp_path / "missing")
    bad = subprocess.run(
        [sys.executable, "-c", boot, "read-configuration", "--workspace-folder", missing],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert bad.returncode != 0
    assert "error" in bad.stderr and "finalized" not in bad.stderr
