"""Container networking: bridge + veth + NAT, DNS, and port forwarding that lives as long as the container.

The runtime (and the builder's RUN steps) call three functions; everything runs as root.

``attach(container_id, netns, mode="bridge", ports=(), *, policy=None, spawn_forwarder=True) -> Attachment``
    Call after the container's network namespace exists (its pid 1 runs, or is stopped before exec),
    on every start. ``netns`` is the pid of a process in the namespace (pid 1) or a path
    (``/proc/PID/ns/net``, ``/run/netns/NAME``); ignored for ``mode="host"``. A previous attachment of
    the same id is detached first.

    - ``"bridge"``: a veth pair, host end on the bridge (``devenv0``; see :mod:`devenv.network.settings`),
      container end named ``eth0`` with an address from the persisted IPAM, up, default route via the
      bridge; ``lo`` is brought up too. Outbound traffic is NATed (iptables or nftables, only devenv's own
      rules, tagged ``devenv:<bridge>``). The bridge is created on first use.
    - ``"none"``: nothing is configured (the runtime brings ``lo`` up); ports are still forwarded.
    - ``"host"``: nothing to do; ``Attachment.ports`` are the container ports themselves.

    ``ports``: :class:`~devenv.runtime.base.PortMapping` values. Build them, with the policy, from the
    configuration: :func:`devenv.network.ports.from_merged` (merged config's typed values) or
    :func:`devenv.network.ports.from_config` (raw JSON values), and put both in the ContainerSpec
    (``ports``, ``ports_policy``). The host listeners are bound *before* attach returns:
    ``Attachment.ports`` holds the host ports actually bound, and a port in use raises
    :class:`~devenv.errors.NetworkError` naming it (nothing is left attached then).
    ``policy``: :class:`~devenv.runtime.base.PortsPolicy` (``ContainerSpec.ports_policy``): auto-forward
    of ports the container starts listening on, and portsAttributes.

    With ports, auto-forward or a DNS proxy needed, attach starts the container's forwarder process
    (:mod:`devenv.network.forwarder`): detached from the caller (survives the CLI), it exits by itself
    when the container's pid 1 exits (or a path namespace is deleted). ``spawn_forwarder=False``: nothing
    is bound or started; the caller runs ``python -m devenv.network.forwarder <container-id>`` itself
    (e.g. from its supervisor), which then binds the ports.

    Returns :class:`~devenv.network.state.Attachment`: ``ip``, ``prefix_len``, ``gateway`` (bridge mode),
    ``ports`` (bound), ``dns_servers`` and ``resolv_conf`` (the text for the container's
    ``/etc/resolv.conf``: the runtime writes it, like ``/etc/hosts`` and ``/etc/hostname``).

``detach(container_id)``
    Call when the container stops or is removed (also after a failed start). Idempotent: stops the
    forwarder, deletes the veth, releases the address; the last container on a bridge takes the bridge
    and its firewall rules with it. Leaves nothing behind.

``resolv_conf(mode="bridge") -> str``
    The resolv.conf a container in ``mode`` gets (the same text ``attach`` returns; see :mod:`.dns`).

Also: :func:`get` (an attachment record), :func:`forwarded_ports` (what ``devenv ports`` lists).
Settings (bridge name, subnet, firewall backend, DNS servers): :mod:`devenv.network.settings`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # (not typing's: the container runtime imports devenv.network.agent on its start path)
if TYPE_CHECKING:
    from typing import Any

    from devenv.events import Reporter
    from devenv.network.nsutil import NetnsRef
    from devenv.network.state import Attachment, ForwardedPort, PortsState
    from devenv.runtime.base import NetworkMode, PortMapping, PortsPolicy
else:

    def __getattr__(name: str) -> Any:
        """The record types, imported when first asked for (they pull in the dataclass-heavy contract)."""
        if name in ("Attachment", "ForwardedPort", "PortsState"):
            from devenv.network import state

            return getattr(state, name)
        if name in ("NetworkMode", "PortMapping", "PortsPolicy"):
            from devenv.runtime import base

            return getattr(base, name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Attachment",
    "ForwardedPort",
    "NetworkMode",
    "PortMapping",
    "PortsPolicy",
    "PortsState",
    "attach",
    "detach",
    "forwarded_ports",
    "get",
    "resolv_conf",
]


def attach(
    container_id: str,
    netns: NetnsRef | None,
    mode: NetworkMode = "bridge",
    ports: tuple[PortMapping, ...] = (),
    *,
    policy: PortsPolicy | None = None,
    spawn_forwarder: bool = True,
    reporter: Reporter | None = None,
) -> Attachment:
    from devenv.events import NULL
    from devenv.network import attachment as _attach

    return _attach.attach(
        container_id, netns, mode, ports, policy=policy, spawn_forwarder=spawn_forwarder, reporter=reporter or NULL
    )


def detach(container_id: str, *, reporter: Reporter | None = None) -> None:
    from devenv.events import NULL
    from devenv.network import attachment as _attach

    _attach.detach(container_id, reporter=reporter or NULL)


def resolv_conf(mode: NetworkMode = "bridge") -> str:
    from devenv.network import dns, settings

    conf = settings.load()
    return dns.plan(mode, conf.resolv_conf, conf.dns).resolv_conf


def get(container_id: str) -> Attachment | None:
    from devenv.network import state

    return state.load(container_id)


def forwarded_ports(container_id: str) -> PortsState:
    """The ports the container's forwarder serves now (configured and auto-forwarded); empty when it is
    not running. In host mode: the configured ports, which the container serves on the host itself."""
    from devenv.network import state
    from devenv.network.state import ForwardedPort, PortsState

    att = state.load(container_id)
    if att is None:
        return PortsState()
    if att.mode == "host":
        return PortsState(
            tuple(ForwardedPort(p.container_port, p.host_ip, p.host_port, p.protocol, p.label) for p in att.ports)
        )
    if att.forwarder_pid is not None:
        from devenv.network.forwarder import start_time

        if start_time(att.forwarder_pid) != att.forwarder_start:
            return PortsState((), ("the port forwarder is not running (the container stopped, or it was killed)",))
    return state.load_ports(container_id)
