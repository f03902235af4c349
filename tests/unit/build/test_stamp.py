"""Build stamps: any change of what a build read makes the check fail (so the real build runs)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from devenv.build import stamp

DIGEST = "sha256:" + "ab" * 32


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    root = tmp_path / "root"
    (root / "store" / "blobs" / "sha256").mkdir(parents=True)
    (root / "store" / "blobs" / "sha256" / DIGEST.split(":")[1]).write_text("{}")
    images = {"images": {"docker.io/library/base:1": {"target": {"digest": "sha256:" + "01" * 32}}}}
    images["images"]["docker.io/library/out:1"] = {"target": {"digest": DIGEST}}
    (root / "store" / "images.json").write_text(json.dumps(images))
    ws = tmp_path / "ws"
    (ws / "feature").mkdir(parents=True)
    (ws / "devcontainer.json").write_text('{"image": "base:1", "containerEnv": {"A": "${localEnv:STAMP_VAR}"}}')
    (ws / "feature" / "install.sh").write_text("echo 1\n")
    monkeypatch.setenv("STAMP_VAR", "one")
    return {"root": root, "ws": ws}


def capture(world: dict[str, Path], started_ns: int | None = None) -> bool:
    """Record a build; by default one that started 2 s after the files were written (not racy)."""
    ws = world["ws"]
    return stamp.capture(
        data_root=str(world["root"]),
        stamp_key="k",
        files=[str(ws / "devcontainer.json"), str(ws / "devcontainer-lock.json")],
        trees=[str(ws / "feature")],
        env_names=stamp.referenced_env((ws / "devcontainer.json").read_text()),
        records={"docker.io/library/base:1": "sha256:" + "01" * 32, "docker.io/library/out:1": DIGEST},
        result={"imageName": ["out:1"], "image": "sha256:" + "cd" * 32, "digest": DIGEST},
        started_ns=started_ns or time.time_ns() + 2_000_000_000,
    )


def check(world: dict[str, Path]) -> object:
    return stamp.check(str(world["root"]), "k")


def test_unchanged_inputs_give_the_recorded_result(world: dict[str, Path]) -> None:
    assert capture(world)
    assert check(world) == {"imageName": ["out:1"], "image": "sha256:" + "cd" * 32, "digest": DIGEST}


@pytest.mark.parametrize(
    "change",
    [
        lambda w, mp: (w["ws"] / "devcontainer.json").write_text('{"image": "base:2"}'),
        lambda w, mp: (w["ws"] / "feature" / "install.sh").write_text("echo two\n"),
        lambda w, mp: (w["ws"] / "feature" / "new.sh").write_text(""),
        lambda w, mp: os.chmod(w["ws"] / "feature" / "install.sh", 0o700),
        lambda w, mp: (w["ws"] / "devcontainer-lock.json").write_text("{}"),  # a file that was absent appears
        lambda w, mp: mp.setenv("STAMP_VAR", "two"),
        lambda w, mp: (w["root"] / "store" / "images.json").write_text(
            (w["root"] / "store" / "images.json").read_text().replace("01" * 32, "02" * 32)  # base re-pulled
        ),
        lambda w, mp: (w["root"] / "store" / "blobs" / "sha256" / DIGEST.split(":")[1]).unlink(),  # pruned
        lambda w, mp: (w["root"] / "store" / "images.json").write_text('{"images": {}}'),  # result untagged
    ],
)
def test_any_change_fails_the_check(world: dict[str, Path], monkeypatch: pytest.MonkeyPatch, change) -> None:  # type: ignore[no-untyped-def]
    assert capture(world)
    change(world, monkeypatch)
    assert check(world) is None


def test_inputs_changed_just_before_the_build_are_not_trusted(world: dict[str, Path]) -> None:
    (world["ws"] / "feature" / "install.sh").write_text("echo fresh\n")
    assert not capture(world, started_ns=time.time_ns())
    assert check(world) is None


def test_keys_differ_by_folder_config_names_and_frozen() -> None:
    base = stamp.key("/cwd", "ws", None, ["a:1"], False)
    assert base == stamp.key("/cwd", "ws", None, ("a:1",), False)
    others = [
        stamp.key("/other", "ws", None, ["a:1"], False),
        stamp.key("/cwd", "ws2", None, ["a:1"], False),
        stamp.key("/cwd", "ws", "c.json", ["a:1"], False),
        stamp.key("/cwd", "ws", None, ["a:2"], False),
        stamp.key("/cwd", "ws", None, ["a:1"], True),
    ]
    assert base not in others and len(set(others)) == len(others)


def test_damaged_stamp_is_a_miss(world: dict[str, Path]) -> None:
    assert capture(world)
    Path(stamp.stamp_path(str(world["root"]), "k")).write_text("{not json")
    assert check(world) is None
