"""Users and groups resolved from a container's /etc/passwd and /etc/group (runc's GetExecUser rules)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.runtime.embedded.users import ExecUser, UserNotFound, parse_group, parse_passwd, resolve, resolve_in_root

PASSWD = """root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1::/usr/sbin:/usr/sbin/nologin
vscode:x:1000:1000:,,,:/home/vscode:/bin/bash
broken line
nohome:x:1001:1001::
"""
GROUP = """root:x:0:
docker:x:999:vscode,other
vscode:x:1000:
staff:x:50:vscode
empty:x:51:
"""


def test_default_is_root() -> None:
    assert resolve("", PASSWD, GROUP) == ExecUser(0, 0, (0,), "/root", "root")


def test_name_gets_primary_and_supplementary_groups() -> None:
    assert resolve("vscode", PASSWD, GROUP) == ExecUser(1000, 1000, (1000, 999, 50), "/home/vscode", "vscode")


def test_numeric_uid_with_an_entry_uses_its_groups_and_home() -> None:
    user = resolve("1000", PASSWD, GROUP)
    assert (user.uid, user.gid, user.home) == (1000, 1000, "/home/vscode")


def test_numeric_uid_without_an_entry_runs_as_gid_0_home_slash() -> None:
    assert resolve("4242", PASSWD, GROUP) == ExecUser(4242, 0, (0,), "/", "")


def test_explicit_group_replaces_the_supplementary_groups() -> None:
    assert resolve("vscode:staff", PASSWD, GROUP) == ExecUser(1000, 50, (50,), "/home/vscode", "vscode")
    assert resolve("1000:77", PASSWD, GROUP).groups == (77,)


def test_unknown_user_or_group_is_an_error() -> None:
    with pytest.raises(UserNotFound, match="unable to find user ghost"):
        resolve("ghost", PASSWD, GROUP)
    with pytest.raises(UserNotFound, match="unable to find group ghosts"):
        resolve("vscode:ghosts", PASSWD, GROUP)


def test_missing_home_falls_back_to_slash() -> None:
    assert resolve("nohome", PASSWD, GROUP).home == "/"


def test_parsers_skip_comments_and_broken_lines() -> None:
    assert [e.name for e in parse_passwd(PASSWD)] == ["root", "daemon", "vscode", "nohome"]
    assert next(g for g in parse_group(GROUP) if g.name == "docker").members == ("vscode", "other")


def test_missing_files_count_as_empty(tmp_path: Path) -> None:
    assert resolve_in_root("0", str(tmp_path)) == ExecUser(0, 0, (0,), "/", "")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    (tmp_path / "etc/group").write_text(GROUP)
    assert resolve_in_root("vscode", str(tmp_path)).groups == (1000, 999, 50)
