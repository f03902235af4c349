"""Users in a workspace container: containerUser / remoteUser resolution and updateRemoteUserUID.

* ``containerUser`` runs the container (its pid 1): the merged metadata's value, else the image's
  ``USER``, else root. ``remoteUser`` runs lifecycle hooks, ``exec`` and ``shell``: the merged value,
  else the container user (the reference's rules).
* **updateRemoteUserUID** (default on, Linux): when the remote user is a name other than root, it gets
  the UID/GID of the owner of the workspace folder on the host (the reference uses the uid of the process
  running the CLI; under ``sudo`` that is root, which would change nothing — the folder's owner is the
  user who edits the files). ``/etc/passwd``, ``/etc/group`` and the user's home are adjusted inside the
  container, as root, before any hook runs. A UID that another user already has is left alone (as the
  reference does), and a GID another group has keeps the old GID.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str
    shell: str


def parse_passwd_line(line: str) -> PasswdEntry | None:
    fields = line.rstrip("\n").split(":")
    if len(fields) < 7:
        return None
    try:
        return PasswdEntry(fields[0], int(fields[2]), int(fields[3]), fields[5], fields[6])
    except ValueError:
        return None


def user_name(spec: str) -> str:
    """The user part of ``user[:group]``; ``0`` is root (as the reference reports it)."""
    name = spec.split(":", 1)[0]
    return "root" if name in ("", "0") else name


def resolve_container_user(configured: str | None, image_user: str | None) -> str:
    """The user pid 1 runs as ("" means: the image's default, which is root when it has none)."""
    return configured or image_user or ""


def resolve_remote_user(configured: str | None, container_user: str | None, image_user: str | None) -> str:
    """The user hooks and tools run as: remoteUser, else the container user, else the image user, else root."""
    return configured or container_user or image_user or "root"


def wants_uid_update(update_remote_user_uid: bool | None, remote_user: str, host_is_linux: bool = True) -> bool:
    """updateRemoteUserUID applies (default true) on Linux to a remote user given by a name other than root."""
    if update_remote_user_uid is False or not host_is_linux:
        return False
    name = remote_user.split(":", 1)[0]
    return bool(name) and name != "root" and not re.fullmatch(r"\d+", name)


def uid_update_script(remote_user: str, new_uid: int, new_gid: int, protected: tuple[str, ...] = ()) -> str:
    """A POSIX sh script (run as root in the container) that gives ``remote_user`` ``new_uid:new_gid``.

    It prints one line saying what it did. ``protected`` are container paths (the workspace mounts) whose
    contents must never be chowned: the home folder is not chowned when it is one of them or inside one.
    Idempotent: a second run finds the ids already equal.
    """
    user = remote_user.split(":", 1)[0]
    q = shlex.quote
    paths = [p.rstrip("/") for p in protected if p.rstrip("/")]
    guards = " ".join(q(p) for p in paths)
    prunes = " -o ".join(f"-path {q(p)}" for p in paths) or "-path /nonexistent/devenv"
    return f"""
USER_NAME={q(user)}; NEW_UID={int(new_uid)}; NEW_GID={int(new_gid)}
LINE=$(grep -E "^$USER_NAME:" /etc/passwd | head -n 1)
if [ -z "$LINE" ]; then echo "uid: remote user $USER_NAME not found in /etc/passwd"; exit 0; fi
OLD_UID=$(echo "$LINE" | cut -d: -f3); OLD_GID=$(echo "$LINE" | cut -d: -f4); HOME_DIR=$(echo "$LINE" | cut -d: -f6)
EXISTING_USER=$(awk -F: -v id="$NEW_UID" '$3 == id {{ print $1; exit }}' /etc/passwd)
EXISTING_GROUP=$(awk -F: -v id="$NEW_GID" '$3 == id {{ print $1; exit }}' /etc/group)
if [ "$OLD_UID" = "$NEW_UID" ] && [ "$OLD_GID" = "$NEW_GID" ]; then
  echo "uid: $USER_NAME already has $NEW_UID:$NEW_GID"; exit 0
fi
if [ "$OLD_UID" != "$NEW_UID" ] && [ -n "$EXISTING_USER" ]; then
  echo "uid: not changed, user $EXISTING_USER already has uid $NEW_UID"; exit 0
fi
if [ "$OLD_GID" != "$NEW_GID" ] && [ -n "$EXISTING_GROUP" ]; then
  echo "uid: group $EXISTING_GROUP already has gid $NEW_GID, keeping gid $OLD_GID"; NEW_GID=$OLD_GID
fi
awk -F: -v OFS=: -v u="$USER_NAME" -v uid="$NEW_UID" -v gid="$NEW_GID" \\
  '$1 == u {{ $3 = uid; $4 = gid }} {{ print }}' /etc/passwd > /etc/passwd.devenv \\
  && cat /etc/passwd.devenv > /etc/passwd
rm -f /etc/passwd.devenv
if [ "$OLD_GID" != "$NEW_GID" ]; then
  awk -F: -v OFS=: -v old="$OLD_GID" -v gid="$NEW_GID" '$3 == old {{ $3 = gid }} {{ print }}' /etc/group \\
    > /etc/group.devenv && cat /etc/group.devenv > /etc/group
  rm -f /etc/group.devenv
fi
SAFE=1
for P in / {guards}; do
  case "$HOME_DIR" in "$P"|"$P"/*) [ "$P" = / ] || SAFE=0;; esac
done
if [ "$HOME_DIR" = "/" ] || [ -z "$HOME_DIR" ]; then SAFE=0; fi
if [ "$SAFE" = 1 ] && [ -d "$HOME_DIR" ]; then
  # Never into mounts (-xdev, and the workspace mounts pruned by path): the user's files stay theirs.
  find "$HOME_DIR" -xdev \\( {prunes} \\) -prune -o -exec chown -h "$NEW_UID:$NEW_GID" {{}} +
fi
echo "uid: updated $USER_NAME from $OLD_UID:$OLD_GID to $NEW_UID:$NEW_GID"
"""
