"""Image manifests, indexes (manifest lists) and image configs: parse, build, serialise.

Documents are parsed from the exact bytes a registry or a layout gave us (their digest is the
digest of those bytes); serialising a new one gives canonical JSON (sorted keys, no spaces).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from devenv.errors import ImageError
from devenv.oci import mediatypes as mt
from devenv.oci.descriptor import Descriptor, Platform, host_platform, sha256_digest


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _load(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(f"malformed {what}: not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ImageError(f"malformed {what}: expected a JSON object")
    return obj


def sniff_media_type(data: bytes, declared: str = "") -> str:
    """The media type of a manifest document: its ``mediaType`` field, the declared one, or by shape."""
    obj = _load(data, "manifest")
    inner = str(obj.get("mediaType") or "")
    if inner:
        return inner
    if declared and declared not in ("application/json", "text/plain"):
        return declared
    if "manifests" in obj:
        return mt.OCI_INDEX
    if "config" in obj and "layers" in obj:
        return mt.OCI_MANIFEST
    if obj.get("schemaVersion") == 1:
        raise ImageError(
            "this image uses Docker manifest schema 1, which devenv does not support",
            remedy="re-push the image with a current tool (docker push, skopeo copy) to get schema 2 / OCI",
        )
    raise ImageError("unknown manifest format (neither an image manifest nor an index)")


@dataclass(frozen=True)
class Manifest:
    """An image (or artifact) manifest: config + layers."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str = ""
    subject: Descriptor | None = None

    @classmethod
    def parse(cls, data: bytes, media_type: str = "") -> Manifest:
        obj = _load(data, "image manifest")
        kind = sniff_media_type(data, media_type)
        if mt.is_index(kind):
            raise ImageError("expected an image manifest, got an index (manifest list)")
        if obj.get("schemaVersion") != 2:
            raise ImageError(f"unsupported manifest schemaVersion {obj.get('schemaVersion')!r}")
        layers = obj.get("layers")
        if not isinstance(layers, list):
            raise ImageError("malformed image manifest: 'layers' is not a list")
        subject = obj.get("subject")
        return cls(
            media_type=kind,
            config=Descriptor.from_json(obj.get("config"), where="manifest config descriptor"),
            layers=tuple(Descriptor.from_json(lay, where=f"manifest layer {i}") for i, lay in enumerate(layers)),
            annotations={str(k): str(v) for k, v in (obj.get("annotations") or {}).items()},
            artifact_type=str(obj.get("artifactType", "") or ""),
            subject=Descriptor.from_json(subject, where="manifest subject") if subject else None,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.subject is not None:
            out["subject"] = self.subject.to_json()
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def descriptor(self, data: bytes | None = None) -> Descriptor:
        raw = self.to_bytes() if data is None else data
        return Descriptor(self.media_type, sha256_digest(raw), len(raw))

    @property
    def is_image(self) -> bool:
        return self.config.media_type in mt.IMAGE_CONFIG_TYPES


@dataclass(frozen=True)
class Index:
    """An OCI index or a Docker manifest list."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: bytes, media_type: str = "") -> Index:
        obj = _load(data, "image index")
        manifests = obj.get("manifests")
        if not isinstance(manifests, list):
            raise ImageError("malformed image index: 'manifests' is not a list")
        return cls(
            media_type=sniff_media_type(data, media_type),
            manifests=tuple(Descriptor.from_json(m, where=f"index entry {i}") for i, m in enumerate(manifests)),
            annotations={str(k): str(v) for k, v in (obj.get("annotations") or {}).items()},
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [m.to_json() for m in self.manifests],
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def to_bytes(self) -> bytes:
        return canonical_json(self.to_json())

    def select(self, want: Platform | None = None) -> Descriptor:
        """The manifest for ``want`` (default: this machine); raises ImageError listing what exists."""
        target = want or host_platform()
        candidates = [m for m in self.manifests if mt.is_manifest(m.media_type) or m.media_type == ""]
        for m in candidates:
            if m.platform is not None and target.matches(m.platform):
                return m
        # arm64 images sometimes declare v8 only, arm/v7 hosts accept v6 and v5: accept a lower arm variant.
        if target.normalised().architecture == "arm":
            for variant in ("v7", "v6", "v5"):
                for m in candidates:
                    if m.platform and m.platform.normalised() == Platform(target.os, "arm", variant):
                        return m
        available = ", ".join(str(m.platform) for m in candidates if m.platform) or "none"
        raise ImageError(
            f"no image for platform {target} in this index (available: {available})",
            remedy="choose one with --platform, e.g. --platform linux/arm64",
        )


def diff_ids_to_chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """OCI chain IDs: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    chain: list[str] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            chain.append("sha256:" + hashlib.sha256(f"{chain[-1]} {diff_id}".encode()).hexdigest())
    return chain


@dataclass(frozen=True)
class ImageConfig:
    """An image configuration (OCI / Docker). ``raw`` keeps every field; properties read the usual ones."""

    raw: Mapping[str, Any]

    @classmethod
    def parse(cls, data: bytes) -> ImageConfig:
        obj = _load(data, "image config")
        rootfs = obj.get("rootfs")
        if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
            raise ImageError("malformed image config: 'rootfs.diff_ids' is missing")
        return cls(obj)

    @property
    def _config(self) -> Mapping[str, Any]:
        c = self.raw.get("config")
        return c if isinstance(c, Mapping) else {}

    @property
    def env(self) -> list[str]:
        return [str(e) for e in self._config.get("Env") or []]

    @property
    def cmd(self) -> list[str]:
        return [str(e) for e in self._config.get("Cmd") or []]

    @property
    def entrypoint(self) -> list[str]:
        return [str(e) for e in self._config.get("Entrypoint") or []]

    @property
    def user(self) -> str:
        return str(self._config.get("User") or "")

    @property
    def working_dir(self) -> str:
        return str(self._config.get("WorkingDir") or "")

    @property
    def labels(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self._config.get("Labels") or {}).items()}

    @property
    def exposed_ports(self) -> list[str]:
        """``["8080/tcp", ...]``."""
        return sorted(str(p) for p in (self._config.get("ExposedPorts") or {}))

    @property
    def volumes(self) -> list[str]:
        return sorted(str(p) for p in (self._config.get("Volumes") or {}))

    @property
    def stop_signal(self) -> str:
        return str(self._config.get("StopSignal") or "")

    @property
    def shell(self) -> list[str]:
        return [str(e) for e in self._config.get("Shell") or []]

    @property
    def diff_ids(self) -> list[str]:
        return [str(d) for d in self.raw["rootfs"]["diff_ids"]]

    @property
    def chain_ids(self) -> list[str]:
        return diff_ids_to_chain_ids(self.diff_ids)

    @property
    def platform(self) -> Platform:
        return Platform(
            str(self.raw.get("os") or "linux"),
            str(self.raw.get("architecture") or ""),
            str(self.raw.get("variant") or ""),
        )

    @property
    def created(self) -> str:
        return str(self.raw.get("created") or "")

    @property
    def history(self) -> list[dict[str, Any]]:
        return [dict(h) for h in self.raw.get("history") or [] if isinstance(h, Mapping)]

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.raw))

    def to_bytes(self) -> bytes:
        return canonical_json(self.raw)


def new_image_config(
    *,
    platform: Platform | None = None,
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
    cmd: Sequence[str] = (),
    diff_ids: Sequence[str] = (),
    created: str = "",
    history: Sequence[Mapping[str, Any]] = (),
) -> ImageConfig:
    """A fresh image config (for bootstrap and imports without one)."""
    plat = platform or host_platform()
    raw: dict[str, Any] = {
        **plat.to_json(),
        "config": {"Env": list(env), **({"Cmd": list(cmd)} if cmd else {})},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [dict(h) for h in history],
    }
    if created:
        raw["created"] = created
    return ImageConfig(raw)
