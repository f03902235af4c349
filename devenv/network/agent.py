"""The network agent: one short-lived process per data root that attaches and detaches containers.

Attaching a container takes a few netlink requests; importing the code that makes them (pyroute2, and
:mod:`devenv.network` itself) takes far longer, on a start path that should take tens of milliseconds.
So the containers' supervisors do not attach their network themselves: they ask the agent, which has
it all loaded. The agent is started on demand (by the first supervisor that needs it), serves requests
one at a time, and exits once nobody has asked for anything for ``bridge_linger`` seconds (a setting,
10 by default: :mod:`devenv.network.settings`). Detaching through the agent keeps an unused bridge and
its firewall rules for that long, for the next container; when the agent exits it removes them if no
container is attached (a bridge nobody uses never outlives the agent). With ``bridge_linger`` 0 the
last detach removes the bridge at once, as a direct :func:`devenv.network.detach` does.

Nothing lives only in the agent: it runs :func:`devenv.network.attach` / :func:`~devenv.network.detach`,
whose state is on disk under the network lock, so a killed agent loses nothing and a caller that cannot
reach an agent (or a new one) does the work in-process.

Protocol: a Unix socket named after the data root, in a directory only root can enter
(``/run/devenv-network/<hash>.sock``: not an abstract socket, which any process sharing the host's network
namespace could reach — a ``--network host`` container among them); the peer's uid is checked too. One
JSON request per connection, one JSON answer. ``{"op": "attach", "id", "pid", "mode", "ports",
"policy", "env"}`` (or ``"netns"``, a path, instead of ``"pid"``, and then ``"watch"``: the pid of the
process whose end ends the container's port forwarder, its supervisor when its init does not exist yet)
answers ``{"ok": true, "ip", "resolv_conf", "ports"}``; ``{"op": "detach", "id", "env"}`` answers
``{"ok": true}``; failures ``{"ok": false, "error"}``. ``env``: the caller's ``DEVENV_*`` variables
(settings come from them).

The client half (:func:`call`; :func:`send` and :func:`answer` to overlap a request with other work)
imports only the standard library: the supervisor uses it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import struct
import sys
import time

TYPE_CHECKING = False  # (typing is not imported at run time: the client is on the container start path)
if TYPE_CHECKING:
    from typing import Any

SO_PEERCRED = 17
SOCKET_DIR = "/run/devenv-network"
CONNECT_TIMEOUT = 15.0  # seconds to wait for a starting agent's socket
REQUEST_TIMEOUT = 120.0  # the first attach of a cold agent imports everything, may create a bridge
TITLE_ROOM = 256  # = devenv.network.forwarder.TITLE_ROOM (not imported: the client half stays small)


class AgentError(Exception):
    """The agent answered with an error (its message is the network error's)."""


def socket_name(data_root: str) -> str:
    """The agent's socket for ``data_root`` (its lock file is the same path with ``.lock``)."""
    path = os.path.realpath(data_root).encode()
    try:  # (the builtin module: hashlib would load OpenSSL on this path)
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - other Python builds
        from hashlib import sha256
    digest: str = sha256(path).hexdigest()
    return os.path.join(os.environ.get("DEVENV_NETWORK_AGENT_DIR") or SOCKET_DIR, digest[:32] + ".sock")


def request_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("DEVENV_")}


# -- client -------------------------------------------------------------------------------------------------


def call(data_root: str, msg: dict[str, Any], *, sys_path: list[str] | None = None) -> dict[str, Any]:
    """Send ``msg`` to the agent of ``data_root`` (started if none runs); its answer. Raises AgentError
    for an error it reports, OSError when no agent can be reached."""
    name = socket_name(data_root)
    msg = {**msg, "env": {**request_env(), "DEVENV_ROOT": data_root}}
    data = json.dumps(msg).encode() + b"\n"
    for attempt in range(3):
        try:
            answer = _roundtrip(name, data)
        except (ConnectionRefusedError, FileNotFoundError, ConnectionResetError, EOFError) as exc:
            if attempt == 2:
                raise OSError(errno.ECONNREFUSED, f"no network agent: {exc}") from None
            if not isinstance(exc, ConnectionRefusedError | FileNotFoundError):
                time.sleep(0.05)  # an agent exiting right now: the next one takes over
            _spawn(data_root, sys_path)
            _wait_listening(name)
            continue
        if not answer.get("ok"):
            raise AgentError(str(answer.get("error") or "the network agent failed"))
        return answer
    raise OSError(errno.ECONNREFUSED, "no network agent")  # pragma: no cover - the loop returns or raises


def send(data_root: str, msg: dict[str, Any]) -> socket.socket:
    """Send ``msg`` to the running agent of ``data_root`` without waiting for the answer (:func:`answer`
    reads it). OSError when none listens: :func:`call` then (it starts one)."""
    data = json.dumps({**msg, "env": {**request_env(), "DEVENV_ROOT": data_root}}).encode() + b"\n"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(socket_name(data_root))
        sock.settimeout(REQUEST_TIMEOUT)
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
    except BaseException:
        sock.close()
        raise
    return sock


def answer(sock: socket.socket) -> dict[str, Any]:
    """The answer to what :func:`send` sent (the socket is closed). AgentError for an error it reports,
    OSError/EOFError when it went away without one."""
    with sock:
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    if not chunks:
        raise EOFError("the network agent closed the connection without an answer")
    reply: dict[str, Any] = json.loads(b"".join(chunks))
    if not reply.get("ok"):
        raise AgentError(str(reply.get("error") or "the network agent failed"))
    return reply


def _roundtrip(name: str, data: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
        sock.connect(name)
        sock.settimeout(REQUEST_TIMEOUT)
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    if not chunks:
        raise EOFError("the network agent closed the connection without an answer")
    answer: dict[str, Any] = json.loads(b"".join(chunks))
    return answer


def _wait_listening(name: str) -> None:
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as probe:
            try:
                probe.connect(name)
                return  # (the agent sees a connection without a request and ignores it)
            except OSError:
                if time.monotonic() > deadline:
                    raise
        time.sleep(0.002)


def _spawn(data_root: str, sys_path: list[str] | None) -> None:
    """Start an agent for ``data_root``, detached (its own session, not our child). If another one wins
    the race for the socket, ours exits at once."""
    env = dict(os.environ)
    env["DEVENV_ROOT"] = data_root
    paths = [p for p in (sys_path if sys_path is not None else sys.path) if p]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    log_dir = os.path.join(data_root, "network")
    os.makedirs(log_dir, exist_ok=True)
    log = os.open(os.path.join(log_dir, "agent.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    argv = [sys.executable, "-m", "devenv.network.agent", data_root]
    # The forwarders it forks overwrite their copy of its command line with their title: room for it.
    room = TITLE_ROOM - sum(len(os.fsencode(arg)) + 1 for arg in argv) - 1
    argv.append(" " * max(room, 1))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(log, 2)
            os.closerange(3, 65536)
            os.chdir("/")
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    os.close(log)  # (the child's copy is its stderr)
    os.waitpid(pid, 0)


# -- server -------------------------------------------------------------------------------------------------


def _peer_uid(conn: socket.socket) -> int:
    raw = conn.getsockopt(socket.SOL_SOCKET, SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", raw)[1])


class _Server:
    def __init__(self, data_root: str, listener: socket.socket) -> None:
        from devenv.network.netlink import PyrouteNetlink

        self.data_root = data_root
        self.listener = listener
        self.netlink = PyrouteNetlink()  # one netlink socket for the agent's life
        self.rules_checked: dict[str, tuple[int, float]] = {}
        self.bridges_seen: dict[str, Any] = {}
        self.base_env = {k: v for k, v in os.environ.items() if not k.startswith("DEVENV_")}
        self.linger = 10.0
        self.bridges: dict[str, dict[str, str]] = {}  # bridge -> the env of the last request that used it

    def _use_env(self, env: dict[str, str]) -> None:
        os.environ.clear()
        os.environ.update(self.base_env)
        os.environ.update({k: v for k, v in env.items() if k.startswith("DEVENV_")})
        os.environ["DEVENV_ROOT"] = self.data_root

    def _network(self) -> Any:
        from devenv.network import attachment, settings

        conf = settings.load()
        self.linger = conf.bridge_linger
        self.bridges[conf.bridge] = {k: v for k, v in os.environ.items() if k.startswith("DEVENV_")}
        net = attachment.Network(conf, netlink=self.netlink)
        net.rules_checked = self.rules_checked
        net.bridges_seen = self.bridges_seen
        return net

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        from dataclasses import asdict

        from devenv.network import attachment
        from devenv.runtime.base import PortAttributes, PortMapping, PortsPolicy

        self._use_env(msg.get("env") or {})
        if not os.path.isdir(self.data_root):  # (deleted under us: nothing to record; its bridge goes at exit)
            if msg.get("op") == "detach":
                return {"ok": True}
            return {"ok": False, "error": f"the data root {self.data_root} does not exist"}
        net = self._network()
        cid = str(msg["id"])
        if msg.get("op") == "attach":
            policy = msg.get("policy") or {}
            attrs = tuple((key, PortAttributes(**value)) for key, value in policy.get("attributes") or ())
            other = PortAttributes(**policy["other"]) if policy.get("other") else None
            att = attachment.attach(
                cid,
                str(msg["netns"]) if msg.get("netns") else int(msg["pid"]),
                msg.get("mode") or "bridge",
                tuple(PortMapping(**p) for p in msg.get("ports") or ()),
                policy=PortsPolicy(attrs, other, bool(policy.get("auto_forward"))),
                fork_forwarder=True,
                watch_pid=int(msg["watch"]) if msg.get("watch") else None,
                network=net,
            )
            return {"ok": True, "ip": att.ip, "resolv_conf": att.resolv_conf, "ports": [asdict(p) for p in att.ports]}
        if msg.get("op") == "detach":
            attachment.detach(cid, network=net, keep_bridge=self.linger > 0)
            if self.linger <= 0:
                self.teardown()
            return {"ok": True}
        return {"ok": False, "error": f"unknown request {msg.get('op')!r}"}

    def teardown(self) -> None:
        """Remove the bridges it served if nobody uses them (the linger is over, or there is none). When
        the data root itself is gone (a test's, say), its bridge goes as an orphan would, without making
        the root's directories again."""
        for env in list(self.bridges.values()):
            self._use_env(env)
            net = self._network()
            if os.path.isdir(self.data_root):
                net.teardown_if_unused()
            else:
                from devenv.fsutil import file_lock
                from devenv.network import settings

                with file_lock(settings.lock_path(), what="the devenv network lock"):
                    links = net.netlink.links()
                    bridge = next((link for link in links if link.name == net.conf.bridge), None)
                    if bridge is not None and not any(link.master == bridge.index for link in links):
                        net.teardown_bridge(None)  # (checks that the bridge is this root's)

    def serve(self) -> None:
        last = time.monotonic()
        while True:
            idle = time.monotonic() - last
            wait = self.linger - idle
            if wait <= 0 or not os.path.isdir(self.data_root):
                return
            self.listener.settimeout(min(wait, 5.0))
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                self._serve_one(conn)
            last = time.monotonic()

    def _serve_one(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10.0)
            if _peer_uid(conn) not in (0, os.getuid()):
                return
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
            if not chunks:
                return  # a probe: the client waits for the socket to listen
            msg = json.loads(b"".join(chunks))
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"network agent: bad request: {exc}\n")
            return
        try:
            answer = self.handle(msg)
        except Exception as exc:  # the caller reports it (NetworkError carries the reason and remedy)
            render = getattr(exc, "render", None)
            answer = {"ok": False, "error": render() if callable(render) else str(exc)}
        try:
            conn.sendall(json.dumps(answer).encode())
        except OSError as exc:
            sys.stderr.write(f"network agent: cannot answer: {exc}\n")

    def drain(self) -> None:
        """Serve the connections already queued, without waiting for more."""
        self.listener.setblocking(False)
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            conn.setblocking(True)
            with conn:
                self._serve_one(conn)


def serve(data_root: str) -> int:
    from devenv.fsutil import try_hold_lock

    path = socket_name(data_root)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    os.chmod(os.path.dirname(path), 0o700)
    lock_path = path.removesuffix(".sock") + ".lock"
    deadline = time.monotonic() + 60
    while True:  # the lock is held for an agent's life (the kernel drops it when the process ends)
        if try_hold_lock(lock_path) is not None:
            break
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as probe:
            try:
                probe.connect(path)
                return 0  # another agent serves this data root
            except OSError:
                pass  # one is starting, or leaving (tidying up): wait for its lock
        if time.monotonic() > deadline:
            return 1
        time.sleep(0.005)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # (left by an agent that was killed)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    listener.bind(path)
    listener.listen(128)
    with open("/proc/self/comm", "w") as f:
        f.write("devenv-network")
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))  # (stop now: tidy up as when idle)
    from devenv.network import forwarder

    signal.signal(signal.SIGCHLD, lambda signum, frame: forwarder.reap())  # (the forwarders it forked)
    server = _Server(data_root, listener)
    try:
        server.serve()
        server.drain()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # from here on, callers start a new agent (which waits for our lock)
        listener.close()
        try:
            server.teardown()
        except Exception as exc:
            sys.stderr.write(f"network agent: removing the unused bridge failed: {exc}\n")
        server.netlink.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)  # (still held: a new agent waiting for it takes a new one)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[1:] and not args[1].strip():
        args = args[:1]  # (room for the titles of the forwarders it forks: see _spawn)
    if len(args) != 1:
        sys.stderr.write("usage: python -m devenv.network.agent DATA_ROOT\n")
        return 2
    return serve(os.path.abspath(args[0]))


if __name__ == "__main__":
    raise SystemExit(main())
