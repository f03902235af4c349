"""Credentials come from Docker's config.json: auths, credHelpers, credsStore (real helper programs)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from devenv.errors import AuthError
from devenv.oci.auth import parse_challenges
from devenv.oci.credentials import Credentials, CredentialStore


def _config(tmp_path: Path, obj: dict[str, object]) -> CredentialStore:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(obj))
    return CredentialStore(path)


def _helper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, secrets: dict[str, tuple[str, str]]) -> Path:
    """A real docker-credential-<name> program on PATH that logs what it was asked."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    log = tmp_path / f"{name}.log"
    script = bindir / f"docker-credential-{name}"
    script.write_text(
        "#!/usr/bin/env python3\n"
        "import json, sys\n"
        f"secrets = {json.dumps(secrets)}\n"
        "server = sys.stdin.read().strip()\n"
        f"open({str(log)!r}, 'a').write(sys.argv[1] + ' ' + server + '\\n')\n"
        "if server not in secrets:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        "u, s = secrets[server]\n"
        "print(json.dumps({'ServerURL': server, 'Username': u, 'Secret': s}))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return log


def test_auths_entry_with_base64_auth(tmp_path: Path) -> None:
    auth = base64.b64encode(b"alice:pa:ss").decode()
    store = _config(tmp_path, {"auths": {"registry.example:5000": {"auth": auth}}})
    assert store.lookup("registry.example:5000") == Credentials("alice", "pa:ss")
    assert store.lookup("other.example") is None


def test_docker_hub_key_and_url_forms_map_to_hosts(tmp_path: Path) -> None:
    store = _config(
        tmp_path,
        {
            "auths": {
                "https://index.docker.io/v1/": {"username": "hub", "password": "x"},
                "https://ghcr.io": {"auth": base64.b64encode(b"gh:tok").decode()},
            }
        },
    )
    assert store.lookup("docker.io") == Credentials("hub", "x")
    assert store.lookup("ghcr.io") == Credentials("gh", "tok")


def test_identity_token_is_kept(tmp_path: Path) -> None:
    store = _config(
        tmp_path, {"auths": {"r.example": {"auth": base64.b64encode(b"u:").decode(), "identitytoken": "T"}}}
    )
    creds = store.lookup("r.example")
    assert creds is not None and creds.identity_token == "T"
    assert "T" not in repr(creds) and "password=***" in repr(creds)


def test_cred_helper_for_one_host_and_creds_store_for_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log_a = _helper(tmp_path, monkeypatch, "pera", {"reg.a:5000": ("ua", "sa")})
    log_b = _helper(
        tmp_path, monkeypatch, "store", {"reg.b": ("ub", "sb"), "https://index.docker.io/v1/": ("<token>", "refresh")}
    )
    store = _config(tmp_path, {"credHelpers": {"reg.a:5000": "pera"}, "credsStore": "store"})
    assert store.lookup("reg.a:5000") == Credentials("ua", "sa")
    assert store.lookup("reg.b") == Credentials("ub", "sb")
    hub = store.lookup("docker.io")
    assert hub is not None and hub.identity_token == "refresh" and not hub.username
    assert store.lookup("reg.c") is None  # "credentials not found" means anonymous, not an error
    assert log_a.read_text().split() == ["get", "reg.a:5000"]
    assert "get https://index.docker.io/v1/" in log_b.read_text()


def test_missing_helper_is_a_clear_error(tmp_path: Path) -> None:
    store = _config(tmp_path, {"credsStore": "does-not-exist-xyz"})
    with pytest.raises(AuthError) as info:
        store.lookup("reg.example")
    assert "docker-credential-does-not-exist-xyz" in info.value.message and info.value.remedy


def test_damaged_config_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text("{not json")
    with pytest.raises(AuthError) as info:
        CredentialStore(path).lookup("x")
    assert str(path) in info.value.message


def test_docker_config_env_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"h.example": {"username": "u", "password": "p"}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert CredentialStore().lookup("h.example") == Credentials("u", "p")


def test_www_authenticate_parsing() -> None:
    [c] = parse_challenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull,push",error="insufficient_scope"'
    )
    assert c.scheme == "bearer" and c.realm == "https://auth.docker.io/token"
    assert c.params["scope"] == "repository:library/busybox:pull,push"
    assert c.params["service"] == "registry.docker.io"
    [b] = parse_challenges('Basic realm="Registry Realm"')
    assert b.scheme == "basic" and b.realm == "Registry Realm"
    both = parse_challenges('Basic realm="x", Bearer realm="https://t/token",service="s"')
    assert [c.scheme for c in both] == ["basic", "bearer"]
