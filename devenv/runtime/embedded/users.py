"""Resolve a container user (``name``, ``uid``, ``uid:gid``, ``name:group``) from the container's own
``/etc/passwd`` and ``/etc/group``, as runc's ``GetExecUser`` does.

Resolution happens inside the container (after ``pivot_root`` or ``setns``), so the files read are the
container's and symlinks in them cannot point at the host's. The parsing is pure and unit-tested.
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # (typing is not imported at run time: exec and every start use this module)
if TYPE_CHECKING:
    from typing import NamedTuple


class UserNotFound(LookupError):
    pass


if TYPE_CHECKING:

    class ExecUser(NamedTuple):
        uid: int
        gid: int
        groups: tuple[int, ...]  # supplementary groups, primary group included
        home: str
        name: str = ""

    class PasswdEntry(NamedTuple):
        name: str
        uid: int
        gid: int
        home: str

    class GroupEntry(NamedTuple):
        name: str
        gid: int
        members: tuple[str, ...]

else:
    ExecUser = namedtuple("ExecUser", "uid gid groups home name", defaults=("",))
    PasswdEntry = namedtuple("PasswdEntry", "name uid gid home")
    GroupEntry = namedtuple("GroupEntry", "name gid members")


def parse_passwd(text: str) -> list[PasswdEntry]:
    entries = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < 4:
            continue
        try:
            entries.append(PasswdEntry(parts[0], int(parts[2]), int(parts[3]), parts[5] if len(parts) > 5 else ""))
        except ValueError:
            continue
    return entries


def parse_group(text: str) -> list[GroupEntry]:
    entries = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < 3:
            continue
        try:
            gid = int(parts[2])
        except ValueError:
            continue
        members = tuple(m for m in parts[3].split(",") if m) if len(parts) > 3 else ()
        entries.append(GroupEntry(parts[0], gid, members))
    return entries


def resolve(spec: str, passwd: str, group: str) -> ExecUser:
    """Resolve ``spec`` ("" = root) against the text of /etc/passwd and /etc/group.

    A numeric uid without a passwd entry runs as that uid with gid 0 and home ``/`` (Docker's rule); a
    name that does not exist is an error, as is a group name that does not exist.
    """
    user_part, _, group_part = (spec or "0").partition(":")
    users = parse_passwd(passwd)
    groups = parse_group(group)

    entry: PasswdEntry | None = None
    if user_part.isdigit():
        uid = int(user_part)
        entry = next((u for u in users if u.uid == uid), None)
    else:
        entry = next((u for u in users if u.name == user_part), None)
        if entry is None:
            raise UserNotFound(f"unable to find user {user_part}: no matching entries in passwd file")
        uid = entry.uid
    gid = entry.gid if entry else 0
    home = entry.home if entry and entry.home else "/"
    name = entry.name if entry else ""

    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            match = next((g for g in groups if g.name == group_part), None)
            if match is None:
                raise UserNotFound(f"unable to find group {group_part}: no matching entries in group file")
            gid = match.gid
        supplementary: tuple[int, ...] = (gid,)  # an explicit group replaces the user's groups (as Docker)
    else:
        extra = [g.gid for g in groups if name and name in g.members]
        supplementary = tuple(dict.fromkeys([gid, *extra]))
    return ExecUser(uid, gid, supplementary, home, name)


def resolve_in_root(spec: str, root: str = "/") -> ExecUser:
    """Resolve ``spec`` from ``root``/etc/passwd and ``root``/etc/group (missing files count as empty)."""
    return resolve(spec, _read(f"{root.rstrip('/')}/etc/passwd"), _read(f"{root.rstrip('/')}/etc/group"))


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""
