"""Versions for `devenv outdated`/`upgrade`: semver as node-semver reads tags (the expected values below
were produced by node-semver itself), the reference's table, and re-targeting a feature in the config."""

from __future__ import annotations

import functools

import pytest

from devenv.errors import UsageError
from devenv.features import semver
from devenv.features.versions import OutdatedResult, VersionInfo, check_target, retarget, without_version

VALID = ["1.0.0", "1.2.3-beta.10", "1.2.3+build", "v1.5.0", "10.0.0", "1.3.0-rc.1", "1.2.3-a.1"]
INVALID = ["01.2.3", "1.2", "latest", "1.2.3-", "1.2.3-a.01", "1", "1.2.3.4", ""]


@pytest.mark.parametrize("text", VALID)
def test_valid_versions(text: str) -> None:
    assert semver.valid(text)


@pytest.mark.parametrize("text", INVALID)
def test_invalid_versions(text: str) -> None:
    assert not semver.valid(text)


def test_order_is_semver_precedence() -> None:
    shuffled = ["2.1.0-beta", "1.2.3", "10.0.0", "1.2.3-beta.10", "0.1.0", "1.2.3-alpha", "v1.5.0"]
    shuffled += ["1.2.3-beta.2", "1.0.0", "1.2.3-beta", "2.0.0", "1.3.0-rc.1", "1.2.0"]
    assert sorted(shuffled, key=functools.cmp_to_key(semver.compare)) == [
        "0.1.0", "1.0.0", "1.2.0", "1.2.3-alpha", "1.2.3-beta", "1.2.3-beta.2", "1.2.3-beta.10", "1.2.3",
        "1.3.0-rc.1", "v1.5.0", "2.0.0", "2.1.0-beta", "10.0.0",
    ]  # fmt: skip
    assert semver.compare("1.2.3", "1.2.3+build") == 0


SATISFIES = {
    "1.2.3": {"1", "1.2", "1.x", "1.2.x", "x", "X", "1.2.3", "v1", "=1.2", "1.2.3+b"},
    "1.2.3-beta": {"1.2.3-beta"},
    "1.3.0-rc.1": set(),
    "0.1.0": {"0", "x", "X"},
    "2.0.0": {"2", "x", "X"},
}
TAGS = ["1", "1.2", "1.x", "1.2.x", "x", "X", "1.2.3", "1.2.3-beta", "v1", "=1.2", "0", "2"]
TAGS += ["latest", "1.2.3+b", "dev", "1-2", "1.2.3.4", "01"]


@pytest.mark.parametrize("version", list(SATISFIES))
def test_satisfies_reads_tags_as_ranges(version: str) -> None:
    assert {tag for tag in TAGS if semver.satisfies(version, tag)} == SATISFIES[version]


def test_major() -> None:
    assert semver.major("12.3.4-rc") == "12" and semver.major("nope") is None


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("ghcr.io/devcontainers/features/node:1", "ghcr.io/devcontainers/features/node"),
        ("localhost:5000/f/node", "localhost:5000/f/node"),
        ("localhost:5000/f/node@sha256:abc", "localhost:5000/f/node"),
        ("./local", "./local"),
    ],
)
def test_without_version(key: str, expected: str) -> None:
    assert without_version(key) == expected


def test_table_like_the_reference() -> None:
    result = OutdatedResult(
        (
            ("r.io/f/node:1", VersionInfo("1.0.0", "1.2.0", "1", "2.0.0", "2")),
            ("r.io/f/python-long", VersionInfo()),
        )
    )
    assert result.text() == (
        "Feature             Current  Wanted  Latest\n"
        "r.io/f/node         1.0.0    1.2.0   2.0.0\n"
        "r.io/f/python-long  -        -       -"
    )
    assert result.to_json() == {
        "features": {
            "r.io/f/node:1": {
                "current": "1.0.0",
                "wanted": "1.2.0",
                "wantedMajor": "1",
                "latest": "2.0.0",
                "latestMajor": "2",
            },
            "r.io/f/python-long": {},
        }
    }


def test_retarget_changes_only_the_feature_key() -> None:
    text = '{\n  // keep\n  "features": {"r.io/f/node:1": {}, "r.io/f/node:1.1": {}},\n  "x": "r.io/f/node:1"\n}'
    keys = ["r.io/f/node:1", "r.io/f/node:1.1"]
    assert retarget(text, keys, "r.io/f/node", "2") == text.replace('"r.io/f/node:1"', '"r.io/f/node:2"')
    assert '"r.io/f/node:1.1"' in retarget(text, keys, "r.io/f/node:1", "2")
    assert retarget(text, keys, "r.io/f/other", "2") == text


@pytest.mark.parametrize(
    ("feature", "version", "ok"),
    [
        *[(None, None, True), ("f", "1", True), ("f", "1.2.3", True)],
        *[("f", None, False), (None, "1", False), ("f", "1.x", False), ("f", "v1", False), ("f", "1.2.3.4", False)],
    ],
)
def test_check_target(feature: str | None, version: str | None, ok: bool) -> None:
    if ok:
        check_target(feature, version)
    else:
        with pytest.raises(UsageError):
            check_target(feature, version)
