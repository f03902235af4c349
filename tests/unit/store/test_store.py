"""Image records, lookup by name/ID, tags, removal guarded by leases, and garbage collection."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.errors import ImageNotFound, StoreError, UsageError
from devenv.snapshots.diff import FileEntry
from devenv.store.commit import ConfigChanges, commit_image, layer_from_files
from devenv.store.gc import prune
from devenv.store.store import Image, Store


def _image(store: Store, name: str | None, content: bytes, parent: Image | None = None) -> Image:
    layer = layer_from_files(
        store,
        [FileEntry("/etc", kind="dir", mode=0o755), FileEntry("/etc/data", data=content)],
        parent.chain_ids[-1] if parent else "",
    )
    return commit_image(store, parent, [layer], changes=ConfigChanges(env={"X": content.decode()}), name=name)


def test_names_are_normalised_and_found_in_every_form(devenv_root: Path) -> None:
    store = Store()
    img = _image(store, "app", b"one")
    assert img.name == "docker.io/library/app:latest"
    for ref in ("app", "app:latest", "docker.io/library/app", img.id, img.id[7:19], img.digest):
        assert store.image(ref).id == img.id
    with pytest.raises(ImageNotFound) as info:
        store.image("other")
    assert "devenv image pull other" in (info.value.remedy or "")


def test_ambiguous_id_prefix(devenv_root: Path) -> None:
    store = Store()
    a = _image(store, "a", b"1")
    b = _image(store, "b", b"2")
    common = 0
    while a.id[7 + common] == b.id[7 + common]:
        common += 1
    if common >= 4:  # only ambiguous when the IDs share at least the minimum prefix
        with pytest.raises(UsageError):
            store.image(a.id[7 : 7 + common])
    assert store.image(a.id[7:20]).id == a.id


def test_tag_and_remove(devenv_root: Path) -> None:
    store = Store()
    img = _image(store, "app:1", b"x")
    store.tag("app:1", "registry.example/team/app:2")
    assert {r.name for r in store.records.all()} == {
        "docker.io/library/app:1",
        "registry.example/team/app:2",
    }
    assert store.remove("app:1") == ["docker.io/library/app:1"]
    assert store.image("registry.example/team/app:2").id == img.id
    store.tag(img.id, "app:3")
    removed = store.remove(img.id[7:19])  # by ID: every name goes
    assert sorted(removed) == ["docker.io/library/app:3", "registry.example/team/app:2"]


def test_config_changes_merge_env_and_labels(devenv_root: Path) -> None:
    store = Store()
    base = _image(store, "base", b"b")
    layer = layer_from_files(store, [FileEntry("/x", data=b"x")], base.chain_ids[-1])
    child = commit_image(
        store,
        base,
        [layer],
        changes=ConfigChanges(
            env={"X": "override", "NEW": "1"}, labels={"l": "v"}, user="dev", exposed_ports=["8080/tcp"]
        ),
        name="child",
    )
    assert child.config.env[-2:] == ["X=override", "NEW=1"]
    assert child.config.labels == {"l": "v"} and child.config.user == "dev"
    assert child.config.exposed_ports == ["8080/tcp"]
    assert child.diff_ids[:1] == base.diff_ids and len(child.layers) == 2
    assert child.chain_ids[0] == base.chain_ids[0]


def test_prune_keeps_named_and_leased_content_and_sweeps_the_rest(devenv_root: Path) -> None:
    store = Store()
    kept = _image(store, "kept", b"kept")
    leased = _image(store, "leased", b"leased")
    gone = _image(store, "gone", b"gone")
    store.leases.add("container-1", manifests=[leased.digest])
    store.remove("leased", force=True)  # a container uses it: the name goes, the content stays
    store.remove("gone")
    result = prune(store)
    assert gone.digest in result.blobs_removed and gone.chain_ids[-1] in result.snapshots_removed
    for img in (kept, leased):
        assert store.blobs.has(img.digest) and store.blobs.has(img.id)
        assert all(store.blobs.has(layer.digest) for layer in img.layers)
        assert all(store.snapshots.has(c) for c in img.chain_ids)
    assert not store.blobs.has(gone.digest) and not store.snapshots.has(gone.chain_ids[-1])
    store.leases.release("container-1")
    result = prune(store)
    assert leased.digest in result.blobs_removed
    assert store.blobs.has(kept.digest)


def test_remove_refuses_an_image_a_container_uses(devenv_root: Path) -> None:
    store = Store()
    img = _image(store, "busy", b"x")
    store.leases.add("ctr-42", manifests=[img.digest])
    with pytest.raises(StoreError) as info:
        store.remove("busy")
    assert "ctr-42" in info.value.message and "--force" in (info.value.remedy or "")
    store.tag("busy", "busy:other")
    assert store.remove("busy") == ["docker.io/library/busy:latest"]  # another name still holds it


def test_damaged_image_list_is_reported(devenv_root: Path) -> None:
    store = Store()
    _image(store, "x", b"x")
    store.records.path.write_text("{broken")
    with pytest.raises(StoreError) as info:
        store.image("x")
    assert "damaged" in info.value.message
