"""fsutil's lock held for a process's life (the network agent's, a starter's), whose holder unlinks the
lock file before it lets go."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devenv.fsutil import try_hold_lock


def test_one_holder_at_a_time(tmp_path: Path) -> None:
    path = str(tmp_path / "a.lock")
    held = try_hold_lock(path)
    assert held is not None
    try:
        assert try_hold_lock(path) is None  # (another open file description: flock says no)
    finally:
        os.close(held)
    again = try_hold_lock(path)
    assert again is not None
    os.close(again)


def test_a_holder_that_unlinks_its_file_before_leaving_is_followed_by_a_new_file(tmp_path: Path) -> None:
    path = str(tmp_path / "a.lock")
    held = try_hold_lock(path)
    assert held is not None
    os.unlink(path)  # the holder tidies up while it still holds the lock
    follower = try_hold_lock(path)  # a new holder locks the file the path names now
    assert follower is not None
    assert os.fstat(follower).st_ino == os.stat(path).st_ino
    os.close(held)
    os.close(follower)


def test_a_lock_won_on_the_unlinked_file_is_taken_again_on_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A waiter that opened the lock file just before its holder unlinked it and left wins the lock on
    that unlinked file, which nobody else sees (a third process would lock the new file at the same time):
    it must take the lock again on the file the path names now."""
    path = str(tmp_path / "a.lock")
    Path(path).touch()
    old_inode = os.stat(path).st_ino
    real_open = os.open
    opened: list[int] = []

    def open_then_holder_leaves(name: str, flags: int, mode: int = 0o777) -> int:
        fd = real_open(name, flags, mode)
        if not opened:  # the holder unlinks its file and exits right after our open
            os.unlink(name)
        opened.append(os.fstat(fd).st_ino)
        return fd

    monkeypatch.setattr(os, "open", open_then_holder_leaves)  # (fsutil calls os.open)
    fd = try_hold_lock(path)
    assert fd is not None
    assert opened[0] == old_inode and len(opened) == 2  # (dropped the first, took the new file)
    assert os.fstat(fd).st_ino == os.stat(path).st_ino  # (the number may be the old one's, reused)
    os.close(fd)
