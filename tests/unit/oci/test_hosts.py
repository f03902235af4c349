"""Registry host settings: loopback may use HTTP, insecure hosts, mirrors, certs.d."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devenv.errors import ConfigError
from devenv.oci.hosts import RegistriesConfig, is_loopback


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("127.0.0.1:5000", True),
        ("127.8.9.10", True),
        ("[::1]:5000", True),
        ("10.0.0.1:5000", False),
        ("registry.example", False),
        ("docker.io", False),
    ],
)
def test_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_config_file_mirrors_insecure_and_certs(devenv_root: Path) -> None:
    (devenv_root / "registries.json").write_text(
        json.dumps({"insecure": ["build:5000"], "mirrors": {"docker.io": ["http://127.0.0.1:5000/"]}})
    )
    certs = devenv_root / "certs.d" / "reg.example:443"
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_text("x")
    (certs / "client.cert").write_text("x")
    (certs / "client.key").write_text("x")
    cfg = RegistriesConfig.load()
    hub = cfg.host("docker.io")
    assert hub.endpoint == "registry-1.docker.io" and hub.mirrors == ("http://127.0.0.1:5000",)
    assert not hub.allow_http
    build = cfg.host("build:5000")
    assert build.insecure and build.allow_http
    reg = cfg.host("reg.example:443")
    assert reg.ca_files == (certs / "ca.crt",) and reg.client_cert == (certs / "client.cert", certs / "client.key")
    assert cfg.host("127.0.0.1:5000").allow_http and not cfg.host("127.0.0.1:5000").insecure


@pytest.mark.parametrize(
    ("obj", "pointer"),
    [
        ({"insecure": "x"}, "insecure"),
        ({"mirrors": {"docker.io": "http://m"}}, "mirrors"),
        ({"mirrors": {"docker.io": ["ftp://m"]}}, "mirrors.docker.io"),
    ],
)
def test_bad_config_points_at_the_key(devenv_root: Path, obj: dict[str, object], pointer: str) -> None:
    path = devenv_root / "registries.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(ConfigError) as info:
        RegistriesConfig.load()
    assert info.value.pointer == pointer and info.value.path == str(path)
