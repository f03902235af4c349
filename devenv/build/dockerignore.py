""".dockerignore rules as Docker reads and applies them (moby's ``ignorefile`` + ``patternmatcher``).

A line starting with ``#`` is a comment; patterns are trimmed, cleaned like ``filepath.Clean`` and made
relative (a leading ``/`` is dropped); ``!`` re-includes. ``*`` and ``?`` never cross ``/``; ``**``
matches any number of directories. The last matching pattern wins, and a path is excluded when it or
one of its parent directories matches.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the leading "!"
    exclusion: bool  # a "!" pattern: re-include
    regex: re.Pattern[str]

    def match(self, path: str) -> bool:
        return self.regex.match(path) is not None


def _clean(pattern: str) -> str:
    cleaned = posixpath.normpath(pattern)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if len(cleaned) > 1 and cleaned.startswith("/"):
        cleaned = cleaned[1:]
    return cleaned


def _compile(pattern: str) -> re.Pattern[str]:
    out = "^"
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out += ".*" if i == n else "(.*/)?"
            else:
                out += "[^/]*"
        elif ch == "?":
            out += "[^/]"
        elif ch == "\\":
            if i < n:
                out += re.escape(pattern[i])
                i += 1
            else:
                out += "\\\\"
        elif ch == "[":
            close = pattern.find("]", i + 1)
            if close == -1:
                out += re.escape(ch)
                continue
            body = pattern[i:close]
            if body.startswith("!"):
                body = "^" + body[1:]
            out += "[" + body.replace("\\", "\\\\") + "]"
            i = close + 1
        else:
            out += re.escape(ch)
    out += "$"
    try:
        return re.compile(out, re.S)
    except re.error:
        return re.compile(re.escape(pattern) + "$")


def parse(text: str) -> list[Pattern]:
    patterns: list[Pattern] = []
    for raw in text.lstrip("\ufeff").splitlines():
        if raw.startswith("#"):
            continue
        line = raw.strip()
        if not line:
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
        if not line:
            continue
        cleaned = _clean(line)
        patterns.append(Pattern(cleaned, exclusion, _compile(cleaned)))
    return patterns


@dataclass(frozen=True)
class Matcher:
    patterns: tuple[Pattern, ...] = ()

    @classmethod
    def from_text(cls, text: str) -> Matcher:
        return cls(tuple(parse(text)))

    @classmethod
    def for_context(cls, context: Path, dockerfile: Path | None = None) -> Matcher:
        """The rules for a build context: ``<Dockerfile>.dockerignore`` first, else ``.dockerignore``."""
        candidates = []
        if dockerfile is not None:
            candidates.append(dockerfile.parent / (dockerfile.name + ".dockerignore"))
        candidates.append(context / ".dockerignore")
        for candidate in candidates:
            if candidate.is_file():
                return cls.from_text(candidate.read_text(encoding="utf-8", errors="replace"))
        return cls()

    @property
    def has_exceptions(self) -> bool:
        return any(p.exclusion for p in self.patterns)

    def excluded(self, path: str) -> bool:
        """Whether ``path`` (relative, ``/``-separated) is left out of the context."""
        path = _clean(path)
        parent = posixpath.dirname(path)
        parents = parent.split("/") if parent else []
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit and parents:
                for i in range(len(parents)):
                    if pattern.match("/".join(parents[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched
