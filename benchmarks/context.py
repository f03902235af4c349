"""What scenarios share: one way to run devenv, the peers (a private Docker engine, devcontainers/cli),
the local registry with the test base images, an isolated devenv data root and scratch space.

Everything started here is stopped and removed when the context closes — also after a failure or
Ctrl-C: devenv's containers (which takes their network with them), the Docker engines (see
:mod:`benchmarks.engine`), the registry, the scratch directory. Scenarios register what they create
with :meth:`Context.on_close` or share it with :meth:`Context.shared`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from benchmarks import processes
from benchmarks.engine import PrivateEngine, unmount_under

T = TypeVar("T")

# Where scripts/install.sh puts the console script; a PATH lookup could find a shell shim (pyenv's
# adds ~50 ms to every command) and time that too.
INSTALLED = (Path("/opt/devenv/venv/bin/devenv"), Path("/usr/local/bin/devenv"))
APT_TOOLS = {"dockerd": "docker.io", "docker-registry": "docker-registry", "skopeo": "skopeo",
             "mmdebstrap": "mmdebstrap", "busybox": "busybox-static"}  # fmt: skip


def devenv_bin() -> str:
    for path in INSTALLED:
        if path.exists():
            return str(path.resolve())
    beside = Path(sys.executable).parent / "devenv"
    if beside.exists():
        return str(beside)
    raise RuntimeError("devenv is not installed: run scripts/install.sh")


def apt_install(*tools: str) -> None:
    """Install the Debian packages of the tools that are missing (docker.io, docker-registry, ...)."""
    missing = sorted({APT_TOOLS[t] for t in tools if shutil.which(t) is None})
    if missing:
        print(f"   installing {' '.join(missing)} with apt-get", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-q", *missing], check=True, capture_output=True, env=env)


def tidy(argv: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run a set-up or clean-up command that may fail (then nothing happens); never hangs the run.
    Returns its output."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout).stdout
    except subprocess.TimeoutExpired:
        print(f"   {' '.join(argv)}: no answer within {timeout:.0f} s, killed", file=sys.stderr)
        return ""


def devenv_processes(root: Path) -> set[int]:
    """devenv's processes for a data root (supervisors, forwarders, the network agent: they name the root
    or have it in their environment)."""
    marker = f"DEVENV_ROOT={root}".encode()
    found = set(processes.matching(str(root)))
    for pid in processes.all_pids():
        try:
            if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.add(pid)
        except OSError:
            continue
    found.discard(os.getpid())
    return found


def kill_leftovers(root: Path, grace: float = 20) -> None:
    """Once a data root has no containers, devenv's processes for it end by themselves (the network agent
    lingers ~10 s for the next container, then takes the bridge with it). What still runs after
    ``grace`` seconds is reported and killed, with what runs under it."""
    deadline = time.monotonic() + grace
    while (found := devenv_processes(root)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if not found:
        return
    tree = processes.tree(found)
    print(f"   devenv left processes running: {processes.describe(tree)}; killing them", file=sys.stderr)
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def remove_leftover_network(env: dict[str, str]) -> None:
    """devenv removes a data root's bridge and firewall rules with its last container; if it did not,
    say so and remove them (they belong to this run: the root is ours)."""
    code = "from devenv.network.settings import load; print(load().bridge)"
    bridge = tidy([sys.executable, "-c", code], env=env).strip()
    if not bridge or subprocess.run(["ip", "link", "show", bridge], capture_output=True).returncode != 0:
        return
    print(f"   devenv left its bridge {bridge} behind: removing it and its rules", file=sys.stderr)
    for table, chain in (("filter", "FORWARD"), ("nat", "POSTROUTING")):
        rules = subprocess.run(["iptables", "-t", table, "-S", chain], capture_output=True, text=True).stdout
        for rule in rules.splitlines():
            if f"devenv:{bridge}" in rule and rule.startswith("-A "):
                subprocess.run(["iptables", "-t", table, "-D", *shlex.split(rule)[1:]], capture_output=True)
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)


class Context:
    def __init__(self, reps: int, peers: bool = True) -> None:
        self.reps = reps
        self.peers = peers
        self.scratch = Path(tempfile.mkdtemp(prefix="devenv-bench-"))
        self.devenv_root = self.scratch / "devenv-root"
        self.devenv_root.mkdir()
        self._closers: list[Callable[[], object]] = []
        self._shared: dict[str, Any] = {}
        self._registry: Any = None
        self._engine: PrivateEngine | None = None
        self._images: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Context:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def on_close(self, closer: Callable[[], object]) -> None:
        """Call ``closer`` when the context closes (last registered, first called)."""
        self._closers.append(closer)

    def shared(self, key: str, factory: Callable[[], T]) -> T:
        """One object per context for scenarios that share set-up (e.g. the workspaces)."""
        if key not in self._shared:
            self._shared[key] = factory()
        value: T = self._shared[key]
        return value

    def close(self) -> None:
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception as exc:  # keep cleaning up
                print(f"   cleanup failed: {exc}", file=sys.stderr)
        self._shared.clear()
        self.remove_devenv_containers(self.devenv_root)
        remove_leftover_network(self.devenv_env())
        if self._registry is not None:
            self._registry.stop()
            self._registry = None
        unmount_under(self.scratch)
        shutil.rmtree(self.scratch, ignore_errors=True)

    # -- devenv ----------------------------------------------------------------------------------
    def devenv(self, *args: str) -> list[str]:
        """The argv of a devenv command: the installed console script."""
        return [devenv_bin(), *args]

    def devenv_env(self, root: Path | None = None) -> dict[str, str]:
        """Environment for devenv as users have it: bytecode caching on; an isolated data root; the
        benchmark's Docker engine for ``--runtime docker`` (when it runs)."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["DEVENV_ROOT"] = str(root or self.devenv_root)
        if self._engine is not None:
            env.update(self._engine.env)
        return env

    def remove_devenv_containers(self, root: Path) -> None:
        """Remove every container of a devenv data root (their network goes with the last one)."""
        if not root.exists():
            return
        env = self.devenv_env(root)
        ids = tidy(self.devenv("container", "ls", "-aq"), env=env).split()
        if ids:
            tidy(self.devenv("container", "rm", "-f", *ids), env=env)
        kill_leftovers(root)

    # -- peers -----------------------------------------------------------------------------------
    def _need_peers(self) -> None:
        if not self.peers:
            raise RuntimeError("peers disabled (--no-peers)")

    @property
    def engine_started(self) -> bool:
        return self._engine is not None

    def engine(self) -> PrivateEngine:
        """The benchmark's Docker engine (started once; its own bridge, see benchmarks.engine)."""
        if self._engine is None:
            self._engine = self.fresh_engine("engine")
        return self._engine

    def fresh_engine(self, name: str) -> PrivateEngine:
        """Another private engine (e.g. an empty one for pulls); stopped when the context closes."""
        self._need_peers()
        apt_install("dockerd")
        engine = PrivateEngine(self.scratch / name)
        self.on_close(engine.stop)
        return engine.start()

    def docker_env(self) -> dict[str, str]:
        """Environment for the reference side: the docker CLI and devcontainers/cli on our engine."""
        return {**os.environ, **self.engine().env}

    def devcontainer_cli(self) -> str:
        """The reference CLI (npm @devcontainers/cli), installed if missing."""
        self._need_peers()
        found = shutil.which("devcontainer")
        if found is None:
            print("   installing @devcontainers/cli with npm", file=sys.stderr)
            subprocess.run(["npm", "install", "-g", "--silent", "@devcontainers/cli"], check=True, capture_output=True)
            found = shutil.which("devcontainer")
        if found is None:
            raise RuntimeError("could not install @devcontainers/cli with npm")
        return found

    def registry_host(self) -> str:
        if self._registry is None:
            from tests.support.registry import start_registry

            apt_install("docker-registry")
            self._registry = start_registry(self.scratch / "registry")
        return str(self._registry.host)

    def image(self, name: str) -> str:
        """Push a test base image ("busybox" or "debian") to the local registry; returns its reference."""
        if name in self._images:
            return self._images[name]
        from tests.support import images

        apt_install("skopeo", "busybox", "mmdebstrap")
        host = self.registry_host()
        if name == "busybox":
            layout, _ = images.busybox_layout(self.scratch / "busybox")
            ref = f"{host}/busybox:latest"
            images.skopeo_push(layout, ref)
        elif name == "debian":
            layout = images.debian_layout(self.scratch / "debian")
            ref = f"{host}/debian:bookworm"
            images.skopeo_push(layout, ref, fmt="v2s2")
        else:
            raise ValueError(f"unknown test image {name!r}")
        self._images[name] = ref
        return ref

    def pulled(self, name: str) -> str:
        """A test image, pulled into devenv's store and into the benchmark's Docker engine (untimed)."""
        ref = self.image(name)
        if self.peers:
            subprocess.run(self.engine().docker("pull", "-q", ref), check=True, capture_output=True)
        subprocess.run(self.devenv("image", "pull", ref), check=True, capture_output=True, env=self.devenv_env())
        return ref
