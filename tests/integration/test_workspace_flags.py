"""End-to-end: the reference CLI's flags of ``up`` and ``exec`` that tools rely on — --override-config,
--include-(merged-)configuration, --omit-config-remote-env-from-metadata, --secrets-file, exec's
--container-id / --override-config / --default-user-env-probe, the no-op flags — on real runtimes."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.workspace_helpers import Devenv, ensure_docker_bridge, write_config

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SECRET = "s3cr3t-'value'-42"


@pytest.fixture(params=["embedded", "docker"])
def devenv(request: pytest.FixtureRequest, devenv_root: Path, base_image: str) -> Devenv:
    ensure_docker_bridge()
    return Devenv(devenv_root, str(request.param))


@pytest.fixture
def embedded(devenv_root: Path, base_image: str) -> Devenv:
    return Devenv(devenv_root, "embedded")


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    made = tmp_path / "work"
    made.mkdir()
    yield made


def _cleanup(devenv: Devenv, folder: Path) -> None:
    devenv.remove_all(folder)


def test_up_override_config_and_include_configurations(
    devenv: Devenv, folder: Path, tmp_path: Path, base_image: str
) -> None:
    """A workspace without devcontainer.json comes up from --override-config; the result carries the
    configuration and the merged configuration as the reference prints them; exec takes the override too."""
    override = write_config(
        tmp_path / "elsewhere",
        {
            "image": base_image,
            "containerEnv": {"APP_ENV": "prod"},
            "remoteEnv": {"R": "${containerEnv:APP_ENV}-r"},
            "postCreateCommand": "echo created > /tmp/created",
        },
        name="override.json",
    )
    try:
        run = devenv.up(
            folder,
            "--override-config",
            str(override),
            "--include-configuration",
            "--include-merged-configuration",
        )
        result = run.result()
        assert result["outcome"] == "success"
        config = result["configuration"]
        assert config["containerEnv"] == {"APP_ENV": "prod"}
        assert config["remoteEnv"] == {"R": "prod-r"}  # ${containerEnv:...} of the container, as the reference
        # The config counts as being where the workspace's would be (ids and relative paths follow that place).
        assert config["configFilePath"]["fsPath"] == str(folder / ".devcontainer" / "devcontainer.json")
        merged = result["mergedConfiguration"]
        assert merged["remoteEnv"] == {"R": "prod-r"}
        assert merged["postCreateCommands"] == ["echo created > /tmp/created"]
        assert "configFilePath" not in merged or merged["configFilePath"]
        c = devenv.container(result["containerId"])
        assert c.labels["devcontainer.config_file"] == str(folder / ".devcontainer" / "devcontainer.json")
        assert not (folder / ".devcontainer").exists()  # nothing is written into the source folder
        out = devenv("exec", "--workspace-folder", str(folder), "--override-config", str(override), "sh", "-c",
                     'cat /tmp/created; echo "R=$R"')  # fmt: skip
        assert out.stdout.split() == ["created", "R=prod-r"]
        # Without the option the workspace has no config: a clear error, not a wrong environment.
        bad = devenv.up(folder, check=False)
        assert bad.returncode != 0
        assert "devcontainer.json" in bad.stderr
        # Without --include-*, the result is the reference's four fields only.
        again = devenv.up(folder, "--override-config", str(override)).result()
        assert set(again) == {"outcome", "containerId", "remoteUser", "remoteWorkspaceFolder"}
        # The folder has no config, but devenv knows its workspace: exec, stop and down find it by folder.
        assert devenv("exec", "--workspace-folder", str(folder), "cat", "/tmp/created").stdout == "created\n"
        devenv("stop", "--workspace-folder", str(folder))
        assert devenv.container(again["containerId"]).status.value == "stopped"
        devenv("down", "--workspace-folder", str(folder))
        assert devenv.container(again["containerId"]) is None
        assert str(folder) not in devenv("ls", "--json").stdout
    finally:
        _cleanup(devenv, folder)


def test_omit_config_remote_env_from_metadata(devenv: Devenv, folder: Path, base_image: str) -> None:
    write_config(folder, {"image": base_image, "remoteEnv": {"TOKEN_ENV": "from-config"}})
    try:
        result = devenv.up(folder, "--omit-config-remote-env-from-metadata").result()
        c = devenv.container(result["containerId"])
        entries = json.loads(c.labels["devcontainer.metadata"])
        assert not any("remoteEnv" in e for e in entries)
        # remoteEnv still applies: it is read from devcontainer.json, as the reference does.
        assert devenv.sh(folder, "echo $TOKEN_ENV").strip() == "from-config"
        # (--include-configuration from inside the folder, without --workspace-folder)
        here = devenv("up", "--include-configuration", cwd=folder).result()
        assert here["containerId"] == result["containerId"]
        assert here["configuration"]["remoteEnv"] == {"TOKEN_ENV": "from-config"}
        # Control: without the option the label carries it.
        again = devenv.up(folder, "--remove-existing-container").result()
        entries = json.loads(devenv.container(again["containerId"]).labels["devcontainer.metadata"])
        assert any(e.get("remoteEnv") == {"TOKEN_ENV": "from-config"} for e in entries)
    finally:
        _cleanup(devenv, folder)


def test_secrets_reach_hooks_only_and_are_masked(devenv: Devenv, folder: Path, tmp_path: Path, base_image: str) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"API_TOKEN": SECRET, "PORT_NO": 8080}))
    write_config(
        folder,
        {
            "image": base_image,
            "onCreateCommand": 'echo "token=$API_TOKEN"; printf %s "$API_TOKEN" > /tmp/oncreate',
            "postAttachCommand": 'printf "%s %s" "$API_TOKEN" "$PORT_NO" > /tmp/attach',
        },
    )
    try:
        run = devenv.up(folder, "--secrets-file", str(secrets))
        assert "token=********" in run.stderr
        assert SECRET not in run.stderr and SECRET not in run.stdout
        assert devenv.sh(folder, "cat /tmp/oncreate") == SECRET
        assert devenv.sh(folder, "cat /tmp/attach") == f"{SECRET} 8080"
        # Not in the environment of tools, nor written to devenv's state on disk.
        assert devenv.sh(folder, 'echo "[$API_TOKEN]"').strip() == "[]"
        for path in devenv.root.rglob("*.json"):
            assert SECRET not in path.read_text(errors="replace"), path
        # A later up (running workspace) gives them to postAttachCommand again; JSON logs are masked too.
        devenv.sh(folder, "rm /tmp/attach")
        run = devenv.up(folder, "--secrets-file", str(secrets), "--log-format", "json")
        assert SECRET not in run.stderr
        assert devenv.sh(folder, "cat /tmp/attach") == f"{SECRET} 8080"
        # A failing hook's error (its output tail) is masked as well.
        write_config(folder, {"image": base_image, "postAttachCommand": 'echo "leak $API_TOKEN"; exit 3'})
        bad = devenv.up(folder, "--secrets-file", str(secrets), check=False)
        assert bad.returncode != 0
        assert "leak ********" in bad.stderr
        assert SECRET not in bad.stderr and SECRET not in bad.stdout
    finally:
        _cleanup(devenv, folder)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read the secrets file"),
        ('{"A": "1",', "not valid JSON"),
        ('["A"]', "must hold a JSON object, not an array"),
        ('{"A": {"b": 1}}', "the value of 'A' must be a string"),
    ],
)
def test_secrets_file_errors(
    embedded: Devenv, folder: Path, tmp_path: Path, base_image: str, content: str | None, expected: str
) -> None:
    path = tmp_path / "secrets.json"
    if content is not None:
        path.write_text(content)
    write_config(folder, {"image": base_image, "initializeCommand": f"touch {tmp_path}/initialized"})
    run = embedded.up(folder, "--secrets-file", str(path), check=False)
    assert run.returncode != 0
    result = run.result()
    assert result["outcome"] == "error"
    assert str(path) in result["message"] and expected in result["message"] + result["description"]
    assert not (tmp_path / "initialized").exists()  # nothing ran
    assert embedded.container_ids(folder) == []


def test_exec_container_id_config_and_probe(devenv: Devenv, folder: Path, tmp_path: Path, base_image: str) -> None:
    write_config(
        folder,
        {
            "image": base_image,
            "remoteEnv": {"FROM_CONFIG": "1"},
            "onCreateCommand": "echo 'export FROM_PROFILE=yes' > /etc/profile.d/zz-devenv-test.sh",
        },
    )
    try:
        result = devenv.up(folder, "--default-user-env-probe", "none").result()
        cid = result["containerId"]
        name = devenv.container(cid).name

        def exec_(*args: str, check: bool = True) -> str:
            return devenv("exec", *args, check=check, cwd=tmp_path).stdout

        script = ["sh", "-c", 'echo "$FROM_CONFIG/${FROM_PROFILE:-none}/${EXTRA:-}"; pwd']
        expected = ["1/none/", str(result["remoteWorkspaceFolder"])]
        # --container-id: the id, a prefix of it, or the container's name (from anywhere).
        assert exec_("--container-id", cid, *script).split() == expected
        assert exec_("--container-id", cid[:12], *script).split() == expected
        assert exec_("--container-id", name, "--remote-env", "EXTRA=x", *script).split() == ["1/none/x", expected[1]]
        # --id-label and --config name the same workspace.
        config = str(folder / ".devcontainer" / "devcontainer.json")
        labels = [
            "--id-label",
            f"devcontainer.local_folder={folder}",
            "--id-label",
            f"devcontainer.config_file={config}",
        ]
        assert exec_(*labels, *script).split() == expected
        assert exec_("--workspace-folder", str(folder), "--config", config, *script).split() == expected
        # --default-user-env-probe: up probed with "none"; a login shell sees /etc/profile.d.
        probed = exec_("--workspace-folder", str(folder), "--default-user-env-probe", "loginShell", *script)
        assert probed.split()[0] == "1/yes/"
        # --override-config: remoteEnv of that file.
        override = write_config(tmp_path, {"image": base_image, "remoteEnv": {"FROM_CONFIG": "2"}}, name="o.json")
        out = exec_("--workspace-folder", str(folder), "--override-config", str(override), *script)
        assert out.split()[0] == "2/none/"
        # Errors: unknown container, bad probe value.
        bad = devenv("exec", "--container-id", "nosuchcontainer", "true", check=False)
        assert bad.returncode != 0 and "nosuchcontainer" in bad.stderr
        bad = devenv(
            "exec", "--workspace-folder", str(folder), "--default-user-env-probe", "bogus", "true", check=False
        )
        assert bad.returncode != 0 and "bogus" in bad.stderr
    finally:
        _cleanup(devenv, folder)


IGNORED_UP = [
    "--log-level", "trace", "--terminal-columns", "120", "--terminal-rows", "40", "--buildkit", "never",
    "--workspace-mount-consistency", "cached", "--user-data-folder", "/tmp/ud", "--docker-path", "docker",
    "--docker-compose-path", "docker-compose", "--skip-feature-auto-mapping", "--experimental-lockfile",
    "--container-data-folder", "/tmp/cd", "--gpu-availability", "none",
]  # fmt: skip
IGNORED_EXEC = ["--log-level", "debug", "--terminal-columns", "80", "--terminal-rows", "24", "--docker-path", "docker"]


def test_reference_flags_without_meaning_are_accepted(embedded: Devenv, folder: Path, base_image: str) -> None:
    write_config(folder, {"image": base_image})
    try:
        first = embedded.up(folder, *IGNORED_UP).result()  # the full path (creates the container)
        again = embedded.up(folder, *IGNORED_UP).result()  # the quick path (running and set up)
        assert first["containerId"] == again["containerId"]
        # Both forms of an option's value, and --no-lockfile / --frozen-lockfile on a running workspace.
        embedded.up(folder, "--log-level=info", "--no-lockfile", "--frozen-lockfile")
        out = embedded("exec", "--workspace-folder", str(folder), *IGNORED_EXEC, "echo", "ok").stdout
        assert out.strip() == "ok"
    finally:
        _cleanup(embedded, folder)


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "add", "-A")
    _git(path, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "dotfiles")
    return path


def _gateway(devenv: Devenv, folder: Path) -> str:
    """The container's default gateway: the host's address on the workspace's network."""
    import ipaddress

    for line in devenv.sh(folder, "cat /proc/net/route").splitlines()[1:]:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return str(ipaddress.IPv4Address(bytes.fromhex(fields[2])[::-1]))
    raise AssertionError("the container has no default route")


@pytest.fixture
def git_daemon() -> Iterator[Any]:
    """Starts ``git daemon`` on a given host address (the test's network's gateway) and port."""
    import socket
    import time

    procs: list[subprocess.Popen[bytes]] = []

    def start(base: Path, address: str) -> int:
        with socket.socket() as s:
            s.bind((address, 0))
            port = int(s.getsockname()[1])
        proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={base}", f"--listen={address}",
             f"--port={port}", str(base)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(proc)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s, contextlib.suppress(OSError):
                s.connect((address, port))
                return port
            time.sleep(0.05)
        raise AssertionError("git daemon did not start")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def test_dotfiles_installed_once_per_container(
    devenv: Devenv, folder: Path, tmp_path: Path, base_image: str, git_daemon: Any
) -> None:
    """The reference's dotfiles rules with a real git server the container reaches on its network:
    install.sh (made executable) once per container, with the secrets; symlinks when there is no install
    script; --dotfiles-install-command and --dotfiles-target-path."""
    (folder / ".devcontainer").mkdir()
    (folder / ".devcontainer" / "Dockerfile").write_text(
        f"FROM {base_image}\nRUN apt-get update -qq && apt-get install -y -qq --no-install-recommends git >/dev/null\n"
    )
    write_config(folder, {"build": {"dockerfile": "Dockerfile"}, "postCreateCommand": "echo pc >> $HOME/order"})
    repos = tmp_path / "repos"
    install = 'n=$(cat "$HOME/install-count" 2>/dev/null || echo 0); echo $((n+1)) > "$HOME/install-count"\n'
    _repo(repos / "dots", {
        "install.sh": f'#!/bin/sh\necho "installing with $DOT_SECRET"\necho dotfiles >> "$HOME/order"\n{install}'
                      'printf %s "$DOT_SECRET" > "$HOME/dot-secret"\n',
        "custom.sh": '#!/bin/sh\necho custom > "$HOME/custom-ran"\n',
        ".dotrc": "not linked: install.sh exists\n",
    })  # fmt: skip
    _repo(repos / "links", {".dotrc": "export DOTRC=1\n", ".config/tool.conf": "x\n", "README": "r\n"})
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"DOT_SECRET": SECRET}))
    try:
        devenv.up(folder)
        port = git_daemon(repos, _gateway(devenv, folder))
        url = f"git://{_gateway(devenv, folder)}:{port}"
        # On the running container (its first up had no dotfiles): cloned and installed now.
        run = devenv.up(folder, "--dotfiles-repository", f"{url}/dots", "--secrets-file", str(secrets))
        assert "installing with ********" in run.stderr and SECRET not in run.stderr
        home = "/root"
        state = devenv.sh(folder, f"cat {home}/install-count; cat {home}/dot-secret; echo; cat {home}/order")
        assert state.split() == [
            "1", SECRET, "pc", "dotfiles"
        ]  # fmt: skip
        assert devenv.sh(folder, f"test -x {home}/dotfiles/install.sh && test ! -L {home}/.dotrc && echo ok") == "ok\n"
        # Once per container: a later up does not install again.
        devenv.up(folder, "--dotfiles-repository", f"{url}/dots", "--secrets-file", str(secrets))
        assert devenv.sh(folder, f"cat {home}/install-count").strip() == "1"
        # A new container, a repository without an install script, another target: dotfiles are symlinked.
        devenv.up(
            folder, "--remove-existing-container", "--dotfiles-repository", f"{url}/links",
            "--dotfiles-target-path", "~/my-dots",
        )  # fmt: skip
        assert devenv.sh(folder, f"readlink {home}/.dotrc {home}/.config").split() == [
            f"{home}/my-dots/.dotrc", f"{home}/my-dots/.config"
        ]  # fmt: skip
        assert devenv.sh(folder, f"test ! -e {home}/.git && test ! -e {home}/README && echo ok") == "ok\n"
        # --dotfiles-install-command runs that file instead of install.sh.
        devenv.up(
            folder, "--remove-existing-container", "--dotfiles-repository", f"{url}/dots",
            "--dotfiles-install-command", "custom.sh",
        )  # fmt: skip
        assert devenv.sh(folder, f"cat {home}/custom-ran; test ! -e {home}/install-count && echo none").split() == [
            "custom", "none"
        ]  # fmt: skip
        # --skip-post-create: no dotfiles either (as the reference).
        devenv.up(folder, "--remove-existing-container", "--skip-post-create", "--dotfiles-repository", f"{url}/dots")
        assert devenv.sh(folder, f"test ! -e {home}/dotfiles && echo none") == "none\n"
    finally:
        _cleanup(devenv, folder)


def test_dotfiles_without_git_in_the_container_warn(embedded: Devenv, folder: Path, base_image: str) -> None:
    write_config(folder, {"image": base_image})
    try:
        run = embedded.up(folder, "--dotfiles-repository", "https://example.invalid/dots.git")
        assert run.result()["outcome"] == "success"
        assert "git not found" in run.stderr
        assert "installing the dotfiles failed" in run.stderr
    finally:
        _cleanup(embedded, folder)


def test_exec_container_id_of_a_container_devenv_did_not_bring_up(devenv: Devenv, base_image: str) -> None:
    """Its remote user, environment and folder come from its devcontainer.metadata label, as the
    reference's exec does; nothing is written into the container."""
    import uuid

    name = f"foreign-{uuid.uuid4().hex[:8]}"
    metadata = json.dumps([{"remoteUser": "nobody", "remoteEnv": {"FROM_LABEL": "${containerEnv:CE}-label"}}])
    args = ["-d", "--name", name, "--label", f"devcontainer.metadata={metadata}", "-e", "CE=ce", "-w", "/tmp"]
    if devenv.runtime == "docker":
        subprocess.run(["docker", "run", *args, base_image, "sleep", "infinity"], check=True, capture_output=True)
    else:
        devenv("container", "run", *args, base_image, "sleep", "infinity")
    try:
        out = devenv("exec", "--container-id", name, "sh", "-c", 'id -un; echo "$FROM_LABEL"; pwd').stdout
        assert out.split() == ["nobody", "ce-label", "/tmp"]
        assert devenv("exec", "--container-id", name, "test", "-e", "/var/devenv", check=False).returncode == 1
    finally:
        if devenv.runtime == "docker":
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
        else:
            devenv("container", "rm", "-f", name, check=False)


def test_run_user_commands_and_set_up_take_secrets(
    devenv: Devenv, folder: Path, tmp_path: Path, base_image: str
) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"API_TOKEN": SECRET}))
    write_config(
        folder, {"image": base_image, "postCreateCommand": 'echo "pc $API_TOKEN"; echo "$API_TOKEN" > /tmp/pc'}
    )
    try:
        devenv.up(folder, "--skip-post-create")
        run = devenv(
            "run-user-commands", "--workspace-folder", str(folder), "--secrets-file", str(secrets),
            "--log-level", "trace", "--terminal-columns", "80", "--terminal-rows", "24",
        )  # fmt: skip
        assert "pc ********" in run.stderr and SECRET not in run.stderr + run.stdout
        assert devenv.sh(folder, "cat /tmp/pc").strip() == SECRET
        # set-up on a container devenv did not create: the same, from --config.
        config = write_config(
            tmp_path / "cfg", {"postCreateCommand": 'echo "su $API_TOKEN" > /tmp/su; echo "su $API_TOKEN"'}
        )
        if devenv.runtime == "docker":
            cid = subprocess.run(
                ["docker", "run", "-d", base_image, "sleep", "infinity"], check=True, capture_output=True, text=True
            ).stdout.strip()
        else:
            cid = devenv("container", "run", "-d", base_image, "sleep", "infinity").stdout.strip()
        try:
            run = devenv("set-up", "--container-id", cid, "--config", str(config), "--secrets-file", str(secrets))
            assert "su ********" in run.stderr and SECRET not in run.stderr + run.stdout
            assert devenv("exec", "--container-id", cid, "cat", "/tmp/su").stdout.strip() == f"su {SECRET}"
        finally:
            devenv.runtime_api().remove(cid, force=True)
    finally:
        _cleanup(devenv, folder)
