"""The start path of ``devenv container run`` works on plain records: they must stay what the dataclass
contract would give, and the path must stay free of the heavy imports it was freed from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devenv.oci.reference import normalise
from devenv.runtime.base import ContainerSpec, MountSpec, PortMapping, Resources
from devenv.runtime.embedded import image_source, specs


def _json(obj: object) -> object:
    return json.loads(json.dumps(obj))


def test_spec_dict_defaults_are_container_spec_defaults() -> None:
    assert _json(specs.spec_dict("img")) == _json(specs.from_spec(ContainerSpec(image="img")))


def test_spec_dict_with_every_field_set_matches_the_dataclass() -> None:
    mount = MountSpec("bind", "/w", "/src", True, ("x",))
    port = PortMapping(80, 8080, "0.0.0.0", "udp", "web", True, True, "db")
    spec = ContainerSpec(
        image="img", command=("a", "b"), name="n", env=("A=1",), user="u", workdir="/w", hostname="h",
        labels={"k": "v"}, mounts=(mount,), network="none", ports=(port,), init=False, privileged=True,
        cap_add=("NET_ADMIN",), cap_drop=("CHOWN",), security_opt=("no-new-privileges",),
        resources=Resources(1, 2.0, 3), stop_signal="SIGINT", stop_timeout=3.0,
    )  # fmt: skip
    lean = specs.spec_dict(
        "img", command=["a", "b"], name="n", env=["A=1"], user="u", workdir="/w", hostname="h", labels={"k": "v"},
        mounts=[specs.mount_of(mount)], network="none", ports=[specs.port_of(port)], init=False, privileged=True,
        cap_add=["NET_ADMIN"], cap_drop=["CHOWN"], security_opt=["no-new-privileges"], memory_bytes=1, cpus=2.0,
        pids_limit=3, stop_signal="SIGINT", stop_timeout=3.0,
    )  # fmt: skip
    assert _json(lean) == _json(specs.from_spec(spec))


@pytest.mark.parametrize(
    "ref",
    [
        "busybox", "busybox:1.36", "library/debian:bookworm", "docker.io/library/busybox", "index.docker.io/x/y:z",
        "127.0.0.1:5000/busybox:latest", "localhost/app", "localhost:5000/a/b/c:t", "ghcr.io/o/r", "my-org/app_x:v1.2",
    ],
)  # fmt: skip
def test_lean_name_normalisation_agrees_with_the_reference_parser(ref: str) -> None:
    assert image_source.normalise_name(ref) == normalise(ref)


@pytest.mark.parametrize("ref", ["busybox@sha256:" + "a" * 64, "BusyBox", "busybox:", "a b", ""])
def test_lean_lookup_leaves_other_references_to_the_store(ref: str) -> None:
    assert image_source.normalise_name(ref) is None


def test_quick_lookup_uses_the_cache_only_while_the_snapshots_exist(tmp_path: Path) -> None:
    root = str(tmp_path)
    chain = "sha256:" + "c" * 64
    snapshot = tmp_path / "snapshots" / ("c" * 64)
    (snapshot / "fs").mkdir(parents=True)
    (snapshot / "meta.json").write_text("{}")
    manifest = "sha256:" + "m" * 64
    (tmp_path / "store").mkdir()
    record = {"manifest": {"digest": manifest}}
    (tmp_path / "store" / "images.json").write_text(json.dumps({"images": {"docker.io/library/x:latest": record}}))
    assert image_source.quick_lookup(root, "x") is None  # nothing cached yet: the store resolves it
    image = image_source.ResolvedImage(
        [str(snapshot / "fs")], env=["A=1"], cmd=["sh"], manifest_digest=manifest, chain_ids=[chain], image_id="i"
    )
    image_source._write_cache(root, image)
    assert image_source.quick_lookup(root, "x") == image
    assert image_source.quick_lookup(root, "y") is None
    (snapshot / "meta.json").unlink()  # pruned (or half unpacked): the store unpacks it again
    assert image_source.quick_lookup(root, "x") is None


def test_lease_file_is_the_stores(tmp_path: Path) -> None:
    from devenv.store.leases import Leases

    image = image_source.ResolvedImage(["/l"], manifest_digest="sha256:" + "a" * 64, chain_ids=["sha256:" + "b" * 64])
    image_source.lease(str(tmp_path), "cid", image, sync=False)
    lease = Leases(tmp_path / "store").get("container:cid")
    assert lease is not None and lease.manifests == (image.manifest_digest,)
    assert lease.snapshots == tuple(image.chain_ids)
    image_source.release(str(tmp_path), "cid")
    assert Leases(tmp_path / "store").get("container:cid") is None


def test_the_run_path_imports_no_dataclass_typing_or_pathlib() -> None:
    """What ``devenv container run`` (CLI, supervisor, init) loads stays free of the modules whose import
    dominated its start-up (a property of the code, checked without timing anything)."""
    code = (
        "import sys\n"
        "import devenv.cli.main, devenv.cli.container_fast, devenv.cli.container_args, devenv.cli.output\n"
        "import devenv.runtime.embedded.run, devenv.runtime.embedded.lifecycle, devenv.runtime.embedded.supervisor\n"
        "import devenv.runtime.embedded.monitor, devenv.runtime.embedded.attach, devenv.runtime.embedded.terminal\n"
        "import devenv.runtime.embedded.exec, devenv.paths\n"
        "print(sorted(m for m in ('dataclasses', 'typing', 'pathlib', 'inspect') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "[]"
