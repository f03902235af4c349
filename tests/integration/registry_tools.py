"""Test-side helpers (independent of devenv's own client): raw distribution API calls, file trees."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.registry import Registry


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def put_blob(reg: Registry, repo: str, data: bytes) -> str:
    """Monolithic upload with urllib (POST then PUT ?digest=)."""
    req = urllib.request.Request(f"{reg.url}/v2/{repo}/blobs/uploads/", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=30) as resp:
        location = resp.headers["Location"]
    if location.startswith("/"):
        location = reg.url + location
    digest = digest_of(data)
    sep = "&" if "?" in location else "?"
    req = urllib.request.Request(f"{location}{sep}digest={digest}", method="PUT", data=data)
    req.add_header("Content-Type", "application/octet-stream")
    with urllib.request.urlopen(req, timeout=30):
        pass
    return digest


def put_manifest(reg: Registry, repo: str, ref: str, obj: dict[str, Any]) -> tuple[str, int]:
    data = json.dumps(obj).encode()
    req = urllib.request.Request(f"{reg.url}/v2/{repo}/manifests/{ref}", method="PUT", data=data)
    req.add_header("Content-Type", obj["mediaType"])
    with urllib.request.urlopen(req, timeout=30):
        pass
    return digest_of(data), len(data)


def registry_blob_file(reg: Registry, digest: str) -> Path:
    hex_ = digest.split(":", 1)[1]
    return reg.workdir / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hex_[:2] / hex_ / "data"


def tree(root: Path, *, with_content: bool = False) -> dict[str, tuple[Any, ...]]:
    """path → (type, mode, uid, gid, symlink target or size [, sha256]) for everything under root."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            kind = stat.S_IFMT(st.st_mode)
            extra: Any
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(full)
            elif stat.S_ISREG(st.st_mode):
                extra = st.st_size
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                extra = (os.major(st.st_rdev), os.minor(st.st_rdev))
            else:
                extra = None
            row: tuple[Any, ...] = (kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, extra)
            if with_content and stat.S_ISREG(st.st_mode):
                with open(full, "rb") as f:
                    row += (hashlib.sha256(f.read()).hexdigest(),)
            out[rel] = row
    return out
