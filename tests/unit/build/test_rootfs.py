"""The builder's read-only view of a layer stack: paths in it that cannot be resolved are build errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devenv.build import rootfs
from devenv.errors import BuildError
from devenv.runtime.embedded import securejoin

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting an overlay needs root")


@needs_root
def test_paths_in_the_view_resolve_through_the_layers_links(devenv_root: Path, tmp_path: Path) -> None:
    lower, upper = tmp_path / "l1", tmp_path / "l2"
    (lower / "usr/bin").mkdir(parents=True)
    (lower / "bin").symlink_to("usr/bin")
    upper.mkdir()
    (upper / "loop").symlink_to("loop")
    with rootfs.mounted([lower, upper]) as view:
        assert securejoin.resolve_in_root(view, "/bin/sh") == "/usr/bin/sh"
        with pytest.raises(securejoin.UnsafePath):
            securejoin.resolve_in_root(view, "/loop")


@needs_root
def test_a_symlink_loop_in_the_view_is_a_build_error(devenv_root: Path, tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "loop").symlink_to("loop")
    loop_error = r"^too many levels of symbolic links resolving /loop/x$"
    with pytest.raises(BuildError, match=loop_error), rootfs.mounted([layer]) as view:
        securejoin.resolve_in_root(view, "/loop/x")
    assert list((devenv_root / "build" / "tmp").iterdir()) == []  # the view is unmounted and gone


def test_other_errors_pass_through_the_view(devenv_root: Path) -> None:
    with pytest.raises(KeyError), rootfs.mounted([]):
        raise KeyError("x")
    assert list((devenv_root / "build" / "tmp").iterdir()) == []


def test_parent_chain() -> None:
    assert rootfs.parent_chain("/a/b/c") == ["/a", "/a/b"]
    assert rootfs.parent_chain("/a") == []
