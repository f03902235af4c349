"""One thread that forwards TCP: accepts on host listeners, connects inside the container, relays with splice.

The loop thread enters the container's network namespace once, so the sockets it creates to reach the
container's servers live there, while the host listeners (created elsewhere) stay on the host. Everything
is non-blocking and driven by epoll: a new connection costs no thread, and bytes move kernel to kernel with
``splice(2)`` through a pipe per direction. Per direction the state is simply "bytes waiting in the pipe":
read from the source only when the pipe is empty, write to the destination until it is, and half-close the
destination when the source ends.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import queue
import selectors
import socket
import sys
import threading
import traceback
from collections.abc import Callable

from devenv.network import nsutil

CHUNK = 1 << 20
F_SETPIPE_SZ = 1031
FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
ROUNDS = 8  # splice rounds per event before giving other connections a turn
PIPE_POOL = 32  # empty pipes kept for new connections

Targets = Callable[[], list[tuple[int, str]]]
"""Where to connect, in order: ``(family, address)`` pairs, tried until one accepts."""


class _Half:
    """One direction: ``src`` -> pipe -> ``dst``."""

    def __init__(self, src: socket.socket, dst: socket.socket, pipes: list[tuple[int, int]]) -> None:
        self.src, self.dst = src, dst
        self.pipes = pipes
        if pipes:
            self.r, self.w = pipes.pop()
        else:
            self.r, self.w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
            with contextlib.suppress(OSError):
                fcntl.fcntl(self.w, F_SETPIPE_SZ, CHUNK)
        self.pending = 0
        self.done = False

    def pump(self) -> None:
        """Move what can be moved now; raises OSError when the connection broke."""
        for _ in range(ROUNDS):
            if self.pending == 0:
                try:
                    n = os.splice(self.src.fileno(), self.w, CHUNK, flags=FLAGS)
                except BlockingIOError:
                    return
                if n == 0:
                    self.done = True
                    with contextlib.suppress(OSError):
                        self.dst.shutdown(socket.SHUT_WR)
                    return
                self.pending = n
            try:
                self.pending -= os.splice(self.r, self.dst.fileno(), self.pending, flags=FLAGS)
            except BlockingIOError:
                return
            if self.pending:
                return

    def close(self) -> None:
        if self.pending == 0 and len(self.pipes) < PIPE_POOL:
            self.pipes.append((self.r, self.w))  # empty: reusable by the next connection
        else:
            os.close(self.r)
            os.close(self.w)


class _Conn:
    def __init__(
        self, loop: EventLoop, client: socket.socket, port: int, targets: list[tuple[int, str]], local: bool
    ) -> None:
        self.loop, self.client, self.port, self.targets, self.local = loop, client, port, targets, local
        self.upstream: socket.socket | None = None
        self.halves: list[_Half] = []
        self.closed = False
        self._connect_next()

    def _connect_next(self) -> None:
        while self.targets:
            family, address = self.targets.pop(0)
            up = socket.socket(family, socket.SOCK_STREAM)
            if not self.local:
                up.setblocking(False)
            err = up.connect_ex((address, self.port))  # a local handshake completes within the call
            up.setblocking(False)
            if err == 0:
                self._connected(up)
                return
            if err == errno.EINPROGRESS:
                self.upstream = up
                self.loop.watch(up, selectors.EVENT_WRITE, self._on_connect)
                return
            up.close()
        self.close()  # nothing listens: the client sees its connection closed

    def _on_connect(self, mask: int) -> None:
        up = self.upstream
        assert up is not None
        err = up.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if not err:
            try:
                up.getpeername()
            except OSError:
                return  # a stray wake-up: still connecting
        self.loop.watch(up, 0, None)
        if err:
            self.upstream = None
            up.close()
            self._connect_next()
        else:
            self._connected(up)

    def _connected(self, up: socket.socket) -> None:
        self.upstream = up
        for sock in (self.client, up):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pipes = self.loop.pipes
        self.halves = [_Half(self.client, up, pipes), _Half(up, self.client, pipes)]
        self._step(None)

    def _step(self, half: _Half | None) -> None:
        try:
            for h in [half] if half is not None else self.halves:
                if not h.done:
                    h.pump()
        except OSError:
            self.close()
            return
        if all(h.done and h.pending == 0 for h in self.halves):
            self.close()
            return
        self._interest()

    def _interest(self) -> None:
        """Each socket: readable wanted when its outgoing pipe is empty, writable when its incoming one is not."""
        out_client, out_up = self.halves
        for sock, outgoing, incoming in ((self.client, out_client, out_up), (self.upstream, out_up, out_client)):
            assert sock is not None
            mask = 0
            if not outgoing.done and outgoing.pending == 0:
                mask |= selectors.EVENT_READ
            if incoming.pending:
                mask |= selectors.EVENT_WRITE
            self.loop.watch(sock, mask, self._on_event)

    def _on_event(self, mask: int) -> None:
        self._step(None)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.upstream):
            if sock is not None:
                self.loop.watch(sock, 0, None)
                sock.close()
        for h in self.halves:
            h.close()
        self.loop.connections.discard(self)


class EventLoop:
    """Forwarding for one container; ``netns_fd`` None keeps the loop in the caller's namespace."""

    def __init__(self, netns_fd: int | None) -> None:
        self.netns_fd = netns_fd
        self.selector = selectors.EpollSelector()
        self.calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.selector.register(self.wake_r, selectors.EVENT_READ, None)
        self.listeners: dict[int, tuple[socket.socket, int, Targets, bool]] = {}
        self.pipes: list[tuple[int, int]] = []
        self.connections: set[_Conn] = set()
        self.handlers: dict[int, Callable[[int], None]] = {}
        self.masks: dict[int, int] = {}  # what each fd is registered for
        self.running = True
        self.thread = threading.Thread(target=self._run, name="forward-loop", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loop thread (thread-safe)."""
        self.calls.put(fn)
        with contextlib.suppress(BlockingIOError):
            os.write(self.wake_w, b"x")

    def add_listener(self, sock: socket.socket, port: int, targets: Targets, *, local: bool = True) -> None:
        """Accept on ``sock`` (a listening host socket); each connection goes to ``port`` at ``targets``.

        ``local``: the targets are in the container itself (its loopback or its own address), so connecting
        cannot block; otherwise connections are made without blocking the loop."""
        sock.setblocking(False)
        self.call(lambda: self._add_listener(sock, port, targets, local))

    def remove_listener(self, sock: socket.socket) -> None:
        """Stop accepting on ``sock`` and close it; connections already made go on."""
        self.call(lambda: self._remove_listener(sock))

    def stop(self) -> None:
        self.call(self._stop)
        if threading.current_thread() is not self.thread and self.thread.is_alive():
            self.thread.join(10)

    def watch(self, sock: socket.socket, mask: int, handler: Callable[[int], None] | None) -> None:
        fd = sock.fileno()
        if fd < 0:
            return
        current = self.masks.get(fd, 0)
        if mask == 0 or handler is None:
            if current:
                self.selector.unregister(fd)
                del self.handlers[fd], self.masks[fd]
            return
        self.handlers[fd] = handler
        if current == mask:
            return
        if current:
            self.selector.modify(fd, mask, None)
        else:
            self.selector.register(fd, mask, None)
        self.masks[fd] = mask

    def _add_listener(self, sock: socket.socket, port: int, targets: Targets, local: bool) -> None:
        self.listeners[sock.fileno()] = (sock, port, targets, local)
        self.watch(sock, selectors.EVENT_READ, lambda mask: self._accept(sock))

    def _remove_listener(self, sock: socket.socket) -> None:
        self.listeners.pop(sock.fileno(), None)
        self.watch(sock, 0, None)
        sock.close()

    def _accept(self, listener: socket.socket) -> None:
        _, port, targets, local = self.listeners[listener.fileno()]
        for _ in range(64):
            try:
                client, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            client.setblocking(False)
            try:
                where = targets()
            except OSError:
                client.close()
                continue
            self.connections.add(_Conn(self, client, port, where, local))

    def _stop(self) -> None:
        self.running = False
        for sock, _, _, _ in list(self.listeners.values()):
            self._remove_listener(sock)
        for conn in list(self.connections):
            conn.close()
        for r, w in self.pipes:
            os.close(r)
            os.close(w)
        self.pipes.clear()

    def _run(self) -> None:
        if self.netns_fd is not None:
            nsutil.setns(self.netns_fd)
        try:
            while self.running:
                for key, mask in self.selector.select():
                    if key.fd == self.wake_r:
                        with contextlib.suppress(BlockingIOError):
                            os.read(self.wake_r, 4096)
                        while not self.calls.empty():
                            try:
                                self.calls.get()()
                            except Exception:
                                traceback.print_exc(file=sys.stderr)
                        continue
                    handler = self.handlers.get(key.fd)
                    if handler is not None:
                        try:
                            handler(mask)
                        except Exception:  # a bug must not stop every other forwarded connection
                            traceback.print_exc(file=sys.stderr)
        finally:
            self.selector.close()
            os.close(self.wake_r)
            os.close(self.wake_w)
