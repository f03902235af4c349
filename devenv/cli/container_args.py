"""Docker-style arguments of ``devenv container run|create|exec``: the value forms (``-v``, ``--mount``,
``-p``, ``-m``, ``-e``) and a small argv parser for the fast path (no typer import: ``exec`` and ``run``
start quickly). The typer commands in :mod:`devenv.cli.container` declare the same options (for
``--help``) and build their options through :func:`run_options` too, so both paths agree.
"""

from __future__ import annotations

import os
import re

from devenv.errors import UsageError

TYPE_CHECKING = False  # (typing is not imported at run time: start-up time)
if TYPE_CHECKING:
    from typing import Any

    from devenv.runtime.base import MountSpec, PortMapping

_BYTES = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(text: str, what: str = "--memory") -> int:
    """``512m``, ``1g``, ``1.5GiB``, ``1048576`` → bytes."""
    m = _BYTES.match(text.strip())
    if not m:
        raise UsageError(f"{what} {text!r}: expected a size such as 512m or 2g")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def parse_volume(text: str) -> MountSpec:
    """``-v``: ``/host:/ctr[:ro]`` (bind), ``name:/ctr[:ro]`` (named volume), ``/ctr`` (anonymous volume)."""
    from devenv.runtime.base import MountSpec

    parts = text.split(":")
    if len(parts) == 1:
        return MountSpec("volume", parts[0])
    if len(parts) not in (2, 3) or not parts[1]:
        raise UsageError(f"-v {text!r}: expected SOURCE:TARGET[:ro]")
    source, target = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 else []
    for opt in opts:
        if opt not in ("ro", "rw", "z", "Z", "nocopy", "cached", "delegated", "consistent"):
            raise UsageError(f"-v {text!r}: unknown option {opt!r} (ro or rw)")
    read_only = "ro" in opts
    if source.startswith(("/", ".", "~")):
        return MountSpec("bind", target, os.path.abspath(os.path.expanduser(source)), read_only)
    return MountSpec("volume", target, source, read_only)


def _bool(value: str, where: str) -> bool:
    if value.lower() in ("", "1", "true"):
        return True
    if value.lower() in ("0", "false"):
        return False
    raise UsageError(f"{where}: expected true or false, got {value!r}")


def parse_mount(text: str) -> MountSpec:
    """``--mount type=bind,source=/a,target=/b[,readonly]`` (also the devcontainer.json string form)."""
    from devenv.runtime.base import MountSpec

    kind, source, target, read_only = "volume", "", "", False
    options: list[str] = []
    for item in text.split(","):
        key, _, value = item.partition("=")
        key = key.strip().lower()
        if key == "type":
            kind = value
        elif key in ("source", "src"):
            source = value
        elif key in ("target", "destination", "dst"):
            target = value
        elif key in ("readonly", "ro"):
            read_only = _bool(value, f"--mount {text!r}")
        elif key in ("tmpfs-size", "tmpfs-mode"):
            options.append(f"{key}={value}")
        elif key in ("consistency", "bind-propagation", "volume-nocopy", "external"):
            continue
        else:
            raise UsageError(f"--mount {text!r}: unknown key {key!r}")
    if kind not in ("bind", "volume", "tmpfs"):
        raise UsageError(f"--mount {text!r}: type must be bind, volume or tmpfs")
    if not target:
        raise UsageError(f"--mount {text!r}: target= is required")
    if kind == "bind":
        if not source:
            raise UsageError(f"--mount {text!r}: a bind mount needs source=")
        source = os.path.abspath(os.path.expanduser(source))
    return MountSpec(kind, target, source, read_only, tuple(options))  # type: ignore[arg-type]


def parse_tmpfs(text: str) -> MountSpec:
    """``--tmpfs /run[:size=64m,mode=1777]``."""
    from devenv.runtime.base import MountSpec

    target, _, opts = text.partition(":")
    options = tuple(f"tmpfs-{o}" for o in opts.split(",") if o)
    return MountSpec("tmpfs", target, "", False, options)


def parse_publish(text: str) -> PortMapping:
    """``-p [[IP:]HOST:]CONTAINER[/tcp|udp]``: the host port exactly, or a free one when not given."""
    from devenv.runtime.base import PortMapping

    return PortMapping(**publish_fields(text))


def publish_fields(text: str) -> dict[str, Any]:
    """The PortMapping fields of ``-p TEXT`` (every field, as ``dataclasses.asdict`` would give them)."""
    spec, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise UsageError(f"-p {text!r}: protocol must be tcp or udp")
    parts = spec.rsplit(":", 2)
    try:
        if len(parts) == 1:
            container, host, ip = int(parts[0]), 0, "127.0.0.1"
        elif len(parts) == 2:
            container, host, ip = int(parts[1]), int(parts[0] or 0), "127.0.0.1"
        else:
            container, host, ip = int(parts[2]), int(parts[1] or 0), parts[0].strip("[]") or "127.0.0.1"
    except ValueError:
        raise UsageError(f"-p {text!r}: expected [[IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL]") from None
    required = len(parts) > 1 and bool(parts[-2])
    return {
        "container_port": container,
        "host_port": host,
        "host_ip": ip,
        "protocol": proto,
        "label": None,
        "require_local_port": required,
        "elevate_if_needed": False,
        "target_host": "",
    }


def parse_env(items: list[str], env_files: list[str] = ()) -> tuple[str, ...]:  # type: ignore[assignment]
    """``-e KEY=VALUE`` and ``-e KEY`` (taken from this environment when set), after ``--env-file``s."""
    out = []
    for path in env_files:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError as exc:
            raise UsageError(f"--env-file {path}: {exc.strerror}") from None
        items = [line for line in lines if line.strip() and not line.lstrip().startswith("#")] + list(items)
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return tuple(out)


def parse_labels(items: list[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, _, value = item.partition("=")
        labels[key] = value
    return labels


# -- the fast-path parser --------------------------------------------------------------------------

# option -> (key, takes a value, repeatable); short forms map to the long one
RUN_OPTIONS: dict[str, tuple[str, bool, bool]] = {
    "--detach": ("detach", False, False),
    "--interactive": ("interactive", False, False),
    "--tty": ("tty", False, False),
    "--rm": ("rm", False, False),
    "--privileged": ("privileged", False, False),
    "--init": ("init", False, False),
    "--no-init": ("no_init", False, False),
    "--rootfs": ("rootfs", False, False),
    "--name": ("name", True, False),
    "--env": ("env", True, True),
    "--env-file": ("env_file", True, True),
    "--user": ("user", True, False),
    "--workdir": ("workdir", True, False),
    "--hostname": ("hostname", True, False),
    "--label": ("label", True, True),
    "--volume": ("volume", True, True),
    "--mount": ("mount", True, True),
    "--tmpfs": ("tmpfs", True, True),
    "--network": ("network", True, False),
    "--net": ("network", True, False),
    "--publish": ("publish", True, True),
    "--cap-add": ("cap_add", True, True),
    "--cap-drop": ("cap_drop", True, True),
    "--security-opt": ("security_opt", True, True),
    "--memory": ("memory", True, False),
    "--cpus": ("cpus", True, False),
    "--pids-limit": ("pids_limit", True, False),
    "--entrypoint": ("entrypoint", True, False),
    "--stop-signal": ("stop_signal", True, False),
    "--stop-timeout": ("stop_timeout", True, False),
}
RUN_SHORT = {
    "d": "--detach",
    "i": "--interactive",
    "t": "--tty",
    "e": "--env",
    "u": "--user",
    "w": "--workdir",
    "l": "--label",
    "v": "--volume",
    "p": "--publish",
    "m": "--memory",
}
EXEC_OPTIONS: dict[str, tuple[str, bool, bool]] = {
    "--interactive": ("interactive", False, False),
    "--tty": ("tty", False, False),
    "--detach": ("detach", False, False),
    "--env": ("env", True, True),
    "--env-file": ("env_file", True, True),
    "--user": ("user", True, False),
    "--workdir": ("workdir", True, False),
}
EXEC_SHORT = {"i": "--interactive", "t": "--tty", "d": "--detach", "e": "--env", "u": "--user", "w": "--workdir"}


class Parsed:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.positional: list[str] = []


class NeedsFullParser(Exception):
    """Something the fast parser does not handle (--help, an unknown option): use typer."""


def parse_argv(argv: list[str], options: dict[str, tuple[str, bool, bool]], short: dict[str, str]) -> Parsed:
    """Options until the first positional (then everything is positional), as docker's CLI."""
    out = Parsed()
    i = 0

    def put(opt: str, value: str | None) -> None:
        key, takes, repeat = options[opt]
        if takes:
            if repeat:
                out.values.setdefault(key, []).append(value)
            else:
                out.values[key] = value
        else:
            out.values[key] = True

    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out.positional = argv[i + 1 :]
            return out
        if not arg.startswith("-") or arg == "-":
            out.positional = argv[i:]
            return out
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if name not in options:
                raise NeedsFullParser(arg)
            if options[name][1]:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        raise NeedsFullParser(arg)
                    value = argv[i]
                put(name, value)
            elif eq:
                raise NeedsFullParser(arg)
            else:
                put(name, None)
        else:
            letters = arg[1:]
            for j, letter in enumerate(letters):
                if letter not in short:
                    raise NeedsFullParser(arg)
                opt = short[letter]
                if options[opt][1]:
                    rest = letters[j + 1 :].removeprefix("=")
                    if not rest:
                        i += 1
                        if i >= len(argv):
                            raise NeedsFullParser(arg)
                        rest = argv[i]
                    put(opt, rest)
                    break
                put(opt, None)
        i += 1
    return out


def run_options(values: dict[str, Any], positional: list[str]) -> Any:
    """The :class:`~devenv.runtime.embedded.run.RunOptions` of parsed ``run``/``create`` arguments."""
    from devenv.runtime.embedded.run import RunOptions

    if not positional:
        raise UsageError("container run needs an IMAGE (or a directory with --rootfs)")
    network = values.get("network") or "bridge"
    if network not in ("bridge", "host", "none"):
        raise UsageError(f"--network {network!r}: use bridge, host or none")
    mounts = [parse_volume(v) for v in values.get("volume") or []]
    mounts += [parse_mount(v) for v in values.get("mount") or []]
    mounts += [parse_tmpfs(v) for v in values.get("tmpfs") or []]
    try:
        cpus = float(values["cpus"]) if values.get("cpus") else None
        pids = int(values["pids_limit"]) if values.get("pids_limit") else None
        stop_timeout = float(values["stop_timeout"]) if values.get("stop_timeout") else 10.0
    except ValueError as exc:
        raise UsageError(f"expected a number: {exc}") from None
    return RunOptions(
        image=positional[0],
        command=tuple(positional[1:]),
        entrypoint=values.get("entrypoint"),
        rootfs=bool(values.get("rootfs")),
        name=values.get("name"),
        env=parse_env(values.get("env") or [], values.get("env_file") or []),
        user=values.get("user") or "",
        workdir=values.get("workdir") or "",
        hostname=values.get("hostname"),
        labels=parse_labels(values.get("label") or []),
        mounts=tuple(mounts),
        network=network,  # checked above
        ports=tuple(parse_publish(p) for p in values.get("publish") or []),
        init=not values.get("no_init"),
        privileged=bool(values.get("privileged")),
        cap_add=tuple(values.get("cap_add") or ()),
        cap_drop=tuple(values.get("cap_drop") or ()),
        security_opt=tuple(values.get("security_opt") or ()),
        memory_bytes=parse_bytes(values["memory"]) if values.get("memory") else None,
        cpus=cpus,
        pids_limit=pids,
        stop_signal=values.get("stop_signal") or "SIGTERM",
        stop_timeout=stop_timeout,
        detach=bool(values.get("detach")),
        interactive=bool(values.get("interactive")),
        tty=bool(values.get("tty")),
        remove=bool(values.get("rm")),
    )
