"""Images devenv builds run under a real Docker engine, and match `docker build` of the same Dockerfile."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from devenv.build.builder import BuildOptions, build
from tests.conftest import ImageFixture

pytestmark = [
    pytest.mark.registry,
    pytest.mark.docker,
    pytest.mark.slow,
]

DOCKERFILE = """ARG BASE
FROM $BASE
ENV APP=/srv/app
RUN mkdir -p /data && echo hello > /data/greeting && ln -s /data/greeting /greeting && rm -f /etc/motd
WORKDIR $APP
COPY src/ ./src/
COPY run.sh /usr/local/bin/run.sh
CMD ["/usr/local/bin/run.sh"]
"""


def tree(layout_tar: Path) -> dict[str, tuple[str, int, int, int, str]]:
    """path -> (type, mode, uid, gid, link target or content size) of a flattened filesystem tar."""
    out = {}
    with tarfile.open(layout_tar) as tar:
        for m in tar.getmembers():
            kind = "dir" if m.isdir() else "link" if m.issym() else "file" if m.isfile() else "other"
            out["/" + m.name.lstrip("./")] = (kind, m.mode & 0o7777, m.uid, m.gid, m.linkname or str(m.size))
    return out


def test_devenv_image_runs_in_docker_and_matches_docker_build(
    tmp_path: Path, devenv_root: Path, debian_image: ImageFixture, docker_engine: None
) -> None:
    proj = tmp_path / "proj"
    (proj / ".devcontainer").mkdir(parents=True)
    (proj / "src").mkdir()
    (proj / "src/app.txt").write_text("app\n")
    (proj / "run.sh").write_text('#!/bin/sh\necho "running in $APP: $(cat /greeting)"\n')
    os.chmod(proj / "run.sh", 0o755)
    (proj / "Dockerfile").write_text(DOCKERFILE)
    (proj / ".devcontainer/devcontainer.json").write_text(
        json.dumps({"build": {"dockerfile": "../Dockerfile", "context": "..", "args": {"BASE": debian_image.ref}}})
    )
    build(BuildOptions(workspace_folder=str(proj), image_names=("devenv-interop/app:1",)))
    saved = tmp_path / "saved.tar"
    subprocess.run(
        ["devenv", "image", "save", "-o", str(saved), "devenv-interop/app:1"], check=True, env={**os.environ}
    )
    subprocess.run(["docker", "load", "-i", str(saved)], check=True, capture_output=True)
    run = subprocess.run(["docker", "run", "--rm", "devenv-interop/app:1"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "running in /srv/app: hello\n"

    subprocess.run(["docker", "pull", debian_image.ref], check=True, capture_output=True)
    subprocess.run(
        ["docker", "build", "-q", "-t", "docker-built/app:1", "--build-arg", f"BASE={debian_image.ref}", str(proj)],
        check=True,
        capture_output=True,
    )
    trees = {}
    for name in ("devenv-interop/app:1", "docker-built/app:1"):
        cid = subprocess.run(["docker", "create", name], check=True, capture_output=True, text=True).stdout.strip()
        out = tmp_path / f"{name.replace('/', '_')}.tar"
        subprocess.run(["docker", "export", "-o", str(out), cid], check=True)
        subprocess.run(["docker", "rm", cid], check=True, capture_output=True)
        trees[name] = tree(out)
    ours, theirs = trees["devenv-interop/app:1"], trees["docker-built/app:1"]
    diff = {p: (ours.get(p), theirs.get(p)) for p in set(ours) | set(theirs) if ours.get(p) != theirs.get(p)}
    # Directory mtimes aside, the trees are the same; /etc/hosts etc. are Docker's own mount points.
    diff = {
        p: d for p, d in diff.items() if p not in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/.dockerenv")
    }
    assert diff == {}
