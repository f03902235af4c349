"""Paths resolved inside a root: symlinks and .. never lead out of it.

One resolver serves the runtime (host paths for mounts: :func:`securejoin.resolve`) and the image
builder (image paths for COPY and WORKDIR in a layer view: :func:`securejoin.resolve_in_root`)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from devenv.runtime.embedded import securejoin


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "abs").symlink_to("/etc")
    (r / "rel").symlink_to("../../../../etc")
    (r / "loop").symlink_to("loop")
    (r / "a").mkdir()
    (r / "a/up").symlink_to("..")
    (r / "usr/bin").mkdir(parents=True)
    (r / "bin").symlink_to("usr/bin")  # a merged-/usr image
    (r / "file").write_text("x")
    (r / "chain1").symlink_to("chain2")
    (r / "chain2").symlink_to("/bin")
    return r


def test_absolute_and_relative_links_are_clamped_to_the_root(root: Path) -> None:
    assert securejoin.resolve(str(root), "/abs/passwd") == str(root / "etc/passwd")
    assert securejoin.resolve(str(root), "rel/passwd") == str(root / "etc/passwd")
    assert securejoin.resolve(str(root), "/../../../etc") == str(root / "etc")
    assert securejoin.resolve(str(root), "/a/up/a/up/etc") == str(root / "etc")
    assert securejoin.resolve(str(root), "/a/up/up/etc") == str(root / "up/etc")  # /a/.. is /, which has no "up"
    assert securejoin.resolve(str(root), "/") == str(root)


def test_missing_parts_are_kept(root: Path) -> None:
    assert securejoin.resolve(str(root), "/abs/new/dir") == str(root / "etc/new/dir")


def test_symlink_loops_fail(root: Path) -> None:
    with pytest.raises(securejoin.UnsafePath) as info:
        securejoin.resolve(str(root), "/loop/x")
    assert info.value.errno == errno.ELOOP and info.value.filename == "/loop/x"
    with pytest.raises(securejoin.UnsafePath):
        securejoin.resolve_in_root(root, "/loop")


def test_too_many_links_fail_even_without_a_loop(root: Path) -> None:
    for i in range(securejoin.MAX_SYMLINKS + 1):
        (root / f"hop{i}").symlink_to(f"hop{i + 1}")
    (root / f"hop{securejoin.MAX_SYMLINKS + 1}").mkdir()
    assert securejoin.resolve_in_root(root, "/hop1/x") == f"/hop{securejoin.MAX_SYMLINKS + 1}/x"  # at the limit
    with pytest.raises(securejoin.UnsafePath) as info:
        securejoin.resolve_in_root(root, "/hop0/x")  # one more than the limit
    assert info.value.errno == errno.ELOOP


def test_in_root_gives_the_image_path(root: Path) -> None:
    assert securejoin.resolve_in_root(root, "/bin/sh") == "/usr/bin/sh"
    assert securejoin.resolve_in_root(str(root), "/bin") == "/usr/bin"
    assert securejoin.resolve_in_root(root, "/chain1/env") == "/usr/bin/env"  # link to an absolute link
    assert securejoin.resolve_in_root(root, "/abs/passwd") == "/etc/passwd"
    assert securejoin.resolve_in_root(root, "/rel/passwd") == "/etc/passwd"
    assert securejoin.resolve_in_root(root, "/bin/../lib") == "/usr/lib"  # .. after the link, as the kernel does
    assert securejoin.resolve_in_root(root, "usr//./bin/") == "/usr/bin"
    assert securejoin.resolve_in_root(root, "/") == "/"
    assert securejoin.resolve_in_root(root, "/../..") == "/"
    assert securejoin.resolve(str(root), "/bin/sh") == str(root / "usr/bin/sh")


def test_parts_under_a_non_directory_are_kept(root: Path) -> None:
    assert securejoin.resolve_in_root(root, "/file/x/y") == "/file/x/y"
    assert securejoin.resolve(str(root), "/file/x") == str(root / "file/x")
    with pytest.raises(NotADirectoryError):  # creating it fails with the real reason
        securejoin.ensure(str(root), "/file/x")


def test_ensure_creates_dirs_and_files_inside(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "evil").symlink_to(str(outside))
    made = securejoin.ensure(str(root), "/evil/sub/file", directory=False)
    assert made == str(root / str(outside).lstrip("/") / "sub/file")
    assert Path(made).is_file()
    assert list(outside.iterdir()) == []


def test_open_target_gives_an_fd_inside(root: Path) -> None:
    fd = securejoin.open_target(str(root), "/abs/target")
    try:
        assert os.readlink(f"/proc/self/fd/{fd}") == str(root / "etc/target")
    finally:
        os.close(fd)
