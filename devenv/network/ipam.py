"""Address management for one bridge: which container has which address, persisted and locked.

The state is one JSON file (``<data root>/network/bridges/<bridge>/ipam.json``) written atomically;
every change happens inside :meth:`Ipam.transaction`, which holds an flock on ``ipam.lock`` (released
by the kernel if the process dies, so ``kill -9`` never leaves it stuck). The gateway is the first host
address; containers get the following ones, round-robin, so a released address is not reused at once.
The file exists only while some container holds an address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from devenv.errors import NetworkError
from devenv.fsutil import atomic_write_json, file_lock


@dataclass
class IpamState:
    subnet: ipaddress.IPv4Network | None
    allocations: dict[str, str] = field(default_factory=dict)  # container id -> address
    last: str | None = None  # the address handed out last

    def allocate(self, container_id: str) -> ipaddress.IPv4Address:
        if self.subnet is None:
            raise NetworkError("internal error: allocating an address before the subnet is known")
        if container_id in self.allocations:
            return ipaddress.IPv4Address(self.allocations[container_id])
        # The host addresses but the first (the gateway), as integers: [low, high].
        net = int(self.subnet.network_address)
        if self.subnet.prefixlen >= 31:
            low, high = net + 1, int(self.subnet.broadcast_address)
        else:
            low, high = net + 2, int(self.subnet.broadcast_address) - 1
        count = max(high - low + 1, 0)
        used = {int(ipaddress.IPv4Address(a)) for a in self.allocations.values()}
        start = 0
        if self.last is not None:
            last = int(ipaddress.IPv4Address(self.last))
            if low <= last <= high:
                start = last - low + 1
        for offset in range(count):
            candidate = ipaddress.IPv4Address(low + (start + offset) % count)
            if int(candidate) not in used:
                self.allocations[container_id] = str(candidate)
                self.last = str(candidate)
                return candidate
        raise NetworkError(
            f"no free address left in {self.subnet} ({len(used)} containers attached)",
            remedy="stop containers you do not need, or configure a larger subnet (DEVENV_SUBNET)",
        )

    def release(self, container_id: str) -> str | None:
        return self.allocations.pop(container_id, None)


class Ipam:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "ipam.json"

    def read(self) -> IpamState | None:
        """The current state without locking (a consistent snapshot: writes are atomic)."""
        try:
            text = self.path.read_text(encoding="utf-8")
            if not text.strip():  # what a power loss can leave of an unsynced table: start afresh
                return None
            data = json.loads(text)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise NetworkError(
                f"the address table {self.path} is damaged: {exc}", remedy="detach all containers, then delete the file"
            ) from None
        return IpamState(ipaddress.IPv4Network(data["subnet"]), dict(data.get("allocations", {})), data.get("last"))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[IpamState]:
        """Lock, load, yield the state, save it if the block succeeds (a state without allocations is
        deleted). A new state has no subnet; the block sets it before allocating."""
        with file_lock(self.directory / "ipam.lock", what=f"the address table of {self.directory.name}"):
            state = self.read() or IpamState(None)
            yield state
            self.save(state)

    def save(self, state: IpamState) -> None:
        if not state.allocations:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        data = {"subnet": str(state.subnet), "allocations": state.allocations, "last": state.last}
        atomic_write_json(self.path, data, sync=False)  # (stale after a power loss anyway: reclaimed)
