"""Lifecycle hooks: forms, order, parallelism, failures and once-only markers (with a fake runner)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from devenv.errors import LifecycleCommandFailed
from devenv.events import RecordingReporter
from devenv.workspace.hooks import Hook as HookCommand
from devenv.workspace.hooks import (
    LifecyclePlan,
    MarkerStore,
    OutputLine,
    run_hook,
    run_lifecycle,
)


class FakeRunner:
    """Records argv; a command ``fail:N`` exits N; ``sleep:S`` sleeps S seconds; output echoes the argv."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0

    def __call__(self, argv: Sequence[str], on_line: OutputLine) -> int:
        with self.lock:
            self.calls.append(list(argv))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            text = argv[-1]
            if text.startswith("sleep:"):
                time.sleep(float(text.split(":")[1]))
            on_line(f"out {text}\n".encode())
            if text.startswith("fail:"):
                return int(text.split(":")[1])
            return 0
        finally:
            with self.lock:
                self.active -= 1


class MemoryMarkers(MarkerStore):
    def __init__(self) -> None:
        self.saved: dict[str, str] = {}
        self.pending: dict[str, str] = {}
        self.flushes = 0

    def read(self) -> dict[str, str]:
        return dict(self.saved)

    def write(self, hook: str, value: str) -> None:
        self.pending[hook] = value

    def flush(self) -> None:
        if self.pending:
            self.flushes += 1
        self.saved.update(self.pending)
        self.pending.clear()


def test_string_runs_in_sh_and_array_runs_directly() -> None:
    run = FakeRunner()
    run_hook("postCreateCommand", [HookCommand("devcontainer.json", "echo hi && true")], run)
    run_hook("postCreateCommand", [HookCommand("devcontainer.json", ("echo", "a b"))], run)
    assert run.calls == [["/bin/sh", "-c", "echo hi && true"], ["echo", "a b"]]


def test_object_entries_run_in_parallel() -> None:
    run = FakeRunner()
    started = time.monotonic()
    run_hook("postCreateCommand", [HookCommand("devcontainer.json", {"a": "sleep:0.3", "b": ("sleep:0.3",)})], run)
    assert run.max_active == 2
    assert time.monotonic() - started < 0.55


def test_features_first_then_config_in_given_order() -> None:
    run = FakeRunner()
    entries = [HookCommand("ghcr.io/x/f1", "one"), HookCommand("./local", "two"), HookCommand("devcontainer.json", "3")]
    run_hook("onCreateCommand", entries, run)
    assert [c[-1] for c in run.calls] == ["one", "two", "3"]


def test_output_is_streamed_prefixed_by_the_hook_name() -> None:
    run = FakeRunner()
    rec = RecordingReporter()
    run_hook("postStartCommand", [HookCommand("devcontainer.json", {"web": "w", "db": "d"})], run, rec)
    lines = sorted(f["message"] for k, f in rec.events if k == "hook.output")
    assert lines == ["[postStartCommand:db] out d", "[postStartCommand:web] out w"]
    start = [f["message"] for k, f in rec.events if k == "hook.start"]
    assert start == ["Running the postStartCommand from devcontainer.json..."]


def test_failure_names_the_hook_and_stops_later_commands() -> None:
    run = FakeRunner()
    entries = [HookCommand("devcontainer.json", "fail:3"), HookCommand("devcontainer.json", "never")]
    with pytest.raises(LifecycleCommandFailed) as info:
        run_hook("postCreateCommand", entries, run)
    assert info.value.message == "the postCreateCommand from devcontainer.json failed (exit code 3)"
    assert info.value.detail == "out fail:3"
    assert [c[-1] for c in run.calls] == ["fail:3"]


def test_parallel_failure_waits_for_the_others_and_names_the_entry() -> None:
    run = FakeRunner()
    with pytest.raises(LifecycleCommandFailed) as info:
        run_hook("postCreateCommand", [HookCommand("my-feature", {"ok": "sleep:0.2", "bad": "fail:2"})], run)
    assert "bad of postCreateCommand from feature 'my-feature'" in info.value.message
    assert len(run.calls) == 2


def test_empty_commands_are_skipped() -> None:
    run = FakeRunner()
    assert not run_hook("postCreateCommand", [HookCommand("devcontainer.json", "  "), HookCommand("x", ())], run)
    assert run.calls == []


def plan(**kw: object) -> LifecyclePlan:
    hooks = {
        h: [HookCommand("devcontainer.json", h)]
        for h in (
            "onCreateCommand",
            "updateContentCommand",
            "postCreateCommand",
            "postStartCommand",
            "postAttachCommand",
        )
    }
    args: dict[str, object] = {"hooks": hooks, "created": "c1", "started": "s1"}
    args.update(kw)
    return LifecyclePlan(**args)  # type: ignore[arg-type]


def ran(run: FakeRunner) -> list[str]:
    return [c[-1] for c in run.calls]


def test_create_hooks_run_once_start_hooks_per_start_attach_always() -> None:
    markers = MemoryMarkers()
    run = FakeRunner()
    assert run_lifecycle(plan(), run, markers) == "done"
    assert ran(run) == [
        "onCreateCommand",
        "updateContentCommand",
        "postCreateCommand",
        "postStartCommand",
        "postAttachCommand",
    ]
    run2 = FakeRunner()
    run_lifecycle(plan(), run2, markers)  # same container, same start: only postAttach
    assert ran(run2) == ["postAttachCommand"]
    run3 = FakeRunner()
    run_lifecycle(plan(started="s2"), run3, markers)  # restarted
    assert ran(run3) == ["postStartCommand", "postAttachCommand"]


def test_a_failed_hook_is_retried_and_finished_ones_are_not() -> None:
    markers = MemoryMarkers()
    p = plan()
    hooks = dict(p.hooks)
    hooks["postCreateCommand"] = [HookCommand("devcontainer.json", "fail:1")]
    with pytest.raises(LifecycleCommandFailed):
        run_lifecycle(LifecyclePlan(hooks, "c1", "s1"), FakeRunner(), markers)
    assert set(markers.saved) == {"onCreateCommand", "updateContentCommand"}
    run = FakeRunner()
    run_lifecycle(plan(), run, markers)
    assert ran(run) == ["postCreateCommand", "postStartCommand", "postAttachCommand"]


def test_skip_non_blocking_stops_after_wait_for() -> None:
    run = FakeRunner()
    assert run_lifecycle(plan(skip_non_blocking=True), run, MemoryMarkers()) == "skipNonBlocking"
    assert ran(run) == ["onCreateCommand", "updateContentCommand"]
    run = FakeRunner()
    result = run_lifecycle(plan(skip_non_blocking=True, wait_for="postCreateCommand"), run, MemoryMarkers())
    assert result == "skipNonBlocking"
    assert ran(run)[-1] == "postCreateCommand"


def test_skip_post_create_and_post_attach() -> None:
    run = FakeRunner()
    run_lifecycle(plan(skip_post_create=True), run, MemoryMarkers())
    assert run.calls == []
    run = FakeRunner()
    run_lifecycle(plan(skip_post_attach=True), run, MemoryMarkers())
    assert "postAttachCommand" not in ran(run)


def test_markers_without_commands_are_batched() -> None:
    markers = MemoryMarkers()
    run_lifecycle(LifecyclePlan({}, "c1", "s1"), FakeRunner(), markers)
    assert markers.flushes == 1
    assert set(markers.saved) == {"onCreateCommand", "updateContentCommand", "postCreateCommand", "postStartCommand"}


class InBandMarkers(MemoryMarkers):
    """Markers written by the hook's own process (as the container store does)."""

    def __init__(self, folder: str) -> None:
        super().__init__()
        self.folder = folder
        self.recorded: dict[str, str] = {}

    def snippet(self, hook: str, value: str) -> str | None:
        return f"printf %s {value} > {self.folder}/{hook}"

    def record(self, hook: str, value: str) -> None:
        self.recorded[hook] = value


def test_markers_are_written_by_the_hooks_own_process(tmp_path: Path) -> None:
    import subprocess

    def real(argv: Sequence[str], on_line: OutputLine) -> int:
        proc = subprocess.run(list(argv), capture_output=True)
        for line in proc.stdout.splitlines(keepends=True):
            on_line(line)
        return proc.returncode

    markers = InBandMarkers(str(tmp_path))
    hooks = {
        "onCreateCommand": [HookCommand("devcontainer.json", ["sh", "-c", "echo array form"])],
        "postCreateCommand": [HookCommand("f", "true"), HookCommand("devcontainer.json", "echo 'it ran'")],
        "postStartCommand": [HookCommand("devcontainer.json", {"a": "true"})],
    }
    rec = RecordingReporter()
    run_lifecycle(LifecyclePlan(hooks, "c1", "s1"), real, markers, rec)
    assert (tmp_path / "onCreateCommand").read_text() == "c1"
    assert (tmp_path / "postCreateCommand").read_text() == "c1"
    assert markers.recorded == {"onCreateCommand": "c1", "postCreateCommand": "c1"}
    # The object form and the hooks without commands go through the store's own writes.
    assert set(markers.saved) == {"updateContentCommand", "postStartCommand"}
    assert "[postCreateCommand] it ran" in [f["message"] for k, f in rec.events if k == "hook.output"]

    failing = InBandMarkers(str(tmp_path / "none"))
    with pytest.raises(LifecycleCommandFailed, match=r"exit code 5"):
        run_lifecycle(
            LifecyclePlan({"onCreateCommand": [HookCommand("devcontainer.json", "exit 5")]}, "c1", "s1"), real, failing
        )
    assert failing.recorded == {} and not (tmp_path / "none").exists()


class CountingShell:
    """Runs argv on this machine (stdout and stderr merged, as the container runner does); counts the runs."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, argv: Sequence[str], on_line: OutputLine) -> int:
        import subprocess

        self.runs += 1
        proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        for line in proc.stdout.splitlines(keepends=True):
            on_line(line)
        return proc.returncode


CREATE = ("onCreateCommand", "updateContentCommand", "postCreateCommand")


def _batched_and_not(tmp_path: Path, hooks: dict[str, list[HookCommand]], **plan: object) -> tuple[object, ...]:
    results = []
    for batch in (False, True):
        folder = tmp_path / f"batch-{batch}"
        folder.mkdir()
        markers, shell, rec = InBandMarkers(str(folder)), CountingShell(), RecordingReporter()
        error = None
        try:
            outcome = run_lifecycle(LifecyclePlan(hooks, "c1", "s1", batch=batch, **plan), shell, markers, rec)  # type: ignore[arg-type]
        except LifecycleCommandFailed as exc:
            outcome, error = "failed", (exc.message, exc.render())
        # Markers: written by the hooks' own process (files) or by the store; either way, the same ones.
        done = {p.name: p.read_text() for p in folder.iterdir()} | markers.saved
        events = [(k, f.get("message")) for k, f in rec.events]
        results.append((outcome, error, done, events, shell.runs))
    return tuple(results)


def test_batched_hooks_behave_as_one_exec_each(tmp_path: Path) -> None:
    hooks = {
        "onCreateCommand": [HookCommand("devcontainer.json", ["sh", "-c", "echo 'array form'; echo to-stderr >&2"])],
        "postCreateCommand": [
            HookCommand("ghcr.io/x/f:1", "printf 'no newline at the end'"),
            HookCommand("devcontainer.json", 'echo "it\'s $((1 + 1))"'),
        ],
        "postStartCommand": [HookCommand("devcontainer.json", "echo started")],
        "postAttachCommand": [HookCommand("devcontainer.json", ["echo", "attached"])],
    }
    unbatched, batched = _batched_and_not(tmp_path, hooks)
    assert batched[:4] == unbatched[:4]  # outcome, error, markers, events in order
    assert ("hook.output", "[postCreateCommand] no newline at the end") in batched[3]
    assert ("hook.output", "[onCreateCommand] to-stderr") in batched[3]
    assert batched[2] == {h: "c1" for h in CREATE} | {"postStartCommand": "s1"}
    assert (unbatched[4], batched[4]) == (5, 1)  # one process per command / one in all


def test_batched_hooks_stop_at_the_first_failure_and_split_at_object_forms(tmp_path: Path) -> None:
    hooks = {
        "onCreateCommand": [HookCommand("devcontainer.json", "echo one")],
        "updateContentCommand": [HookCommand("devcontainer.json", {"a": "echo a", "b": "echo b"})],
        "postCreateCommand": [HookCommand("devcontainer.json", "echo broken; exit 7")],
        "postStartCommand": [HookCommand("devcontainer.json", "echo never")],
    }
    unbatched, batched = _batched_and_not(tmp_path, hooks)
    assert batched[0] == "failed" and batched[:3] == unbatched[:3]
    # The parallel entries' output may interleave; everything else comes in the same order.
    assert [e for e in batched[3] if e[0] != "hook.output"] == [e for e in unbatched[3] if e[0] != "hook.output"]
    assert "postCreateCommand from devcontainer.json failed" in batched[1][0]  # type: ignore[index]
    assert "broken" in batched[1][1]  # type: ignore[index]
    # The failed hook and the later ones are not marked.
    assert batched[2] == {"onCreateCommand": "c1", "updateContentCommand": "c1"}
    assert batched[4] == 4  # onCreate; the two parallel entries; postCreate (which stops the rest)

    (tmp_path / "skip").mkdir()
    skip = _batched_and_not(
        tmp_path / "skip",
        {h: [HookCommand("devcontainer.json", f"echo {h}")] for h in CREATE},
        skip_non_blocking=True,
        wait_for="updateContentCommand",
    )
    assert skip[0][:4] == skip[1][:4] and skip[1][0] == "skipNonBlocking"
    assert skip[1][2] == {"onCreateCommand": "c1", "updateContentCommand": "c1"} and skip[1][4] == 1
