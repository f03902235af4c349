"""kill -9 during a pull, at any moment: the store stays consistent, and the next pull completes
(resuming the interrupted download with an HTTP Range request)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import images
from tests.support.registry import Registry

pytestmark = [pytest.mark.registry, pytest.mark.slow]

LAYER_BYTES = 24 << 20


class ThrottlingProxy:
    """A TCP proxy to the registry that limits the download rate and counts the bytes it relays."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.rate: float | None = None  # bytes per second towards the client; None = unlimited
        self.sent = 0
        self.lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closing:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        try:
            while True:
                data = src.recv(64 * 1024)
                if not data:
                    break
                if downstream:
                    with self.lock:
                        self.sent += len(data)
                    if self.rate:
                        time.sleep(len(data) / self.rate)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self.closing = True
        self.sock.close()


@pytest.fixture(scope="module")
def big_image(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(3):
            data = os.urandom(LAYER_BYTES // 3)
            ti = tarfile.TarInfo(f"data/blob{i}.bin")
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    layout = images.write_oci_layout(tmp_path_factory.mktemp("big") / "oci", [buf.getvalue()])
    ref = f"{registry.host}/interrupt/big:1"
    images.skopeo_push(layout, ref)
    return "interrupt/big:1"


@pytest.fixture
def proxy(registry: Registry) -> Iterator[ThrottlingProxy]:
    p = ThrottlingProxy(registry.port)
    yield p
    p.close()


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "DEVENV_ROOT": str(root)}


def _ls(root: Path) -> list[dict[str, str]]:
    out = subprocess.run(
        ["devenv", "--log-format", "json", "image", "ls"], env=_env(root), capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def _partials(root: Path) -> list[Path]:
    return list((root / "store" / "ingest").glob("*.partial"))


def check_consistent(root: Path) -> list[dict[str, str]]:
    """Every visible blob is complete and verified; every snapshot is complete; ls works."""
    blobs = root / "store" / "blobs" / "sha256"
    for f in blobs.iterdir() if blobs.exists() else []:
        assert hashlib.sha256(f.read_bytes()).hexdigest() == f.name, f"partial or corrupt blob visible: {f}"
    snaps = root / "snapshots"
    for d in snaps.iterdir() if snaps.exists() else []:
        if len(d.name) == 64:
            assert (d / "meta.json").is_file(), f"half-made snapshot visible: {d}"
    rows = _ls(root)
    for row in rows:  # a listed image is complete
        subprocess.run(["devenv", "image", "inspect", row["Name"]], env=_env(root), check=True, capture_output=True)
    return rows


def _start_pull(root: Path, ref: str) -> subprocess.Popen[bytes]:
    with open(root.parent / "pull.log", "ab") as log:
        return subprocess.Popen(["devenv", "image", "pull", ref], env=_env(root), stdout=subprocess.DEVNULL, stderr=log)


def test_kill_9_mid_download_then_pull_again_resumes(devenv_root: Path, big_image: str, proxy: ThrottlingProxy) -> None:
    ref = f"127.0.0.1:{proxy.port}/{big_image}"
    proxy.rate = 4 << 20
    proc = _start_pull(devenv_root, ref)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sizes = [p.stat().st_size for p in _partials(devenv_root)]
        if sizes and max(sizes) > 6 << 20:
            break
        assert proc.poll() is None, (devenv_root.parent / "pull.log").read_text()
        time.sleep(0.02)
    else:
        pytest.fail("the download did not progress")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert check_consistent(devenv_root) == []
    [partial] = _partials(devenv_root)
    kept = partial.stat().st_size
    assert kept > 6 << 20

    proxy.rate = None
    proxy.sent = 0
    done = subprocess.run(["devenv", "image", "pull", ref], env=_env(devenv_root), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = check_consistent(devenv_root)
    assert [r["Name"] for r in rows] == [ref]
    assert _partials(devenv_root) == []
    layer_size = rows[0]["Size"]
    assert proxy.sent < int(layer_size) - kept + (1 << 20)  # only the rest was transferred


def test_kill_9_at_many_moments(devenv_root: Path, big_image: str, proxy: ThrottlingProxy) -> None:
    ref = f"127.0.0.1:{proxy.port}/{big_image}"
    proxy.rate = 16 << 20  # the whole pull takes ~2 s: kills land in resolve, download and unpack
    for delay in (0.05, 0.3, 0.8, 1.3, 1.8, 2.2, 2.6):
        proc = _start_pull(devenv_root, ref)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check_consistent(devenv_root)
    proxy.rate = None
    done = subprocess.run(["devenv", "image", "pull", ref], env=_env(devenv_root), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [r["Name"] for r in check_consistent(devenv_root)] == [ref]
    fs = next((devenv_root / "snapshots").glob("[0-9a-f]*")) / "fs" / "data"
    assert sorted(p.stat().st_size for p in fs.iterdir()) == [LAYER_BYTES // 3] * 3


def test_concurrent_pulls_and_prune_share_one_download(
    devenv_root: Path, big_image: str, proxy: ThrottlingProxy
) -> None:
    """Three processes pull the same image while a fourth prunes: one download, nothing corrupted."""
    ref = f"127.0.0.1:{proxy.port}/{big_image}"
    proxy.rate = 8 << 20
    pulls = [_start_pull(devenv_root, ref) for _ in range(3)]
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size > 1 << 20 for p in _partials(devenv_root)):  # mid-download: locks held
        assert time.monotonic() < deadline, "the download did not start"
        time.sleep(0.02)
    prune = subprocess.run(
        ["devenv", "--log-format", "json", "image", "prune"], env=_env(devenv_root), capture_output=True, text=True
    )
    codes = [p.wait(timeout=120) for p in pulls]
    assert codes == [0, 0, 0], (devenv_root.parent / "pull.log").read_text()
    assert prune.returncode == 0, prune.stderr  # it waited for the pulls (store lock), then found nothing to remove
    assert json.loads(prune.stdout)["blobs"] == [] and json.loads(prune.stdout)["snapshots"] == []
    rows = check_consistent(devenv_root)
    assert [r["Name"] for r in rows] == [ref]
    assert proxy.sent < 1.3 * int(rows[0]["Size"])  # the layer crossed the network once
