"""The per-container forwarder: host ports to the container, auto-forward, DNS proxy; as long as the container.

It runs as its own process, ``python -m devenv.network.forwarder <container-id>``, in its own session so
the CLI that started it can exit. :func:`devenv.network.attach` starts it (:func:`spawn`) with the host
listeners already bound and the container's namespace (and, for a pid, a pidfd) as inherited descriptors;
:func:`devenv.network.detach` stops it (:func:`stop`). It exits by itself when the container's pid 1
exits or its namespace goes away, and on SIGTERM. Started without inherited listeners (``attach(...,
spawn_forwarder=False)``, then this command run by a supervisor), it binds the configured ports itself.

Connections are made from inside the container's namespace, to the container's own localhost (then
``::1``, then its bridge address), so servers bound to 127.0.0.1 inside are reachable too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import replace

from devenv.errors import DevenvError, NetworkError
from devenv.network import hostports, nsutil, procnet, state
from devenv.network.loop import EventLoop
from devenv.network.ports import attributes_for, has_expressions
from devenv.network.state import Attachment, ForwardedPort, PortsState
from devenv.runtime.base import PortMapping

RETRY_SKIPPED_EVERY = 10  # scans


class _Listener:
    """One host socket: TCP ones are served by the forwarder's event loop, UDP ones by a thread."""

    def __init__(self, fwd: Forwarder, sock: socket.socket, mapping: PortMapping, source: str) -> None:
        self.fwd, self.sock, self.mapping, self.source = fwd, sock, mapping, source
        self.closed = False
        self.on_auto_forward: str | None = None  # auto-forwarded: the attribute that applied
        self._resolved: tuple[float, list[tuple[int, str]]] | None = None

    def start(self) -> None:
        if self.mapping.protocol == "udp":
            threading.Thread(target=self._serve_udp, name=f"udp-{self.mapping.host_port}", daemon=True).start()
        else:
            local = not self.mapping.target_host
            self.fwd.loop.add_listener(self.sock, self.mapping.container_port, self._targets, local=local)

    def close(self) -> None:
        self.closed = True
        if self.mapping.protocol == "udp":
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()
        else:
            self.fwd.loop.remove_listener(self.sock)

    def _targets(self) -> list[tuple[int, str]]:
        """Runs on the loop thread, inside the container's namespace."""
        host = self.mapping.target_host
        if host:
            now = time.monotonic()
            if self._resolved is None or now - self._resolved[0] > 30.0:
                infos = socket.getaddrinfo(host, self.mapping.container_port, type=socket.SOCK_STREAM)
                self._resolved = (now, [(info[0], str(info[4][0])) for info in infos])
            return list(self._resolved[1])
        targets: list[tuple[int, str]] = [(socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")]
        if self.fwd.att.ip:
            targets.append((socket.AF_INET, self.fwd.att.ip))
        return targets

    def _serve_udp(self) -> None:
        nsutil.setns(self.fwd.netns_fd)
        peers: dict[tuple[str, int], socket.socket] = {}
        while not self.closed:
            try:
                data, client = self.sock.recvfrom(65535)
            except OSError:
                return
            up = peers.get(client)
            if up is None:
                host = self.mapping.target_host or "127.0.0.1"
                up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    up.connect((host, self.mapping.container_port))
                except OSError:
                    up.close()
                    continue
                peers[client] = up
                threading.Thread(target=self._udp_back, args=(up, client, peers), daemon=True).start()
            with contextlib.suppress(OSError):
                up.send(data)

    def _udp_back(
        self, up: socket.socket, client: tuple[str, int], peers: dict[tuple[str, int], socket.socket]
    ) -> None:
        up.settimeout(120.0)
        try:
            while not self.closed:
                data = up.recv(65535)
                self.sock.sendto(data, client)
        except OSError:
            pass
        finally:
            peers.pop(client, None)
            up.close()


class Forwarder:
    """Serves one container's ports until :meth:`stop` (or the container's end, in :meth:`run`)."""

    def __init__(
        self,
        att: Attachment,
        netns_fd: int,
        listeners: list[tuple[socket.socket, PortMapping]],
        *,
        dns_sockets: tuple[socket.socket, socket.socket] | None = None,
        interval: float = 1.0,
    ) -> None:
        self.att, self.netns_fd, self.interval = att, netns_fd, interval
        self.netns_id = nsutil.netns_identity(netns_fd)
        self.loop = EventLoop(netns_fd)
        self.configured = [_Listener(self, s, m, "configured") for s, m in listeners]
        self.auto: dict[int, _Listener] = {}
        self.ignored: set[int] = set()
        self.skipped: dict[int, str] = {}
        self.scans = 0
        self.dns_sockets = dns_sockets
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def start(self) -> None:
        self.loop.start()
        for listener in self.configured:
            listener.start()
        if self.dns_sockets is not None and self.att.dns_proxy:
            from devenv.network.dns import DnsProxy

            DnsProxy(*self.dns_sockets, upstreams=self.att.dns_proxy).start()
        self.publish()
        if self.att.policy.auto_forward:
            threading.Thread(target=self._poll, name="auto-forward", daemon=True).start()

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            for listener in [*self.configured, *self.auto.values()]:
                listener.close()
            self.auto.clear()
        self.loop.stop()
        with contextlib.suppress(FileNotFoundError):
            state.ports_path(self.att.container_id).unlink()

    def ports(self) -> PortsState:
        with self.lock:
            items = [*self.configured, *self.auto.values()]
            found = tuple(
                ForwardedPort(
                    container_port=ls.mapping.container_port,
                    host_ip=ls.mapping.host_ip,
                    host_port=ls.mapping.host_port,
                    protocol=ls.mapping.protocol,
                    label=ls.mapping.label,
                    source="auto" if ls.source == "auto" else "configured",
                    target_host=ls.mapping.target_host,
                    on_auto_forward=ls.on_auto_forward,
                )
                for ls in items
            )
            return PortsState(found, tuple(self.skipped.values()))

    def publish(self) -> None:
        if not self.stopping.is_set():
            state.save_ports(self.att.container_id, self.ports())

    def _excluded(self) -> set[int]:
        ports = {ls.mapping.container_port for ls in self.configured if not ls.mapping.target_host}
        if self.att.dns_proxy:
            ports.add(53)
        return ports

    def scan_once(self) -> bool:
        """Compare the container's listening ports with the auto-forwarded ones; True when something changed."""
        listeners = procnet.read_listeners(self.netns_fd)
        listening = {ls.port: ls for ls in listeners if ls.port not in self._excluded()}
        changed = False
        with self.lock:
            for port in [p for p in self.auto if p not in listening]:
                self.auto.pop(port).close()
                changed = True
            self.ignored &= set(listening)
            self.scans += 1
            retry = self.scans % RETRY_SKIPPED_EVERY == 0  # the busy host port may be free by now
            for port in [p for p in self.skipped if p not in listening or retry]:
                del self.skipped[port]
                changed = True
            for port, found in sorted(listening.items()):
                if port in self.auto or port in self.ignored or port in self.skipped:
                    continue
                changed |= self._forward_new(port, found)
        if changed:
            self.publish()
        return changed

    def _forward_new(self, port: int, found: procnet.Listener) -> bool:
        policy = self.att.policy
        command = procnet.owner_command_line(found.inode, self.netns_id) if has_expressions(policy) else None
        attrs = attributes_for(port, policy, command)
        if attrs.on_auto_forward == "ignore":
            self.ignored.add(port)
            return False
        mapping = PortMapping(
            port,
            port,
            label=attrs.label,
            require_local_port=attrs.require_local_port,
            elevate_if_needed=attrs.elevate_if_needed,
        )
        try:
            sock, bound = hostports.bind(mapping)
        except NetworkError as exc:
            self.skipped[port] = f"container port {port} not forwarded: {exc.message}"
            return True
        listener = _Listener(self, sock, bound, "auto")
        listener.on_auto_forward = attrs.on_auto_forward
        self.auto[port] = listener
        listener.start()
        return True

    def _poll(self) -> None:
        while not self.stopping.wait(self.interval):
            try:
                self.scan_once()
            except (OSError, DevenvError) as exc:
                print(f"auto-forward scan failed: {exc}", file=sys.stderr, flush=True)

    def run(self, pidfd: int | None, netns_path: str, wakeup: int | None = None) -> None:
        """Serve until the container ends (``pidfd`` readable, or ``netns_path`` no longer this namespace),
        :meth:`stop`, or ``wakeup`` (a pipe's read end) becomes readable."""
        self.start()
        watch = [fd for fd in (pidfd, wakeup) if fd is not None]
        timeout = 3600.0 if pidfd is not None else max(self.interval, 0.5)  # without a pidfd: poll the path
        try:
            while not self.stopping.is_set():
                if watch:
                    ready, _, _ = select.select(watch, [], [], timeout)
                    if ready:
                        return
                else:
                    self.stopping.wait(timeout)
                if pidfd is None and not self._same_netns(netns_path):
                    return
        finally:
            self.stop()

    def _same_netns(self, path: str) -> bool:
        try:
            return nsutil.netns_identity(path) == self.netns_id
        except OSError:
            return False


def spawn(
    att: Attachment,
    netns_fd: int,
    listeners: list[tuple[socket.socket, PortMapping]],
    dns_sockets: tuple[socket.socket, socket.socket] | None,
    pidfd: int | None,
    *,
    fork: bool = False,
) -> tuple[int, int | None]:
    """Start the forwarder process for ``att`` (detached: its own session); returns its pid and start time
    at once. The listeners are bound already (connections wait in their backlog), so the caller need not
    wait while it starts; a forwarder that fails to start says why in its log (``devenv ports`` then says
    it is not running).

    ``fork``: a fork of the calling process serves the ports (no new interpreter: nothing to import, it
    serves at once), when that process allows it (:func:`can_fork`: the network agent does), else a new
    interpreter. The fork is the caller's child: it reaps it (:func:`reap`). ``att`` need not be saved
    before a fork; a new interpreter reads it from the record."""
    if fork and can_fork():
        return _fork(att, netns_fd, listeners, dns_sockets, pidfd)
    argv = [sys.executable, "-m", "devenv.network.forwarder", att.container_id, "--netns-fd", str(netns_fd)]
    fds = [netns_fd]
    for index, (sock, _) in enumerate(listeners):
        argv += ["--listen", f"{sock.fileno()}={index}"]
        fds.append(sock.fileno())
    if dns_sockets is not None:
        argv += ["--dns-fds", f"{dns_sockets[0].fileno()},{dns_sockets[1].fileno()}"]
        fds += [s.fileno() for s in dns_sockets]
    if pidfd is not None:
        argv += ["--pidfd", str(pidfd)]
        fds.append(pidfd)
    log_fd = _open_log(att.container_id)
    pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.setsid()
            grandchild = os.fork()
            if grandchild:
                os.write(pid_w, f"{grandchild}\n".encode())
                os._exit(0)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(log_fd, 2)
            for fd in fds:
                os.set_inheritable(fd, True)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    os.close(pid_w)
    os.close(log_fd)
    try:
        data = os.read(pid_r, 64)
    finally:
        os.close(pid_r)
        os.waitpid(child, 0)
    if not data.strip().isdigit():
        raise NetworkError(f"the port forwarder for {att.container_id} could not be started")
    pid = int(data.strip())
    return pid, start_time(pid)


# -- forwarders forked from the network agent ---------------------------------------------------------------

_forked: set[int] = set()  # this process's forwarder children, not reaped yet


def title(container_id: str) -> str:
    """A forwarder's command line: what ``ps`` shows, and what finds the forwarder of a container."""
    return f"{sys.executable} -m devenv.network.forwarder {container_id}"


def _title_room() -> int:
    """Bytes of this process's command line (its argv area, which a forked forwarder overwrites)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[46]) - int(fields[45])  # arg_end - arg_start (fields 49 and 48)
    except (OSError, ValueError, IndexError):
        return 0


def can_fork() -> bool:
    """Whether a fork of this process may serve a container's ports: it has a single thread (a fork of
    a threaded process may inherit a lock held by a thread that does not exist in the child) and room
    in its command line for the forwarder's title (the network agent is started with it)."""
    import threading

    return threading.active_count() == 1 and _title_room() >= len(title("x" * 128)) + 1


def _open_log(container_id: str) -> int:
    log = state.log_path(container_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    return os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _fork(
    att: Attachment,
    netns_fd: int,
    listeners: list[tuple[socket.socket, PortMapping]],
    dns_sockets: tuple[socket.socket, socket.socket] | None,
    pidfd: int | None,
) -> tuple[int, int | None]:
    log_fd = _open_log(att.container_id)
    try:
        keep = {netns_fd, log_fd, *(s.fileno() for s, _ in listeners), *(s.fileno() for s in dns_sockets or ())}
        if pidfd is not None:
            keep.add(pidfd)
        child = os.fork()
        if child == 0:  # pragma: no cover - runs in the child (tests see it serve)
            code = 1
            try:
                _become_forwarder(att.container_id, keep, log_fd)
                code = _serve_forked(att, netns_fd, listeners, dns_sockets, pidfd)
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                with contextlib.suppress(BaseException):
                    sys.stderr.flush()
                os._exit(code)
    finally:
        os.close(log_fd)
    _forked.add(child)
    return child, start_time(child)


def _become_forwarder(container_id: str, keep: set[int], log_fd: int) -> None:  # pragma: no cover - child
    """In a fork: its own session, the caller's descriptors gone (its connections, sockets, locks), stdio
    to /dev/null and the log, the forwarder's title."""
    import gc

    gc.freeze()  # (the parent's objects stay shared: the collector never touches them)
    os.setsid()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(log_fd, 2)
    # The caller's other descriptors become /dev/null rather than closed: objects of the caller that
    # still name them (which this process never uses) can then never close a descriptor of ours.
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep and fd != null:
            with contextlib.suppress(OSError):
                os.dup2(null, fd, inheritable=False)
    _set_title(title(container_id))


def _set_title(text: str) -> None:  # pragma: no cover - runs in a forked forwarder
    """Overwrite this process's command line (``/proc/PID/cmdline``) with ``text``, NUL-padded."""
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as f:
        f.write("devenv-forward")
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        begin, end = int(fields[45]), int(fields[46])
        data = text.encode().replace(b" ", b"\0")[: end - begin - 1]
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(begin)
            mem.write(data + b"\0" * (end - begin - len(data)))


def _serve_forked(
    att: Attachment,
    netns_fd: int,
    listeners: list[tuple[socket.socket, PortMapping]],
    dns_sockets: tuple[socket.socket, socket.socket] | None,
    pidfd: int | None,
) -> int:  # pragma: no cover - runs in a forked forwarder
    from devenv.network import settings

    fwd = Forwarder(att, netns_fd, listeners, dns_sockets=dns_sockets, interval=settings.load().autoforward_interval)
    wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    signal.signal(signal.SIGTERM, lambda *_: os.write(wake_w, b"x"))
    signal.signal(signal.SIGINT, lambda *_: os.write(wake_w, b"x"))
    fwd.run(pidfd, att.netns, wake_r)
    return 0


def reap() -> None:
    """Collect the forwarders this process forked that have exited (a SIGCHLD handler calls it)."""
    for pid in list(_forked):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _forked.discard(pid)


def start_time(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def stop(pid: int, started: int | None, timeout: float = 5.0) -> None:
    """Stop a forwarder if ``pid`` is still that process (same start time); wait until it is gone."""
    pidfd = nsutil.pidfd_open(pid)
    if pidfd is None:
        return
    try:
        if start_time(pid) != started:
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
        ready, _, _ = select.select([pidfd], [], [], timeout)
        if not ready:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            select.select([pidfd], [], [], timeout)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        _forked.discard(pid)
    finally:
        os.close(pidfd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devenv.network.forwarder")
    parser.add_argument("container_id")
    parser.add_argument("--netns-fd", type=int)
    parser.add_argument("--listen", action="append", default=[], help="FD=INDEX of the configured mapping")
    parser.add_argument("--dns-fds", default="")
    parser.add_argument("--pidfd", type=int)
    parser.add_argument("--daemon", action="store_true", help="fork; print the forwarder's pid; exit")
    args = parser.parse_args(argv)
    if args.daemon:
        child = os.fork()
        if child:
            sys.stdout.write(f"{child}\n")
            sys.stdout.flush()
            os._exit(0)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    att = state.load(args.container_id)
    if att is None:
        print(f"no network attachment for {args.container_id}", file=sys.stderr)
        return 1
    listeners: list[tuple[socket.socket, PortMapping]] = []
    if args.netns_fd is not None:  # started by attach: everything is bound already, attach keeps the record
        netns_fd = args.netns_fd
        for spec in args.listen:
            fd, index = (int(x) for x in spec.split("="))
            listeners.append((socket.socket(fileno=fd), att.ports[index]))
    else:  # started by a supervisor after attach(..., spawn_forwarder=False): bind, and record ourselves
        netns_fd = nsutil.open_netns(att.netns)
        for mapping in att.ports:
            try:
                listeners.append(hostports.bind(mapping))
            except NetworkError as exc:
                print(exc.render(), file=sys.stderr, flush=True)
        bound = tuple(m for _, m in listeners)
        state.save(replace(att, ports=bound, forwarder_pid=os.getpid(), forwarder_start=start_time(os.getpid())))
    dns = None
    if args.dns_fds:
        udp, tcp = (int(x) for x in args.dns_fds.split(","))
        dns = (socket.socket(fileno=udp), socket.socket(fileno=tcp))
    from devenv.network import settings

    fwd = Forwarder(att, netns_fd, listeners, dns_sockets=dns, interval=settings.load().autoforward_interval)
    wake_r, wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    signal.signal(signal.SIGTERM, lambda *_: os.write(wake_w, b"x"))
    signal.signal(signal.SIGINT, lambda *_: os.write(wake_w, b"x"))
    fwd.run(args.pidfd, att.netns, wake_r)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
