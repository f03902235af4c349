"""Outbound access for a bridge: IP forwarding plus exactly the filter and NAT rules devenv needs.

Per bridge ``BR`` with subnet ``S`` devenv adds, and on teardown removes, only these rules (each tagged
with the comment ``devenv:BR`` so that they are recognisable and nothing else is touched):

- forward: accept packets coming in from ``BR``; accept established/related packets going out to ``BR``.
  They go first in ``FORWARD`` so that a DROP policy (Docker sets one) or a trailing REJECT (ufw) does
  not stop containers; Docker's own chains and rules are left alone.
- nat: masquerade packets from ``S`` that leave through another interface.

Two backends, chosen by :func:`detect` (setting ``firewall``: ``auto``, ``iptables``, ``nftables``):
:class:`Iptables` uses the host's ``iptables`` command, whatever its backend (legacy or nf_tables), which
is also what Docker uses; :class:`Nftables` (hosts without iptables) puts the rules in a table of its own,
``ip devenv_BR``, and adds the forward accepts to other tables' forward base chains whose policy is drop.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from devenv.errors import NetworkError

FirewallChoice = Literal["auto", "iptables", "nftables"]
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


class Result(Protocol):
    returncode: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    def run(self, argv: list[str], *, input: str | None = None) -> Result: ...

    def which(self, name: str) -> str | None: ...


@dataclass
class _Completed:
    returncode: int
    stdout: str
    stderr: str


class SubprocessRunner:
    def run(self, argv: list[str], *, input: str | None = None) -> Result:
        try:
            proc = subprocess.run(argv, input=input, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            return _Completed(127, "", f"{argv[0]}: command not found")
        return _Completed(proc.returncode, proc.stdout, proc.stderr)

    def which(self, name: str) -> str | None:
        return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


class Firewall(Protocol):
    name: str

    def ensure(self, bridge: str, subnet: str) -> None:
        """Install the rules for ``bridge``/``subnet`` unless present (idempotent)."""
        ...

    def remove(self, bridge: str, subnet: str) -> None:
        """Remove every rule tagged for ``bridge`` (idempotent)."""
        ...

    def installed(self, bridge: str) -> list[str]:
        """The rules tagged for ``bridge`` that are in place, as text (for inspection and tests)."""
        ...


def comment(bridge: str) -> str:
    return f"devenv:{bridge}"


def _fail(what: str, result: Result, tool: str) -> NetworkError:
    return NetworkError(
        f"{what} failed: {(result.stderr or result.stdout).strip() or f'exit code {result.returncode}'}",
        remedy=f"devenv needs root and a working {tool} to give containers outbound access; "
        'or use "runArgs": ["--network=host"] to share the host network',
    )


class Iptables:
    name = "iptables"

    def __init__(self, runner: CommandRunner, binary: str = "iptables", *, nat: bool = True) -> None:
        self.runner = runner
        self.binary = binary
        self.nat = nat  # False: only the forward accepts (the nftables backend does the NAT itself)

    def _rules(self, bridge: str, subnet: str) -> list[tuple[str, str, list[str]]]:
        tag = ["-m", "comment", "--comment", comment(bridge)]
        rules = [
            ("filter", "FORWARD", ["-i", bridge, *tag, "-j", "ACCEPT"]),
            (
                "filter",
                "FORWARD",
                ["-o", bridge, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", *tag, "-j", "ACCEPT"],
            ),
            ("nat", "POSTROUTING", ["-s", subnet, "!", "-o", bridge, *tag, "-j", "MASQUERADE"]),
        ]
        return rules if self.nat else rules[:2]

    def _run(self, table: str, *args: str) -> Result:
        return self.runner.run([self.binary, "-w", "10", "-t", table, *args])

    def _present(self, table: str, chain: str, spec: list[str]) -> bool:
        result = self._run(table, "-C", chain, *spec)
        if result.returncode == 0:
            return True
        if result.returncode == 1 and "does a matching rule exist" in (result.stderr + result.stdout).lower():
            return False
        if result.returncode == 1 and not result.stderr.strip():
            return False
        raise _fail(f"{self.binary} -t {table} -C {chain}", result, self.binary)

    def ensure(self, bridge: str, subnet: str) -> None:
        for table, chain, spec in self._rules(bridge, subnet):
            if not self._present(table, chain, spec):
                result = self._run(table, "-I", chain, "1", *spec)
                if result.returncode != 0:
                    raise _fail(f"{self.binary} -t {table} -I {chain}", result, self.binary)

    def remove(self, bridge: str, subnet: str) -> None:
        for table, chain, spec in self._rules(bridge, subnet):
            for _ in range(100):  # duplicates, if someone added them twice
                if not self._present(table, chain, spec):
                    break
                self._run(table, "-D", chain, *spec)
        # Rules with our tag but another subnet (the bridge was re-addressed): delete by listing.
        for table, chain in self._chains():
            for line in self._list(table, chain, bridge):
                args = _split_rule(line)
                if args[:2] == ["-A", chain]:
                    self._run(table, "-D", chain, *args[2:])

    def _list(self, table: str, chain: str, bridge: str) -> list[str]:
        result = self._run(table, "-S", chain)
        if result.returncode != 0:
            return []
        pattern = re.compile(rf'--comment "?{re.escape(comment(bridge))}"?(\s|$)')
        return [line for line in result.stdout.splitlines() if pattern.search(line)]

    def _chains(self) -> list[tuple[str, str]]:
        return [("filter", "FORWARD"), ("nat", "POSTROUTING")] if self.nat else [("filter", "FORWARD")]

    def installed(self, bridge: str) -> list[str]:
        return [f"{t} {line}" for t, c in self._chains() for line in self._list(t, c, bridge)]


def _split_rule(line: str) -> list[str]:
    import shlex

    return shlex.split(line)


class Nftables:
    name = "nftables"

    def __init__(self, runner: CommandRunner, binary: str = "nft") -> None:
        self.runner = runner
        self.binary = binary

    @staticmethod
    def table(bridge: str) -> str:
        return "devenv_" + re.sub(r"[^A-Za-z0-9_]", "_", bridge)

    def _nft(self, *args: str, input: str | None = None) -> Result:
        return self.runner.run([self.binary, *args], input=input)

    def ensure(self, bridge: str, subnet: str) -> None:
        table = self.table(bridge)
        script = f"""add table ip {table}
delete table ip {table}
table ip {table} {{
  chain forward {{
    type filter hook forward priority -1; policy accept;
    iifname "{bridge}" accept
    oifname "{bridge}" ct state established,related accept
  }}
  chain postrouting {{
    type nat hook postrouting priority 100; policy accept;
    ip saddr {subnet} oifname != "{bridge}" masquerade
  }}
}}
"""
        result = self._nft("-f", "-", input=script)
        if result.returncode != 0:
            raise _fail(f"nft: creating table ip {table}", result, "nft")
        tag = comment(bridge)
        for family, tname, chain in self._dropping_forward_chains(exclude=table):
            if _iptables_managed(family, tname, chain):
                self._iptables().ensure(bridge, subnet)
                continue
            if any(r["comment"] == tag for r in self._rules(family, tname, chain)):
                continue
            for rule in (f'oifname "{bridge}" ct state established,related accept', f'iifname "{bridge}" accept'):
                result = self._nft("insert", "rule", family, tname, chain, *rule.split(), "comment", f'"{tag}"')
                if result.returncode != 0:
                    raise _fail(f"nft: inserting a rule in {family} {tname} {chain}", result, "nft")

    def _iptables(self) -> Iptables:
        """iptables-nft's own chains must be changed with iptables: the rules nft would write there (``ct
        state``) make the chain unreadable to iptables, and Docker's next iptables call would fail."""
        binary = self.runner.which("iptables")
        if binary is None:
            raise NetworkError(
                "the forward chain ip filter FORWARD (iptables-nft) drops forwarded packets, "
                "and the iptables command needed to add devenv's accept rules to it is not installed",
                remedy="install iptables, or use network mode host",
            )
        return Iptables(self.runner, binary, nat=False)

    def remove(self, bridge: str, subnet: str) -> None:
        table = self.table(bridge)
        self._nft("delete", "table", "ip", table)
        tag = comment(bridge)
        for family, tname, chain in self._forward_chains(exclude=table):
            if _iptables_managed(family, tname, chain):
                if self.runner.which("iptables"):
                    self._iptables().remove(bridge, subnet)
                continue
            for rule in self._rules(family, tname, chain):
                if rule["comment"] == tag:
                    self._nft("delete", "rule", family, tname, chain, "handle", str(rule["handle"]))

    def installed(self, bridge: str) -> list[str]:
        found: list[str] = []
        table = self.table(bridge)
        result = self._nft("list", "table", "ip", table)
        if result.returncode == 0:
            found.append(f"table ip {table}")
        tag = comment(bridge)
        for family, tname, chain in self._forward_chains(exclude=table):
            if _iptables_managed(family, tname, chain):
                if self.runner.which("iptables"):
                    found.extend(self._iptables().installed(bridge))
                continue
            found.extend(
                f"{family} {tname} {chain} rule {r['handle']}"
                for r in self._rules(family, tname, chain)
                if r["comment"] == tag
            )
        return found

    def _ruleset(self) -> list[dict[str, Any]]:
        result = self._nft("-j", "list", "chains")
        if result.returncode != 0:
            raise _fail("nft list chains", result, "nft")
        items: list[dict[str, Any]] = json.loads(result.stdout or "{}").get("nftables", [])
        return items

    def _forward_chains(self, *, exclude: str, only_drop: bool = False) -> list[tuple[str, str, str]]:
        chains: list[tuple[str, str, str]] = []
        for item in self._ruleset():
            chain = item.get("chain")
            if not chain or chain.get("hook") != "forward" or chain.get("table") == exclude:
                continue
            if chain.get("family") not in ("ip", "inet"):
                continue
            if only_drop and chain.get("policy") != "drop":
                continue
            chains.append((chain["family"], chain["table"], chain["name"]))
        return chains

    def _dropping_forward_chains(self, *, exclude: str) -> list[tuple[str, str, str]]:
        return self._forward_chains(exclude=exclude, only_drop=True)

    def _rules(self, family: str, table: str, chain: str) -> list[dict[str, Any]]:
        result = self._nft("-j", "-a", "list", "chain", family, table, chain)
        if result.returncode != 0:
            return []
        rules = []
        for item in json.loads(result.stdout or "{}").get("nftables", []):
            rule = item.get("rule")
            if rule:
                rules.append({"handle": rule.get("handle"), "comment": rule.get("comment")})
        return rules


def _iptables_managed(family: str, table: str, chain: str) -> bool:
    return family == "ip" and table == "filter" and chain == "FORWARD"


def detect(choice: FirewallChoice = "auto", runner: CommandRunner | None = None) -> Firewall:
    """The backend to use: the one asked for, else iptables when installed, else nft."""
    runner = runner or SubprocessRunner()
    if choice in ("auto", "iptables"):
        binary = runner.which("iptables")
        if binary:
            return Iptables(runner, binary)
        if choice == "iptables":
            raise NetworkError(
                "the firewall setting asks for iptables, but the iptables command is not installed",
                remedy="apt-get install iptables, or set the firewall to nftables or auto",
            )
    binary = runner.which("nft")
    if binary:
        return Nftables(runner, binary)
    raise NetworkError(
        "neither iptables nor nft is installed: devenv cannot give containers outbound access (NAT)",
        remedy='install iptables or nftables, or use "runArgs": ["--network=host"] to share the host network',
    )


def enable_ip_forwarding(path: Path = IP_FORWARD) -> bool:
    """Turn on IPv4 forwarding (as Docker does); True when it was off. It is left on afterwards."""
    try:
        if path.read_text().strip() == "1":
            return False
        path.write_text("1\n")
        return True
    except OSError as exc:
        raise NetworkError(
            f"cannot enable IPv4 forwarding ({path}): {exc.strerror}",
            remedy="run devenv as root, or enable it yourself: sysctl -w net.ipv4.ip_forward=1",
        ) from None
