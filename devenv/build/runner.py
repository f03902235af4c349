"""RUN steps in containers of the embedded runtime: the layers so far as read-only lowers, the
container's overlay upper directory as the step's changes.

Output is streamed to the reporter line by line (``build.output`` events) and the last lines are
kept for the error message when the command fails. The container is always removed afterwards.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from devenv.build.executor import RunOutcome, RunRequest
from devenv.errors import BuildError
from devenv.events import Reporter
from devenv.runtime.base import ContainerSpec, MountSpec
from devenv.snapshots.base import Mount

MAX_KEPT_OUTPUT = 256 * 1024


class EmbeddedRunner:
    def __init__(self, runtime: object | None = None) -> None:
        from devenv.runtime.embedded.runtime import EmbeddedRuntime

        self.runtime = runtime if isinstance(runtime, EmbeddedRuntime) else EmbeddedRuntime(rootfs_driver="overlay")

    @contextlib.contextmanager
    def run(self, request: RunRequest, reporter: Reporter) -> Iterator[RunOutcome]:
        action = request.action
        if not request.layers:
            raise BuildError("RUN needs a base image with a shell; this stage starts FROM scratch")
        spec = ContainerSpec(
            image="devenv-build",
            command=action.argv,
            name=f"{request.name}-{secrets.token_hex(3)}",
            env=action.env,
            user=action.user or "root",
            workdir=action.workdir or "/",
            labels={"devenv.build": "1"},
            mounts=tuple(MountSpec("bind", target, host, read_only=ro) for host, target, ro in request.binds)
            + tuple(MountSpec("tmpfs", t) for t in action.tmpfs),
            network="none" if action.network == "none" else "host" if action.network == "host" else "bridge",
            init=False,
            rootfs=tuple(Mount("bind", str(d), ("rbind", "ro")) for d in request.layers),
        )
        rt = self.runtime
        container = rt.create(spec)
        try:
            rt.start(container.id)
            kept = bytearray()
            pending = b""
            for _stream, _when, data in rt.log_records(container.id, follow=True):
                kept += data
                if len(kept) > MAX_KEPT_OUTPUT:
                    del kept[: len(kept) - MAX_KEPT_OUTPUT]
                pending += data
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    reporter.event(
                        "build.output",
                        line=line.decode("utf-8", "replace"),
                        message="  " + line.decode("utf-8", "replace"),
                    )
            if pending:
                reporter.event(
                    "build.output",
                    line=pending.decode("utf-8", "replace"),
                    message="  " + pending.decode("utf-8", "replace"),
                )
            code = rt.wait(container.id)
            changes = rt.rootfs_changes(container.id)
            if changes.driver != "overlay":
                raise BuildError("the builder needs overlayfs for RUN steps (the copy driver is not supported yet)")
            yield RunOutcome(code if code is not None else 125, bytes(kept), Path(changes.upper.source))
        finally:
            with contextlib.suppress(Exception):
                rt.remove(container.id, force=True)
