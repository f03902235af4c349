"""Attach a container's network namespace (bridge, veth, address, NAT, DNS, ports) and detach it again.

Kernel changes happen under a machine-wide lock (:func:`settings.lock_path`), in an order that can be
undone: stale allocations are reclaimed, the bridge is created (and marked with an alias naming the
data root that owns it), the firewall rules are ensured, an address is allocated, the veth pair is
created with its container end configured inside the namespace. A failure undoes what was done. The
bridge and its firewall rules go away with the last container attached to it — at once, or, when the
detach asks to keep the bridge (the network agent does, :mod:`devenv.network.agent`), once it has stayed
unused for a while (:func:`teardown_if_unused`).
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import socket
from dataclasses import replace
from pathlib import Path

from devenv import paths
from devenv.errors import NetworkError
from devenv.events import NULL, Reporter
from devenv.fsutil import file_lock
from devenv.network import dns, firewall, forwarder, hostports, nsutil, settings, state
from devenv.network.ipam import Ipam, IpamState
from devenv.network.netlink import ContainerInterface, LinkInfo, Netlink
from devenv.network.nsutil import NetnsRef
from devenv.network.settings import NetworkSettings
from devenv.network.state import Attachment
from devenv.runtime.base import NetworkMode, PortMapping, PortsPolicy

CONTAINER_IFNAME = "eth0"
RULES_RECHECK = 60.0  # seconds a long-lived caller trusts a bridge's firewall rules it checked


def veth_name(bridge: str, container_id: str) -> str:
    return "ve" + hashlib.sha256(f"{bridge}/{container_id}".encode()).hexdigest()[:11]


def bridge_alias() -> str:
    return f"devenv:{paths.data_root().resolve()}"


class Network:
    """The kernel side of one data root's bridge. ``netlink`` and ``fw`` are injectable (fakes in tests)."""

    def __init__(
        self,
        conf: NetworkSettings,
        netlink: Netlink | None = None,
        fw: firewall.Firewall | None = None,
        ip_forward: Path = firewall.IP_FORWARD,
    ) -> None:
        self.conf = conf
        if netlink is None:
            from devenv.network.netlink import PyrouteNetlink

            netlink = PyrouteNetlink()
        self.netlink = netlink
        self._fw = fw
        self.ip_forward = ip_forward
        self.ipam = Ipam(settings.state_dir() / "bridges" / conf.bridge)
        # A long-lived caller (the network agent) remembers when it last checked a bridge's firewall rules:
        # bridge -> (its ifindex, monotonic time); rules are checked again for a new bridge or after
        # RULES_RECHECK seconds. None: check on every connect.
        self.rules_checked: dict[str, tuple[int, float]] | None = None
        # ... and what it learnt of a bridge it saw: bridge -> (ifindex, gateway address, MTU).
        self.bridges_seen: dict[str, tuple[int, ipaddress.IPv4Interface, int]] | None = None
        self._bridge_index = 0
        self._bridge_mtu = 0

    @property
    def fw(self) -> firewall.Firewall:
        if self._fw is None:
            self._fw = firewall.detect(self.conf.firewall)
        return self._fw

    def _reclaim(self, st: IpamState) -> None:
        """Free addresses of containers whose veth is gone (their namespace died without a detach)."""
        if not st.allocations:
            return
        present = self.netlink.link_names()  # (every link of the host: names only, nothing decoded)
        for cid in list(st.allocations):
            if veth_name(self.conf.bridge, cid) not in present:
                st.release(cid)
                record = state.load(cid)
                if record is not None and record.bridge == self.conf.bridge:
                    if record.forwarder_pid:
                        forwarder.stop(record.forwarder_pid, record.forwarder_start)
                    state.remove(cid)

    def _ensure_bridge(self, link: LinkInfo | None) -> ipaddress.IPv4Interface:
        """The bridge's address (creating the bridge when ``link``, the link of its name, is None)."""
        name = self.conf.bridge
        if link is not None:
            if link.alias != bridge_alias():
                owner = link.alias.removeprefix("devenv:") if link.alias.startswith("devenv:") else None
                raise NetworkError(
                    f"the bridge {name} already exists and belongs to "
                    + (f"another devenv data root ({owner})" if owner else "something other than devenv"),
                    remedy="choose another bridge name with DEVENV_BRIDGE or the 'bridge' network setting",
                )
            self._bridge_index, self._bridge_mtu = link.index, link.mtu
            seen = self.bridges_seen.get(name) if self.bridges_seen is not None else None
            if seen is not None and seen[0] == link.index:
                return seen[1]
            addrs = self.netlink.addresses(name)
            if not addrs:
                raise NetworkError(f"the bridge {name} has no IPv4 address", remedy=f"delete it: ip link del {name}")
            gateway = ipaddress.IPv4Interface(addrs[0])
            if self.bridges_seen is not None:
                self.bridges_seen[name] = (link.index, gateway, link.mtu)
            return gateway
        taken = self.netlink.routed_networks()
        subnet = self.conf.subnet
        if subnet is None:
            subnet = settings.choose_subnet(taken)
        else:
            clash = next((net for net in taken if net.prefixlen > 0 and net.overlaps(subnet)), None)
            if clash is not None:
                raise NetworkError(
                    f"the subnet {subnet} for the bridge {name} overlaps the host's network {clash}",
                    remedy="choose a free subnet with DEVENV_SUBNET or the 'subnet' network setting",
                )
        gateway = ipaddress.IPv4Interface(f"{next(subnet.hosts())}/{subnet.prefixlen}")
        mtu = self.netlink.default_mtu()
        self.netlink.create_bridge(name, address=str(gateway), alias=bridge_alias(), mtu=mtu)
        created = self.netlink.link(name)
        self._bridge_index, self._bridge_mtu = (created.index if created is not None else 0), mtu
        return gateway

    def _ensure_rules(self, gateway: ipaddress.IPv4Interface) -> None:
        import time

        name = self.conf.bridge
        checked = self.rules_checked.get(name) if self.rules_checked is not None else None
        now = time.monotonic()
        if checked is not None and checked[0] == self._bridge_index and now - checked[1] < RULES_RECHECK:
            return
        self.fw.ensure(name, str(gateway.network))
        if self.rules_checked is not None:
            self.rules_checked[name] = (self._bridge_index, now)

    def collect_orphans(self) -> list[str]:
        """Remove devenv bridges whose data root no longer exists and that have no container attached
        (left by roots deleted while containers were attached, e.g. test roots); returns their names."""
        links = self.netlink.links()
        used = {link.master for link in links if link.master}
        removed = []
        for link in links:
            if link.kind != "bridge" or not link.alias.startswith("devenv:") or link.index in used:
                continue
            root = Path(link.alias.removeprefix("devenv:"))
            if root.exists() or link.name == self.conf.bridge:
                continue
            addrs = self.netlink.addresses(link.name)
            subnet = str(ipaddress.IPv4Interface(addrs[0]).network) if addrs else "0.0.0.0/0"
            self.fw.remove(link.name, subnet)
            self.netlink.delete_link(link.name)
            removed.append(link.name)
        return removed

    def teardown_bridge(self, subnet: ipaddress.IPv4Network | None) -> None:
        """Remove the bridge and its firewall rules, if devenv (this data root) made them."""
        link = self.netlink.link(self.conf.bridge)
        if link is not None and link.alias != bridge_alias():
            return
        if subnet is None and link is not None:
            addrs = self.netlink.addresses(self.conf.bridge)
            subnet = ipaddress.IPv4Interface(addrs[0]).network if addrs else None
        self.fw.remove(self.conf.bridge, str(subnet) if subnet else "0.0.0.0/0")
        self.netlink.delete_link(self.conf.bridge)

    def connect(self, container_id: str, netns_fd: int) -> tuple[ipaddress.IPv4Interface, ipaddress.IPv4Address, str]:
        """Give the namespace an address on the bridge; returns (address, gateway, host veth name)."""
        name = self.conf.bridge
        veth = veth_name(name, container_id)
        with file_lock(settings.lock_path(), what="the devenv network lock"), self.ipam.transaction() as st:
            self._reclaim(st)
            link = self.netlink.link(name)
            created_bridge = link is None
            if created_bridge:
                self.collect_orphans()
            try:
                gateway = self._ensure_bridge(link)
                if st.subnet != gateway.network:
                    if st.allocations:
                        raise NetworkError(
                            f"the address table {self.ipam.path} is for {st.subnet}, "
                            f"but the bridge {name} has {gateway.network}",
                            remedy="detach the containers on it, then try again",
                        )
                    st.subnet = gateway.network
                self._ensure_rules(gateway)
                firewall.enable_ip_forwarding(self.ip_forward)
                address = st.allocate(container_id)
                iface = ipaddress.IPv4Interface(f"{address}/{gateway.network.prefixlen}")
                # (the veth gets the bridge's MTU, which is the default route's when the bridge was made)
                mtu = self._bridge_mtu or self.netlink.default_mtu()
                peer = ContainerInterface(CONTAINER_IFNAME, str(iface), str(gateway.ip), mtu)
                self.netlink.create_veth(
                    veth,
                    netns_fd=netns_fd,
                    bridge=name,
                    alias=f"devenv:{container_id}",
                    peer=peer,
                    bridge_index=self._bridge_index,
                )
            except BaseException:
                st.release(container_id)
                with contextlib.suppress(NetworkError):
                    self.netlink.delete_link(veth)
                    if created_bridge and not st.allocations:
                        self.teardown_bridge(None)
                raise
        return iface, gateway.ip, veth

    def disconnect(self, container_id: str, *, keep_bridge: bool = False) -> None:
        """Release the container's address and veth; the last one takes the bridge away (unless
        ``keep_bridge``: then :meth:`teardown_if_unused` does, later)."""
        with file_lock(settings.lock_path(), what="the devenv network lock"), self.ipam.transaction() as st:
            had_state = st.subnet is not None
            self.netlink.delete_link(veth_name(self.conf.bridge, container_id))
            st.release(container_id)
            self._reclaim(st)
            if keep_bridge:
                return
            if not st.allocations and (had_state or self.netlink.link(self.conf.bridge) is not None):
                self.teardown_bridge(st.subnet)

    def teardown_if_unused(self) -> bool:
        """Remove the bridge (and its rules) if no container is attached to it; True if it is gone."""
        with file_lock(settings.lock_path(), what="the devenv network lock"), self.ipam.transaction() as st:
            self._reclaim(st)
            if st.allocations:
                return False
            link = self.netlink.link(self.conf.bridge)
            if link is not None and link.alias == bridge_alias():
                self.teardown_bridge(st.subnet)
            return True


def attach(
    container_id: str,
    netns: NetnsRef | None,
    mode: NetworkMode = "bridge",
    ports: tuple[PortMapping, ...] = (),
    *,
    policy: PortsPolicy | None = None,
    spawn_forwarder: bool = True,
    fork_forwarder: bool = False,
    watch_pid: int | None = None,
    reporter: Reporter = NULL,
    network: Network | None = None,
) -> Attachment:
    """See :mod:`devenv.network`. ``fork_forwarder``: the forwarder is a fork of this process when it
    allows it (:func:`forwarder.spawn`; the network agent); the caller reaps it (:func:`forwarder.reap`).
    ``watch_pid``: the process whose end ends the forwarder (default: ``netns`` when it is a pid; for a
    namespace given by path, its holder, e.g. the supervisor of a container whose init does not exist yet)."""
    state.check_id(container_id)
    if state.load(container_id) is not None:
        detach(container_id, network=network, keep_bridge=True)  # attached again right below
    conf = network.conf if network is not None else settings.load()
    policy = policy or PortsPolicy()
    plan = dns.plan(mode, conf.resolv_conf, conf.dns)
    if mode == "host":
        host_ports = tuple(
            replace(p, host_port=p.container_port, host_ip="0.0.0.0") for p in ports if not p.target_host
        )
        att = Attachment(container_id, mode, ports=host_ports, dns_servers=plan.servers, resolv_conf=plan.resolv_conf)
        state.save(att)
        return att
    if netns is None:
        raise NetworkError(f"network mode {mode} needs the container's network namespace")
    netns_fd = nsutil.open_netns(netns)
    net: Network | None = None
    att = Attachment(
        container_id,
        mode,
        netns=nsutil.netns_path(netns),
        policy=policy,
        dns_servers=plan.servers,
        resolv_conf=plan.resolv_conf,
        dns_proxy=plan.proxy_upstreams,
    )
    bound: list[tuple[socket.socket, PortMapping]] = []
    dns_socks: tuple[socket.socket, socket.socket] | None = None
    pidfd = None
    try:
        if mode == "bridge":
            net = network or Network(conf)
            iface, gateway, veth = net.connect(container_id, netns_fd)
            att = replace(
                att,
                ip=str(iface.ip),
                prefix_len=iface.network.prefixlen,
                gateway=str(gateway),
                bridge=conf.bridge,
                veth=veth,
            )
            reporter.event(
                "network.attach",
                container=container_id,
                ip=att.ip,
                bridge=conf.bridge,
                message=f"network: {att.ip}/{att.prefix_len} on {conf.bridge}",
            )
        if spawn_forwarder:
            bound = hostports.bind_all(ports)
        att = replace(att, ports=tuple(m for _, m in bound) if spawn_forwarder else ports)
        serve = spawn_forwarder and bool(bound or policy.auto_forward or plan.proxy_upstreams)
        fork = serve and fork_forwarder and forwarder.can_fork()
        if not fork:
            state.save(att)  # (a forwarder in a new interpreter reads it)
        if spawn_forwarder:
            state.save_ports(container_id, _initial_ports(att))
        if serve:
            if plan.proxy_upstreams:
                dns_socks = dns.DnsProxy.bind(netns_fd)
            watch = watch_pid if watch_pid is not None else netns if isinstance(netns, int) else None
            pidfd = nsutil.pidfd_open(watch) if watch is not None else None
            pid, started = forwarder.spawn(att, netns_fd, bound, dns_socks, pidfd, fork=fork)
            att = replace(att, forwarder_pid=pid, forwarder_start=started)
            state.save(att)
        for mapping in att.ports:
            reporter.event(
                "network.port",
                container_port=mapping.container_port,
                host_port=mapping.host_port,
                host_ip=mapping.host_ip,
                message=f"port {mapping.container_port} -> {mapping.host_ip}:{mapping.host_port}",
            )
        return att
    except BaseException:
        with contextlib.suppress(Exception):
            detach(container_id, network=net)
        raise
    finally:
        if net is not None and network is None:
            net.netlink.close()
        for sock, _ in bound:
            sock.close()
        for sock in dns_socks or ():
            sock.close()
        if pidfd is not None:
            os.close(pidfd)
        os.close(netns_fd)


def detach(
    container_id: str, *, network: Network | None = None, reporter: Reporter = NULL, keep_bridge: bool = False
) -> None:
    """See :mod:`devenv.network`. ``keep_bridge``: the last container leaves the bridge in place."""
    att = state.load(container_id)
    if att is not None and att.forwarder_pid:
        forwarder.stop(att.forwarder_pid, att.forwarder_start)
    if att is None or att.mode == "bridge":
        conf = network.conf if network is not None else settings.load()
        if att is not None and att.bridge and att.bridge != conf.bridge:
            conf = replace(conf, bridge=att.bridge)
            network = None
        net = network or Network(conf)
        try:
            net.disconnect(container_id, keep_bridge=keep_bridge)
        finally:
            if network is None:
                net.netlink.close()
    state.remove(container_id)
    reporter.event("network.detach", container=container_id, message=f"network: detached {container_id}")


def _initial_ports(att: Attachment) -> state.PortsState:
    """What ``devenv ports`` shows until the forwarder publishes: the configured ports just bound."""
    return state.PortsState(
        tuple(
            state.ForwardedPort(
                p.container_port, p.host_ip, p.host_port, p.protocol, p.label, target_host=p.target_host
            )
            for p in att.ports
        )
    )
