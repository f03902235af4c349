"""The firewall backends issue exactly devenv's rules and remove exactly them (against simulated tools)."""

from __future__ import annotations

import json
import re

import pytest

from devenv.errors import NetworkError
from devenv.network.fake import FakeResult, FakeRunner
from devenv.network.firewall import Iptables, Nftables, detect


class SimulatedIptables:
    """Just enough of iptables -C/-I/-D/-S, with rules of other owners already in place."""

    def __init__(self) -> None:
        self.chains: dict[tuple[str, str], list[str]] = {
            ("filter", "FORWARD"): ["-j DOCKER-USER", "-o docker0 -j DOCKER"],
            ("nat", "POSTROUTING"): ["-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"],
        }

    def __call__(self, argv: list[str], stdin: str | None) -> FakeResult:
        assert argv[:3] == ["/usr/sbin/iptables", "-w", "10"]
        table, op, chain, *spec = argv[4:]
        rules = self.chains.setdefault((table, chain), [])
        text = " ".join(spec)
        if op == "-C":
            if text in rules:
                return FakeResult(0)
            return FakeResult(1, stderr="iptables: Bad rule (does a matching rule exist in that chain?).")
        if op == "-I":
            rules.insert(int(spec[0]) - 1, " ".join(spec[1:]))
            return FakeResult(0)
        if op == "-D":
            rules.remove(text)
            return FakeResult(0)
        if op == "-S":  # iptables-nft quotes comments
            lines = [f"-P {chain} ACCEPT"] + [
                f"-A {chain} " + re.sub(r"--comment (\S+)", r'--comment "\1"', r) for r in rules
            ]
            return FakeResult(0, stdout="\n".join(lines) + "\n")
        raise AssertionError(argv)


def test_iptables_adds_three_tagged_rules_first_and_removes_only_them() -> None:
    sim = SimulatedIptables()
    before = {k: list(v) for k, v in sim.chains.items()}
    fw = Iptables(FakeRunner(sim), "/usr/sbin/iptables")
    fw.ensure("br-t", "10.9.0.0/24")
    fw.ensure("br-t", "10.9.0.0/24")  # idempotent
    forward = sim.chains[("filter", "FORWARD")]
    assert len(forward) == 4
    assert forward[0].startswith("-o br-t -m conntrack --ctstate RELATED,ESTABLISHED")
    assert forward[1] == "-i br-t -m comment --comment devenv:br-t -j ACCEPT"
    assert forward[2:] == before[("filter", "FORWARD")]
    assert (
        sim.chains[("nat", "POSTROUTING")][0]
        == "-s 10.9.0.0/24 ! -o br-t -m comment --comment devenv:br-t -j MASQUERADE"
    )
    assert len(fw.installed("br-t")) == 3
    fw.remove("br-t", "10.9.0.0/24")
    fw.remove("br-t", "10.9.0.0/24")
    assert sim.chains == before


def test_iptables_failure_explains_and_suggests_host_network() -> None:
    runner = FakeRunner(
        lambda argv, stdin: FakeResult(2, stderr="iptables v1.8.9: can't initialize iptables table `nat'")
    )
    with pytest.raises(NetworkError) as info:
        Iptables(runner, "iptables").ensure("br-t", "10.9.0.0/24")
    assert "can't initialize iptables table" in info.value.message
    assert info.value.remedy is not None and "--network=host" in info.value.remedy


class SimulatedNft:
    def __init__(self, forward_policy: str, family: str = "inet", chain: str = "forward") -> None:
        self.family, self.chain = family, chain
        self.iptables = SimulatedIptables()
        self.tables: set[str] = set()
        self.forward_rules: list[dict[str, object]] = [{"handle": 4, "comment": None}]
        self.policy = forward_policy
        self.scripts: list[str] = []
        self.next_handle = 10

    def __call__(self, argv: list[str], stdin: str | None) -> FakeResult:
        if argv[0].endswith("iptables"):
            return self.iptables(argv, stdin)
        args = argv[1:]
        if args == ["-f", "-"]:
            assert stdin is not None
            self.scripts.append(stdin)
            self.tables.add(stdin.split("\n")[0].split()[-1])
            return FakeResult(0)
        if args == ["-j", "list", "chains"]:
            chains = [
                {
                    "chain": {
                        "family": self.family,
                        "table": "filter",
                        "name": self.chain,
                        "hook": "forward",
                        "policy": self.policy,
                    }
                }
            ]
            chains += [
                {"chain": {"family": "ip", "table": t, "name": "forward", "hook": "forward", "policy": "accept"}}
                for t in self.tables
            ]
            return FakeResult(0, json.dumps({"nftables": chains}))
        if args[:4] == ["-j", "-a", "list", "chain"]:
            return FakeResult(0, json.dumps({"nftables": [{"rule": r} for r in self.forward_rules]}))
        if args[:2] == ["insert", "rule"]:
            self.forward_rules.insert(0, {"handle": self.next_handle, "comment": args[-1].strip('"')})
            self.next_handle += 1
            return FakeResult(0)
        if args[:2] == ["delete", "rule"]:
            self.forward_rules = [r for r in self.forward_rules if r["handle"] != int(args[-1])]
            return FakeResult(0)
        if args[:2] == ["delete", "table"]:
            self.tables.discard(args[-1])
            return FakeResult(0)
        if args[:2] == ["list", "table"]:
            return FakeResult(0 if args[-1] in self.tables else 1)
        raise AssertionError(argv)


def test_nftables_own_table_plus_accepts_in_a_dropping_forward_chain() -> None:
    sim = SimulatedNft("drop")
    fw = Nftables(FakeRunner(sim), "nft")
    fw.ensure("br-t", "10.9.0.0/24")
    fw.ensure("br-t", "10.9.0.0/24")
    script = sim.scripts[0]
    assert script.startswith("add table ip devenv_br_t\ndelete table ip devenv_br_t\n")  # replace atomically
    assert 'ip saddr 10.9.0.0/24 oifname != "br-t" masquerade' in script
    assert [r["comment"] for r in sim.forward_rules] == ["devenv:br-t", "devenv:br-t", None]
    assert len(fw.installed("br-t")) == 3
    fw.remove("br-t", "10.9.0.0/24")
    assert sim.tables == set()
    assert sim.forward_rules == [{"handle": 4, "comment": None}]


def test_nftables_uses_iptables_for_the_chains_iptables_nft_manages() -> None:
    sim = SimulatedNft("drop", family="ip", chain="FORWARD")  # Docker's FORWARD with policy drop
    before = {k: list(v) for k, v in sim.iptables.chains.items()}
    fw = Nftables(FakeRunner(sim), "nft")
    fw.ensure("br-t", "10.9.0.0/24")
    assert sim.forward_rules == [{"handle": 4, "comment": None}]  # no nft syntax in iptables' chain
    forward = sim.iptables.chains[("filter", "FORWARD")]
    assert [r for r in forward if "devenv:br-t" in r] == forward[:2]
    assert sim.iptables.chains[("nat", "POSTROUTING")] == before[("nat", "POSTROUTING")]  # NAT is in nft's table
    assert len(fw.installed("br-t")) == 3
    fw.remove("br-t", "10.9.0.0/24")
    assert sim.iptables.chains == before and sim.tables == set()


def test_nftables_leaves_accepting_forward_chains_alone() -> None:
    sim = SimulatedNft("accept")
    Nftables(FakeRunner(sim), "nft").ensure("br-t", "10.9.0.0/24")
    assert sim.forward_rules == [{"handle": 4, "comment": None}]


def test_detect_prefers_iptables_then_nft() -> None:
    class Which(FakeRunner):
        def __init__(self, present: set[str]) -> None:
            super().__init__()
            self.present = present

        def which(self, name: str) -> str | None:
            return f"/sbin/{name}" if name in self.present else None

    assert detect("auto", Which({"iptables", "nft"})).name == "iptables"
    assert detect("nftables", Which({"iptables", "nft"})).name == "nftables"
    assert detect("auto", Which({"nft"})).name == "nftables"
    with pytest.raises(NetworkError, match="iptables command is not installed"):
        detect("iptables", Which({"nft"}))
    with pytest.raises(NetworkError, match="neither iptables nor nft"):
        detect("auto", Which(set()))
