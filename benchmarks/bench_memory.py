"""Memory of what stays running: an idle workspace, an idle container.

The footprint of a container is every process it keeps alive, found from its pid 1: the parent (devenv's
supervisor; Docker's containerd-shim) and everything under it, plus the processes that name the container
(devenv's port forwarder) or serve its published ports (docker-proxy). The value is their PSS summed
(shared pages split between the processes that map them); the note gives RSS and the processes. Docker's
daemons (dockerd, containerd) serve all containers: a second reference line counts them too.

- idle workspace: the workspaces of ``bench_workspace`` (same config, an appPort), devenv on its runtime
  and on Docker, against devcontainers/cli on Docker;
- idle container: ``container run -d busybox sleep`` against ``docker run -d busybox sleep``.

Samples are taken every half second once the processes have settled (a few seconds after ``up``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

from benchmarks import processes
from benchmarks.bench_workspace import RUNTIMES, label, workspaces
from benchmarks.context import Context, tidy
from benchmarks.engine import PrivateEngine
from benchmarks.harness import Comparison, Sample, Series

SETTLE = 3.0


class Footprint:
    def __init__(self, tool: str, pids: Callable[[], set[int]]) -> None:
        self.tool, self.pids = tool, pids
        self.series = Series(tool)
        self.rss: list[int] = []
        self.names = ""

    def sample(self) -> None:
        pids = self.pids()
        rss, pss = processes.memory_kib(pids)
        self.series.samples.append(Sample(pss / 1024))
        self.rss.append(rss)
        self.names = processes.describe(pids)

    def note(self) -> str:
        return f"{self.tool}: RSS {max(self.rss) / 1024:.0f} MiB ({self.names})"


def devenv_container(ctx: Context, cid: str) -> Callable[[], set[int]]:
    """devenv's supervisor and everything under it, and the processes naming the container."""
    out = subprocess.run(ctx.devenv("container", "inspect", cid), check=True, capture_output=True, env=ctx.devenv_env())
    pid1 = int(json.loads(out.stdout)[0]["State"]["Pid"])
    full_id = str(json.loads(out.stdout)[0]["Id"])
    return lambda: processes.tree([processes.parent_of(pid1), *processes.matching(full_id)])


def docker_container(
    engine: PrivateEngine, cid: str, more: Callable[[], set[int]] | None = None
) -> Callable[[], set[int]]:
    """containerd-shim and everything under it, docker-proxy of its ports (and ``more``)."""
    pid1, ip = engine.output("inspect", "-f", "{{.State.Pid}} {{.NetworkSettings.IPAddress}}", cid).split()
    shim = processes.parent_of(int(pid1))

    def pids() -> set[int]:
        extra = more() if more is not None else set()
        return processes.tree([shim, *processes.matching(f"-container-ip {ip} "), *extra])

    return pids


def with_daemons(footprint: Footprint, engine: PrivateEngine) -> Footprint:
    """The same, plus dockerd and containerd (which serve every container of the engine)."""
    return Footprint(f"{footprint.tool} + dockerd + containerd", lambda: footprint.pids() | engine.daemon_pids())


def _measure(ctx: Context, title: str, footprints: list[Footprint]) -> list[Comparison]:
    time.sleep(SETTLE)
    for _ in range(ctx.reps):
        for footprint in footprints:
            footprint.sample()
        time.sleep(0.5)
    notes = "; ".join(f.note() for f in footprints)
    ours = [f for f in footprints if f.tool.startswith("devenv")]
    refs = [f.series for f in footprints if not f.tool.startswith("devenv")]
    return [
        Comparison(
            title if f.tool == "devenv" else f"{title}, devenv on Docker",
            f.series,
            refs,
            unit="MiB",
            note=f"({notes})" if i == 0 else "",
        )
        for i, f in enumerate(ours)
    ]


def idle_workspace(ctx: Context) -> list[Comparison]:
    ws = workspaces(ctx)
    engine = ctx.engine()
    footprints = []
    for runtime in RUNTIMES:
        cid = ws.container_id(runtime)
        if runtime == "embedded":
            footprints.append(Footprint(label(runtime), devenv_container(ctx, cid)))
        else:  # Docker's processes, and any of devenv's naming the container
            footprints.append(
                Footprint(label(runtime), docker_container(engine, cid, lambda cid=cid: set(processes.matching(cid))))
            )
    reference = Footprint("devcontainers/cli on Docker", docker_container(engine, ws.container_id("reference")))
    footprints += [reference, with_daemons(reference, engine)]
    return _measure(ctx, "idle workspace", footprints)


def idle_container(ctx: Context) -> list[Comparison]:
    image = ctx.pulled("busybox")
    engine, env = ctx.engine(), ctx.devenv_env()
    name = f"bench-idle-{uuid.uuid4().hex[:8]}"

    def remove() -> None:
        tidy(ctx.devenv("container", "rm", "-f", name), env=env)
        tidy(engine.docker("rm", "-f", name))

    ctx.on_close(remove)
    try:
        sleeper = ["-d", "--name", name, image, "sleep", "3600"]
        subprocess.run(ctx.devenv("container", "run", *sleeper), check=True, capture_output=True, env=env)
        subprocess.run(engine.docker("run", *sleeper), check=True, capture_output=True)
        reference = Footprint("docker run", docker_container(engine, name))
        footprints = [Footprint("devenv", devenv_container(ctx, name)), reference, with_daemons(reference, engine)]
        return _measure(ctx, "idle container (`run -d busybox sleep`)", footprints)
    finally:
        remove()


SCENARIOS = [idle_workspace, idle_container]

if __name__ == "__main__":
    from benchmarks.__main__ import run

    raise SystemExit(run(["--only", "memory", *sys.argv[1:]]))
