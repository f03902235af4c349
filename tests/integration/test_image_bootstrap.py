"""`devenv image bootstrap` builds a base image with mmdebstrap from this machine's apt sources."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devenv.store.store import Store

pytestmark = pytest.mark.slow


def test_bootstrap_debian_with_extra_packages_and_run_it(devenv_root: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        ["devenv", "image", "bootstrap", "local/debian:boot", "--suite", "bookworm", "--include", "hello"],
        env={**os.environ, "DEVENV_ROOT": str(devenv_root)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "docker.io/local/debian:boot" in proc.stdout
    store = Store()
    image = store.image("local/debian:boot")
    assert image.config.cmd == ["bash"]
    assert any(e.startswith("PATH=") for e in image.config.env)
    assert image.config.labels["dev.devenv.suite"] == "bookworm"
    assert len(image.layers) == 1 and image.layers[0].media_type.endswith("tar+gzip")
    # The rootfs is a working Debian with the extra package: run it.
    root = tmp_path / "rootfs"
    store.snapshots.copy_rootfs(image.chain_ids, root)
    out = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "--root", str(root), "/usr/bin/hello"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "Hello, world!"
    assert (root / "etc/debian_version").read_text().startswith("12.")


def test_bootstrap_with_a_bad_suite_reports_mmdebstrap_output(devenv_root: Path) -> None:
    proc = subprocess.run(
        ["devenv", "image", "bootstrap", "x:y", "--suite", "no-such-suite-xyz"],
        env={**os.environ, "DEVENV_ROOT": str(devenv_root)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 4
    assert "mmdebstrap failed" in proc.stderr and "hint:" in proc.stderr
    assert Store().images() == []
