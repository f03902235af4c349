"""``devenv image bootstrap``: build a Debian/Ubuntu base image with ``mmdebstrap`` — no registry needed.

For air-gapped machines and machines that cannot reach Docker Hub. Without ``--mirror`` mmdebstrap
uses this machine's apt sources; with it, the given mirror (a URL, or a full sources.list line).
The rootfs becomes one gzip layer; the config mirrors the official images (``PATH``, ``Cmd: bash``).
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devenv.errors import ImageError, UsageError
from devenv.events import NULL, Reporter
from devenv.oci.descriptor import Platform, host_platform
from devenv.oci.reference import parse_reference
from devenv.store.commit import ConfigChanges, commit_image, layer_from_tar
from devenv.store.store import Image, Store

_DPKG_ARCH = {"amd64": "amd64", "arm64": "arm64", "386": "i386", "ppc64le": "ppc64el", "s390x": "s390x"}


@dataclass(frozen=True)
class BootstrapOptions:
    name: str  # image name to record, e.g. debian:bookworm
    suite: str  # bookworm, trixie, jammy, ...
    mirror: str | None = None  # None = the machine's apt sources
    include: Sequence[str] = ()  # extra packages
    variant: str = "minbase"  # mmdebstrap variant: minbase, essential, apt, required, important, standard
    platform: Platform | None = None


def _command(opts: BootstrapOptions, out: str, plat: Platform) -> list[str]:
    cmd = ["mmdebstrap", f"--variant={opts.variant}", "--format=tar"]
    if opts.include:
        cmd.append("--include=" + ",".join(opts.include))
    arch = _DPKG_ARCH.get(plat.architecture, "armhf" if plat.architecture == "arm" else plat.architecture)
    cmd.append(f"--architectures={arch}")
    cmd += [opts.suite, out]
    if opts.mirror:
        cmd.append(opts.mirror)
    return cmd


def bootstrap(opts: BootstrapOptions, *, store: Store | None = None, reporter: Reporter = NULL) -> Image:
    store = store or Store()
    name = str(parse_reference(opts.name))
    if not opts.suite or "/" in opts.suite or opts.suite.startswith("-"):
        raise UsageError(f"invalid suite {opts.suite!r}", remedy="give a release codename, e.g. --suite bookworm")
    if shutil.which("mmdebstrap") is None:
        raise ImageError(
            "mmdebstrap is not installed", remedy="install it (apt-get install mmdebstrap), then run this again"
        )
    plat = opts.platform or host_platform()
    work = store.data_root / "tmp"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bootstrap-", dir=work) as tmp:
        out = os.path.join(tmp, "rootfs.tar")
        cmd = _command(opts, out, plat)
        reporter.event("bootstrap.start", command=cmd, message=f"Running {' '.join(cmd)}")
        tail: deque[str] = deque(maxlen=30)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            reporter.event("bootstrap.output", line=line.rstrip(), message=line.rstrip())
        if proc.wait() != 0:
            raise ImageError(
                f"mmdebstrap failed (exit {proc.returncode}) building {opts.suite}",
                detail="\n".join(tail),
                remedy="check the suite name and the mirror (--mirror URL); the output above says what failed",
            )
        created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        history = {"created_by": " ".join(["mmdebstrap", *cmd[1 : -2 if opts.mirror else -1]]), "comment": "devenv"}
        with store.transaction():
            layer = layer_from_tar(store, Path(out), history=history)
            image = commit_image(
                store,
                None,
                [layer],
                changes=ConfigChanges(
                    cmd=["bash"],
                    labels={"org.opencontainers.image.source": "mmdebstrap", "dev.devenv.suite": opts.suite},
                ),
                name=name,
                platform=plat,
                created=created,
            )
    reporter.event("bootstrap.done", name=name, id=image.id, message=f"Built {name} ({image.id[:19]})")
    return image
