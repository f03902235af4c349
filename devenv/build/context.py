"""The build context: which files a COPY/ADD source names, with .dockerignore applied, and their digest.

Sources are cleaned and kept inside the context (``../x`` cannot escape). Wildcards (``*``, ``?``,
``[...]``) match path components as Go's ``filepath.Match`` does. The digest of a selection covers
each entry's relative path, type, permission bits, and content (or symlink target) — not owners or
times — so it changes exactly when what COPY would write changes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from devenv.build.dockerignore import Matcher
from devenv.errors import BuildError

_WILDCARDS = set("*?[")


@dataclass(frozen=True)
class Entry:
    """One file, directory or symlink of the context, relative to the selected source."""

    rel: str  # path relative to the context root, "/"-separated
    kind: str  # "file", "dir", "symlink"
    mode: int  # permission bits (incl. setuid/setgid/sticky)
    size: int = 0
    digest: str = ""  # sha256 of the content, or of the symlink target
    mtime: float = 0.0


@dataclass(frozen=True)
class Selection:
    """What one COPY source resolves to: its top paths (one, or several for a wildcard) and all entries."""

    source: str
    roots: tuple[Entry, ...]
    entries: tuple[Entry, ...]  # every entry under the roots (roots included), in walk order

    def digest(self) -> str:
        h = hashlib.sha256()
        for e in self.entries:
            h.update(f"{e.rel}\0{e.kind}\0{e.mode:o}\0{e.digest}\n".encode())
        return "sha256:" + h.hexdigest()


def clean_source(source: str) -> str:
    """A source path relative to the context root ("" for the root itself)."""
    cleaned = posixpath.normpath("/" + source.replace("\\", "/")).lstrip("/")
    return "" if cleaned == "." else cleaned


def has_wildcards(path: str) -> bool:
    return any(c in _WILDCARDS for c in path)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class Context:
    """A directory used as build context."""

    def __init__(self, root: Path, matcher: Matcher | None = None) -> None:
        self.root = root
        self.matcher = matcher or Matcher()

    def _entry(self, rel: str, st: os.stat_result) -> Entry:
        full = self.root / rel
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(full)
            return Entry(rel, "symlink", mode, len(target), hashlib.sha256(target.encode()).hexdigest(), st.st_mtime)
        if stat.S_ISDIR(st.st_mode):
            return Entry(rel, "dir", mode, 0, "", st.st_mtime)
        if stat.S_ISREG(st.st_mode):
            return Entry(rel, "file", mode, st.st_size, _file_digest(full), st.st_mtime)
        raise BuildError(f"build context: {rel} is not a regular file, directory or symlink")

    def _lstat(self, rel: str) -> os.stat_result | None:
        try:
            return os.lstat(self.root / rel) if rel else os.stat(self.root)
        except FileNotFoundError:
            return None

    def _walk(self, rel: str) -> Iterator[Entry]:
        st = self._lstat(rel)
        if st is None:
            return
        excluded = bool(rel) and self.matcher.excluded(rel)
        if excluded and not (stat.S_ISDIR(st.st_mode) and self.matcher.has_exceptions):
            return
        entry = self._entry(rel, st)
        if entry.kind != "dir":
            if not excluded:
                yield entry
            return
        children: list[Entry] = []
        for name in sorted(os.listdir(self.root / rel if rel else self.root)):
            children.extend(self._walk(f"{rel}/{name}" if rel else name))
        if not excluded or children:
            yield entry
        yield from children

    def _expand(self, pattern: str) -> list[str]:
        """Context paths (relative) matching a wildcard source, component by component."""
        parts = pattern.split("/")
        current = [""]
        for part in parts:
            nxt: list[str] = []
            for base in current:
                if not has_wildcards(part):
                    candidate = f"{base}/{part}" if base else part
                    if self._lstat(candidate) is not None:
                        nxt.append(candidate)
                    continue
                directory = self.root / base if base else self.root
                if not directory.is_dir():
                    continue
                for name in sorted(os.listdir(directory)):
                    if fnmatch.fnmatchcase(name, part):
                        nxt.append(f"{base}/{name}" if base else name)
            current = nxt
        return [p for p in current if not self.matcher.excluded(p) or (self.root / p).is_dir()]

    def select(self, source: str) -> Selection:
        """Resolve one COPY source. Raises BuildError when it names nothing."""
        cleaned = clean_source(source)
        roots = self._expand(cleaned) if has_wildcards(cleaned) else [cleaned]
        root_entries: list[Entry] = []
        entries: list[Entry] = []
        for rel in roots:
            walked = list(self._walk(rel))
            if not walked:
                continue
            root_entries.append(walked[0])
            entries.extend(walked)
        if not root_entries:
            what = "no source files were specified" if has_wildcards(cleaned) else f'"{source}" not found'
            raise BuildError(
                f"COPY source {source!r} names nothing in the build context ({what})",
                remedy="check the path (relative to the build context) and the .dockerignore rules",
            )
        return Selection(source=source, roots=tuple(root_entries), entries=tuple(entries))
