"""Why a step missed the cache: compare its inputs with those it had in the previous build.

Pure. ``explain(current, previous)`` names the inputs that changed (``command``, ``env:PATH``,
``file:src/app.py``, ``option:version``...), were added or removed; when only ``parent`` differs the
step itself is unchanged and is rebuilt because an earlier step was.
"""

from __future__ import annotations

from dataclasses import dataclass

from devenv.build.plan import Inputs

_MAX_NAMES = 8


@dataclass(frozen=True)
class Reason:
    changed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    new_step: bool = False
    no_cache: bool = False

    @property
    def only_parent(self) -> bool:
        return self.changed == ("parent",) and not self.added and not self.removed

    def text(self) -> str:
        if self.no_cache:
            return "--no-cache"
        if self.new_step:
            return "new step (not in the previous build)"
        if self.only_parent:
            return "an earlier step was rebuilt"
        parts = []
        own = [c for c in self.changed if c != "parent"]
        for label, names in (("changed", own), ("added", self.added), ("removed", self.removed)):
            if names:
                shown = ", ".join(_pretty(n) for n in names[:_MAX_NAMES])
                more = f" and {len(names) - _MAX_NAMES} more" if len(names) > _MAX_NAMES else ""
                parts.append(f"{label}: {shown}{more}")
        if not parts:
            return "inputs are the same as last time, but its layer is no longer in the store"
        return "; ".join(parts)

    def to_json(self) -> dict[str, object]:
        return {
            "changed": list(self.changed),
            "added": list(self.added),
            "removed": list(self.removed),
            "newStep": self.new_step,
            "text": self.text(),
        }


def _pretty(name: str) -> str:
    kind, sep, rest = name.partition(":")
    if not sep:
        return name
    labels = {"file": "file", "env": "env", "option": "option", "inline": "heredoc", "cache-mount": "cache mount"}
    return f"{labels.get(kind, kind)} {rest}"


def explain(current: Inputs, previous: Inputs | None) -> Reason:
    if previous is None:
        return Reason(new_step=True)
    cur = dict(current)
    prev = dict(previous)
    changed = tuple(k for k in cur if k in prev and cur[k] != prev[k])
    added = tuple(k for k in cur if k not in prev)
    removed = tuple(k for k in prev if k not in cur)
    return Reason(changed=changed, added=added, removed=removed)
