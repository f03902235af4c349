"""Descriptors, digests and platforms: the small vocabulary every OCI document is made of."""

from __future__ import annotations

import hashlib
import platform as _platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devenv.errors import ImageError
from devenv.oci.reference import SHA256_RE


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """Return the hex part of a ``sha256:`` digest; raise ImageError for anything else."""
    if not SHA256_RE.match(digest):
        raise ImageError(f"unsupported or malformed digest {digest!r} (devenv supports sha256)")
    return digest[7:]


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = "amd64"
    variant: str = ""
    os_version: str = ""

    def __str__(self) -> str:
        out = f"{self.os}/{self.architecture}"
        return out + (f"/{self.variant}" if self.variant else "")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        if self.os_version:
            out["os.version"] = self.os_version
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Platform:
        return cls(
            os=str(obj.get("os", "")),
            architecture=str(obj.get("architecture", "")),
            variant=str(obj.get("variant", "") or ""),
            os_version=str(obj.get("os.version", "") or ""),
        )

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/arm64/v8``, ``linux/amd64``, ``arm64`` (os defaults to linux)."""
        parts = [p for p in text.strip().lower().split("/") if p]
        if not parts or len(parts) > 3:
            raise ImageError(f"invalid platform {text!r}", remedy="use os/arch[/variant], e.g. linux/arm64/v8")
        if len(parts) == 1:
            parts = ["linux", *parts]
        arch = _ARCH_ALIASES.get(parts[1], parts[1])
        variant = parts[2] if len(parts) == 3 else ""
        return cls(parts[0], arch, variant)

    def normalised(self) -> Platform:
        arch = _ARCH_ALIASES.get(self.architecture, self.architecture)
        variant = self.variant
        if arch == "arm64" and variant == "v8":
            variant = ""
        if arch == "arm" and not variant:
            variant = "v7"
        return Platform(self.os, arch, variant, self.os_version)

    def matches(self, other: Platform) -> bool:
        """True when an image for ``other`` runs on this platform (os, arch and variant, normalised)."""
        a, b = self.normalised(), other.normalised()
        return a.os == b.os and a.architecture == b.architecture and (a.variant == b.variant)


_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm"}


def host_platform() -> Platform:
    """The platform of this machine, as OCI spells it."""
    machine = _platform.machine().lower()
    arch = _ARCH_ALIASES.get(machine, machine)
    variant = ""
    if machine.startswith("armv"):
        arch, variant = "arm", machine[3:5].rstrip("l")
    return Platform("linux", arch, variant)


@dataclass(frozen=True)
class Descriptor:
    """A pointer to content: media type, digest, size (+ optional platform, annotations, urls)."""

    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()
    artifact_type: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.urls:
            out["urls"] = list(self.urls)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    @classmethod
    def from_json(cls, obj: Any, *, where: str = "descriptor") -> Descriptor:
        if not isinstance(obj, Mapping):
            raise ImageError(f"malformed {where}: expected an object")
        try:
            digest = str(obj["digest"])
            size = int(obj["size"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ImageError(f"malformed {where}: missing or invalid {exc}") from None
        check_digest(digest)
        if size < 0:
            raise ImageError(f"malformed {where}: negative size")
        plat = obj.get("platform")
        return cls(
            media_type=str(obj.get("mediaType", "")),
            digest=digest,
            size=size,
            platform=Platform.from_json(plat) if isinstance(plat, Mapping) else None,
            annotations={str(k): str(v) for k, v in (obj.get("annotations") or {}).items()},
            urls=tuple(str(u) for u in obj.get("urls") or ()),
            artifact_type=str(obj.get("artifactType", "") or ""),
        )

    @property
    def hex(self) -> str:
        return self.digest.split(":", 1)[1]

    def short_id(self) -> str:
        return self.hex[:12]
