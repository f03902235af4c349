"""The `devenv image` commands as users run them: output, exit codes, errors with remedies."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from devenv.store.store import Store
from tests.conftest import ImageFixture
from tests.support.registry import Registry

pytestmark = pytest.mark.registry


def run(root: Path, *args: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["devenv", *args], env={**os.environ, "DEVENV_ROOT": str(root)}, capture_output=True, text=True, **kw
    )  # type: ignore[call-overload]
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_pull_ls_inspect_tag_rm(devenv_root: Path, busybox_image: ImageFixture) -> None:
    pulled = run(devenv_root, "image", "pull", busybox_image.ref)
    assert busybox_image.ref in pulled.stdout and "digest: sha256:" in pulled.stdout
    assert "Pulled" in pulled.stderr
    run(devenv_root, "image", "tag", busybox_image.ref, "my/busybox:dev")
    ls = run(devenv_root, "image", "ls").stdout.splitlines()
    assert ls[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.split()[:2] == ["my/busybox", "dev"] for line in ls[1:])
    rows = json.loads(run(devenv_root, "--log-format", "json", "image", "ls").stdout)
    assert {r["Name"] for r in rows} == {busybox_image.ref, "docker.io/my/busybox:dev"}
    assert len({r["ID"] for r in rows}) == 1
    [info] = json.loads(run(devenv_root, "image", "inspect", "my/busybox:dev").stdout)
    assert info["Config"]["Cmd"] == ["/bin/sh"] and info["Os"] == "linux"
    assert sorted(info["RepoTags"]) == sorted([busybox_image.ref, "docker.io/my/busybox:dev"])
    assert info["RootFS"]["Layers"] == busybox_image.layout.layer_diff_ids
    out = run(devenv_root, "image", "rm", "my/busybox:dev").stdout
    assert "Untagged: docker.io/my/busybox:dev" in out
    assert len(run(devenv_root, "image", "ls", "-q").stdout.split()) == 1


def test_unknown_image_error_has_exit_code_and_hint(devenv_root: Path) -> None:
    proc = run(devenv_root, "image", "inspect", "nothing-here:1", check=False)
    assert proc.returncode == 4
    assert proc.stderr.startswith("error: no image 'nothing-here:1' in the store")
    assert "hint: pull it first: devenv image pull nothing-here:1" in proc.stderr
    bad = run(devenv_root, "image", "pull", "Bad/Name", check=False)
    assert bad.returncode == 2 and "lowercase" in bad.stderr


def test_rm_frees_space_and_prune_keeps_what_a_container_uses(
    devenv_root: Path, busybox_image: ImageFixture, registry: Registry
) -> None:
    run(devenv_root, "image", "pull", busybox_image.ref)
    store = Store(devenv_root)
    image = store.image(busybox_image.ref)
    store.leases.add("container-abc", manifests=[image.digest], snapshots=image.chain_ids)
    refused = run(devenv_root, "image", "rm", busybox_image.ref, check=False)
    assert refused.returncode == 4 and "container-abc" in refused.stderr and "--force" in refused.stderr
    run(devenv_root, "image", "rm", "--force", busybox_image.ref)
    assert run(devenv_root, "image", "ls", "-q").stdout.strip() == ""
    res = json.loads(run(devenv_root, "--log-format", "json", "image", "prune").stdout)
    assert res["blobs"] == [] and res["snapshots"] == []
    assert store.snapshots.has(image.chain_ids[0]) and store.blobs.has(image.layers[0].digest)
    store.leases.release("container-abc")
    res = json.loads(run(devenv_root, "--log-format", "json", "image", "prune").stdout)
    assert image.layers[0].digest in res["blobs"] and res["snapshots"] == image.chain_ids
    assert not store.snapshots.has(image.chain_ids[0])


def test_save_to_a_terminal_is_refused_and_load_needs_input(devenv_root: Path) -> None:
    import pty

    for args in (["image", "save", "x"], ["image", "load"]):
        pid, fd = pty.fork()
        if pid == 0:
            os.environ["DEVENV_ROOT"] = str(devenv_root)
            os.execvp("devenv", ["devenv", *args])
        out = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 2
        assert b"hint:" in out


def test_save_and_load_through_a_pipe(devenv_root: Path, busybox_image: ImageFixture, tmp_path: Path) -> None:
    run(devenv_root, "image", "pull", busybox_image.ref)
    other = tmp_path / "other"
    env_a = {**os.environ, "DEVENV_ROOT": str(devenv_root)}
    env_b = {**os.environ, "DEVENV_ROOT": str(other)}
    save = subprocess.Popen(["devenv", "image", "save", busybox_image.ref], env=env_a, stdout=subprocess.PIPE)
    load = subprocess.run(["devenv", "image", "load"], env=env_b, stdin=save.stdout, capture_output=True, text=True)
    assert save.stdout is not None
    save.stdout.close()
    assert save.wait() == 0 and load.returncode == 0, load.stderr
    assert f"Loaded image: {busybox_image.ref}" in load.stdout
    a, b = Store(devenv_root).image(busybox_image.ref), Store(other).image(busybox_image.ref)
    assert a.id == b.id and a.diff_ids == b.diff_ids
    assert Store(other).layer_mounts(b)
