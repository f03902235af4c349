"""Doing things inside a running workspace container through any :class:`~devenv.runtime.base.Runtime`.

* :func:`capture` / :func:`stream`: run a command and get its output (all at once, or line by line).
* :class:`ContainerMarkers`: the lifecycle markers, kept as root under ``/var/devenv/markers``.
* :func:`system_setup`: one root shell script at first start: updateRemoteUserUID, the /etc/environment
  and /etc/profile patches the reference makes, and the remote user's passwd entry.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from devenv.runtime.base import ExecIO, ExecSpec, Runtime
from devenv.workspace.hooks import CommandRunner, MarkerStore, OutputLine
from devenv.workspace.users import PasswdEntry, parse_passwd_line, uid_update_script

MARKER_DIR = "/var/devenv/markers"
PROBE_FILE = "/var/devenv/probe.env"  # the userEnvProbe's result while the set-up exec runs hooks with it
SYSTEM_DIR = "/var/devcontainer"  # the reference's system data folder: its patch markers live here too


def stream(
    runtime: Runtime,
    container_id: str,
    argv: Sequence[str],
    on_line: OutputLine,
    *,
    user: str = "",
    workdir: str = "",
    env: Mapping[str, str] | None = None,
) -> int:
    """Run ``argv`` in the container; stdout+stderr go to ``on_line`` line by line (in the order written).
    Returns the exit code.

    The exec runs in this thread (the embedded runtime relays the output here): a process with a
    second thread could not fork the exec's child straight into the container's cgroup, and would wait
    for an RCU grace period (~15 ms) to move it there."""
    spec = ExecSpec(tuple(argv), env=tuple(f"{k}={v}" for k, v in (env or {}).items()), user=user, workdir=workdir)
    lines = LineSink(on_line)
    try:
        with open(os.devnull, "rb") as devnull:
            return runtime.exec(container_id, spec, ExecIO(stdin=devnull, stdout=lines, stderr=lines))  # type: ignore[arg-type]
    finally:
        lines.close()


class LineSink:
    """A write-only stream (no ``fileno``: runtimes relay into it) that hands ``on_line`` each complete
    line, newline included, as it comes; an unfinished last line at :meth:`close`."""

    def __init__(self, on_line: OutputLine) -> None:
        self.on_line = on_line
        self.pending = b""

    def write(self, data: bytes) -> int:
        buf = self.pending + data if self.pending else data
        start = 0
        while (end := buf.find(b"\n", start)) >= 0:
            self.on_line(buf[start : end + 1])
            start = end + 1
        self.pending = buf[start:]
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if self.pending:
            rest, self.pending = self.pending, b""
            self.on_line(rest)


def capture(
    runtime: Runtime,
    container_id: str,
    argv: Sequence[str],
    *,
    user: str = "",
    workdir: str = "",
    env: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    chunks: list[bytes] = []
    code = stream(runtime, container_id, argv, chunks.append, user=user, workdir=workdir, env=env)
    return code, b"".join(chunks)


def runner(runtime: Runtime, container_id: str, *, user: str, workdir: str, env: Mapping[str, str]) -> CommandRunner:
    """A hook runner bound to a user, a working folder and an environment."""

    def run(argv: Sequence[str], on_line: Callable[[bytes], None]) -> int:
        return stream(runtime, container_id, argv, on_line, user=user, workdir=workdir, env=env)

    return run


class ContainerMarkers(MarkerStore):
    """Hook markers as files ``/var/devenv/markers/<hook>`` holding the stamp they were written for."""

    def __init__(self, runtime: Runtime, container_id: str, initial: Mapping[str, str] | None = None) -> None:
        self.runtime = runtime
        self.container_id = container_id
        self._known = dict(initial) if initial is not None else None
        self._pending: dict[str, str] = {}

    def read(self) -> dict[str, str]:
        if self._known is None:
            script = (
                f"cd {MARKER_DIR} 2>/dev/null || exit 0; "
                'for f in *; do [ -f "$f" ] && printf "%s=%s\\n" "$f" "$(cat "$f")"; done'
            )
            code, out = capture(self.runtime, self.container_id, ["/bin/sh", "-c", script], user="root")
            self._known = parse_markers(out.decode("utf-8", "replace")) if code == 0 else {}
        return dict(self._known)

    def write(self, hook: str, value: str) -> None:
        self._pending[hook] = value

    def snippet(self, hook: str, value: str) -> str | None:
        return marker_snippet(hook, value)

    def record(self, hook: str, value: str) -> None:
        if self._known is not None:
            self._known[hook] = value

    def flush(self) -> None:
        if not self._pending:
            return
        lines = [f"mkdir -p {MARKER_DIR}"]
        for hook, value in self._pending.items():
            target = f"{MARKER_DIR}/{hook}"
            lines.append(f"printf %s {shlex.quote(value)} > {target}.tmp && mv -f {target}.tmp {target}")
        code, out = capture(self.runtime, self.container_id, ["/bin/sh", "-c", " && ".join(lines)], user="root")
        if code != 0:
            from devenv.errors import WorkspaceError

            raise WorkspaceError(
                "cannot record which lifecycle hooks ran (writing markers in the container failed)",
                detail=out.decode("utf-8", "replace"),
            )
        if self._known is not None:
            self._known.update(self._pending)
        self._pending.clear()


def marker_snippet(hook: str, value: str) -> str:
    """Shell code that records ``hook`` as done for ``value`` (the marker folder is writable by all users).

    Written in place when the file is the writer's (or new); else a new file renamed over the old one:
    the old one may belong to another user (root wrote it), whom the remote user cannot overwrite but can
    replace in the shared folder. (A write cut short leaves a value that is not ``value``: the hook is
    then due again, never wrongly taken as done.)"""
    target = f"{MARKER_DIR}/{hook}"
    text = shlex.quote(value)
    replace = f"printf %s {text} > {target}.tmp && mv -f {target}.tmp {target}"
    return f"{{ printf %s {text} > {target}; }} 2>/dev/null || {{ {replace}; }}"


def parse_markers(text: str) -> dict[str, str]:
    markers = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            markers[name] = value
    return markers


@dataclass(frozen=True)
class SetupResult:
    passwd: PasswdEntry | None  # the remote user's entry (after any UID update)
    markers: dict[str, str]
    messages: tuple[str, ...]  # what the uid update did
    probed: dict[str, str] | None = None  # the userEnvProbe result, when the script ran it


def system_setup_script(
    remote_user: str,
    container_env: Mapping[str, str],
    *,
    uid_update: tuple[int, int] | None,
    protected: tuple[str, ...] = (),
    premark: Mapping[str, str] | None = None,
    probe: tuple[str, str] | None = None,
    then: str | None = None,
) -> str:
    """The root script run once per start before any hook; its output is parsed by :func:`parse_setup`.

    ``premark``: hooks without commands, recorded as done at once. ``probe``: (shell flag, mark) to run
    the userEnvProbe here too — when the remote user is root, it saves a round trip. ``then``: shell code
    run after the probe, with the probed environment in ``$PF`` (see :func:`early_hooks_snippet`).
    """
    parts = ["set -u"]
    if uid_update is not None:
        parts.append(
            "(" + uid_update_script(remote_user, uid_update[0], uid_update[1], protected) + ") | sed 's/^/msg:/'"
        )
    env_lines = " ".join(shlex.quote(f'{k}="{v}"') for k, v in container_env.items())
    # (Shell built-ins where they do: every program started in the container costs a millisecond or two.)
    parts.append(
        f"""[ -d {SYSTEM_DIR} ] || mkdir -p {SYSTEM_DIR}
[ -d {MARKER_DIR} ] || mkdir -p -m 0777 {MARKER_DIR}
if [ ! -f {SYSTEM_DIR}/.patchEtcEnvironmentMarker ]; then
  : > {SYSTEM_DIR}/.patchEtcEnvironmentMarker
  printf '%s\\n' '' {env_lines} >> /etc/environment
fi
if [ ! -f {SYSTEM_DIR}/.patchEtcProfileMarker ]; then
  : > {SYSTEM_DIR}/.patchEtcProfileMarker
  [ -f /etc/profile ] && sed -i -E 's/((^|\\s)PATH=)([^\\$]*)$/\\1${{PATH:-\\3}}/g' /etc/profile || true
fi"""
    )
    user = shlex.quote(remote_user.split(":", 1)[0])
    parts.append(
        f"""U={user}
P=
{{ while IFS= read -r l; do case "$l" in "$U":*) P=$l; break;; esac; done < /etc/passwd; }} 2>/dev/null
[ -n "$P" ] || P=$(getent passwd "$U" 2>/dev/null || awk -F: -v u="$U" '$3 == u {{ print; exit }}' /etc/passwd)
printf 'passwd:%s\\n' "$P"
for f in {MARKER_DIR}/*; do
  [ -f "$f" ] && {{ v=; read -r v < "$f" || :; printf "marker:%s=%s\\n" "${{f##*/}}" "$v"; }}
done"""
    )
    for hook, value in (premark or {}).items():
        parts.append(marker_snippet(hook, value) + " || true")
    if probe is not None and then is not None:
        flag, mark = probe
        # The same probe, its result kept in a file too: the hooks that follow are run with it.
        parts.append(
            f"""SH="${{SHELL:-${{P##*:}}}}"; [ -x "$SH" ] || SH=/bin/sh
PF={PROBE_FILE}; : > "$PF"
cd / && unset OLDPWD; "$SH" {flag} 'cat /proc/self/environ > {PROBE_FILE}' </dev/null >/dev/null 2>&1
[ -s "$PF" ] && {{ printf %s {mark}; cat "$PF"; printf %s {mark}; }}
{then}
: > \"$PF\""""
        )
    elif probe is not None:
        flag, mark = probe
        parts.append(
            f"""SH="${{SHELL:-${{P##*:}}}}"; [ -x "$SH" ] || SH=/bin/sh
cd / && unset OLDPWD; "$SH" {flag} 'echo -n {mark}; cat /proc/self/environ; echo -n {mark}' </dev/null 2>/dev/null"""
        )
    parts.append("exit 0")
    return "\n".join(parts)


def early_hooks_snippet(token: str, workdir: str, wrapper: str) -> str:
    """Shell code that runs ``wrapper`` (``exec env "$@" ...``) with the probed variables as its
    arguments, in ``workdir``; ``<token>:go`` before and ``<token>:end:<exit code>`` after. Nothing runs
    when the probe gave nothing, ``xargs`` is missing or the folder does not exist: the caller then runs
    the hooks as usual."""
    return f"""if [ -s "$PF" ] && command -v xargs >/dev/null 2>&1 && cd {shlex.quote(workdir)} 2>/dev/null; then
  unset OLDPWD
  printf '%s\\n' '{token}:go'
  xargs -0 /bin/sh -c {shlex.quote(wrapper)} devenv < "$PF"
  printf '%s:%s\\n' '{token}:end' "$?"
fi"""


def parse_setup(text: str, probe_mark: str | None = None) -> SetupResult:
    probed = None
    if probe_mark is not None:
        from devenv.workspace.environment import parse_probe_output

        probed = parse_probe_output(text.encode("utf-8", "surrogateescape"), probe_mark)
        start, end = text.find(probe_mark), text.rfind(probe_mark)
        if start != -1 and end > start:
            text = text[:start] + text[end + len(probe_mark) :]
    passwd = None
    markers: dict[str, str] = {}
    messages = []
    for line in text.splitlines():
        if line.startswith("passwd:"):
            passwd = parse_passwd_line(line[len("passwd:") :])
        elif line.startswith("marker:"):
            markers.update(parse_markers(line[len("marker:") :]))
        elif line.startswith("msg:"):
            messages.append(line[len("msg:") :])
    return SetupResult(passwd, markers, tuple(messages), probed)
