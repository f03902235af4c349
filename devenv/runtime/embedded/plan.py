"""From a container spec to what the runtime does: validation at create time, and the RunConfig of a start.

Pure functions over the spec (as the dict :mod:`.specs` describes; a ContainerSpec is accepted too) and
the record (plus ``os.path`` checks of bind sources), unit-tested without root. Every error names the
offending value and says what to do.
"""

from __future__ import annotations

import os
import re

from devenv.runtime.embedded import caps as capabilities
from devenv.runtime.embedded import specs
from devenv.runtime.embedded.config import MASKED_PATHS, READONLY_PATHS, Limits, MountEntry, RunConfig

TYPE_CHECKING = False
if TYPE_CHECKING:
    from devenv.runtime.base import ContainerSpec
    from devenv.runtime.embedded.specs import MountDict, SpecDict

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SIGNALS = {
    "HUP": 1,
    "INT": 2,
    "QUIT": 3,
    "KILL": 9,
    "USR1": 10,
    "USR2": 12,
    "TERM": 15,
    "STOP": 19,
    "CONT": 18,
    "WINCH": 28,
    "PWR": 30,
}


class SpecError(ValueError):
    """An invalid container spec; the message names the field and value."""


class Security:
    def __init__(self) -> None:
        self.no_new_privs = False
        self.seccomp = "default"  # "default" | "unconfined" | profile JSON text
        self.warnings: list[str] = []


def _dict(spec: SpecDict | ContainerSpec) -> SpecDict:
    return spec if isinstance(spec, dict) else specs.from_spec(spec)


def parse_signal(value: str | int) -> int:
    if isinstance(value, int):
        return value
    text = value.strip().upper()
    if text.isdigit():
        return int(text)
    text = text.removeprefix("SIG")
    if text not in _SIGNALS:
        raise SpecError(f"unknown stop signal {value!r} (e.g. SIGTERM, SIGINT, 15)")
    return _SIGNALS[text]


def parse_security_opts(opts: tuple[str, ...] | list[str], read_file: bool = True) -> Security:
    """``no-new-privileges[:true|=true]``, ``seccomp=unconfined|PROFILE.json``; others are warned about."""
    sec = Security()
    for opt in opts:
        key, sep, value = opt.replace(":", "=", 1).partition("=")
        key = key.strip().lower()
        if key == "no-new-privileges":
            if sep and value.lower() not in ("true", "false"):
                raise SpecError(f"securityOpt {opt!r}: no-new-privileges takes true or false")
            sec.no_new_privs = not sep or value.lower() == "true"
        elif key == "seccomp":
            if not value:
                raise SpecError(f"securityOpt {opt!r}: give seccomp=unconfined or seccomp=/path/to/profile.json")
            if value == "unconfined":
                sec.seccomp = "unconfined"
            elif read_file:
                try:
                    with open(value) as f:
                        sec.seccomp = f.read()
                except OSError as exc:
                    raise SpecError(f"securityOpt {opt!r}: cannot read the seccomp profile: {exc.strerror}") from None
            else:
                sec.seccomp = value
        elif key in ("label", "apparmor", "systempaths"):
            sec.warnings.append(f"securityOpt {opt!r} is not supported by the embedded runtime and is ignored")
        else:
            raise SpecError(f"unknown securityOpt {opt!r} (supported: no-new-privileges, seccomp=...)")
    return sec


def validate(spec: SpecDict | ContainerSpec) -> list[str]:
    """Check what can be checked before anything is created; returns warnings."""
    spec = _dict(spec)
    name, hostname = spec["name"], spec["hostname"]
    if name is not None and not NAME.match(name):
        raise SpecError(f"invalid container name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    if spec["network"] not in ("bridge", "host", "none"):
        raise SpecError(f"unknown network mode {spec['network']!r} (bridge, host or none)")
    try:
        capabilities.container_set(spec["privileged"], spec["cap_add"], spec["cap_drop"])
    except capabilities.UnknownCapability as exc:
        raise SpecError(f"{exc} in capAdd/capDrop") from None
    parse_signal(spec["stop_signal"])
    warnings = parse_security_opts(spec["security_opt"]).warnings
    targets: set[str] = set()
    for m in spec["mounts"]:
        _check_mount(m)
        if m["target"] in targets:
            raise SpecError(f"duplicate mount target {m['target']}")
        targets.add(m["target"])
    if hostname is not None and (len(hostname) > 64 or not hostname):
        raise SpecError(f"invalid hostname {hostname!r} (1 to 64 characters)")
    return warnings


def _check_mount(m: MountDict) -> None:
    kind, target, source = m["type"], m["target"], m["source"]
    if not target.startswith("/"):
        raise SpecError(f"mount target {target!r} must be an absolute path inside the container")
    if kind == "bind":
        if not source.startswith("/"):
            raise SpecError(f"bind mount source {source!r} must be an absolute host path")
        if not os.path.exists(source):
            raise SpecError(f"bind mount source path does not exist: {source}")
    elif kind == "volume":
        if source and not VOLUME_NAME.match(source):
            raise SpecError(
                f"invalid volume name {source!r}: use letters, digits, '_', '.' and '-' "
                "(a host path needs a bind mount)"
            )
    elif kind != "tmpfs":
        raise SpecError(f"unknown mount type {kind!r} (bind, volume or tmpfs)")


def tmpfs_data(options: tuple[str, ...] | list[str]) -> str:
    """``tmpfs-size=64m`` / ``tmpfs-mode=1770`` (Docker's names) or plain ``size=``/``mode=`` → mount data."""
    out = []
    for opt in options:
        key, _, value = opt.partition("=")
        key = key.removeprefix("tmpfs-")
        if key in ("size", "mode", "nr_inodes", "uid", "gid") and value:
            out.append(f"{key}={value}")
    if not any(o.startswith("mode=") for o in out):
        out.append("mode=1777")
    return ",".join(out)


def mount_entries(spec: SpecDict | ContainerSpec, volume_paths: dict[str, tuple[str, bool]]) -> list[MountEntry]:
    """``volume_paths``: target -> (host dir, is new) for the spec's volume mounts."""
    entries = []
    for m in _dict(spec)["mounts"]:
        kind, target, read_only = m["type"], m["target"], m["read_only"]
        if kind == "bind":
            entries.append(MountEntry("bind", target, os.path.realpath(m["source"]), read_only))
        elif kind == "volume":
            path, new = volume_paths[target]
            entries.append(MountEntry("bind", target, path, read_only, populate=new))
        else:
            entries.append(MountEntry("tmpfs", target, read_only=read_only, data=tmpfs_data(m["options"])))
    return entries


def run_config(
    *,
    container_id: str,
    name: str,
    spec: SpecDict | ContainerSpec,
    state_dir: str,
    argv: list[str],
    env: list[str],
    user: str,
    workdir: str,
    hostname: str,
    rootfs_driver: str,
    lower: list[str],
    mounts: list[MountEntry],
    device_control: bool,
    tty: bool,
    stdin_open: bool,
    auto_remove: bool,
    anonymous_volumes: list[str],
    attach_network: bool,
    tty_size: tuple[int, int] = (24, 80),
) -> tuple[RunConfig, list[str]]:
    """The RunConfig of one start, and warnings (e.g. what this host cannot enforce)."""
    spec = _dict(spec)
    privileged = spec["privileged"]
    sec = parse_security_opts(spec["security_opt"])
    warnings = list(sec.warnings)
    wanted = capabilities.container_set(privileged, spec["cap_add"], spec["cap_drop"])
    cap_set = capabilities.held(wanted, capabilities.bounding_of_self())
    missing = sorted(set(wanted) - set(cap_set))
    if missing and not privileged:
        warnings.append(f"this host does not grant {', '.join(missing)}: the container runs without them")
    if not device_control and not privileged and "MKNOD" in cap_set:
        # Without a device cgroup (cgroup v2 needs eBPF, not loaded here) a container could create and
        # open any device node: take the capability away instead.
        cap_set.remove("MKNOD")
        warnings.append("no device cgroup on this host: CAP_MKNOD is dropped from the container")
    etc = {p: os.path.join(state_dir, os.path.basename(p)) for p in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")}
    res = spec["resources"]
    cfg = RunConfig(
        id=container_id,
        name=name,
        argv=argv,
        env=env,
        hostname=hostname,
        state_dir=state_dir,
        rootfs_driver=rootfs_driver,
        rootfs_dir=os.path.join(state_dir, "rootfs"),
        rootfs_lower=lower if rootfs_driver == "overlay" else [],
        rootfs_upper=os.path.join(state_dir, "upper") if rootfs_driver == "overlay" else "",
        rootfs_work=os.path.join(state_dir, "work") if rootfs_driver == "overlay" else "",
        user=user,
        workdir=workdir,
        tty=tty,
        stdin_open=stdin_open,
        init=spec["init"],
        network=spec["network"],
        attach_network=attach_network,
        mounts=mounts,
        etc_files=etc,
        caps=cap_set,
        privileged=privileged,
        no_new_privs=sec.no_new_privs,
        seccomp=sec.seccomp,
        masked_paths=[] if privileged else list(MASKED_PATHS),
        readonly_paths=[] if privileged else list(READONLY_PATHS),
        limits=Limits(res["memory_bytes"], res["cpus"], res["pids_limit"]),
        stop_signal=parse_signal(spec["stop_signal"]),
        auto_remove=auto_remove,
        anonymous_volumes=anonymous_volumes,
        log_path=os.path.join(state_dir, "container.log"),
        tty_size=tty_size,
    )
    return cfg, warnings
