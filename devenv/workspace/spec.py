"""The :class:`~devenv.runtime.base.ContainerSpec` of a workspace container (pure; unit-tested).

As the reference does: the workspace mount, then the metadata mounts and ``--mount`` arguments; the id
labels and the metadata label; containerEnv; containerUser; init/privileged/capAdd/securityOpt from the
merged metadata; and, unless ``overrideCommand`` is false, a small ``/bin/sh`` pid 1 that runs the
features' entrypoints and then waits forever (exiting at once on SIGTERM).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devenv.errors import UsageError
from devenv.runtime.base import ContainerSpec, MountSpec, PortMapping

if TYPE_CHECKING:
    from devenv.config.merge import MergedConfig
    from devenv.config.model import Mount

KEEP_ALIVE = """echo Container started
trap "exit 0" 15
{entrypoints}
exec "$@"
while sleep 1 & wait $!; do :; done"""

MOUNT_ARG = re.compile(r"^type=(bind|volume),source=([^,]+),target=([^,]+)(,external=(true|false))?$")


def parse_mount(mount: str | Mapping[str, Any], where: str = "mounts") -> MountSpec:
    """A mount from devcontainer.json / feature metadata (``--mount`` string or object) or ``--mount``."""
    if isinstance(mount, Mapping):
        kind = str(mount.get("type") or "bind")
        target = str(mount.get("target") or "")
        source = str(mount.get("source") or "")
        read_only = False
        options: tuple[str, ...] = ()
    else:
        fields: dict[str, str] = {}
        flags: list[str] = []
        for part in _split_csv(mount):
            key, sep, value = part.partition("=")
            key = key.strip().lower()
            if not sep:
                flags.append(key)
                continue
            fields[{"src": "source", "dst": "target", "destination": "target"}.get(key, key)] = value
        kind = fields.pop("type", "volume")
        target = fields.pop("target", "")
        source = fields.pop("source", "")
        read_only = "readonly" in flags or "ro" in flags or fields.pop("readonly", "false") in ("true", "1")
        fields.pop("ro", None)
        fields.pop("external", None)
        options = tuple(f"{k}={v}" for k, v in fields.items())
    if kind not in ("bind", "volume", "tmpfs"):
        raise UsageError(f"{where}: mount type {kind!r} is not supported (bind, volume or tmpfs)")
    if not target:
        raise UsageError(f"{where}: the mount {mount!r} has no target")
    return MountSpec(kind, target, source, read_only=read_only, options=options)  # type: ignore[arg-type]


def _split_csv(text: str) -> list[str]:
    """Docker's ``--mount`` CSV: commas separate fields except inside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p for p in parts if p]


def check_mount_arg(text: str) -> str:
    """``--mount`` on the command line, in the reference's accepted format."""
    if not MOUNT_ARG.match(text):
        raise UsageError(
            f"--mount {text!r}: mount must match "
            "type=<bind|volume>,source=<source>,target=<target>[,external=<true|false>]"
        )
    return text


def mount_from_config(mount: Mount) -> MountSpec:
    """A merged-metadata mount (the config model's :class:`Mount`) as a runtime mount."""
    if isinstance(mount.raw, str) and mount.raw:
        return parse_mount(mount.raw)
    return parse_mount({"type": mount.type, "target": mount.target, "source": mount.source or ""})


def keep_alive_command(
    settings: MergedConfig, image_entrypoint: Sequence[str], image_cmd: Sequence[str]
) -> tuple[str, ...]:
    script = KEEP_ALIVE.format(entrypoints="\n".join(settings.entrypoints))
    argv = ["/bin/sh", "-c", script, "-"]
    if settings.override_command is False:
        argv += [*image_entrypoint, *image_cmd]
    return tuple(argv)


@dataclass(frozen=True)
class WorkspaceMounts:
    workspace: MountSpec | None
    others: tuple[MountSpec, ...]

    def all(self) -> tuple[MountSpec, ...]:
        return ((self.workspace,) if self.workspace else ()) + self.others


def workspace_spec(
    *,
    image: str,
    name: str | None,
    labels: Mapping[str, str],
    settings: MergedConfig,
    mounts: WorkspaceMounts,
    image_env: Sequence[str],
    image_entrypoint: Sequence[str],
    image_cmd: Sequence[str],
    ports: tuple[PortMapping, ...] = (),
) -> ContainerSpec:
    env = list(image_env)
    keys = {e.split("=", 1)[0] for e in image_env}
    for key, value in settings.container_env.items():
        if key in keys:
            env = [e for e in env if e.split("=", 1)[0] != key]
        env.append(f"{key}={value}")
    return ContainerSpec(
        image=image,
        command=keep_alive_command(settings, image_entrypoint, image_cmd),
        name=name,
        env=tuple(env),
        user=settings.container_user or "",
        labels=dict(labels),
        mounts=mounts.all(),
        ports=ports,
        init=settings.init,
        privileged=settings.privileged,
        cap_add=settings.cap_add,
        security_opt=settings.security_opt,
        stop_timeout=10.0,
    )
