"""`devenv up` on the embedded runtime, then `devenv ports`: configured and auto-forwarded ports of a workspace."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ImageFixture
from tests.integration.workspace_helpers import Devenv, wait_until, write_config
from tests.support.netns import leftovers, network_root

pytestmark = [pytest.mark.slow]
__all__ = ["network_root"]


def http_get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as r:
        return r.read().decode()


def ports_of(devenv: Devenv, folder: Path) -> dict[int, dict[str, object]]:
    data = devenv("ports", "--workspace-folder", str(folder), "--json").result()
    return {p["containerPort"]: p for p in data["ports"]}


def test_devenv_ports_lists_configured_and_auto_forwarded_ports(
    devenv_root: Path, tmp_path: Path, debian_image: ImageFixture, network_root: str
) -> None:
    folder = tmp_path / "web"
    (folder / "www").mkdir(parents=True)
    (folder / "www" / "index.html").write_text("workspace\n")
    shutil.copy(shutil.which("busybox") or "/bin/busybox", folder / "busybox")  # static: runs in any image
    write_config(folder, {
        "image": debian_image.ref,
        "forwardPorts": [3000],
        "portsAttributes": {"3000": {"label": "Web"}, "4000": {"label": "Docs"}},
        "otherPortsAttributes": {"onAutoForward": "silent"},
    })  # fmt: skip
    devenv = Devenv(devenv_root, "embedded")
    try:
        devenv.up(folder)
        remote = "/workspaces/web"
        devenv.exec(folder, f"{remote}/busybox", "httpd", "-p", "3000", "-h", f"{remote}/www")
        listed = ports_of(devenv, folder)
        container_id = devenv("ports", "--workspace-folder", str(folder), "--json").result()["containerId"]
        assert listed[3000]["label"] == "Web" and listed[3000]["source"] == "configured"
        assert http_get(int(str(listed[3000]["hostPort"]))) == "workspace\n"
        devenv.exec(folder, f"{remote}/busybox", "httpd", "-p", "4000", "-h", f"{remote}/www")
        assert wait_until(lambda: 4000 in ports_of(devenv, folder), timeout=15)
        auto = ports_of(devenv, folder)[4000]
        assert (auto["label"], auto["source"]) == ("Docs", "auto")
        assert http_get(int(str(auto["hostPort"]))) == "workspace\n"
        human = devenv("ports", "--workspace-folder", str(folder)).stdout
        assert "127.0.0.1:" in human and "Web" in human and "Docs" in human
    finally:
        devenv("down", "--workspace-folder", str(folder), check=False)
    # `devenv down` removed the container: nothing of its network is left on the host.
    assert leftovers(network_root, container_id[:12]) == {
        "links": [], "addresses": [], "rules": [], "nft": [], "forwarders": []
    }  # fmt: skip
