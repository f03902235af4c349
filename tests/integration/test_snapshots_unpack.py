"""Layer unpacking: whiteouts, owners, modes, xattrs, links, devices — and untrusted tarballs.

Malicious layers are built here by hand. Whatever they try, nothing is written outside the snapshot
directory: traversal is rejected, absolute names and symlinks are resolved inside the root (as a
chroot would), and a symlink planted by an earlier entry is replaced, never written through.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from devenv.errors import StoreError
from devenv.snapshots import tarunpack
from devenv.snapshots.diff import write_dir_tar
from devenv.snapshots.unpack import OVERLAY_OPAQUE_XATTR, UnsafeLayer, apply_tar

# Three ways a layer gets unpacked: the Python applier into an overlay layer dir or onto a flat
# rootfs (copy fallback), and the fast path (GNU tar in a child process, for overlay layers as root).
ENGINES = ["python-overlay", "python-apply", "gnu-tar"]


def unpack(engine: str, layer: io.BytesIO, root: Path) -> None:
    if engine == "gnu-tar":
        tarunpack.unpack_layer(layer, "", root)
    else:
        apply_tar(layer, root, "overlay" if engine == "python-overlay" else "apply")


def _tar(*entries: tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            if isinstance(e, tuple):
                ti, data = e
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
            else:
                tar.addfile(e)
    buf.seek(0)
    return buf


def _file(
    name: str, data: bytes = b"data", mode: int = 0o644, uid: int = 0, gid: int = 0
) -> tuple[tarfile.TarInfo, bytes]:
    ti = tarfile.TarInfo(name)
    ti.mode, ti.uid, ti.gid, ti.mtime = mode, uid, gid, 1_600_000_000
    return ti, data


def _dir(name: str, mode: int = 0o755) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, 1_600_000_000
    return ti


def _sym(name: str, target: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = tarfile.SYMTYPE, target
    return ti


def _link(name: str, target: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname = tarfile.LNKTYPE, target
    return ti


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A directory outside the snapshot that a malicious layer would like to write into."""
    v = tmp_path / "victim"
    v.mkdir()
    (v / "important").write_text("precious")
    return v


def _untouched(victim: Path) -> None:
    assert sorted(os.listdir(victim)) == ["important"]
    assert (victim / "important").read_text() == "precious"
    assert not (victim / "important").is_symlink()


@pytest.mark.parametrize("engine", ENGINES)
def test_dot_dot_traversal_is_rejected(tmp_path: Path, victim: Path, engine: str) -> None:
    root = tmp_path / "root"
    rel = os.path.relpath(victim / "pwned", root)
    with pytest.raises(StoreError) as info:
        unpack(engine, _tar(_file("ok"), _file(rel)), root)
    if engine != "gnu-tar":
        assert isinstance(info.value, UnsafeLayer) and "outside" in info.value.message
    _untouched(victim)
    assert not (victim.parent / "pwned").exists()


@pytest.mark.parametrize("engine", ENGINES)
def test_absolute_names_stay_inside(tmp_path: Path, victim: Path, engine: str) -> None:
    root = tmp_path / "root"
    unpack(engine, _tar(_file(str(victim / "important"), b"owned")), root)
    _untouched(victim)
    assert (root / str(victim / "important").lstrip("/")).read_bytes() == b"owned"


@pytest.mark.parametrize("engine", ENGINES)
def test_symlink_escape_then_write_below_it_stays_inside(tmp_path: Path, victim: Path, engine: str) -> None:
    """The Python applier resolves the symlink inside the root (as a chroot would); GNU tar refuses."""
    root = tmp_path / "root"
    layer = _tar(
        _sym("abs", str(victim)),
        _sym("rel", "../../../../../../../../" + str(victim).lstrip("/")),
        _file("abs/pwned", b"1"),
        _file("rel/pwned2", b"2"),
        _file("abs/important", b"3"),
    )
    if engine == "gnu-tar":
        with pytest.raises(StoreError):
            unpack(engine, layer, root)
        _untouched(victim)
        return
    unpack(engine, layer, root)
    _untouched(victim)
    inside = root / str(victim).lstrip("/")
    assert (inside / "pwned").read_bytes() == b"1" and (inside / "pwned2").read_bytes() == b"2"
    assert (inside / "important").read_bytes() == b"3"
    assert os.readlink(root / "abs") == str(victim)  # symlinks themselves are data, kept verbatim


@pytest.mark.parametrize("engine", ENGINES)
def test_symlink_then_write_replaces_the_symlink(tmp_path: Path, victim: Path, engine: str) -> None:
    root = tmp_path / "root"
    layer = _tar(_sym("f", str(victim / "important")), _file("f", b"overwrite?"))
    unpack(engine, layer, root)
    _untouched(victim)
    if engine != "gnu-tar":  # GNU tar keeps the (delayed) symlink instead; either way nothing is written through
        assert not (root / "f").is_symlink() and (root / "f").read_bytes() == b"overwrite?"


@pytest.mark.parametrize("engine", ENGINES)
def test_hardlink_escapes_are_rejected(tmp_path: Path, victim: Path, engine: str) -> None:
    rel = os.path.relpath(victim / "important", tmp_path / "root")
    with pytest.raises(StoreError):
        unpack(engine, _tar(_link("h", rel)), tmp_path / "root")
    with pytest.raises(StoreError):  # absolute target: resolved inside the root, where it does not exist
        unpack(engine, _tar(_link("h", str(victim / "important"))), tmp_path / "root2")
    with pytest.raises(StoreError):  # through a symlink to the outside: same
        unpack(engine, _tar(_sym("s", str(victim)), _link("h", "s/important")), tmp_path / "root3")
    _untouched(victim)
    assert os.stat(victim / "important").st_nlink == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_whiteouts_through_symlinks_stay_inside(tmp_path: Path, victim: Path, engine: str) -> None:
    try:
        unpack(engine, _tar(_sym("s", str(victim)), _file("s/.wh.important", b"")), tmp_path / "root")
    except StoreError:
        assert engine == "gnu-tar"
    _untouched(victim)
    with pytest.raises(StoreError):
        unpack(engine, _tar(_file(".wh...", b"")), tmp_path / "r2")


@pytest.mark.parametrize("engine", ["python-overlay", "gnu-tar"])
def test_overlay_xattrs_from_a_tarball_are_ignored(tmp_path: Path, engine: str) -> None:
    ti = _dir("d")
    ti.pax_headers = {
        "SCHILY.xattr.trusted.overlay.redirect": "/etc",
        "SCHILY.xattr.trusted.overlay.opaque": "y",
        "SCHILY.xattr.user.kept": "yes",
    }
    unpack(engine, _tar(ti), tmp_path / "root")
    attrs = os.listxattr(tmp_path / "root" / "d")
    assert "user.kept" in attrs and not [a for a in attrs if "overlay" in a]


@pytest.mark.parametrize("engine", ["python-overlay", "gnu-tar"])
def test_metadata_links_devices_and_whiteouts(tmp_path: Path, engine: str) -> None:
    root = tmp_path / "layer"
    cap = tarfile.TarInfo("bin/ping")
    cap.pax_headers = {"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00" + "\x00" * 12}
    null = tarfile.TarInfo("dev/null")
    null.type, null.devmajor, null.devminor, null.mode = tarfile.CHRTYPE, 1, 3, 0o666
    fifo = tarfile.TarInfo("run/fifo")
    fifo.type = tarfile.FIFOTYPE
    layer = _tar(
        _dir("etc"),
        _file("etc/shadow", b"secret", mode=0o640, uid=0, gid=42),
        _dir("home/dev", mode=0o750),
        _file("home/dev/.profile", b"x", uid=1000, gid=1000),
        _file("usr/bin/sudo", b"elf", mode=0o4755),
        _link("usr/bin/sudoedit", "usr/bin/sudo"),
        (cap, b"elf"),
        null,
        fifo,
        _sym("lib", "usr/lib"),
        _file("var/.wh.cache", b""),
        _dir("opt/app"),
        _file("opt/app/.wh..wh..opq", b""),
        _file("opt/app/new", b"n"),
    )
    unpack(engine, layer, root)
    st = os.stat(root / "etc/shadow")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, 42)
    assert os.stat(root / "home/dev/.profile").st_uid == 1000
    assert stat.S_IMODE(os.stat(root / "home/dev").st_mode) == 0o750
    sudo = os.stat(root / "usr/bin/sudo")
    assert stat.S_IMODE(sudo.st_mode) == 0o4755 and sudo.st_nlink == 2
    assert os.stat(root / "usr/bin/sudoedit").st_ino == sudo.st_ino
    assert os.getxattr(root / "bin/ping", "security.capability")[:4] == b"\x01\x00\x00\x02"
    dev = os.stat(root / "dev/null")
    assert stat.S_ISCHR(dev.st_mode) and os.major(dev.st_rdev) == 1 and os.minor(dev.st_rdev) == 3
    assert stat.S_ISFIFO(os.stat(root / "run/fifo").st_mode)
    assert os.readlink(root / "lib") == "usr/lib"
    wh = os.lstat(root / "var/cache")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert os.getxattr(root / "opt/app", OVERLAY_OPAQUE_XATTR) == b"y"
    assert os.stat(root / "etc/shadow").st_mtime == 1_600_000_000


def test_apply_mode_deletes_and_empties(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    apply_tar(_tar(_file("a/keep"), _file("a/old"), _file("b/x"), _file("b/y")), root, "apply")
    apply_tar(_tar(_file("a/.wh.old", b""), _dir("b"), _file("b/new"), _file("b/.wh..wh..opq", b"")), root, "apply")
    assert sorted(os.listdir(root / "a")) == ["keep"]
    assert sorted(os.listdir(root / "b")) == ["new"]  # opaque: lower content gone, this layer's kept


def test_layer_dir_round_trips_through_a_tar(tmp_path: Path) -> None:
    """write_dir_tar is the inverse of unpacking (whiteouts, opaque dirs, hardlinks, owners)."""
    src = tmp_path / "src"
    layer = _tar(
        _dir("etc"),
        _file("etc/conf", b"c", mode=0o600, uid=5, gid=6),
        _link("etc/conf2", "etc/conf"),
        _file("gone/.wh.f", b""),
        _dir("opq"),
        _file("opq/.wh..wh..opq", b""),
        _file("opq/in", b"i"),
        _sym("l", "/etc/conf"),
    )
    apply_tar(layer, src, "overlay")
    buf = io.BytesIO()
    write_dir_tar(src, buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        names = tar.getnames()
    assert "gone/.wh.f" in names and "opq/.wh..wh..opq" in names
    assert names.index("etc/conf") < names.index("etc/conf2")
    buf.seek(0)
    dst = tmp_path / "dst"
    apply_tar(buf, dst, "overlay")
    for rel in ("etc/conf", "etc/conf2", "gone/f", "opq/in", "l", "opq"):
        a, b = os.lstat(src / rel), os.lstat(dst / rel)
        assert (a.st_mode, a.st_uid, a.st_gid, a.st_rdev) == (b.st_mode, b.st_uid, b.st_gid, b.st_rdev), rel
    assert os.stat(dst / "etc/conf").st_ino == os.stat(dst / "etc/conf2").st_ino
    assert os.getxattr(dst / "opq", OVERLAY_OPAQUE_XATTR) == b"y"
