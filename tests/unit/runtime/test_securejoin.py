"""Paths resolved inside a root: symlinks and .. never lead out of it."""

from __future__ import annotations

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
    with pytest.raises(securejoin.UnsafePath):
        securejoin.resolve(str(root), "/loop/x")


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
