"""A RUN step's container upper directory becomes its snapshot by a rename (no second unpack of the new
layer): the snapshot must hold exactly what the layer tarball holds, whiteouts and opaque dirs included."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import socket
import stat
from pathlib import Path

import pytest

from devenv.build import layers
from devenv.build.builder import BuildOptions, build
from devenv.build.executor import _prepare_for_move
from devenv.snapshots.unpack import OVERLAY_OPAQUE_XATTR, apply_tar
from devenv.store.store import Store
from tests.conftest import ImageFixture
from tests.integration.registry_tools import tree

pytestmark = [
    pytest.mark.registry,
    pytest.mark.slow,
]

RUN = (
    "mkdir -p /made/sub && echo one > /made/sub/a && ln /made/sub/a /made/hard && ln -s sub/a /made/soft"
    " && chmod 0750 /made/sub && chown 1000:1000 /made/sub/a && mkfifo /made/fifo"
    " && rm -rf /home && mkdir /home && echo new > /home/only"  # opaque directory
    " && rm /etc/group"  # a whiteout
)


def opaque_dirs(root: Path) -> set[str]:
    out = set()
    for dirpath, _, _ in os.walk(root):
        try:
            if os.getxattr(dirpath, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y":
                out.add(os.path.relpath(dirpath, root))
        except OSError:
            pass
    return out


@pytest.mark.parametrize("compressor", ["igzip", "none"])
def test_run_snapshot_equals_its_layer(
    tmp_path: Path, devenv_root: Path, busybox_image: ImageFixture, monkeypatch: pytest.MonkeyPatch, compressor: str
) -> None:
    """With igzip compressing in a child process, and without it (zlib in-process)."""
    if compressor == "none":
        monkeypatch.setattr(layers, "COMPRESSOR", ("devenv-no-such-compressor", "-1"))
    elif shutil.which("igzip") is None:
        pytest.skip("igzip (Debian package isal, installed by scripts/install.sh) is missing")
    proj = tmp_path / "proj"
    (proj / ".devcontainer").mkdir(parents=True)
    (proj / ".devcontainer" / "Dockerfile").write_text(f"FROM {busybox_image.ref}\nRUN {RUN}\n")
    (proj / ".devcontainer" / "devcontainer.json").write_text(json.dumps({"build": {"dockerfile": "Dockerfile"}}))
    build(BuildOptions(workspace_folder=str(proj), image_names=("local/commit:1",)))

    store = Store()
    image = store.image("local/commit:1")
    chain = store.ensure_snapshots(image)[-1]
    snapshot = store.snapshots.fs(chain)
    unpacked = tmp_path / "unpacked"
    with gzip.open(store.blobs.path(image.layers[-1].digest)) as layer:
        apply_tar(layer, unpacked, "overlay")  # type: ignore[arg-type]
    with gzip.open(store.blobs.path(image.layers[-1].digest)) as layer:
        assert "sha256:" + hashlib.sha256(layer.read()).hexdigest() == image.diff_ids[-1]

    assert tree(snapshot, with_content=True) == tree(unpacked, with_content=True)
    assert opaque_dirs(snapshot) == opaque_dirs(unpacked) == {"home"}
    made = tree(snapshot)
    assert made["made/sub"][1] == 0o750 and made["made/sub/a"][2] == 1000 and made["made/soft"][4] == "sub/a"
    assert stat.S_ISCHR(made["etc/group"][0]) and made["etc/group"][4] == (0, 0)
    assert os.stat(snapshot / "made/hard").st_ino == os.stat(snapshot / "made/sub/a").st_ino
    assert stat.S_ISFIFO(os.lstat(snapshot / "made/fifo").st_mode)


def test_prepare_for_move_drops_sockets_and_resets_the_root(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "run").mkdir(parents=True)
    (upper / "run" / "keep").write_text("x")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(upper / "run" / "daemon.sock"))
    os.chmod(upper, 0o700)
    os.chown(upper, 1000, 1000)
    _prepare_for_move(upper)
    assert sorted(p.name for p in (upper / "run").iterdir()) == ["keep"]
    st = os.stat(upper)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o755, 0, 0)
