"""Network settings from the environment and settings.json; subnet choice."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from devenv.errors import NetworkError
from devenv.network import settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, devenv_root: Path) -> None:
    for name in ("DEVENV_BRIDGE", "DEVENV_SUBNET", "DEVENV_FIREWALL", "DEVENV_DNS", "DEVENV_RESOLV_CONF"):
        monkeypatch.delenv(name, raising=False)


def test_private_data_root_gets_its_own_bridge(devenv_root: Path) -> None:
    conf = settings.load()
    assert conf.bridge.startswith("dv-") and len(conf.bridge) == 11
    assert conf.subnet is None
    assert conf.firewall == "auto"


def test_default_root_uses_devenv0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVENV_ROOT")
    assert settings.default_bridge() == "devenv0"


def test_settings_file_then_environment(devenv_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (devenv_root / "network").mkdir()
    (devenv_root / "network" / "settings.json").write_text(
        json.dumps({"bridge": "br-file", "subnet": "10.50.0.0/24", "dns": ["192.0.2.1"], "firewall": "nftables"})
    )
    conf = settings.load()
    assert (conf.bridge, str(conf.subnet), conf.dns, conf.firewall) == (
        "br-file",
        "10.50.0.0/24",
        ("192.0.2.1",),
        "nftables",
    )
    monkeypatch.setenv("DEVENV_BRIDGE", "br-env")
    monkeypatch.setenv("DEVENV_DNS", "192.0.2.7, 192.0.2.8")
    conf = settings.load()
    assert conf.bridge == "br-env"
    assert conf.dns == ("192.0.2.7", "192.0.2.8")


@pytest.mark.parametrize(
    ("env", "value", "fragment"),
    [
        ("DEVENV_BRIDGE", "a-name-that-is-far-too-long", "not a usable interface name"),
        ("DEVENV_SUBNET", "10.1.2.3/24", "not an IPv4 network"),
        ("DEVENV_SUBNET", "10.1.2.0/30", "too small"),
        ("DEVENV_FIREWALL", "pf", "not a firewall backend"),
        ("DEVENV_DNS", "dns.example", "not an IP address"),
    ],
)
def test_bad_values_name_their_source(monkeypatch: pytest.MonkeyPatch, env: str, value: str, fragment: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(NetworkError) as info:
        settings.load()
    assert f"${env}" in info.value.message
    assert fragment in info.value.message


def test_choose_subnet_skips_routed_networks() -> None:
    taken = [ipaddress.IPv4Network(n) for n in ("10.242.0.0/24", "10.242.1.128/25", "0.0.0.0/0", "192.0.2.0/24")]
    assert str(settings.choose_subnet(taken)) == "10.242.2.0/24"


def test_choose_subnet_with_everything_routed_is_an_error() -> None:
    with pytest.raises(NetworkError, match="already routed") as info:
        settings.choose_subnet([ipaddress.IPv4Network("10.242.0.0/16")])
    assert info.value.remedy is not None and "DEVENV_SUBNET" in info.value.remedy
