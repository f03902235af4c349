"""Semantic versions as the reference CLI's ``semver`` package (strict mode) reads published tags.

Only what ``devenv outdated``/``upgrade`` need: which tags are versions (:func:`valid`), their order
(:func:`compare`, prerelease precedence included, build metadata ignored), and whether a version
satisfies a feature's tag read as a range (:func:`satisfies`): ``1`` and ``1.x`` mean ``>=1.0.0 <2.0.0``,
``1.2`` means ``>=1.2.0 <1.3.0``, ``1.2.3`` (or ``1.2.3-beta``) only that version; prereleases
match only a range naming the same prerelease, as ``semver.satisfies`` has it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUM = r"0|[1-9]\d*"
_PRE_ID = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][a-zA-Z0-9-]*)"
_PRE = rf"(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?"
_BUILD = r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
_FULL = re.compile(rf"^v?({_NUM})\.({_NUM})\.({_NUM}){_PRE}{_BUILD}$")
_X = rf"{_NUM}|[xX*]"
_XRANGE = re.compile(rf"^[v=]*({_X})(?:\.({_X})(?:\.({_X}){_PRE}{_BUILD})?)?$")
_MAX_LENGTH = 256
_MAX_SAFE = 2**53 - 1


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...] = ()


def _prerelease(text: str | None) -> tuple[int | str, ...]:
    if not text:
        return ()
    return tuple(int(p) if p.isdigit() else p for p in text.split("."))


def parse(text: str) -> Version | None:
    """The version ``text`` names (a leading ``v`` allowed), or None when it is not a full version."""
    text = text.strip()
    if len(text) > _MAX_LENGTH:
        return None
    m = _FULL.match(text)
    if m is None:
        return None
    numbers = [int(m.group(i)) for i in (1, 2, 3)]
    if any(n > _MAX_SAFE for n in numbers):
        return None
    return Version(numbers[0], numbers[1], numbers[2], _prerelease(m.group(4)))


def valid(text: str) -> bool:
    return parse(text) is not None


def _compare_ids(a: int | str, b: int | str) -> int:
    if isinstance(a, int) and isinstance(b, int):
        return (a > b) - (a < b)
    if isinstance(a, int):
        return -1
    if isinstance(b, int):
        return 1
    return (a > b) - (a < b)


def _compare(a: Version, b: Version) -> int:
    main_a, main_b = (a.major, a.minor, a.patch), (b.major, b.minor, b.patch)
    if main_a != main_b:
        return 1 if main_a > main_b else -1
    if not a.prerelease or not b.prerelease:
        return (not a.prerelease) - (not b.prerelease)
    for x, y in zip(a.prerelease, b.prerelease, strict=False):
        c = _compare_ids(x, y)
        if c:
            return c
    return (len(a.prerelease) > len(b.prerelease)) - (len(a.prerelease) < len(b.prerelease))


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as ``semver.compare``; both must be :func:`valid`."""
    va, vb = parse(a), parse(b)
    if va is None or vb is None:
        raise ValueError(f"not a semantic version: {a if va is None else b!r}")
    return _compare(va, vb)


def major(text: str) -> str | None:
    v = parse(text)
    return None if v is None else str(v.major)


def satisfies(version: str, tag: str) -> bool:
    """Whether ``version`` is in the range a tag such as ``1``, ``1.2``, ``1.x`` or ``1.2.3`` stands for."""
    v = parse(version)
    m = _XRANGE.match(tag)
    if v is None or m is None:
        return False
    parts = [m.group(1), m.group(2), m.group(3)]
    wild = [p is None or p in ("x", "X", "*") for p in parts]
    if not wild[0] and not wild[1] and not wild[2]:
        want = Version(int(parts[0]), int(parts[1]), int(parts[2]), _prerelease(m.group(4)))
        return _compare(v, want) == 0
    if v.prerelease:  # a range without a prerelease never matches one
        return False
    if wild[0]:
        return True
    if wild[1]:
        return v.major == int(parts[0])
    return v.major == int(parts[0]) and v.minor == int(parts[1])
