"""The Docker-engine backend of :class:`~devenv.runtime.base.Runtime`, through the ``docker`` CLI.

The CLI runs on a :class:`~devenv.hosts.base.Host` (this machine by default), so the same code drives a
remote engine later. Containers are described by ``docker inspect``; nothing is stored on our side.
Beyond the protocol, :class:`DockerRuntime` has the few image operations a workspace needs on Docker
(``image_inspect``, ``pull``, ``build``).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import IO, Any

from devenv.errors import ContainerError, ContainerNotFound, HostError, ImageError, ImageNotFound
from devenv.hosts.base import CommandResult, Host
from devenv.runtime.base import (
    Container,
    ContainerSpec,
    ContainerStatus,
    ExecIO,
    ExecSpec,
    MountSpec,
    PortMapping,
)
from devenv.runtime.dockercli import exec_argv, parse_docker_time

_STATUS = {
    "created": ContainerStatus.CREATED,
    "running": ContainerStatus.RUNNING,
    "paused": ContainerStatus.RUNNING,
    "restarting": ContainerStatus.RUNNING,
    "removing": ContainerStatus.STOPPED,
    "exited": ContainerStatus.STOPPED,
    "dead": ContainerStatus.STOPPED,
}


def mount_arg(m: MountSpec) -> str:
    """A ``--mount`` value for a MountSpec (values with commas are quoted, as docker's CSV parser wants)."""

    def q(v: str) -> str:
        return f'"{v}"' if "," in v or '"' in v else v

    parts = [f"type={m.type}"]
    if m.source:
        parts.append(q(f"source={m.source}"))
    parts.append(q(f"target={m.target}"))
    if m.read_only:
        parts.append("readonly")
    parts.extend(o for o in m.options if not o.startswith("consistency="))
    return ",".join(parts)


def create_args(spec: ContainerSpec) -> list[str]:
    """The ``docker create`` arguments for a spec (pure; unit-tested)."""
    args = ["create"]
    if spec.name:
        args += ["--name", spec.name]
    for key, value in sorted(spec.labels.items()):
        args += ["--label", f"{key}={value}"]
    for item in spec.env:
        args += ["--env", item]
    if spec.user:
        args += ["--user", spec.user]
    if spec.workdir:
        args += ["--workdir", spec.workdir]
    if spec.hostname:
        args += ["--hostname", spec.hostname]
    for m in spec.mounts:
        args += ["--mount", mount_arg(m)]
    if spec.network != "bridge":
        args += ["--network", spec.network]
    for p in spec.ports:
        host = f"{p.host_ip}:{p.host_port or ''}" if p.host_ip else f"{p.host_port or ''}"
        args += ["--publish", f"{host}:{p.container_port}/{p.protocol}"]
    if spec.init:
        args.append("--init")
    if spec.privileged:
        args.append("--privileged")
    for cap in spec.cap_add:
        args += ["--cap-add", cap]
    for cap in spec.cap_drop:
        args += ["--cap-drop", cap]
    for opt in spec.security_opt:
        args += ["--security-opt", opt]
    r = spec.resources
    if r.memory_bytes:
        args += ["--memory", str(r.memory_bytes)]
    if r.cpus:
        args += ["--cpus", str(r.cpus)]
    if r.pids_limit:
        args += ["--pids-limit", str(r.pids_limit)]
    if spec.stop_signal and spec.stop_signal != "SIGTERM":
        args += ["--stop-signal", spec.stop_signal]
    args += ["--stop-timeout", str(int(spec.stop_timeout))]
    if spec.command:
        args += ["--entrypoint", spec.command[0], spec.image, *spec.command[1:]]
    else:
        args.append(spec.image)
    return args


def _mounts_from_inspect(raw: list[dict[str, Any]]) -> tuple[MountSpec, ...]:
    mounts = []
    for m in raw:
        kind = m.get("Type", "bind")
        if kind not in ("bind", "volume", "tmpfs"):
            continue
        source = m.get("Name", "") if kind == "volume" else m.get("Source", "")
        mounts.append(MountSpec(kind, m.get("Destination", ""), source or "", read_only=not m.get("RW", True)))
    return tuple(mounts)


def _ports_from_inspect(raw: Mapping[str, Any] | None) -> tuple[PortMapping, ...]:
    ports = []
    for key, bindings in (raw or {}).items():
        port, _, proto = key.partition("/")
        for b in bindings or []:
            ports.append(
                PortMapping(int(port), int(b.get("HostPort") or 0), b.get("HostIp") or "", proto or "tcp")  # type: ignore[arg-type]
            )
    return tuple(ports)


def container_from_inspect(info: Mapping[str, Any]) -> Container:
    """A :class:`Container` record from one ``docker inspect`` object (pure; unit-tested)."""
    config = info.get("Config") or {}
    host_config = info.get("HostConfig") or {}
    state = info.get("State") or {}
    network_mode = host_config.get("NetworkMode") or "default"
    spec = ContainerSpec(
        image=config.get("Image", ""),
        command=tuple((config.get("Entrypoint") or []) + (config.get("Cmd") or [])),
        name=(info.get("Name") or "").lstrip("/"),
        env=tuple(config.get("Env") or ()),
        user=config.get("User") or "",
        workdir=config.get("WorkingDir") or "",
        hostname=config.get("Hostname"),
        labels=dict(config.get("Labels") or {}),
        mounts=_mounts_from_inspect(info.get("Mounts") or []),
        network="host" if network_mode == "host" else "none" if network_mode == "none" else "bridge",
        init=bool(host_config.get("Init")),
        privileged=bool(host_config.get("Privileged")),
        cap_add=tuple(host_config.get("CapAdd") or ()),
        cap_drop=tuple(host_config.get("CapDrop") or ()),
        security_opt=tuple(host_config.get("SecurityOpt") or ()),
    )
    status = _STATUS.get(state.get("Status", ""), ContainerStatus.STOPPED)
    settings = info.get("NetworkSettings") or {}
    return Container(
        id=info["Id"],
        name=spec.name or info["Id"][:12],
        spec=spec,
        status=status,
        created=parse_docker_time(info.get("Created")) or 0.0,
        pid=state.get("Pid") or None if status is ContainerStatus.RUNNING else None,
        started_at=parse_docker_time(state.get("StartedAt")),
        finished_at=parse_docker_time(state.get("FinishedAt")),
        exit_code=state.get("ExitCode") if status is ContainerStatus.STOPPED else None,
        image_id=info.get("Image"),
        ip_address=settings.get("IPAddress") or None,
        ports=_ports_from_inspect(settings.get("Ports")),
    )


def port_is_free(host_ip: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host_ip else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host_ip or "0.0.0.0", port))
        except OSError:
            return False
    return True


def choose_host_port(p: PortMapping) -> PortMapping:
    """forwardPorts semantics on Docker: the same host port when free, else the next free one above it
    (``require_local_port``: exactly that port, the engine reports it when busy)."""
    if p.require_local_port or not p.host_port:
        return p
    for candidate in range(p.host_port, min(p.host_port + 100, 65536)):
        if port_is_free(p.host_ip, candidate):
            return replace(p, host_port=candidate)
    return replace(p, host_port=0)


def _has_fileno(stream: IO[bytes] | None) -> bool:
    if stream is None:
        return True
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _pump(src: IO[bytes], dst: IO[bytes], close_dst: bool = False) -> None:
    try:
        for chunk in iter(lambda: src.read1(65536) if hasattr(src, "read1") else src.read(65536), b""):
            dst.write(chunk)
            dst.flush()
    except (BrokenPipeError, ValueError, OSError):
        pass
    finally:
        if close_dst:
            with contextlib.suppress(OSError):
                dst.close()


class DockerRuntime:
    """Containers on a Docker engine. ``docker``: the CLI to run; ``host``: where (default this machine)."""

    name = "docker"

    def __init__(self, host: Host | None = None, docker: str = "docker") -> None:
        if host is None:
            from devenv.hosts.local import LocalHost

            host = LocalHost()
        self.host = host
        self.docker = docker

    # -- plumbing --------------------------------------------------------------------------------
    def _run(self, *args: str, input: bytes | None = None, timeout: float | None = None) -> CommandResult:
        try:
            return self.host.run([self.docker, *args], input=input, timeout=timeout)
        except HostError as exc:
            raise ContainerError(
                f"cannot run the docker CLI: {exc.message}",
                remedy="install docker (docker.io) or use --runtime embedded",
            ) from exc

    def _check(self, res: CommandResult, what: str, ref: str = "") -> CommandResult:
        if res.ok:
            return res
        err = res.error_text()
        if "No such container" in err or "no such container" in err:
            raise ContainerNotFound(f"no such container: {ref}", remedy="see `devenv ls` or `docker ps -a`")
        if "Cannot connect to the Docker daemon" in err or ("docker daemon" in err.lower() and "running" in err):
            raise ContainerError(
                f"{what}: the Docker engine is not reachable",
                detail=err,
                remedy="start dockerd (`systemctl start docker`) or use the embedded runtime (--runtime embedded)",
            )
        raise ContainerError(f"{what} failed", detail=err or f"docker exited with {res.returncode}")

    def inspect(self, *ids: str) -> list[dict[str, Any]]:
        if not ids:
            return []
        res = self._run("container", "inspect", *ids)
        if not res.ok and "No such" in res.error_text() and len(ids) > 1:
            # Some went away between list and inspect: inspect one by one, keeping the ones that remain.
            found: list[dict[str, Any]] = []
            for one in ids:
                r = self._run("container", "inspect", one)
                if r.ok:
                    found.extend(json.loads(r.stdout))
            return found
        self._check(res, "docker inspect", ids[0])
        data: list[dict[str, Any]] = json.loads(res.stdout)
        return data

    # -- the Runtime protocol --------------------------------------------------------------------
    def create(self, spec: ContainerSpec) -> Container:
        spec = replace(spec, ports=tuple(choose_host_port(p) for p in spec.ports))
        res = self._check(self._run(*create_args(spec)), f"creating a container from {spec.image}")
        return self.get(res.text().strip().splitlines()[-1])

    def start(self, container_id: str, *, meanwhile: Callable[[], object] | None = None) -> Container:
        if meanwhile is not None:
            meanwhile()  # (the docker CLI does the start in one blocking call: nothing to overlap it with)
        self._check(self._run("start", container_id), "docker start", container_id)
        return self.get(container_id)

    def stop(self, container_id: str, timeout: float | None = None) -> Container:
        args = ["stop"] + (["--time", str(int(timeout))] if timeout is not None else []) + [container_id]
        self._check(self._run(*args), "docker stop", container_id)
        return self.get(container_id)

    def remove(self, container_id: str, *, force: bool = False, volumes: bool = False) -> None:
        args = ["rm"] + (["--force"] if force else []) + (["--volumes"] if volumes else []) + [container_id]
        self._check(self._run(*args), "docker rm", container_id)

    def get(self, id_or_name: str) -> Container:
        res = self._run("container", "inspect", id_or_name)
        self._check(res, "docker inspect", id_or_name)
        return container_from_inspect(json.loads(res.stdout)[0])

    def list(self, labels: Mapping[str, str] | None = None, *, all: bool = True) -> builtins.list[Container]:
        args = ["ps", "--no-trunc", "--quiet"] + (["--all"] if all else [])
        for key, value in (labels or {}).items():
            args += ["--filter", f"label={key}={value}"]
        ids = self._check(self._run(*args), "docker ps").text().split()
        return [container_from_inspect(i) for i in self.inspect(*ids)]

    def exec_args(self, container_id: str, spec: ExecSpec) -> builtins.list[str]:
        """The ``docker exec`` arguments (without the docker program itself)."""
        return exec_argv(
            self.docker,
            container_id,
            spec.argv,
            user=spec.user,
            workdir=spec.workdir,
            env=spec.env,
            tty=spec.tty,
            interactive=spec.interactive,
        )[1:]

    def exec(self, container_id: str, spec: ExecSpec, io: ExecIO | None = None) -> int:
        io = io or ExecIO()
        argv = [self.docker, *self.exec_args(container_id, spec)]
        direct = all(_has_fileno(s) for s in (io.stdin, io.stdout, io.stderr))
        stdin: Any = io.stdin if direct else subprocess.PIPE
        if not spec.interactive and io.stdin is None:
            stdin = subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                argv,
                stdin=stdin,
                stdout=io.stdout if direct else subprocess.PIPE,
                stderr=io.stderr if direct else (subprocess.STDOUT if io.stderr is io.stdout else subprocess.PIPE),
            )
        except OSError as exc:
            raise ContainerError(f"cannot run the docker CLI: {exc.strerror}") from exc
        if direct:
            return proc.wait()
        threads = []
        if proc.stdin is not None:
            threads.append(threading.Thread(target=_pump, args=(io.stdin or sys.stdin.buffer, proc.stdin, True)))
        if proc.stdout is not None:
            threads.append(threading.Thread(target=_pump, args=(proc.stdout, io.stdout or sys.stdout.buffer)))
        if proc.stderr is not None:
            threads.append(threading.Thread(target=_pump, args=(proc.stderr, io.stderr or sys.stderr.buffer)))
        for t in threads:
            t.daemon = True
            t.start()
        code = proc.wait()
        for t in threads:
            t.join(5)
        return code

    def exec_replace(self, container_id: str, spec: ExecSpec) -> None:
        """Replace this process with ``docker exec`` (the CLI's fast path: no Python in between)."""
        argv = [self.docker, *self.exec_args(container_id, spec)]
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            raise ContainerError(f"cannot run the docker CLI: {exc.strerror}") from exc

    def logs(self, container_id: str, *, follow: bool = False) -> Iterator[bytes]:
        argv = [self.docker, "logs", *(["--follow"] if follow else []), container_id]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out = proc.stdout
        assert out is not None
        try:
            yield from iter(lambda: os.read(out.fileno(), 65536), b"")
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.wait()
            out.close()
        if proc.returncode not in (0, -15):
            self.get(container_id)  # raises ContainerNotFound when that was the reason

    # -- images (Docker only) --------------------------------------------------------------------
    def image_inspect(self, ref: str) -> dict[str, Any] | None:
        """``docker image inspect`` of ``ref``, or None when the engine does not have it."""
        res = self._run("image", "inspect", ref)
        if not res.ok:
            if "No such image" in res.error_text() or "no such image" in res.error_text().lower():
                return None
            self._check(res, f"inspecting image {ref}")
        data: list[dict[str, Any]] = json.loads(res.stdout)
        return data[0]

    def pull(self, ref: str) -> dict[str, Any]:
        res = self._run("pull", "--quiet", ref)
        if not res.ok:
            err = res.error_text()
            if "not found" in err or "manifest unknown" in err:
                raise ImageNotFound(f"image {ref} not found in its registry", detail=err)
            raise ImageError(f"pulling {ref} failed", detail=err, remedy="check the image name and registry access")
        info = self.image_inspect(ref)
        if info is None:
            raise ImageError(f"pulled {ref} but the engine does not show it")
        return info

    def build(
        self,
        context: str,
        dockerfile: str,
        tag: str,
        *,
        build_args: Mapping[str, str] | None = None,
        target: str | None = None,
        no_cache: bool = False,
        labels: Mapping[str, str] | None = None,
        extra: Sequence[str] = (),
        on_output: Any = None,
    ) -> dict[str, Any]:
        """``docker build`` (output streamed to ``on_output`` line by line); returns the image inspect."""
        argv = [self.docker, "build", "--file", dockerfile, "--tag", tag]
        for k, v in (build_args or {}).items():
            argv += ["--build-arg", f"{k}={v}"]
        for k, v in (labels or {}).items():
            argv += ["--label", f"{k}={v}"]
        if target:
            argv += ["--target", target]
        if no_cache:
            argv.append("--no-cache")
        argv += [*extra, context]
        lines: list[str] = []

        def collect(line: bytes) -> None:
            text = line.decode("utf-8", "replace").rstrip("\n")
            lines.append(text)
            if on_output is not None:
                on_output(text)

        code = self.host.stream(argv, collect, env={"DOCKER_BUILDKIT": os.environ.get("DOCKER_BUILDKIT", "0")})
        if code != 0:
            from devenv.errors import BuildError

            raise BuildError(f"docker build of {tag} failed (exit code {code})", detail="\n".join(lines[-30:]))
        info = self.image_inspect(tag)
        if info is None:
            raise ImageError(f"built {tag} but the engine does not show it")
        return info
