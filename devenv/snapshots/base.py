"""The currency between layers and the runtime: :class:`Mount` (as containerd's ``mount.Mount``).

Snapshotters return mounts; the runtime consumes them. Bare paths are not passed around.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mount:
    """A filesystem mount to perform, e.g.

    ``Mount("overlay", "overlay", ("lowerdir=/a:/b", "upperdir=/u", "workdir=/w"))`` or
    ``Mount("bind", "/var/lib/devenv/snapshots/<id>/fs", ("rbind", "ro"))``.
    """

    type: str
    source: str
    options: tuple[str, ...] = field(default_factory=tuple)

    def option(self, key: str) -> str | None:
        """Value of ``key=value`` in options, or None."""
        prefix = key + "="
        for opt in self.options:
            if opt.startswith(prefix):
                return opt[len(prefix) :]
        return None
