"""``devenv container inspect``: a container as JSON, in the shape of ``docker inspect`` where it maps."""

from __future__ import annotations

import datetime
import os
from dataclasses import asdict
from typing import Any

from devenv.runtime.embedded import records, state
from devenv.runtime.embedded.runtime import EmbeddedRuntime


def _time(value: float | None) -> str:
    if not value:
        return "0001-01-01T00:00:00Z"
    return datetime.datetime.fromtimestamp(value, datetime.UTC).isoformat().replace("+00:00", "Z")


def inspect(rt: EmbeddedRuntime, id_or_name: str) -> dict[str, Any]:
    container = rt.get(id_or_name)
    d = rt.state_dir(container.id)
    rec = records.load(d)
    st = state.refreshed(d)
    spec = container.spec
    running = container.status.value == "running"
    mounts = []
    for m in spec.mounts:
        source = m.source
        if m.type == "volume":
            name = rec.volumes.get(m.target, m.source)
            source = os.path.join(rt.root, "volumes", name, "_data")
            mounts.append(
                {"Type": "volume", "Name": name, "Source": source, "Destination": m.target, "RW": not m.read_only}
            )
        else:
            mounts.append({"Type": m.type, "Source": source, "Destination": m.target, "RW": not m.read_only})
    return {
        "Id": container.id,
        "Name": container.name,
        "Created": _time(container.created),
        "Path": rec.argv[0] if rec.argv else "",
        "Args": rec.argv[1:],
        "State": {
            "Status": "exited" if container.status.value == "stopped" else container.status.value,
            "Running": running,
            "Pid": container.pid or 0,
            "ExitCode": container.exit_code if container.exit_code is not None else 0,
            "Error": st.error or "",
            "StartedAt": _time(container.started_at),
            "FinishedAt": _time(container.finished_at),
        },
        "Image": container.image_id or spec.image,
        "Config": {
            "Image": spec.image,
            "Hostname": rec.hostname,
            "User": rec.user,
            "Env": rec.env,
            "Cmd": list(spec.command),
            "WorkingDir": rec.workdir,
            "Labels": dict(spec.labels),
            "Tty": rec.tty,
            "OpenStdin": rec.stdin_open,
            "StopSignal": spec.stop_signal,
        },
        "HostConfig": {
            "NetworkMode": spec.network,
            "Privileged": spec.privileged,
            "CapAdd": list(spec.cap_add),
            "CapDrop": list(spec.cap_drop),
            "SecurityOpt": list(spec.security_opt),
            "Memory": spec.resources.memory_bytes or 0,
            "NanoCpus": int((spec.resources.cpus or 0) * 1e9),
            "PidsLimit": spec.resources.pids_limit,
            "Init": spec.init,
            "AutoRemove": rec.auto_remove,
            "PortBindings": [asdict(p) for p in spec.ports],
        },
        "Mounts": mounts,
        "NetworkSettings": {
            "IPAddress": container.ip_address or "",
            "Ports": [asdict(p) for p in container.ports],
        },
        "GraphDriver": {
            "Name": rec.rootfs_driver,
            "Data": {
                "LowerDir": ":".join(reversed(rec.lower)),
                "UpperDir": os.path.join(d, "upper"),
                "MergedDir": os.path.join(d, "rootfs"),
            },
        },
        "LogPath": os.path.join(d, "container.log"),
    }
