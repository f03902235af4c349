"""Interoperability with a real Docker engine: `docker save | devenv image load`, `devenv image save |
docker load`, and the rootfs devenv unpacks equals `docker export` of the same image, file for file."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devenv.snapshots.diff import FileEntry
from devenv.store.commit import ConfigChanges, commit_image, layer_from_files
from devenv.store.pull import PullOptions, pull
from devenv.store.store import Store
from tests.conftest import ImageFixture
from tests.integration.registry_tools import tree
from tests.support import images
from tests.support.registry import Registry

pytestmark = [pytest.mark.registry, pytest.mark.docker]

# What `docker create` adds to every container (its init layer and mount points): not part of the image.
DOCKER_INIT = {
    ".dockerenv",
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
    "etc/mtab",
    "dev/console",
    "dev/pts",
    "dev/shm",
}


def devenv(*args: str, input: bytes | None = None, stdout: Any = subprocess.PIPE) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["devenv", *args], input=input, stdout=stdout, stderr=subprocess.PIPE, check=True)


def docker(*args: str, **kw: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], capture_output=True, check=True, **kw)


@pytest.fixture
def docker_tag(docker_engine: None) -> Iterator[list[str]]:
    """Names the test gives images in the shared Docker engine; removed afterwards."""
    names: list[str] = []
    yield names
    for n in names:
        subprocess.run(["docker", "rmi", "-f", n], capture_output=True)


def export_tree(image: str, names: list[str]) -> dict[str, tuple[Any, ...]]:
    """`docker create` + `docker export`, as (type, mode, uid, gid, link/size/dev) per path."""
    cid = docker("create", image, "/bin/true").stdout.decode().strip()
    try:
        data = docker("export", cid).stdout
    finally:
        docker("rm", "-f", cid)
    out: dict[str, tuple[Any, ...]] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name.rstrip("/"): m for m in tar.getmembers()}
        for name, m in members.items():
            if m.islnk():  # a hardlink: same inode as its target
                m = members[m.linkname.rstrip("/")]
            kinds = {
                tarfile.REGTYPE: stat.S_IFREG,
                tarfile.AREGTYPE: stat.S_IFREG,
                tarfile.DIRTYPE: stat.S_IFDIR,
                tarfile.SYMTYPE: stat.S_IFLNK,
                tarfile.CHRTYPE: stat.S_IFCHR,
                tarfile.BLKTYPE: stat.S_IFBLK,
                tarfile.FIFOTYPE: stat.S_IFIFO,
            }
            kind = kinds[m.type]
            extra: Any = None
            if m.issym():
                extra = m.linkname
            elif m.isreg():
                extra = m.size
            elif m.ischr() or m.isblk():
                extra = (m.devmajor, m.devminor)
            out[name] = (kind, m.mode & 0o7777, m.uid, m.gid, extra)
    return out


def _drop_docker_init(t: dict[str, tuple[Any, ...]]) -> dict[str, tuple[Any, ...]]:
    return {k: v for k, v in t.items() if k not in DOCKER_INIT}


def _mounted_overlay_tree(store: Store, chain_ids: list[str], where: Path) -> dict[str, tuple[Any, ...]]:
    m = store.snapshots.overlay(chain_ids)
    where.mkdir()
    subprocess.run(["mount", "-t", m.type, "-o", ",".join(("ro", *m.options)), m.source, str(where)], check=True)
    try:
        return tree(where)
    finally:
        subprocess.run(["umount", str(where)], check=True)


def _layer(*entries: tuple[str, int, bytes | str | None, int]) -> bytes:
    """(name, tar type, data or link target, mode) → an uncompressed layer tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, typ, payload, mode in entries:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = typ, mode, images.EPOCH
            if typ in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                ti.linkname = str(payload)
                tar.addfile(ti)
            elif typ == tarfile.REGTYPE:
                data = payload if isinstance(payload, bytes) else b""
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
            else:
                tar.addfile(ti)
    return buf.getvalue()


@pytest.fixture(scope="module")
def layered_image(
    registry: Registry, busybox_layout: tuple[images.OCILayout, Path], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Busybox + a layer that adds and hardlinks + a layer with whiteouts, an opaque dir, mode changes."""
    _, rootfs = busybox_layout
    base = images.tar_directory(rootfs)
    f, d, s, h = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
    add = _layer(
        ("opt", d, None, 0o755),
        ("opt/app", d, None, 0o750),
        ("opt/app/a", f, b"a", 0o644),
        ("opt/app/b", f, b"b", 0o600),
        ("opt/app/b-link", h, "opt/app/b", 0o600),
        ("opt/keep", f, b"k", 0o644),
        ("etc/motd", f, b"hello\n", 0o644),
        ("usr/local/bin/tool", s, "/bin/busybox", 0o777),
    )
    change = _layer(
        ("etc/.wh.shadow", f, b"", 0o644),
        ("opt/app", d, None, 0o755),
        ("opt/app/.wh..wh..opq", f, b"", 0o644),
        ("opt/app/c", f, b"c", 0o4755),
        ("etc/motd", f, b"changed\n", 0o600),
        ("tmp", d, None, 0o1777),
        ("home/.wh.dev", f, b"", 0o644),
    )
    layout = images.write_oci_layout(tmp_path_factory.mktemp("layered") / "oci", [base, add, change])
    ref = f"{registry.host}/layered/busybox:3"
    images.skopeo_push(layout, ref)
    return ref


@pytest.mark.parametrize("how", ["overlay", "copy"])
def test_unpacked_rootfs_equals_docker_export(
    devenv_root: Path, layered_image: str, docker_tag: list[str], tmp_path: Path, how: str
) -> None:
    docker("pull", "-q", layered_image)
    docker_tag.append(layered_image)
    expected = _drop_docker_init(export_tree(layered_image, docker_tag))
    image = pull(PullOptions(layered_image))
    store = Store()
    if how == "overlay":
        got = _mounted_overlay_tree(store, image.chain_ids, tmp_path / "mnt")
    else:
        store.snapshots.copy_rootfs(image.chain_ids, tmp_path / "flat")
        got = tree(tmp_path / "flat")
    got = _drop_docker_init(got)
    assert "etc/shadow" not in got and "home/dev" not in got
    assert sorted(k for k in got if k.startswith("opt/app/")) == ["opt/app/c"]
    assert got["opt/app/c"][1] == 0o4755 and got["etc/motd"][1] == 0o600
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    differ = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    assert (missing, extra, [(k, expected[k], got[k]) for k in differ]) == ([], [], [])


@pytest.mark.slow
def test_debian_rootfs_equals_docker_export(
    devenv_root: Path, debian_image: ImageFixture, docker_tag: list[str], tmp_path: Path
) -> None:
    docker("pull", "-q", debian_image.ref)
    docker_tag.append(debian_image.ref)
    expected = _drop_docker_init(export_tree(debian_image.ref, docker_tag))
    image = pull(PullOptions(debian_image.ref))
    got = _drop_docker_init(_mounted_overlay_tree(Store(), image.chain_ids, tmp_path / "mnt"))
    assert len(got) > 5000
    differ = sorted(k for k in set(expected) & set(got) if expected[k] != got[k])
    assert (sorted(set(expected) ^ set(got)), [(k, expected[k], got[k]) for k in differ]) == ([], [])


def test_docker_save_then_devenv_load(devenv_root: Path, busybox_image: ImageFixture, docker_tag: list[str]) -> None:
    docker("pull", "-q", busybox_image.ref)
    docker_tag.append(busybox_image.ref)
    docker_id = docker("image", "inspect", "-f", "{{.Id}}", busybox_image.ref).stdout.decode().strip()
    archive = docker("save", busybox_image.ref).stdout
    out = devenv("image", "load", input=archive).stdout.decode()
    assert f"Loaded image: {busybox_image.ref}" in out
    image = Store().image(busybox_image.ref)
    assert image.id == docker_id
    assert image.diff_ids == busybox_image.layout.layer_diff_ids
    [mount] = Store().layer_mounts(image)
    assert busybox_image.rootfs is not None
    assert tree(Path(mount.source)) == tree(busybox_image.rootfs)


def test_devenv_save_then_docker_load_and_run(
    devenv_root: Path, busybox_image: ImageFixture, docker_tag: list[str], tmp_path: Path
) -> None:
    base = pull(PullOptions(busybox_image.ref))
    store = Store()
    layer = layer_from_files(
        store,
        [FileEntry("/srv", kind="dir", mode=0o755), FileEntry("/srv/msg", data=b"made by devenv\n")],
        base.chain_ids[-1],
    )
    name = f"devenv-test/saved-{uuid.uuid4().hex[:8]}:1"
    image = commit_image(store, base, [layer], changes=ConfigChanges(cmd=["cat", "/srv/msg"]), name=name)
    docker_tag.append(name)
    archive = tmp_path / "saved.tar"
    with open(archive, "wb") as f:
        devenv("image", "save", name, stdout=f)
    loaded = docker("load", "-i", str(archive)).stdout.decode()
    assert name in loaded
    assert docker("image", "inspect", "-f", "{{.Id}}", name).stdout.decode().strip() == image.id
    run = docker("run", "--rm", "--network", "none", name).stdout
    assert run == b"made by devenv\n"
    # And back again: docker save of what docker loaded is what devenv had.
    again = tmp_path / "again"
    again.mkdir()
    subprocess.run(
        ["devenv", "image", "load"],
        input=docker("save", name).stdout,
        env={**os.environ, "DEVENV_ROOT": str(again)},
        check=True,
        capture_output=True,
    )
    assert Store(again).image(name).id == image.id


def test_oci_layout_round_trip_with_skopeo(devenv_root: Path, busybox_image: ImageFixture, tmp_path: Path) -> None:
    image = pull(PullOptions(busybox_image.ref))
    archive = tmp_path / "oci.tar"
    devenv("image", "save", "--format", "oci", "-o", str(archive), busybox_image.ref)
    raw = subprocess.run(
        ["skopeo", "inspect", "--raw", f"oci-archive:{archive}:latest"], check=True, capture_output=True
    ).stdout
    assert b'"layers"' in raw
    layout_dir = tmp_path / "layout"
    layout_dir.mkdir()
    devenv("image", "save", "--format", "oci", "-o", str(layout_dir), busybox_image.ref)
    other = tmp_path / "other-root"
    subprocess.run(
        ["devenv", "image", "load", "-i", str(layout_dir)],
        env={**os.environ, "DEVENV_ROOT": str(other)},
        check=True,
        capture_output=True,
    )
    loaded = Store(other).image(busybox_image.ref)
    assert loaded.digest == image.digest and loaded.id == image.id


@pytest.mark.parametrize("transport", ["oci-archive", "docker-archive", "oci"])
def test_load_what_skopeo_writes(
    devenv_root: Path, busybox_image: ImageFixture, tmp_path: Path, transport: str
) -> None:
    """Archives and layouts written by an independent tool load, with their names and verified digests."""
    dest = tmp_path / ("layout" if transport == "oci" else "archive.tar")
    target = f"{transport}:{dest}:" + ("imported:v1" if transport == "oci" else "127.0.0.1:1/imported:v1")
    subprocess.run(
        ["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{busybox_image.ref}", target],
        check=True,
        capture_output=True,
    )
    args = ["image", "load", "-i", str(dest)] + (["--name", "local/imported:v1"] if transport == "oci" else [])
    out = devenv(*args).stdout.decode()
    name = "docker.io/local/imported:v1" if transport == "oci" else "127.0.0.1:1/imported:v1"
    assert f"Loaded image: {name}" in out
    image = Store().image(name)
    assert image.diff_ids == busybox_image.layout.layer_diff_ids
    assert image.config.cmd == ["/bin/sh"]
    [mount] = Store().layer_mounts(image)
    assert busybox_image.rootfs is not None
    assert tree(Path(mount.source)) == tree(busybox_image.rootfs)
