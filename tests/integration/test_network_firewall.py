"""NAT coexisting with a Docker engine (FORWARD policy DROP, DOCKER chains) with both firewall backends."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from devenv import network
from devenv.network import firewall
from tests.support.netns import internet, leftovers, netns, network_root

__all__ = ["network_root"]

PROBE = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print(s.makefile().readline().strip())
"""


def iptables_rules() -> list[str]:
    """Every rule of the filter and nat tables, without counters."""
    rules = []
    for table in ("filter", "nat"):
        out = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True, check=True).stdout
        rules += [line for line in out.splitlines() if line.startswith(("-A", ":"))]
    return [line.split(" [")[0] for line in rules]


@pytest.fixture
def forward_drop(docker_engine: None) -> Iterator[None]:
    """A running Docker engine, and the FORWARD policy it leaves (DROP, set here if it did not)."""
    policy = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=True).stdout
    was_drop = "-P FORWARD DROP" in policy
    if not was_drop:
        subprocess.run(["iptables", "-P", "FORWARD", "DROP"], check=True)
    yield
    if not was_drop:
        subprocess.run(["iptables", "-P", "FORWARD", "ACCEPT"], check=True)


@pytest.mark.docker
@pytest.mark.parametrize("backend", ["iptables", "nftables"])
def test_nat_works_beside_docker_and_teardown_restores_every_rule(
    backend: str, forward_drop: None, network_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVENV_FIREWALL", backend)
    before = iptables_rules()
    assert any("DOCKER" in r for r in before)
    with internet() as inet, netns() as c:
        inet.ns.serve("internet", 8080)
        network.attach(f"fw-{backend}", c.path)
        during = iptables_rules()
        # Docker's rules untouched (others' tests may add rules meanwhile: compare what was there).
        assert set(before) <= set(during)
        assert [r for r in during if network_root in r and r not in before]
        ours = firewall.detect(backend).installed(network_root)  # type: ignore[arg-type]
        assert len(ours) == 3
        probe = c.run("python3", "-c", PROBE, inet.server_ip, "8080", check=False)
        assert probe.stdout.strip() == f"internet {inet.host_ip}", probe.stderr
        # iptables still understands its tables (no nft-only syntax slipped into them).
        assert subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True).returncode == 0
        network.detach(f"fw-{backend}")
    after = iptables_rules()
    assert set(before) <= set(after)
    assert [r for r in after if network_root in r] == []
    assert leftovers(network_root, "fw-") == {"links": [], "addresses": [], "rules": [], "nft": [], "forwarders": []}
