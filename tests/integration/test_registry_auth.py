"""Authentication against real registries: Basic over TLS (self-signed CA), and the Bearer token flow
(distribution's ``auth: token`` + a token server, as Docker Hub and GHCR work) — anonymous and with
credentials from ~/.docker/config.json (plain ``auths`` and a real credential helper program)."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest

from devenv.errors import AuthError, RegistryError
from devenv.store.pull import PullOptions, pull
from devenv.store.push import PushOptions, push
from devenv.store.store import Store
from tests.conftest import AuthRegistry, TokenRegistry
from tests.support import images

pytestmark = pytest.mark.registry


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "docker-config"
    d.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(d))
    return d / "config.json"


def _login(config: Path, host: str, user: str, password: str) -> None:
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config.write_text(json.dumps({"auths": {host: {"auth": auth}}}))


def _trust(devenv_root: Path, reg: AuthRegistry) -> None:
    certs = devenv_root / "certs.d" / reg.host
    certs.mkdir(parents=True)
    shutil.copy(reg.cert_dir / "ca.crt", certs / "ca.crt")


@pytest.fixture(scope="module")
def private_busybox(auth_registry: AuthRegistry, busybox_layout: tuple[images.OCILayout, Path]) -> str:
    ref = f"{auth_registry.host}/private/busybox:1"
    images.skopeo_push(
        busybox_layout[0],
        ref,
        creds=f"{auth_registry.username}:{auth_registry.password}",
        cert_dir=auth_registry.cert_dir,
    )
    return ref


def test_basic_auth_over_tls_with_a_trusted_ca(
    devenv_root: Path, docker_config: Path, auth_registry: AuthRegistry, private_busybox: str
) -> None:
    _trust(devenv_root, auth_registry)
    _login(docker_config, auth_registry.host, auth_registry.username, auth_registry.password)
    image = pull(PullOptions(private_busybox))
    assert image.name == private_busybox and Store().layer_mounts(image)


def test_basic_auth_without_credentials_says_how_to_log_in(
    devenv_root: Path, docker_config: Path, auth_registry: AuthRegistry, private_busybox: str
) -> None:
    _trust(devenv_root, auth_registry)
    with pytest.raises(AuthError) as info:
        pull(PullOptions(private_busybox))
    assert auth_registry.host in info.value.message and "docker login" in (info.value.remedy or "")


def test_basic_auth_with_a_wrong_password(
    devenv_root: Path, docker_config: Path, auth_registry: AuthRegistry, private_busybox: str
) -> None:
    _trust(devenv_root, auth_registry)
    _login(docker_config, auth_registry.host, auth_registry.username, "wrong")
    with pytest.raises(AuthError) as info:
        pull(PullOptions(private_busybox))
    assert "401" in info.value.message
    assert Store().images() == []


def test_untrusted_certificate_is_refused_with_a_remedy(
    devenv_root: Path, docker_config: Path, auth_registry: AuthRegistry, private_busybox: str
) -> None:
    # No CA configured: TLS must not silently fall back to plain HTTP or skip verification.
    _login(docker_config, auth_registry.host, auth_registry.username, auth_registry.password)
    with pytest.raises(RegistryError) as info:
        pull(PullOptions(private_busybox))
    assert "not trusted" in info.value.message and "certs.d" in (info.value.remedy or "")


def test_insecure_registry_setting_skips_verification(
    devenv_root: Path, docker_config: Path, auth_registry: AuthRegistry, private_busybox: str
) -> None:
    (devenv_root / "registries.json").write_text(json.dumps({"insecure": [auth_registry.host]}))
    _login(docker_config, auth_registry.host, auth_registry.username, auth_registry.password)
    assert pull(PullOptions(private_busybox)).name == private_busybox


@pytest.fixture(scope="module")
def token_images(token_registry: TokenRegistry, busybox_layout: tuple[images.OCILayout, Path]) -> dict[str, str]:
    creds = f"{token_registry.username}:{token_registry.password}"
    refs = {
        "public": f"{token_registry.host}/public/busybox:latest",
        "private": f"{token_registry.host}/private/busybox:latest",
    }
    for ref in refs.values():
        _skopeo_http(busybox_layout[0], ref, creds)
    return refs


def _skopeo_http(layout: images.OCILayout, ref: str, creds: str) -> None:
    import subprocess

    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            "--dest-creds",
            creds,
            f"oci:{layout.path}:{layout.tag}",
            f"docker://{ref}",
        ],
        check=True,
        capture_output=True,
    )


def test_bearer_token_flow_anonymous(
    devenv_root: Path, docker_config: Path, token_registry: TokenRegistry, token_images: dict[str, str]
) -> None:
    before = len(token_registry.tokens.requests)
    image = pull(PullOptions(token_images["public"]))
    assert image.name == token_images["public"]
    asked = token_registry.tokens.requests[before:]
    assert asked and all(r.account is None for r in asked)
    assert "repository:public/busybox:pull" in asked[0].scopes


def test_bearer_token_flow_anonymous_is_denied_private(
    devenv_root: Path, docker_config: Path, token_registry: TokenRegistry, token_images: dict[str, str]
) -> None:
    with pytest.raises(AuthError) as info:
        pull(PullOptions(token_images["private"]))
    assert "refused" in info.value.message or "denied" in info.value.message
    assert Store().images() == []


def test_bearer_token_flow_with_credentials(
    devenv_root: Path, docker_config: Path, token_registry: TokenRegistry, token_images: dict[str, str]
) -> None:
    _login(docker_config, token_registry.host, token_registry.username, token_registry.password)
    before = len(token_registry.tokens.requests)
    image = pull(PullOptions(token_images["private"]))
    assert image.name == token_images["private"]
    asked = token_registry.tokens.requests[before:]
    assert {r.account for r in asked} == {token_registry.username}
    # One token for the repository, reused for manifest, config and layer (cached until it expires).
    assert len(asked) == 1


def test_bearer_wrong_password_is_refused_by_the_token_service(
    devenv_root: Path, docker_config: Path, token_registry: TokenRegistry, token_images: dict[str, str]
) -> None:
    _login(docker_config, token_registry.host, token_registry.username, "nope")
    with pytest.raises(AuthError) as info:
        pull(PullOptions(token_images["private"]))
    assert "token service" in info.value.message and "docker login" in (info.value.remedy or "")


def test_bearer_push_with_a_credential_helper(
    devenv_root: Path,
    docker_config: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    token_registry: TokenRegistry,
    token_images: dict[str, str],
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    helper = bindir / "docker-credential-devenvtest"
    helper.write_text(
        "#!/bin/sh\nread server\n"
        f'[ "$server" = "{token_registry.host}" ] || {{ echo "credentials not found in native keychain"; exit 1; }}\n'
        f'echo \'{{"Username": "{token_registry.username}", "Secret": "{token_registry.password}"}}\'\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    docker_config.write_text(json.dumps({"credHelpers": {token_registry.host: "devenvtest"}}))
    pull(PullOptions(token_images["private"]))
    dest = f"{token_registry.host}/private/copy:pushed"
    before = len(token_registry.tokens.requests)
    push(PushOptions(token_images["private"], dest))
    asked = token_registry.tokens.requests[before:]
    assert any("repository:private/copy:pull,push" in r.scopes for r in asked)
    assert all(r.account == token_registry.username for r in asked)
    Store().remove(token_images["private"])
    assert pull(PullOptions(dest)).name == dest
