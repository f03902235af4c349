"""The runtime part of an OCI image config as a build edits it: env, user, workdir, entrypoint, cmd, ...

Frozen; every Dockerfile metadata instruction returns a new value. ``from_oci`` reads the ``config``
object of a base image (unknown keys are kept), ``to_oci`` writes it back with the field names and
shapes Docker uses (``ExposedPorts``/``Volumes`` as objects, ``Healthcheck`` durations in ns).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ("/bin/sh", "-c")


@dataclass(frozen=True)
class ImageConfig:
    env: tuple[str, ...] = ()
    user: str = ""
    workdir: str = ""
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    labels: tuple[tuple[str, str], ...] = ()
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str = ""
    healthcheck: str = ""  # canonical JSON of the Docker Healthcheck object, "" = none
    shell: tuple[str, ...] = ()
    onbuild: tuple[str, ...] = ()
    extra: str = ""  # canonical JSON of config keys this class does not model

    # --- reading ---------------------------------------------------------------------------

    def env_map(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def effective_shell(self) -> tuple[str, ...]:
        return self.shell or DEFAULT_SHELL

    # --- editing ---------------------------------------------------------------------------

    def with_env(self, key: str, value: str) -> ImageConfig:
        """Set a variable; one that is set again keeps its position, as Docker does."""
        items = list(self.env)
        for i, item in enumerate(items):
            if item.partition("=")[0] == key:
                items[i] = f"{key}={value}"
                return replace(self, env=tuple(items))
        return replace(self, env=(*items, f"{key}={value}"))

    def with_label(self, key: str, value: str) -> ImageConfig:
        labels = dict(self.labels)
        labels[key] = value
        return replace(self, labels=tuple(labels.items()))

    def with_default_path(self) -> ImageConfig:
        if "PATH" in self.env_map():
            return self
        return replace(self, env=(f"PATH={DEFAULT_PATH}", *self.env))

    # --- OCI -------------------------------------------------------------------------------

    @classmethod
    def from_oci(cls, config: Mapping[str, Any] | None) -> ImageConfig:
        cfg = dict(config or {})
        known = {
            "Env", "User", "WorkingDir", "Entrypoint", "Cmd", "Labels", "ExposedPorts", "Volumes",
            "StopSignal", "Healthcheck", "Shell", "OnBuild",
        }  # fmt: skip
        extra = {k: v for k, v in cfg.items() if k not in known and v not in (None, "", [], {})}
        hc = cfg.get("Healthcheck")
        return cls(
            env=tuple(cfg.get("Env") or ()),
            user=cfg.get("User") or "",
            workdir=cfg.get("WorkingDir") or "",
            entrypoint=tuple(cfg["Entrypoint"]) if cfg.get("Entrypoint") is not None else None,
            cmd=tuple(cfg["Cmd"]) if cfg.get("Cmd") is not None else None,
            labels=tuple((cfg.get("Labels") or {}).items()),
            exposed_ports=tuple(cfg.get("ExposedPorts") or {}),
            volumes=tuple(cfg.get("Volumes") or {}),
            stop_signal=cfg.get("StopSignal") or "",
            healthcheck=json.dumps(hc, sort_keys=True) if hc else "",
            shell=tuple(cfg.get("Shell") or ()),
            onbuild=tuple(cfg.get("OnBuild") or ()),
            extra=json.dumps(extra, sort_keys=True) if extra else "",
        )

    def to_oci(self) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.extra) if self.extra else {}
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        if self.workdir:
            out["WorkingDir"] = self.workdir
        if self.labels:
            out["Labels"] = dict(self.labels)
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.healthcheck:
            out["Healthcheck"] = json.loads(self.healthcheck)
        if self.shell:
            out["Shell"] = list(self.shell)
        if self.onbuild:
            out["OnBuild"] = list(self.onbuild)
        return out
