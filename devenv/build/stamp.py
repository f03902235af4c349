"""Build stamps: answer "nothing changed since the last build" without loading the builder.

A build with everything cached takes a few milliseconds of work, but importing the builder (config
model, planner, store, features) costs several times that. After a successful build the builder
writes a stamp: what it read, fingerprinted by ``stat`` (the config file and its lookup, the lockfile,
local feature folders, the Dockerfile, its ``.dockerignore`` and the whole build context), the
values of the environment variables the config refers to, the store records of the base images and
of the result. ``devenv build`` checks the stamp first (:func:`check`); on any difference — or when
anything cannot be checked — it runs the real build, which is cached anyway.

Builds are not stamped when their result depends on something a stamp cannot see: ``ADD <url>``,
``--no-lockfile`` or ``--additional-features`` (features resolved by tag on every build), and configs
using ``${containerWorkspaceFolder}`` (it depends on the enclosing git repository). A file changed
less than a second before the build is not trusted either (its next change could keep the same
mtime), so such a build is not stamped.

This module imports nothing beyond the standard library so that the check stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

VERSION = 1
RACY_NS = 1_000_000_000
_ENV_REF = re.compile(r"\$\{(?:localEnv|env):([^}:]+)")


def key(cwd: str, workspace_folder: str | None, config: str | None, names: Sequence[str], frozen: bool) -> str:
    """Which stamp a command line reads: the same folder, config and image names give the same build."""
    raw = json.dumps([VERSION, cwd, workspace_folder, config, list(names), frozen])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def stamp_path(data_root: str, stamp_key: str) -> str:
    return os.path.join(data_root, "build", "stamps", f"{stamp_key}.json")


def file_sig(path: str) -> list[int]:
    """A file's or folder's identity and version: [] when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return []
    return [st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def tree_sig(root: str) -> str:
    """A fingerprint of everything under ``root`` (names, kinds, sizes, times; not contents)."""
    h = hashlib.sha256()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            h.update(f"!{folder}\0".encode())
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            h.update(
                f"{entry.path}\0{st.st_mode}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0".encode()
            )
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
    return h.hexdigest()


def _newest_ns(paths: Iterable[str], trees: Iterable[str]) -> int:
    newest = 0
    for path in paths:
        sig = file_sig(path)
        if sig:
            newest = max(newest, sig[3], sig[4])
    for root in trees:
        for folder, dirs, files in os.walk(root):
            for name in [*dirs, *files]:
                try:
                    st = os.lstat(os.path.join(folder, name))
                except OSError:
                    continue
                newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    return newest


def referenced_env(config_text: str) -> list[str]:
    return sorted(set(_ENV_REF.findall(config_text)))


def capture(
    *,
    data_root: str,
    stamp_key: str,
    files: Iterable[str],
    trees: Iterable[str],
    env_names: Iterable[str],
    records: Mapping[str, str],
    result: Mapping[str, Any],
    started_ns: int,
) -> bool:
    """Write the stamp of a build that started at ``started_ns``; False (nothing written) when an input
    changed during the build or too shortly before it to be trusted."""
    files, trees = sorted(set(files)), sorted(set(trees))
    if _newest_ns(files, trees) >= started_ns - RACY_NS:
        return False
    doc = {
        "version": VERSION,
        "files": {path: file_sig(path) for path in files},
        "trees": {root: tree_sig(root) for root in trees},
        "env": {name: os.environ.get(name) for name in env_names},
        "records": dict(records),
        "result": dict(result),
    }
    path = stamp_path(data_root, stamp_key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    os.replace(tmp, path)
    return True


def _records(data_root: str) -> dict[str, Any]:
    with open(os.path.join(data_root, "store", "images.json"), encoding="utf-8") as f:
        images = json.load(f).get("images", {})
    return images if isinstance(images, dict) else {}


def check(data_root: str, stamp_key: str) -> dict[str, Any] | None:
    """The recorded result (``{"imageName": [...], "image": id, ...}``) when nothing changed, else None."""
    try:
        with open(stamp_path(data_root, stamp_key), encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("version") != VERSION:
            return None
        if any(file_sig(path) != sig for path, sig in doc["files"].items()):
            return None
        if any(os.environ.get(name) != value for name, value in doc["env"].items()):
            return None
        images = _records(data_root)
        for name, digest in doc["records"].items():
            if images.get(name, {}).get("target", {}).get("digest") != digest:
                return None
        manifest = str(doc["result"]["digest"]).split(":", 1)[-1]
        if not os.path.isfile(os.path.join(data_root, "store", "blobs", "sha256", manifest)):
            return None
        if any(tree_sig(root) != sig for root, sig in doc["trees"].items()):
            return None
        return dict(doc["result"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def now_ns() -> int:
    return time.time_ns()
