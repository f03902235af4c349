"""`devenv build` against the reference (`devcontainer build`, devcontainers/cli + Docker) on the same
config: the Debian image from the local registry, a local feature that apt-installs a package from the
Debian mirror, and an OCI feature published to the local registry.

* cached: nothing changed since the last build (goal: at least 5x faster) — devenv answers from its
  build stamp; a second row touches the config file first, so that devenv runs the cached builder;
* cold: every step again (`--no-cache` for both; the base image is already local for both) (goal: no slower).

The reference runs on the benchmark's Docker engine (see :mod:`benchmarks.engine`), as Docker runs for a
user: dockerd + containerd, overlay2, a bridge with NAT.

Each tool builds its own copy of the project (same files), so lockfiles and caches never cross.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from benchmarks.context import Context, tidy
from benchmarks.harness import Comparison, Sample, alternate, run_timed

APT_FEATURE = {
    "id": "tools",
    "version": "0.1.0",
    "name": "Tools from apt",
    "options": {"packages": {"type": "string", "default": "jq tree"}},
}
APT_INSTALL = """#!/bin/sh
set -e
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
rm -rf /var/lib/apt/lists/*
"""
OCI_FEATURE = {
    "id": "greeter",
    "version": "1.0.0",
    "name": "Greeter",
    "options": {"greeting": {"type": "string", "default": "hello"}},
    "containerEnv": {"GREETER_HOME": "/opt/greeter"},
}
OCI_INSTALL = """#!/bin/sh
set -e
mkdir -p /opt/greeter/bin
printf '#!/bin/sh\\necho "%s"\\n' "$GREETING" > /opt/greeter/bin/greet
chmod +x /opt/greeter/bin/greet
"""


def _publish_oci_feature(ctx: Context) -> str:
    """Publish the OCI feature; returns its reference (``localhost:PORT``: the reference CLI talks plain
    HTTP only to a registry named localhost)."""
    from devenv.store.artifacts import ArtifactLayer, push_artifact
    from devenv.store.store import Store
    from tests.integration.build_helpers import feature_tarball

    port = ctx.registry_host().rsplit(":", 1)[1]
    ref = f"localhost:{port}/bench-features/greeter:1"
    layer = ArtifactLayer(
        data=feature_tarball({"devcontainer-feature.json": json.dumps(OCI_FEATURE), "install.sh": OCI_INSTALL}),
        annotations={"org.opencontainers.image.title": "devcontainer-feature-greeter.tgz"},
    )
    push_artifact(
        ref, [layer], annotations={"dev.containers.metadata": json.dumps(OCI_FEATURE)}, store=Store(ctx.devenv_root)
    )
    return ref


def _project(folder: Path, image: str, feature_ref: str) -> Path:
    dc = folder / ".devcontainer"
    (dc / "tools").mkdir(parents=True, exist_ok=True)
    (dc / "tools" / "devcontainer-feature.json").write_text(json.dumps(APT_FEATURE))
    (dc / "tools" / "install.sh").write_text(APT_INSTALL)
    config = {"image": image, "features": {"./tools": {}, feature_ref: {"greeting": "hi"}}, "remoteUser": "root"}
    (dc / "devcontainer.json").write_text(json.dumps(config, indent=2))
    return folder


class _Setup:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.engine = ctx.engine()
        self.reference = ctx.devcontainer_cli()
        image = ctx.pulled("debian")  # the base image is local for both before anything is timed
        feature = _publish_oci_feature(ctx)
        run = uuid.uuid4().hex[:8]
        self.dev_project = _project(ctx.scratch / f"build-dev-{run}", image, feature)
        self.ref_project = _project(ctx.scratch / f"build-ref-{run}", image, feature)
        self.dev_image = f"bench-build-dev:{run}"
        self.ref_image = f"bench-build-ref:{run}"
        ctx.on_close(self.close)

    def devenv(self, *extra: str) -> Sample:
        argv = self.ctx.devenv("build", "--workspace-folder", str(self.dev_project), "--image-name", self.dev_image)
        return run_timed([*argv, *extra], env=self.ctx.devenv_env())

    def devcontainer(self, *extra: str) -> Sample:
        argv = [self.reference, "build", "--workspace-folder", str(self.ref_project), "--image-name"]
        return run_timed([*argv, self.ref_image, *extra], env=self.ctx.docker_env())

    def touch_dev(self) -> None:
        (self.dev_project / ".devcontainer" / "devcontainer.json").touch()

    def touch_ref(self) -> None:
        (self.ref_project / ".devcontainer" / "devcontainer.json").touch()

    def close(self) -> None:
        tidy(self.engine.docker("image", "rm", "-f", self.ref_image))
        shutil.rmtree(self.dev_project, ignore_errors=True)
        shutil.rmtree(self.ref_project, ignore_errors=True)


def cached_and_cold(ctx: Context) -> list[Comparison]:
    setup = _Setup(ctx)
    # Cold first (each run builds every step again; the warm-up round fills both caches and Python's
    # bytecode cache), then the cached rows.
    cold = alternate(
        ctx.reps,
        {"devenv": lambda: setup.devenv("--no-cache"), "devcontainer build": lambda: setup.devcontainer("--no-cache")},
    )
    cached = alternate(ctx.reps, {"devenv": setup.devenv, "devcontainer build": setup.devcontainer})
    # The same, but the config file touched first: devenv cannot answer from its build stamp and
    # goes through the cached builder (config, features, plan, cache lookups, image assembly).
    touched = alternate(
        ctx.reps,
        {"devenv": setup.devenv, "devcontainer build": setup.devcontainer},
        before_each={"devenv": setup.touch_dev, "devcontainer build": setup.touch_ref},
    )
    label = "image + 2 features (apt-based local, OCI)"
    ref = "devcontainer build"
    return [
        Comparison(f"`build`, everything cached: {label}", cached["devenv"], [cached[ref]], goal=">= 5x faster"),
        Comparison(
            f"`build`, everything cached, config file touched (the cached builder runs): {label}",
            touched["devenv"],
            [touched[ref]],
        ),
        Comparison(f"`build`, cold (`--no-cache`): {label}", cold["devenv"], [cold[ref]], goal="no slower (>= 1.0x)"),
    ]


def commit_run_layer(ctx: Context) -> list[Comparison]:
    """Committing a RUN step's changes (a tree the size of the host's Python standard library):
    * the upper directory renamed into the snapshot store against unpacking the new layer again
      (both compressing with zlib in-process);
    * what RUN steps do now (igzip in a child process + rename) against before (zlib + unpack again)."""
    import glob

    from devenv.build.layers import commit_upper
    from devenv.store.commit import layer_from_dir
    from devenv.store.store import Store

    sources = sorted(glob.glob("/usr/lib/python3.[0-9]*"))
    if not sources:
        raise RuntimeError("no /usr/lib/python3.x tree to commit")
    files = [os.path.join(d, f) for d, _, names in os.walk(sources[-1]) for f in names]
    size_mb = sum(os.lstat(f).st_size for f in files) / 1e6
    store = Store(ctx.scratch / "commit-root")
    work = ctx.scratch / "commit-work"
    work.mkdir(exist_ok=True)
    counter = iter(range(10**6))

    def commit(how: str) -> Sample:
        upper = work / f"upper-{next(counter)}"
        subprocess.run(["cp", "-a", sources[-1], str(upper)], check=True)
        (upper / "marker").write_text(str(upper))  # a new layer every time (nothing is deduplicated)
        started = time.perf_counter()
        if how == "now":
            commit_upper(store, upper, "")
        else:
            layer_from_dir(store, upper, "", move=how == "rename")
        elapsed = time.perf_counter() - started
        shutil.rmtree(upper, ignore_errors=True)
        return Sample(elapsed)

    reps = max(ctx.reps, 5)
    what = f"commit a RUN layer ({size_mb:.0f} MB, {len(files)} files)"
    before = "zlib + unpack again"
    moved = alternate(reps, {"devenv": lambda: commit("rename"), before: lambda: commit("unpack")})
    now = alternate(reps, {"devenv": lambda: commit("now"), before: lambda: commit("unpack")})
    return [
        Comparison(f"{what}: zlib + rename vs zlib + unpack again", moved["devenv"], [moved[before]]),
        Comparison(f"{what}: igzip + rename (now) vs zlib + unpack again (before)", now["devenv"], [now[before]]),
    ]


SCENARIOS = [cached_and_cold]
OPTIONAL = [commit_run_layer]  # devenv against its former self, not a reference: --only build.commit_run_layer

if __name__ == "__main__":
    from benchmarks.__main__ import run

    raise SystemExit(run(["--only", "build", *sys.argv[1:]]))
