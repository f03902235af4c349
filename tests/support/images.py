"""Base images for tests, built from what this machine can reach (no Docker Hub).

* ``busybox``: a tiny rootfs from Debian's ``busybox-static`` (``/bin/busybox`` plus applet links,
  ``/etc/passwd`` with ``root`` and ``dev`` uid 1000).
* ``debian``: Debian bookworm ``minbase`` built with ``mmdebstrap`` from the machine's apt sources,
  cached under ``/var/cache/devenv-tests`` (``DEVENV_TEST_CACHE``) so a machine pays for it once.

Both become real OCI image layouts (written here, independently of devenv's own code) and are pushed
to a registry with ``skopeo`` — which also proves that what the tests serve is what real tools read.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE = Path(os.environ.get("DEVENV_TEST_CACHE", "/var/cache/devenv-tests"))
EPOCH = 1700000000  # fixed mtime: the same inputs give the same digests


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_busybox_rootfs(dest: Path) -> Path:
    """A minimal rootfs around busybox-static. Returns ``dest``."""
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        raise RuntimeError("busybox-static is not installed (apt-get install busybox-static)")
    if dest.exists():
        shutil.rmtree(dest)
    for d in (
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "etc",
        "root",
        "home/dev",
        "tmp",
        "dev",
        "proc",
        "sys",
        "var/tmp",
        "run",
    ):
        (dest / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, dest / "bin/busybox")
    os.chmod(dest / "bin/busybox", 0o755)
    applets = subprocess.run([str(busybox), "--list-full"], check=True, capture_output=True, text=True)
    for rel in applets.stdout.split():
        link = dest / rel
        if link.exists() or link.is_symlink() or rel == "bin/busybox":
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    (dest / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "dev:x:1000:1000:dev:/home/dev:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (dest / "etc/group").write_text("root:x:0:\ndev:x:1000:\nnogroup:x:65534:\n")
    (dest / "etc/shadow").write_text("root:*:19000:0:99999:7:::\ndev:*:19000:0:99999:7:::\n")
    os.chmod(dest / "etc/shadow", 0o640)
    os.chmod(dest / "tmp", 0o1777)
    os.chmod(dest / "var/tmp", 0o1777)
    os.chmod(dest / "root", 0o700)
    os.chown(dest / "home/dev", 1000, 1000)
    return dest


def _normalised_tarinfo(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    ti.mtime = EPOCH
    ti.uname = ti.gname = ""
    return ti


def tar_directory(rootfs: Path) -> bytes:
    """An uncompressed, deterministic layer tar of a directory (paths relative, sorted)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                full = Path(dirpath) / name
                rel = full.relative_to(rootfs).as_posix()
                tar.add(full, arcname=rel, recursive=False, filter=_normalised_tarinfo)
    return buf.getvalue()


@dataclass
class OCILayout:
    """An OCI image layout on disk with one tagged image."""

    path: Path
    tag: str
    manifest_digest: str
    config: dict[str, Any]
    layer_diff_ids: list[str]


def write_oci_layout(
    dest: Path,
    layers: list[bytes],
    *,
    tag: str = "latest",
    env: list[str] | None = None,
    cmd: list[str] | None = None,
    labels: dict[str, str] | None = None,
    user: str | None = None,
    architecture: str = "amd64",
) -> OCILayout:
    """Write an OCI image layout (gzip layers) for uncompressed layer tars."""
    if dest.exists():
        shutil.rmtree(dest)
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = sha256_hex(data)
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    layer_descs = []
    diff_ids = []
    for raw in layers:
        diff_ids.append(f"sha256:{sha256_hex(raw)}")
        compressed = gzip.compress(raw, compresslevel=6, mtime=0)
        layer_descs.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": put(compressed),
                "size": len(compressed),
            }
        )
    config_obj: dict[str, Any] = {
        "architecture": architecture,
        "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": {
            "Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": cmd or ["/bin/sh"],
            "Labels": labels or {},
            **({"User": user} if user else {}),
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "devenv tests"} for _ in layers],
    }
    config_bytes = json.dumps(config_obj, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": put(config_bytes),
            "size": len(config_bytes),
        },
        "layers": layer_descs,
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    manifest_digest = put(manifest_bytes)
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (dest / "index.json").write_text(json.dumps(index))
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return OCILayout(dest, tag, manifest_digest, config_obj, diff_ids)


def busybox_layout(workdir: Path) -> tuple[OCILayout, Path]:
    """Busybox rootfs and its OCI layout under ``workdir``."""
    rootfs = build_busybox_rootfs(workdir / "busybox-rootfs")
    layout = write_oci_layout(workdir / "busybox-oci", [tar_directory(rootfs)], cmd=["/bin/sh"])
    return layout, rootfs


def debian_rootfs_tar(suite: str = "bookworm") -> Path:
    """Debian ``minbase`` rootfs as a tar, built once per machine with mmdebstrap (machine's apt sources)."""
    target = CACHE / f"debian-{suite}-minbase.tar"
    if target.exists():
        return target
    if shutil.which("mmdebstrap") is None:
        raise RuntimeError("mmdebstrap is not installed (apt-get install mmdebstrap)")
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tar.partial")
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH))
    # No mirror argument: mmdebstrap uses this machine's apt sources.
    subprocess.run(
        ["mmdebstrap", "--variant=minbase", "--quiet", "--format=tar", suite, str(partial)],
        check=True,
        env=env,
    )
    partial.rename(target)
    return target


def debian_layout(workdir: Path, suite: str = "bookworm") -> OCILayout:
    """The Debian rootfs tar as a one-layer OCI layout (``Cmd: ["bash"]``, like the official image)."""
    raw = debian_rootfs_tar(suite).read_bytes()
    return write_oci_layout(workdir / f"debian-{suite}-oci", [raw], cmd=["bash"])


def skopeo_push(
    layout: OCILayout, dest_ref: str, *, fmt: str | None = None, creds: str | None = None, cert_dir: Path | None = None
) -> None:
    """Push an OCI layout to ``dest_ref`` (e.g. ``127.0.0.1:5000/busybox:latest``) with skopeo."""
    cmd = ["skopeo", "copy", "--quiet"]
    if fmt:
        cmd += ["--format", fmt]
    if creds:
        cmd += ["--dest-creds", creds]
    if cert_dir is not None:
        cmd += ["--dest-cert-dir", str(cert_dir)]
    else:
        cmd += ["--dest-tls-verify=false"]
    cmd += [f"oci:{layout.path}:{layout.tag}", f"docker://{dest_ref}"]
    subprocess.run(cmd, check=True, capture_output=True)
