"""Consecutive lifecycle hooks in one process in the container: one exec instead of one per hook.

An exec into a container costs a round trip (≈15–30 ms on the embedded runtime, ≈100 ms through the
docker CLI), and a new container usually runs two or three hooks in a row (postCreateCommand then
postStartCommand, say). When they are due one after the other, nothing runs between them and none is
in the parallel object form, they go into one small ``/bin/sh`` script that runs each command exactly
as it would have run alone — a string through ``/bin/sh -c``, an array directly, same user, folder and
environment — records each hook's marker after its last command succeeded, and stops at the first
failure. Lines carrying a random token tell this side where each command begins and how it ended, so
the events (``Running the postStartCommand ...``, the prefixed output, ``... failed with exit code N``)
are the same, in the same order, as when the hooks run one exec each.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from devenv.errors import LifecycleCommandFailed
from devenv.events import NULL, Reporter
from devenv.workspace.hooks import CommandRunner, HookCommand, argv_of, is_empty


@dataclass(frozen=True)
class Step:
    """One command of a hook (``entry`` None: a hook without commands, only its marker is written).

    ``marker``: shell code recording the hook as done, run after this step succeeded (its last command)."""

    hook: str
    entry: HookCommand | None
    marker: str | None = None


def batchable(entries: Sequence[HookCommand]) -> bool:
    """A hook whose commands can join a batch: strings and arrays (the object form runs in parallel)."""
    return not any(isinstance(e.command, Mapping) for e in entries if not is_empty(e.command))


def steps_of(hook: str, entries: Sequence[HookCommand], marker: str | None) -> list[Step]:
    todo = [e for e in entries if not is_empty(e.command)]
    if not todo:
        return [Step(hook, None, marker)] if marker else []
    return [Step(hook, e, marker if i == len(todo) - 1 else None) for i, e in enumerate(todo)]


def script(steps: Sequence[Step], token: str) -> str:
    lines = []
    for i, step in enumerate(steps):
        if step.entry is not None:
            command = step.entry.command
            assert not isinstance(command, Mapping)
            argv = " ".join(shlex.quote(a) for a in argv_of(command))
            lines.append(f"printf '%s\\n' '{token}:{i}:start'")
            lines.append(f"{argv} </dev/null; rc=$?")
            lines.append(f'[ "$rc" -eq 0 ] || {{ printf \'%s:%s\\n\' \'{token}:{i}:fail\' "$rc"; exit "$rc"; }}')
        if step.marker:
            lines.append(
                f"{{ {step.marker}; }} 2>/dev/null || echo 'devenv: could not record that the {step.hook} ran' >&2"
            )
        lines.append(f"printf '%s\\n' '{token}:{i}:done'")
    return "\n".join(lines)


def _origin_text(origin: str) -> str:
    return origin if origin == "devcontainer.json" else f"feature '{origin}'"


def run_batch(steps: Sequence[Step], run: CommandRunner, reporter: Reporter = NULL) -> list[str]:
    """Run the steps in one process; returns the hooks whose markers were written (in order).

    Raises :class:`LifecycleCommandFailed` for the first command that failed, as :func:`run_hook` does."""
    batch = BatchOutput(steps, reporter)
    try:
        code = run(["/bin/sh", "-c", script(steps, batch.token)], batch.on_line)
    except FileNotFoundError:
        code = 127
    return batch.result(code)


class BatchOutput:
    """Follows a batch's output: events for each command, which hooks finished, which one failed."""

    def __init__(self, steps: Sequence[Step], reporter: Reporter = NULL) -> None:
        self.steps = steps
        self.reporter = reporter
        self.token = f"devenv-step-{os.urandom(16).hex()}"
        self.current = -1
        self.finished: list[str] = []
        self.tail: list[str] = []
        self.failed: list[int] = []
        self.dones = 0

    def label(self, i: int) -> str:
        entry = self.steps[i].entry
        assert entry is not None
        return f"{self.steps[i].hook} from {_origin_text(entry.origin)}"

    def output(self, line: str) -> None:
        if self.current < 0:
            return
        self.tail.append(line)
        del self.tail[:-20]
        hook = self.steps[self.current].hook
        self.reporter.event(
            "hook.output", hook=hook, source=self.label(self.current), line=line, message=f"[{hook}] {line}"
        )

    def on_line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        at = text.find(self.token)
        if at == -1:
            self.output(text)
            return
        if at > 0:
            self.output(text[:at])  # the command's last line had no newline
        _, index, what, *rest = text[at:].split(":")
        i = int(index)
        step = self.steps[i]
        if what == "start":
            assert step.entry is not None
            self.current = i
            self.tail.clear()
            origin = _origin_text(step.entry.origin)
            self.reporter.event(
                "hook.start",
                hook=step.hook,
                origin=step.entry.origin,
                message=f"Running the {step.hook} from {origin}...",
            )
        elif what == "fail":
            self.failed.append(int(rest[0]) if rest and rest[0].isdigit() else 1)
        elif what == "done":
            if step.entry is not None:
                origin = _origin_text(step.entry.origin)
                self.reporter.event(
                    "hook.done", hook=step.hook, origin=step.entry.origin, message=f"{step.hook} from {origin} done"
                )
            self.current = -1
            self.dones += 1
            if step.marker:
                self.finished.append(step.hook)

    def result(self, code: int) -> list[str]:
        """The hooks whose markers were written; raises LifecycleCommandFailed when a command failed."""
        if code != 0 or self.failed or self.dones < len(self.steps):
            steps = self.steps
            i = self.current if self.current >= 0 else next((k for k, s in enumerate(steps) if s.entry is not None), 0)
            code = self.failed[0] if self.failed else code or 1
            what = self.label(i)
            self.reporter.event(
                "hook.failed",
                hook=steps[i].hook,
                source=what,
                exit_code=code,
                message=f"{what} failed with exit code {code}. Skipping any further commands.",
            )
            raise LifecycleCommandFailed(what, code, detail="\n".join(self.tail) or None)
        return self.finished
