"""The test infrastructure itself: a real registry fed by skopeo, and a real Debian rootfs."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.conftest import AuthRegistry, ImageFixture
from tests.support.registry import Registry

pytestmark = pytest.mark.registry


def test_busybox_pushed_with_skopeo_reads_back_over_http(registry: Registry, busybox_image: ImageFixture) -> None:
    status, headers, body = registry.get(
        "/v2/busybox/manifests/latest", accept="application/vnd.oci.image.manifest.v1+json"
    )
    assert status == 200
    manifest = json.loads(body)
    assert manifest["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert len(manifest["layers"]) == 1
    # The registry serves the manifest we wrote, byte for byte: same digest.
    assert headers["Docker-Content-Digest"] == busybox_image.layout.manifest_digest
    status, _, config = registry.get(f"/v2/busybox/blobs/{manifest['config']['digest']}")
    assert json.loads(config)["rootfs"]["diff_ids"] == busybox_image.layout.layer_diff_ids


def test_auth_registry_refuses_anonymous_and_accepts_credentials(
    auth_registry: AuthRegistry, busybox_layout: tuple, tmp_path: Path
) -> None:
    from tests.support import images

    layout, _ = busybox_layout
    ref = f"{auth_registry.host}/private/busybox:1"
    with pytest.raises(subprocess.CalledProcessError):
        images.skopeo_push(layout, ref, cert_dir=auth_registry.cert_dir)
    images.skopeo_push(
        layout, ref, creds=f"{auth_registry.username}:{auth_registry.password}", cert_dir=auth_registry.cert_dir
    )
    out = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--cert-dir",
            str(auth_registry.cert_dir),
            "--creds",
            f"{auth_registry.username}:{auth_registry.password}",
            f"docker://{ref}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert json.loads(out.stdout)["layers"]


@pytest.mark.slow
def test_debian_fixture_runs_a_shell(debian_image: ImageFixture, tmp_path: Path) -> None:
    from tests.support.images import debian_rootfs_tar

    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    with tarfile.open(debian_rootfs_tar()) as tar:
        tar.extractall(rootfs, filter="fully_trusted")
    proc = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "--root", str(rootfs), "/bin/sh", "-c", "cat /etc/debian_version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip().startswith("12.")


def test_busybox_rootfs_has_the_dev_user(busybox_image: ImageFixture) -> None:
    assert busybox_image.rootfs is not None
    passwd = (busybox_image.rootfs / "etc/passwd").read_text()
    assert "dev:x:1000:1000:" in passwd
    assert (busybox_image.rootfs / "home/dev").stat().st_uid == 1000
    proc = subprocess.run(
        ["chroot", str(busybox_image.rootfs), "/bin/sh", "-c", "echo hi; id -u dev"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.split() == ["hi", "1000"]
