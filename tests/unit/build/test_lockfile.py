"""devcontainer-lock.json: same shape, order and bytes as the reference CLI; frozen mode; damage."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devenv.errors import LockfileError
from devenv.features import lockfile as lf

DIGEST = "sha256:" + "ab" * 32


def feature(key: str, source: str = "oci", deps: tuple[str, ...] = ()) -> lf.LockedFeature:
    return lf.LockedFeature(key, source, "1.2.3", f"127.0.0.1:5000/f/x@{DIGEST}", DIGEST, deps)


def test_path_next_to_config() -> None:
    expected = Path("/w/.devcontainer/devcontainer-lock.json")
    assert lf.lockfile_path(Path("/w/.devcontainer/devcontainer.json")) == expected
    assert lf.lockfile_path(Path("/w/.devcontainer.json")) == Path("/w/.devcontainer-lock.json")


def test_generate_filters_and_sorts_like_locale_compare() -> None:
    lock = lf.generate(
        [
            feature("b/Z"),
            feature("./local", "local"),
            feature("B/a"),
            feature("a_b"),
            feature("a-b"),
            feature("extra"),
            feature("dep", deps=("B/a",)),
        ],
        config_keys=["b/Z", "B/a", "a_b", "a-b", "./local", "dep"],
        additional_keys=["extra", "b/Z"],
    )
    assert [k for k, _ in lock.features] == ["a_b", "a-b", "B/a", "b/Z", "dep"]
    text = lock.render()
    assert text.endswith("}\n")
    assert '"dependsOn": [\n        "B/a"\n      ]' in text


@pytest.mark.skipif(subprocess.run(["node", "--version"], capture_output=True).returncode != 0, reason="no node")
def test_bytes_equal_json_stringify(tmp_path: Path) -> None:
    keys = [
        "ghcr.io/x/y:1",
        "Ghcr.io/x/y",
        "127.0.0.1:5000/a/b:latest",
        "https://h/devcontainer-feature-z.tgz",
        "a.b",
        "a/b",
        "a:b",
        "A-b",
        "é",
    ]
    lock = lf.generate([feature(k, deps=("dep",) if i % 2 else ()) for i, k in enumerate(keys)], config_keys=keys)
    script = (
        "const keys = JSON.parse(process.argv[1]); const e = JSON.parse(process.argv[2]);"
        "const o = {features: {}}; keys.slice().sort((a, b) => a.localeCompare(b)).forEach(k => o.features[k] = e[k]);"
        "process.stdout.write(JSON.stringify(o, null, 2) + '\\n');"
    )
    import json

    entries = {k: v.to_json() for k, v in lock.features}
    out = subprocess.run(["node", "-e", script, json.dumps(keys), json.dumps(entries)], capture_output=True, text=True)
    assert out.stdout == lock.render()


def test_write_only_on_change_and_frozen(tmp_path: Path) -> None:
    path = tmp_path / "devcontainer-lock.json"
    lock = lf.generate([feature("a/b")], config_keys=["a/b"])
    with pytest.raises(LockfileError, match="Lockfile does not exist"):
        lf.write(path, lock, frozen=True)
    assert lf.write(path, lock) is True
    assert lf.write(path, lock) is False
    assert lf.write(path, lock, frozen=True) is False
    path.write_text(path.read_text().replace("\n  ", "\n    "))  # cosmetic difference: still equal
    assert lf.write(path, lock, frozen=True) is False
    changed = lf.generate([feature("a/b"), feature("c/d")], config_keys=["a/b", "c/d"])
    with pytest.raises(LockfileError, match="Lockfile does not match"):
        lf.write(path, changed, frozen=True)
    assert lf.read(path).lockfile == lf.parse(__import__("json").loads(path.read_text()), path)


def test_read_empty_and_broken(tmp_path: Path) -> None:
    path = tmp_path / "devcontainer-lock.json"
    assert lf.read(path) == lf.ReadResult(None)
    path.write_text("  \n")
    assert lf.read(path).init
    path.write_text('{"features": {\n  "a": 1,\n}')
    with pytest.raises(LockfileError, match=r"devcontainer-lock.json:3:1: the lockfile is not valid JSON"):
        lf.read(path)
    path.write_text('{"features": {"a": {"version": "1", "resolved": "r", "integrity": "i", "dependsOn": ["x"]}}}')
    got = lf.read(path).lockfile
    assert got is not None and got.get("a") == lf.LockEntry("1", "r", "i", ("x",))
