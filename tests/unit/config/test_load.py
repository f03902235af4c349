"""Locating and loading a workspace's config: layouts, git roots, and what users see when it fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devenv.config import load, locate
from devenv.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_lookup_order(tmp_path: Path) -> None:
    write(tmp_path / ".devcontainer" / "python" / "devcontainer.json", '{"image": "sub"}')
    assert locate(str(tmp_path)) == str(tmp_path / ".devcontainer" / "python" / "devcontainer.json")
    write(tmp_path / ".devcontainer.json", '{"image": "root"}')
    assert locate(str(tmp_path)) == str(tmp_path / ".devcontainer.json")
    write(tmp_path / ".devcontainer" / "devcontainer.json", '{"image": "folder"}')
    assert load(tmp_path, env={}).data["image"] == "folder"


def test_several_sub_folder_configs_ask_for_config(tmp_path: Path) -> None:
    write(tmp_path / ".devcontainer" / "python" / "devcontainer.json", "{}")
    write(tmp_path / ".devcontainer" / "node" / "devcontainer.json", "{}")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, env={})
    text = info.value.render()
    assert "several dev container configs found; choose one with --config" in text
    assert ".devcontainer/node/devcontainer.json" in text and ".devcontainer/python/devcontainer.json" in text
    assert info.value.remedy == "devenv ... --config .devcontainer/node/devcontainer.json"


def test_no_config_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, env={})
    assert info.value.path == str(tmp_path)
    assert "no dev container config found" in info.value.msg
    assert info.value.remedy == "create .devcontainer/devcontainer.json, or pass --config PATH"


def test_missing_folder_and_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the workspace folder does not exist"):
        load(tmp_path / "nope", env={})
    with pytest.raises(ConfigError, match="dev container config not found"):
        load(tmp_path, tmp_path / "nope.json", env={})


def test_config_path_relative_to_cwd_and_workspace_default(tmp_path: Path) -> None:
    write(tmp_path / "cfg" / "devcontainer.json", '{"image": "x", "name": "${localWorkspaceFolderBasename}"}')
    loaded = load(config_path="cfg/devcontainer.json", cwd=str(tmp_path), env={})
    assert loaded.config_path == tmp_path / "cfg" / "devcontainer.json"
    assert loaded.workspace_folder is None
    assert loaded.data["name"] == "${localWorkspaceFolderBasename}"


def test_not_utf8_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / ".devcontainer" / "devcontainer.json"
    path.parent.mkdir()
    path.write_bytes(b'{\n  "name": "caf\xe9"\n}')
    with pytest.raises(ConfigError) as info:
        load(tmp_path, env={})
    assert (info.value.line, info.value.col) == (2, 15)
    assert "not valid UTF-8" in info.value.msg


def test_git_root_is_mounted_and_workspace_is_the_sub_folder(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path / "repo")], check=True)
    app = tmp_path / "repo" / "apps" / "web"
    write(app / ".devcontainer" / "devcontainer.json", '{"image": "x"}')
    loaded = load(app, env={})
    assert loaded.workspace.to_json() == {
        "workspaceFolder": "/workspaces/repo/apps/web",
        "workspaceMount": f"type=bind,source={tmp_path / 'repo'},target=/workspaces/repo",
    }
    assert load(app, env={}, mount_git_root=False).workspace.workspace_folder == "/workspaces/web"


def test_typed_model_of_a_full_config(tmp_path: Path) -> None:
    config = {
        "name": "full",
        "build": {
            "dockerfile": "Dockerfile",
            "context": "..",
            "args": {"V": "1", "N": 2},
            "cacheFrom": "c",
            "target": "t",
        },
        "features": {"ghcr.io/devcontainers/features/node:1": "18", "./local": {"a": True}},
        "forwardPorts": [3000, "db:5432"],
        "appPort": "8000:8000",
        "portsAttributes": {"3000": {"label": "web", "onAutoForward": "silent"}},
        "mounts": ["type=bind,src=/a,dst=/b,readonly", {"type": "volume", "source": "v", "target": "/v"}],
        "containerEnv": {"A": "1"},
        "remoteEnv": {"B": None},
        "runArgs": ["--init"],
        "hostRequirements": {"cpus": 2, "gpu": "optional"},
        "secrets": {"TOKEN": {"description": "d"}},
        "postCreateCommand": {"a": "x", "b": ["y", "z"]},
        "postStartCommand": ["echo", "hi"],
        "waitFor": "postCreateCommand",
    }
    write(tmp_path / ".devcontainer" / "devcontainer.json", json.dumps(config))
    c = load(tmp_path, env={}).config
    assert c.kind == "dockerfile"
    assert c.build is not None and (c.build.dockerfile, c.build.context, dict(c.build.args)) == (
        "Dockerfile",
        "..",
        {"V": "1", "N": "2"},
    )
    assert c.build.cache_from == ("c",) and c.build.target == "t"
    assert [(f.ref, dict(f.options)) for f in c.features] == [
        ("ghcr.io/devcontainers/features/node:1", {"version": "18"}),
        ("./local", {"a": True}),
    ]
    assert c.forward_ports == (3000, "db:5432") and c.app_port == ("8000:8000",)
    assert c.ports_attributes["3000"].on_auto_forward == "silent"
    assert [(m.type, m.source, m.target, dict(m.options)) for m in c.mounts] == [
        ("bind", "/a", "/b", {"readonly": "true"}),
        ("volume", "v", "/v", {}),
    ]
    assert dict(c.remote_env) == {"B": None}
    assert c.host_requirements is not None and c.host_requirements.gpu is not None
    assert c.host_requirements.gpu.required == "optional"
    assert c.secrets["TOKEN"].description == "d"
    assert dict(c.post_create_command) == {"a": "x", "b": ("y", "z")}  # type: ignore[arg-type]
    assert c.lifecycle("postStartCommand") == ("echo", "hi")
    assert (c.effective_wait_for, c.effective_override_command, c.effective_shutdown_action) == (
        "postCreateCommand",
        True,
        "stopContainer",
    )


def test_compose_and_legacy_dockerfile_kinds(tmp_path: Path) -> None:
    write(
        tmp_path / ".devcontainer" / "devcontainer.json",
        '{"dockerComposeFile": ["a.yml"], "service": "s", "runServices": ["s", "db"]}',
    )
    c = load(tmp_path, env={}).config
    assert c.kind == "compose" and c.compose is not None
    assert (c.compose.files, c.compose.service, c.compose.run_services) == (("a.yml",), "s", ("s", "db"))
    assert (c.effective_override_command, c.effective_shutdown_action) == (False, "stopCompose")
    write(tmp_path / ".devcontainer" / "devcontainer.json", '{"dockerFile": "D", "context": "ctx"}')
    legacy = load(tmp_path, env={}).config
    assert (
        legacy.kind == "dockerfile"
        and legacy.build is not None
        and (legacy.build.dockerfile, legacy.build.context) == ("D", "ctx")
    )


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": "/root", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "devenv", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60
    )


def test_cli_prints_json_and_warnings_on_stderr(tmp_path: Path) -> None:
    write(tmp_path / ".devcontainer" / "devcontainer.json", '{"image": "x",\n "extensions": ["a"]}')
    proc = run_cli("read-configuration", cwd=tmp_path)
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert out["configuration"]["customizations"] == {"vscode": {"extensions": ["a"]}}
    assert out["workspace"]["workspaceFolder"] == f"/workspaces/{tmp_path.name}"
    assert '2:2: extensions: "extensions" is a legacy property' in proc.stderr


def test_cli_error_is_located_without_traceback(tmp_path: Path) -> None:
    write(tmp_path / ".devcontainer" / "devcontainer.json", '{\n  "image": "x",\n  "forwardPorts": [3000 "x"]\n}')
    proc = run_cli("read-configuration", "--workspace-folder", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 3
    assert (
        f"{tmp_path}/.devcontainer/devcontainer.json:3:25: forwardPorts: expected ',' or ']' after an array item"
        in proc.stderr
    )
    assert '    3 |   "forwardPorts": [3000 "x"]' in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_cli_json_log_format_reports_the_error_as_json(tmp_path: Path) -> None:
    write(tmp_path / ".devcontainer" / "devcontainer.json", '{"image": 1}')
    proc = run_cli("read-configuration", "--log-format", "json", cwd=tmp_path)
    assert proc.returncode == 3
    result = json.loads(proc.stdout)
    assert result["outcome"] == "error"
    assert ":1:11: image: expected a string, got the number 1" in result["message"]


def test_cli_flags_of_the_reference(tmp_path: Path) -> None:
    write(tmp_path / "c" / "devcontainer.json", '{"image": "x", "postCreateCommand": "a"}')
    proc = run_cli(
        "read-configuration",
        "--workspace-folder",
        str(tmp_path),
        "--config",
        "c/devcontainer.json",
        "--log-level",
        "debug",
        "--mount-workspace-git-root",
        "false",
        "--mount-git-worktree-common-dir",
        "--terminal-columns",
        "80",
        "--terminal-rows",
        "24",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["configuration"]["configFilePath"]["scheme"] == "file"
    help_text = run_cli("read-configuration", "--help", cwd=tmp_path).stdout
    for flag in (
        "--workspace-folder",
        "--config",
        "--include-merged-configuration",
        "--include-features-configuration",
        "--override-config",
        "--id-label",
        "--container-id",
        "--additional-features",
        "--mount-git-worktree-common-dir",
    ):
        assert flag in help_text


def test_load_and_locate_are_the_functions_after_every_submodule_is_imported() -> None:
    """No submodule of devenv.config shares a name with a function of the package (importing such a
    submodule would rebind the package attribute to the module). Checked in a fresh interpreter that
    imports every devenv module first."""
    script = (
        "import importlib, inspect, pkgutil, sys, devenv\n"
        "walked = pkgutil.walk_packages(devenv.__path__, 'devenv.')\n"
        "names = [i.name for i in walked if not i.name.endswith('__main__')]\n"
        "for name in names: importlib.import_module(name)\n"
        "from devenv.config import load, locate\n"
        "import devenv.config as config\n"
        "print(len(names), inspect.isfunction(load), inspect.isfunction(locate),\n"
        "      inspect.isfunction(config.load), inspect.isfunction(config.locate),\n"
        "      'devenv.config.loader' in sys.modules, 'devenv.config.locator' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    count, *flags = proc.stdout.split()
    assert int(count) > 50  # every package of devenv was walked
    assert flags == ["True"] * 6


def test_no_config_submodule_shares_a_name_with_a_package_attribute() -> None:
    import pkgutil

    import devenv.config as config

    submodules = {info.name for info in pkgutil.iter_modules(config.__path__)}
    assert submodules & set(config.__all__) == set()
    assert {"loader", "locator"} <= submodules
