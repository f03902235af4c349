"""``runArgs``: the ``docker run`` arguments a devcontainer.json may add, applied to a ContainerSpec.

The reference passes them to ``docker run`` after its own; devenv understands the common ones on both
runtimes (they override what came before, as on Docker's command line) and says which ones it ignores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from devenv.runtime.base import ContainerSpec, MountSpec, PortMapping

_IGNORED_FLAGS = {"--rm", "-d", "--detach", "-i", "--interactive", "-t", "--tty", "-it", "-ti"}
_SIZE = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def _size(text: str) -> int:
    unit = text[-1].lower()
    return int(float(text[:-1]) * _SIZE[unit]) if unit in _SIZE else int(text)


def _volume(text: str) -> MountSpec:
    parts = text.split(":")
    source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
    read_only = len(parts) > 2 and "ro" in parts[2].split(",")
    kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
    return MountSpec(kind, target, source, read_only=read_only)  # type: ignore[arg-type]


def _publish(text: str) -> PortMapping:
    spec, _, proto = text.partition("/")
    parts = spec.split(":")
    container = int(parts[-1])
    host = int(parts[-2]) if len(parts) >= 2 and parts[-2] else 0
    ip = parts[-3] if len(parts) >= 3 else "0.0.0.0"
    return PortMapping(container, host, ip, "udp" if proto == "udp" else "tcp", require_local_port=bool(host))


def apply_run_args(spec: ContainerSpec, run_args: Sequence[str]) -> tuple[ContainerSpec, list[str]]:
    """The spec with runArgs applied, and warnings for the arguments devenv does not support."""
    from devenv.workspace.spec import parse_mount

    warnings: list[str] = []
    changes: dict[str, Any] = {}
    env = list(spec.env)
    labels = dict(spec.labels)
    mounts = list(spec.mounts)
    ports = list(spec.ports)
    cap_add, cap_drop, security_opt = list(spec.cap_add), list(spec.cap_drop), list(spec.security_opt)
    resources: dict[str, Any] = {}

    def add_env(value: str) -> None:
        key = value.split("=", 1)[0]
        env[:] = [e for e in env if e.split("=", 1)[0] != key]
        env.append(value)

    def add_label(value: str) -> None:
        key, _, val = value.partition("=")
        labels[key] = val

    handlers: dict[str, Callable[[str], None]] = {
        "--cap-add": cap_add.append,
        "--cap-drop": cap_drop.append,
        "--security-opt": security_opt.append,
        "-e": add_env,
        "--env": add_env,
        "-l": add_label,
        "--label": add_label,
        "-u": lambda v: changes.__setitem__("user", v),
        "--user": lambda v: changes.__setitem__("user", v),
        "-w": lambda v: changes.__setitem__("workdir", v),
        "--workdir": lambda v: changes.__setitem__("workdir", v),
        "-h": lambda v: changes.__setitem__("hostname", v),
        "--hostname": lambda v: changes.__setitem__("hostname", v),
        "--name": lambda v: changes.__setitem__("name", v),
        "--network": lambda v: changes.__setitem__("network", "bridge" if v in ("bridge", "default") else v),
        "--net": lambda v: changes.__setitem__("network", "bridge" if v in ("bridge", "default") else v),
        "--mount": lambda v: mounts.append(parse_mount(v, "runArgs --mount")),
        "-v": lambda v: mounts.append(_volume(v)),
        "--volume": lambda v: mounts.append(_volume(v)),
        "-p": lambda v: ports.append(_publish(v)),
        "--publish": lambda v: ports.append(_publish(v)),
        "-m": lambda v: resources.__setitem__("memory_bytes", _size(v)),
        "--memory": lambda v: resources.__setitem__("memory_bytes", _size(v)),
        "--cpus": lambda v: resources.__setitem__("cpus", float(v)),
        "--pids-limit": lambda v: resources.__setitem__("pids_limit", int(v)),
        "--stop-signal": lambda v: changes.__setitem__("stop_signal", v),
    }
    args = list(run_args)
    while args:
        arg = args.pop(0)
        name, eq, inline = arg.partition("=")
        if arg in ("--privileged", "--privileged=true"):
            changes["privileged"] = True
        elif arg in ("--init", "--init=true"):
            changes["init"] = True
        elif arg in _IGNORED_FLAGS:
            continue
        elif name in handlers:
            value = inline if eq else (args.pop(0) if args else None)
            if value is None:
                warnings.append(f"runArgs: {arg} needs a value (ignored)")
                continue
            try:
                handlers[name](value)
            except (ValueError, IndexError, KeyError) as exc:
                warnings.append(f"runArgs: {arg} {value}: not understood ({exc}); ignored")
        else:
            if not eq and args and not args[0].startswith("-"):
                arg = f"{arg} {args.pop(0)}"
            warnings.append(f"runArgs: {arg} is not supported by devenv (ignored)")
    spec = replace(
        spec,
        env=tuple(env),
        labels=labels,
        mounts=tuple(mounts),
        ports=tuple(ports),
        cap_add=tuple(cap_add),
        cap_drop=tuple(cap_drop),
        security_opt=tuple(security_opt),
        resources=replace(spec.resources, **resources) if resources else spec.resources,
        **changes,
    )
    return spec, warnings
