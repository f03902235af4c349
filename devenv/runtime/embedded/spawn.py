"""Start a container's supervisor (:mod:`.supervisor`), before its configuration is complete.

A start has two halves that do not depend on each other: the caller's (the record, the image's
layers, the :class:`~.config.RunConfig`) and the kernel's (the cgroup, the container's namespaces,
its network: a cgroup v1 join alone waits for an RCU grace period, ~10 ms). So the supervisor is
spawned first, with only what the kernel half needs (the :class:`Early` facts: id, directories,
network mode and ports, terminal or pipes), and starts on it at once; the caller sends the complete
configuration as a CONFIG frame when it has it, and the supervisor finishes the start. The CLI's
``container run`` spawns the supervisor even before it imports the code that creates the container.
If the caller closes the control socket instead, the supervisor undoes what it did and exits.

The supervisor is forked from the caller when that is cheap and safe (a small, single-threaded
process such as the CLI's fast path), else re-executed as ``python -I -S`` with only the standard
library and this package's small runtime modules imported (idle memory matters: one supervisor per
running container). Either way the caller keeps one end of a socketpair, the *control socket*,
speaking :mod:`.stream` frames. This module imports only the standard library: it runs first.
"""

from __future__ import annotations

import json
import os
import socket
import sys

TYPE_CHECKING = False  # (typing is not imported at run time: this module runs first)
if TYPE_CHECKING:
    from typing import Any, TypedDict

    class Early(TypedDict):
        """What the supervisor needs before the configuration: enough to create the cgroup, the
        namespaces and the network, and to wire the container's stdio."""

        id: str
        state_dir: str  # exists already; the record may not yet
        data_root: str
        cgroup_parent: str
        network: str  # bridge | host | none
        attach_network: bool
        ports: list[dict[str, Any]]  # PortMapping fields
        ports_policy: dict[str, Any]  # PortsPolicy fields
        tty: bool
        stdin_open: bool
        sys_path: list[str]  # the caller's import path (a re-executed supervisor needs the network's)


CONFIG = 22  # frame: caller -> supervisor, the RunConfig (JSON); see .stream for the others
EARLY = 23  # frame: caller -> a spare supervisor, {"early", "env", "umask"} (JSON)
_spare: socket.socket | None = None  # the control socket of a supervisor forked ahead (fork_spare)
# Set by a command that exits right after its work (the CLI's ``up``): every spawn is then short-lived.
caller_exits_soon = False
FORK_RSS_LIMIT_KIB = 40 * 1024
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from devenv.runtime.embedded.supervisor import main_from_exec; main_from_exec()"  # noqa: E501


def early_facts(
    container_id: str,
    state_dir: str,
    data_root: str,
    *,
    network: str,
    ports: list[dict[str, Any]],
    ports_policy: dict[str, Any],
    tty: bool,
    stdin_open: bool,
    cgroup_parent: str = "devenv",
) -> Early:
    auto_forward = bool(ports_policy.get("auto_forward"))
    attach = network == "bridge" or bool(ports) or auto_forward  # (netns.needs_attach)
    return {
        "id": container_id,
        "state_dir": state_dir,
        "data_root": data_root,
        "cgroup_parent": cgroup_parent,
        "network": network,
        "attach_network": attach,
        "ports": ports,
        "ports_policy": ports_policy,
        "tty": tty,
        "stdin_open": stdin_open,
        "sys_path": list(sys.path) if attach else [],
    }


def spawn(early: Early, mode: str = "auto", *, short_lived: bool = False) -> socket.socket:
    """Start the supervisor of ``early["id"]``; returns the control socket (send CONFIG on it next).

    ``mode``: ``fork``, ``exec`` or ``auto`` (fork when this process is single-threaded and small).
    ``short_lived``: the caller exits soon (the CLI): the supervisor may be its child (forked once, not
    twice), reparented when the caller exits; else it is a grandchild, never the caller's zombie.
    """
    short_lived = short_lived or caller_exits_soon
    if mode == "auto":
        threading = sys.modules.get("threading")  # not imported: certainly single-threaded
        single = threading is None or threading.active_count() == 1
        mode = "fork" if single and _rss_kib() < FORK_RSS_LIMIT_KIB else "exec"
    global _spare
    if _spare is not None and mode == "fork":
        sock, _spare = _spare, None
        mask = os.umask(0o22)
        os.umask(mask)
        facts = {"early": early, "env": dict(os.environ), "umask": mask}
        try:
            sock.sendall(_frame(EARLY, json.dumps(facts).encode()))
            return sock
        except OSError:  # (it died: fork one now)
            sock.close()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    log = os.path.join(early["state_dir"], "supervisor.log")
    if mode == "fork":
        # Imported here, before the fork: the supervisor starts at once, and what its modules share with
        # the caller's (json, sockets, the records) is imported once, not by both processes.
        from devenv.runtime.embedded import supervisor

        try:
            pid = os.fork()
        except OSError as exc:  # (out of processes or memory)
            ours.close()
            theirs.close()
            raise _spawn_failed(exc) from None
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                os.setsid()
                if not short_lived and os.fork() != 0:  # a grandchild: never a zombie of the caller
                    os._exit(0)
                ours.close()
                _daemon_stdio(log)
                os.closerange(3, theirs.fileno())
                os.closerange(theirs.fileno() + 1, 65536)
                supervisor.run(early, theirs)
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(1)
        if not short_lived:
            os.waitpid(pid, 0)
    else:
        import subprocess

        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        try:
            with open(log, "ab") as err:
                # The new interpreter forks once more and exits: the supervisor is never our child.
                subprocess.run(
                    [sys.executable, "-I", "-S", "-c", _BOOT, root, json.dumps(early), str(theirs.fileno())],
                    pass_fds=[theirs.fileno()],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,
                    check=False,
                )
        except OSError as exc:
            ours.close()
            theirs.close()
            raise _spawn_failed(exc) from None
    theirs.close()
    return ours


def _spawn_failed(exc: OSError) -> Exception:
    """The error of a supervisor that could not be started (as ``docker run``'s when the engine fails: 125)."""
    from devenv.runtime.embedded.lifecycle import StartFailed

    err = StartFailed(
        f"cannot start a container's supervisor process: {exc.strerror or exc}",
        125,
        remedy="the system or this session may be out of processes or memory (see ulimit -u, the pids and memory "
        "limits of its cgroup); try again once others have ended",
    )
    err.exit_code = 125  # (also where it is reported as any other error: before the container exists)
    return err


def fork_spare() -> None:
    """Fork a supervisor ahead of its container: it waits for the early facts (an EARLY frame, which
    :func:`spawn` sends instead of forking), then runs as any other. For a process that runs one command
    and has the time before it comes (a starter's worker); the spare ends when its socket closes unused."""
    global _spare
    from devenv.runtime.embedded import supervisor

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.setsid()
            ours.close()
            os.closerange(3, theirs.fileno())
            os.closerange(theirs.fileno() + 1, 65536)
            payload = _read_frame(theirs, EARLY)
            if payload is None:
                os._exit(0)
            facts = json.loads(payload)
            os.environ.clear()
            os.environ.update(facts["env"])
            os.umask(int(facts["umask"]))
            early: Early = facts["early"]
            _daemon_stdio(os.path.join(early["state_dir"], "supervisor.log"))
            supervisor.run(early, theirs)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(1)
    theirs.close()
    _spare = ours


def _frame(kind: int, payload: bytes) -> bytes:
    return bytes((kind,)) + len(payload).to_bytes(4, "big") + payload  # (stream.frame's format)


def _read_frame(sock: socket.socket, kind: int) -> bytes | None:
    """Exactly one frame of ``kind`` (nothing after it is consumed); None at EOF or another kind."""
    head = sock.recv(5, socket.MSG_WAITALL)
    if len(head) < 5 or head[0] != kind:
        return None
    size = int.from_bytes(head[1:5], "big")
    payload = sock.recv(size, socket.MSG_WAITALL) if size else b""
    return payload if len(payload) == size else None


def prestart(
    data_root: str,
    *,
    network: str,
    ports: list[dict[str, Any]],
    tty: bool,
    stdin_open: bool,
    mode: str = "auto",
    short_lived: bool = False,
) -> tuple[Early, socket.socket]:
    """A new container's directory and its supervisor, before the container is created (the caller then
    creates it with that ID and starts it with this supervisor, or closes the socket to call it off).
    ``short_lived``: see :func:`spawn`."""
    cid = os.urandom(32).hex()
    state_dir = os.path.join(data_root, "containers", cid)
    os.makedirs(state_dir, mode=0o711)
    policy: dict[str, Any] = {"attributes": [], "other": None, "auto_forward": False}
    early = early_facts(
        cid, state_dir, data_root, network=network, ports=ports, ports_policy=policy, tty=tty, stdin_open=stdin_open
    )
    try:
        return early, spawn(early, mode, short_lived=short_lived)
    except BaseException:
        import shutil

        shutil.rmtree(state_dir, ignore_errors=True)
        raise


def _rss_kib() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, ValueError, IndexError):
        return 1 << 30


def _daemon_stdio(log: str) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    err = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(err, 2)
    os.close(null)
    os.close(err)
