"""Pull benchmark: the Debian test image from the local registry — `devenv image pull` into an empty
store vs `docker pull` into an empty Docker engine (a private dockerd with its own empty data root,
so the shared engine's cache cannot help it). Goal: devenv at least as fast as Docker.

Run alone: ``python -m benchmarks.pull [--reps N]`` (default: one run each, prints the ratio);
or with the harness: ``python -m benchmarks --only pull``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.context import Context
from benchmarks.harness import Comparison, Sample, alternate, fmt_seconds, run_timed


class PrivateDockerd:
    """A dockerd with its own data root, exec root and socket (no bridge, no iptables)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.sock = base / "docker.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateDockerd:
        if shutil.which("dockerd") is None:
            raise RuntimeError("dockerd is not installed (apt-get install docker.io)")
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.base / "dockerd.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    "dockerd",
                    f"--data-root={self.base / 'data'}",
                    f"--exec-root={self.base / 'exec'}",
                    f"--pidfile={self.base / 'dockerd.pid'}",
                    f"--host=unix://{self.sock}",
                    "--bridge=none",
                    "--iptables=false",
                    "--ip6tables=false",
                    "--ip-masq=false",
                ],
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockerd exited, see {self.base / 'dockerd.log'}")
            if subprocess.run(self.docker("info"), capture_output=True).returncode == 0:
                return self
            time.sleep(0.3)
        raise RuntimeError("private dockerd did not start within 60 s")

    def cpu_seconds(self) -> float:
        """CPU time (user + system, including reaped children) of dockerd and every process under it."""
        if self.proc is None:
            return 0.0
        tick = os.sysconf("SC_CLK_TCK")
        parents: dict[int, int] = {}
        times: dict[int, float] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
            times[int(entry)] = sum(int(x) for x in fields[11:15]) / tick
        total, todo = 0.0, [self.proc.pid]
        while todo:
            pid = todo.pop()
            total += times.get(pid, 0.0)
            todo += [child for child, parent in parents.items() if parent == pid]
        return total

    def docker(self, *args: str) -> list[str]:
        return ["docker", "-H", f"unix://{self.sock}", *args]

    def empty(self) -> None:
        """Remove every image: the engine is empty again (no layers to reuse)."""
        ids = subprocess.run(self.docker("images", "-aq"), capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(self.docker("rmi", "-f", *ids), capture_output=True)
        left = subprocess.run(self.docker("images", "-aq"), capture_output=True, text=True).stdout.split()
        if left:
            raise RuntimeError(f"the private Docker engine is not empty: {left}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def devenv_command(ctx: Context) -> str:
    """The installed CLI of this environment (not a version-manager shim that adds its own start-up time)."""
    beside = Path(sys.executable).parent / "devenv"
    return str(beside) if beside.exists() else ctx.devenv_bin()


def debian_pull(ctx: Context) -> list[Comparison]:
    ref = ctx.image("debian")
    devenv = devenv_command(ctx)
    root = ctx.scratch / "pull-root"
    cpu: dict[str, list[float]] = {"devenv": [], "docker pull": []}
    engine = PrivateDockerd(ctx.scratch / "dockerd-pull").start()
    try:

        def settle() -> None:
            """Let the deletion of the previous run reach the disk, so it does not slow down the next one."""
            os.sync()
            time.sleep(1.0)

        def empty_store() -> None:
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            settle()

        def empty_engine() -> None:
            engine.empty()
            settle()

        def devenv_run() -> Sample:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            sample = run_timed([devenv, "image", "pull", ref], env={**os.environ, "DEVENV_ROOT": str(root)})
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu["devenv"].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            return sample

        def docker_run() -> Sample:
            before = engine.cpu_seconds()
            sample = run_timed(engine.docker("pull", "-q", ref))
            cpu["docker pull"].append(engine.cpu_seconds() - before)
            return sample

        series = alternate(
            ctx.reps,
            {"devenv": devenv_run, "docker pull": docker_run},
            before_each={"devenv": empty_store, "docker pull": empty_engine},
        )
    finally:
        engine.stop()
    return [
        Comparison(
            "pull Debian bookworm minbase (60 MB) from the local registry, empty store/engine",
            series["devenv"],
            series["docker pull"],
            goal=">= 1x (at least as fast as docker pull)",
            note=f"(CPU s, median: devenv {statistics.median(cpu['devenv']):.2f}, "
            f"docker {statistics.median(cpu['docker pull']):.2f})",
        )
    ]


SCENARIOS = [debian_pull]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pull")
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args(argv)
    with Context(reps=args.reps) as ctx:
        [row] = debian_pull(ctx)
    ratio = row.speedup
    print(f"devenv image pull: {fmt_seconds(row.devenv.median)}")
    assert row.reference is not None
    print(f"docker pull:       {fmt_seconds(row.reference.median)}")
    print(f"ratio (docker / devenv): {ratio:.2f}x" if ratio else "ratio: n/a")
    print(row.note.strip("()"))
    return 0 if ratio is not None and ratio >= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
