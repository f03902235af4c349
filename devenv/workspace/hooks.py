"""Lifecycle commands: the three forms, parallel entries, live prefixed output, and the order of hooks.

* string → ``/bin/sh -c``; array → run directly (no shell); object ``{name: string|array}`` → every
  entry in parallel, all must succeed.
* For one hook, the features' commands run first (install order), then devcontainer.json's.
* A failure stops every later command and hook; the error names the hook, the entry and the origin.
* Output is streamed line by line as ``hook.output`` events, prefixed with the hook (and entry) name.

Running a command is delegated to a :data:`CommandRunner` (the container's exec, or the host for
``initializeCommand``), so this module is pure orchestration and is unit-tested with a fake runner.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from devenv.errors import LifecycleCommandFailed
from devenv.events import NULL, Reporter

if TYPE_CHECKING:
    import threading

CommandEntry = str | Sequence[str]
LifecycleCommand = str | Sequence[str] | Mapping[str, CommandEntry]
"""A string (``/bin/sh -c``), an argv (no shell) or ``{name: command}`` (parallel); lists or tuples."""

CONTAINER_HOOKS = (
    "onCreateCommand",
    "updateContentCommand",
    "postCreateCommand",
    "postStartCommand",
    "postAttachCommand",
)
ALL_HOOKS = ("initializeCommand", *CONTAINER_HOOKS)
CREATE_HOOKS = CONTAINER_HOOKS[:3]


class HookCommand(Protocol):
    """One command of a hook and who contributed it (a feature id or ``devcontainer.json``).

    :class:`devenv.config.merge.HookCommand` is one; :class:`Hook` is the plain one used elsewhere.
    """

    @property
    def origin(self) -> str: ...

    @property
    def command(self) -> LifecycleCommand: ...


@dataclass(frozen=True)
class Hook:
    origin: str
    command: LifecycleCommand


def to_json(command: LifecycleCommand) -> Any:
    """A command as plain JSON (lists and dicts), e.g. to keep it in the workspace state."""
    if isinstance(command, str):
        return command
    if isinstance(command, Mapping):
        return {k: v if isinstance(v, str) else list(v) for k, v in command.items()}
    return list(command)


OutputLine = Callable[[bytes], None]
CommandRunner = Callable[[Sequence[str], OutputLine], int]
"""Runs ``argv`` to completion, passing its output (stdout+stderr) line by line; returns the exit code."""


def is_empty(command: LifecycleCommand | None) -> bool:
    if command is None:
        return True
    if isinstance(command, str):
        return not command.strip()
    return len(command) == 0


def argv_of(command: CommandEntry) -> list[str]:
    return ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)


def _origin_text(origin: str) -> str:
    return origin if origin == "devcontainer.json" else f"feature '{origin}'"


class _Failure(Exception):
    def __init__(self, label: str, code: int, tail: list[str]) -> None:
        super().__init__(label)
        self.label = label
        self.code = code
        self.tail = tail


def _run_one(
    run: CommandRunner, argv: list[str], hook: str, label: str, prefix: str, reporter: Reporter, lock: threading.Lock
) -> None:
    tail: list[str] = []

    def on_line(raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        tail.append(line)
        del tail[:-20]
        with lock:
            reporter.event("hook.output", hook=hook, source=label, line=line, message=f"[{prefix}] {line}")

    try:
        code = run(argv, on_line)
    except FileNotFoundError:
        code = 127
    if code != 0:
        raise _Failure(label, code, tail)


def run_hook_command(
    hook: str, entry: HookCommand, run: CommandRunner, reporter: Reporter = NULL, *, max_parallel: int = 8
) -> None:
    """Run one command of ``hook`` (any of the three forms). Raises LifecycleCommandFailed."""
    command = entry.command
    if is_empty(command):
        return
    origin = _origin_text(entry.origin)
    import threading  # (here: only hooks need it)

    lock = threading.Lock()
    reporter.event("hook.start", hook=hook, origin=entry.origin, message=f"Running the {hook} from {origin}...")
    try:
        if isinstance(entry, _Wrapped):
            _run_one(run, entry.argv, hook, f"{hook} from {origin}", hook, reporter, lock)
        elif isinstance(command, Mapping):
            items = [(name, cmd) for name, cmd in command.items() if not is_empty(cmd)]
            from concurrent.futures import ThreadPoolExecutor  # (only for the object form: a few ms to import)

            with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(items)))) as pool:
                futures = [
                    pool.submit(
                        _run_one,
                        run,
                        argv_of(cmd),
                        hook,
                        f"{name} of {hook} from {origin}",
                        f"{hook}:{name}",
                        reporter,
                        lock,
                    )
                    for name, cmd in items
                ]
                failures = []
                for fut in futures:  # wait for all of them, as the reference does, then report the first
                    exc = fut.exception()
                    if exc is not None:
                        failures.append(exc)
            if failures:
                raise failures[0]
        else:
            _run_one(run, argv_of(command), hook, f"{hook} from {origin}", hook, reporter, lock)
    except _Failure as failure:
        reporter.event(
            "hook.failed",
            hook=hook,
            source=failure.label,
            exit_code=failure.code,
            message=f"{failure.label} failed with exit code {failure.code}. Skipping any further commands.",
        )
        raise LifecycleCommandFailed(failure.label, failure.code, detail="\n".join(failure.tail) or None) from None
    reporter.event(
        "hook.done", hook=hook, origin=entry.origin, message=f"{hook} from {_origin_text(entry.origin)} done"
    )


def run_hook(
    hook: str,
    entries: Sequence[HookCommand],
    run: CommandRunner,
    reporter: Reporter = NULL,
    *,
    on_success: str | None = None,
) -> bool:
    """Run every command of one hook in order (features first, as given). True when any command ran.

    ``on_success``: shell code to run after the hook's last command succeeded, in the same process
    (when that command is a string or an array); returns whether it was placed there.
    """
    todo = [e for e in entries if not is_empty(e.command)]
    for i, entry in enumerate(todo):
        command = entry.command
        if on_success and i == len(todo) - 1 and not isinstance(command, Mapping):
            script = _ON_SUCCESS.format(on_success=on_success, hook=hook)
            wrapped = ["/bin/sh", "-c", script, "devenv", *argv_of(command)]
            run_hook_command(hook, _Wrapped(entry.origin, command, wrapped), run, reporter)
            return True
        run_hook_command(hook, entry, run, reporter)
    return False


_ON_SUCCESS = (
    '"$@"; rc=$?\n'
    'if [ "$rc" -eq 0 ]; then {{ {on_success}; }} 2>/dev/null'
    ' || echo "devenv: could not record that the {hook} ran" >&2; fi\n'
    'exit "$rc"'
)


@dataclass(frozen=True)
class _Wrapped:
    """A command run through a small wrapper (same argv, plus the marker write after success)."""

    origin: str
    command: LifecycleCommand
    argv: list[str]


class MarkerStore:
    """Where "this hook already ran for this container (start)" is remembered: inside the container."""

    def read(self) -> dict[str, str]:
        raise NotImplementedError

    def write(self, hook: str, value: str) -> None:
        """Remember ``hook`` as done for ``value``; may be buffered until :meth:`flush`."""
        raise NotImplementedError

    def flush(self) -> None:
        """Persist buffered writes."""
        return None

    def snippet(self, hook: str, value: str) -> str | None:
        """Shell code that records ``hook`` from inside a hook's own process (None: not supported)."""
        return None

    def record(self, hook: str, value: str) -> None:
        """Note that ``hook`` was recorded in-band (by :meth:`snippet`'s code)."""
        return None


@dataclass(frozen=True)
class LifecyclePlan:
    """What to run now. ``created``/``started``: the container's creation and start stamps (marker values)."""

    hooks: Mapping[str, Sequence[HookCommand]]
    created: str
    started: str
    wait_for: str = "updateContentCommand"
    skip_post_create: bool = False  # no hooks at all (the reference's --skip-post-create)
    skip_post_attach: bool = False
    skip_non_blocking: bool = False  # stop after the waitFor hook
    personalize: Callable[[], None] | None = None  # after postCreateCommand: `up --dotfiles-repository`
    batch: bool = False  # consecutive hooks in one process (see devenv.workspace.hookbatch)


def run_lifecycle(plan: LifecyclePlan, run: CommandRunner, markers: MarkerStore, reporter: Reporter = NULL) -> str:
    """Run the container hooks that are due, in order; returns ``"done"`` or ``"skipNonBlocking"``.

    onCreate → updateContent → postCreate run once per container (marker = creation stamp), postStart once
    per start (marker = start stamp), postAttach every time. A marker is written after its hook succeeded,
    so an interrupted or failed ``up`` resumes with the first hook that did not finish.
    """
    if plan.skip_post_create:
        return "done"
    if plan.skip_non_blocking and plan.wait_for == "initializeCommand":
        return "skipNonBlocking"
    done = markers.read()
    if plan.batch:
        return _run_batched(plan, run, markers, done, reporter)
    try:
        for hook in CONTAINER_HOOKS:
            entries = plan.hooks.get(hook, ())
            if any(not is_empty(e.command) for e in entries):
                markers.flush()  # what finished before is persisted before anything else runs
            if hook == "postAttachCommand":
                if not plan.skip_post_attach:
                    run_hook(hook, entries, run, reporter)
            else:
                stamp = plan.started if hook == "postStartCommand" else plan.created
                if done.get(hook) != stamp:
                    if run_hook(hook, entries, run, reporter, on_success=markers.snippet(hook, stamp)):
                        markers.record(hook, stamp)
                    else:
                        markers.write(hook, stamp)
            if plan.skip_non_blocking and plan.wait_for == hook:
                return "skipNonBlocking"
            if hook == "postCreateCommand" and plan.personalize is not None:
                markers.flush()
                plan.personalize()
        return "done"
    finally:
        markers.flush()


def _run_batched(
    plan: LifecyclePlan, run: CommandRunner, markers: MarkerStore, done: Mapping[str, str], reporter: Reporter
) -> str:
    """:func:`run_lifecycle` with the due hooks that follow each other run in one process: the same
    order, markers, events and stops; an object-form hook (parallel) and the personalisation step
    after postCreateCommand run on their own, between batches."""
    from devenv.workspace import hookbatch

    pending: list[hookbatch.Step] = []

    def flush_batch() -> None:
        if not any(step.entry is not None for step in pending):
            for step in pending:  # hooks without commands only: their markers, without an exec of their own
                markers.write(step.hook, plan.started if step.hook == "postStartCommand" else plan.created)
            pending.clear()
            return
        markers.flush()
        steps = list(pending)
        pending.clear()
        for hook in hookbatch.run_batch(steps, run, reporter):
            markers.record(hook, plan.started if hook == "postStartCommand" else plan.created)

    try:
        for hook in CONTAINER_HOOKS:
            entries = plan.hooks.get(hook, ())
            if hook == "postAttachCommand":
                due, snippet = not plan.skip_post_attach, None
            else:
                stamp = plan.started if hook == "postStartCommand" else plan.created
                due, snippet = done.get(hook) != stamp, markers.snippet(hook, stamp)
            if due:
                if hookbatch.batchable(entries) and (snippet is not None or hook == "postAttachCommand"):
                    pending.extend(hookbatch.steps_of(hook, entries, snippet))
                else:
                    flush_batch()
                    markers.flush()
                    stamp = plan.started if hook == "postStartCommand" else plan.created
                    if run_hook(hook, entries, run, reporter, on_success=snippet):
                        markers.record(hook, stamp)
                    elif hook != "postAttachCommand":
                        markers.write(hook, stamp)
            if plan.skip_non_blocking and plan.wait_for == hook:
                flush_batch()
                return "skipNonBlocking"
            if hook == "postCreateCommand" and plan.personalize is not None:
                flush_batch()
                markers.flush()
                plan.personalize()
        flush_batch()
        return "done"
    finally:
        markers.flush()
