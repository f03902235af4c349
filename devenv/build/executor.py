"""Execute a :class:`BuildPlan` into layers in the store, reusing cached layers, and assemble the image.

For each layer step: a cache hit (a record whose blob is still in the store) reuses the layer;
otherwise the step runs — RUN in a container of the embedded runtime on top of the layers so far
(the container's upper directory becomes the layer), COPY/ADD/WORKDIR and feature helper files are
written as layers directly — and only a step that succeeded is recorded. A failed RUN raises
:class:`StepFailed` with the command, exit code and output tail; nothing of it is cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from devenv.build.cache import BuildCache, CachedLayer, CacheRecord
from devenv.build.explain import Reason, explain
from devenv.build.plan import (
    BaseAction,
    BuildPlan,
    CopyAction,
    MkdirAction,
    RunAction,
    Step,
    WriteFilesAction,
)
from devenv.errors import BuildError
from devenv.events import NULL, Reporter
from devenv.oci import mediatypes as mt
from devenv.oci.manifest import diff_ids_to_chain_ids
from devenv.paths import data_root
from devenv.store.store import Store

if TYPE_CHECKING:
    from devenv.snapshots.diff import FileEntry

OUTPUT_TAIL_LINES = 30


class StepFailed(BuildError):
    def __init__(self, step: Step, exit_code: int, output: bytes) -> None:
        tail = output.decode("utf-8", errors="replace").splitlines()[-OUTPUT_TAIL_LINES:]
        self.step = step
        self.exit_code = exit_code
        super().__init__(
            f"{step.id}: {step.description!r} failed with exit code {exit_code}",
            detail="\n".join(tail) if tail else None,
            remedy="fix the command and build again; the steps before it are cached",
        )


@dataclass(frozen=True)
class Layer:
    media_type: str
    digest: str
    size: int
    diff_id: str
    chain_id: str
    history: str = ""


@dataclass(frozen=True)
class RunRequest:
    action: RunAction
    layers: tuple[Path, ...]  # layer directories, lowest first
    binds: tuple[tuple[str, str, bool], ...]  # host path, container path, read-only
    name: str


@dataclass
class RunOutcome:
    exit_code: int
    output: bytes
    upper: Path  # the container's changes (overlay upper dir), valid inside the context


class StepRunner(Protocol):
    def run(self, request: RunRequest, reporter: Reporter) -> AbstractContextManager[RunOutcome]: ...


@dataclass(frozen=True)
class StepOutcome:
    id: str
    description: str
    key: str
    cached: bool
    reason: Reason | None
    seconds: float
    layer: str = ""  # diff id, "" when the step produced no layer


@dataclass
class StageState:
    layers: list[Layer] = field(default_factory=list)


class Executor:
    def __init__(
        self,
        store: Store,
        runner: StepRunner | None,
        *,
        cache: BuildCache | None = None,
        context_root: Path | None = None,
        no_cache: bool = False,
        history_target: str = "",
        reporter: Reporter = NULL,
    ) -> None:
        self.store = store
        self.runner = runner
        self.cache = cache or BuildCache()
        self.context_root = context_root
        self.no_cache = no_cache
        self.history_target = history_target
        self.reporter = reporter
        self.previous = self.cache.last_inputs(history_target) if history_target else {}
        self.outcomes: list[StepOutcome] = []
        self.built: dict[str, float] = {}  # step key -> when the step was built (from the cache when cached)
        self.states: dict[int, StageState] = {}

    # --- layers --------------------------------------------------------------------------------

    def _dirs(self, layers: list[Layer]) -> list[Path]:
        return [self.store.snapshots.fs(layer.chain_id) for layer in layers]

    def _ensure_snapshot(self, layer: Layer, parent: str) -> None:
        if self.store.snapshots.has(layer.chain_id):
            return
        compression = mt.layer_compression(layer.media_type) or ""
        self.store.snapshots.unpack(
            layer.chain_id, parent, layer.diff_id, lambda: self.store.blobs.open(layer.digest), compression
        )

    def _from_cache(self, record: CacheRecord, parent_chain: str) -> Layer | None:
        assert record.layer is not None
        cl = record.layer
        chain = diff_ids_to_chain_ids([parent_chain, cl.diff_id])[-1] if parent_chain else cl.diff_id
        layer = Layer(cl.media_type, cl.digest, cl.size, cl.diff_id, chain, record.history)
        self._ensure_snapshot(layer, parent_chain)
        return layer

    def _record(self, step: Step, layer: Layer | None) -> None:
        cached = None
        if layer is not None:
            cached = CachedLayer(layer.digest, layer.size, layer.media_type, layer.diff_id)
        self.built[step.key] = now = time.time()
        self.cache.put(CacheRecord(step.key, cached, step.inputs, now, step.history))

    # --- running ---------------------------------------------------------------------------------

    def execute(self, plan: BuildPlan) -> list[Layer]:
        """Run every stage; returns the layers of the target stage."""
        with self.store.transaction():
            for stage in plan.stages:
                state = StageState()
                self.states[stage.index] = state
                for step in stage.steps:
                    self._step(step, state)
        if self.history_target:
            self.cache.save_inputs(
                self.history_target, [(s.id, s.inputs) for st in plan.stages for s in st.steps if s.action is not None]
            )
        return self.states[plan.target.index].layers

    def _step(self, step: Step, state: StageState) -> None:
        action = step.action
        if action is None:
            return
        if isinstance(action, BaseAction):
            state.layers = self._base(action)
            self.reporter.event(
                "build.step", id=step.id, step=step.description, cached=True, message=f"[{step.id}] {step.description}"
            )
            return
        started = time.monotonic()
        parent_chain = state.layers[-1].chain_id if state.layers else ""
        record = None if self.no_cache else self.cache.get(step.key)
        if record is not None and (record.layer is None or self.store.blobs.has(record.layer.digest)):
            self.built[step.key] = record.created
            layer = self._from_cache(record, parent_chain) if record.layer is not None else None
            if layer is not None:
                state.layers.append(layer)
            self._done(step, True, None, started, layer)
            return
        reason = Reason(no_cache=True) if self.no_cache else explain(step.inputs, self.previous.get(step.id))
        self.reporter.event(
            "build.step",
            id=step.id,
            step=step.description,
            cached=False,
            reason=reason.text(),
            message=f"[{step.id}] {step.description}  ({reason.text()})",
        )
        layer = self._run_step(step, state)
        self._record(step, layer)
        if layer is not None:
            state.layers.append(layer)
        self._done(step, False, reason, started, layer)

    def _done(self, step: Step, cached: bool, reason: Reason | None, started: float, layer: Layer | None) -> None:
        seconds = time.monotonic() - started
        self.outcomes.append(
            StepOutcome(step.id, step.description, step.key, cached, reason, seconds, layer.diff_id if layer else "")
        )
        if cached:
            self.reporter.event(
                "build.step",
                id=step.id,
                step=step.description,
                cached=True,
                message=f"[{step.id}] {step.description}  (cached)",
            )

    def _base(self, action: BaseAction) -> list[Layer]:
        if action.ref == "scratch":
            return []
        if action.stage >= 0:
            return list(self.states[action.stage].layers)
        image = self.store.image(action.ref)
        chain_ids = self.store.ensure_snapshots(image)
        return [
            Layer(d.media_type, d.digest, d.size, diff, chain, "")
            for d, diff, chain in zip(image.layers, image.diff_ids, chain_ids, strict=True)
        ]

    def _new_layer(
        self, step: Step, parent_chain: str, *, upper: Path | None = None, entries: list[FileEntry] | None = None
    ) -> Layer | None:
        from devenv.build.layers import commit_upper
        from devenv.store.commit import layer_from_files

        history = {"created_by": step.history}
        if upper is not None:
            if not any(upper.iterdir()):
                return None
            _prepare_for_move(upper)
            new = commit_upper(self.store, upper, parent_chain, history)
        else:
            if not entries:
                return None
            new = layer_from_files(self.store, entries, parent_chain, history=history)
        d = new.descriptor
        return Layer(d.media_type, d.digest, d.size, new.diff_id, new.chain_id, step.history)

    def _run_step(self, step: Step, state: StageState) -> Layer | None:
        import gc

        from devenv.build import rootfs
        from devenv.runtime.embedded import securejoin

        gc.enable()  # long work (a short-lived command such as `up` may have turned the collector off)
        from devenv.build.copying import copy_entries
        from devenv.snapshots.diff import FileEntry

        action = step.action
        parent_chain = state.layers[-1].chain_id if state.layers else ""
        if isinstance(action, RunAction):
            return self._run(step, action, state, parent_chain)
        if isinstance(action, CopyAction):
            with self._views(action) as views, rootfs.mounted(self._dirs(state.layers)) as dest_root:
                entries = copy_entries(action, dest_root=dest_root, context_root=self.context_root, views=views)
            return self._new_layer(step, parent_chain, entries=entries)
        if isinstance(action, MkdirAction):
            with rootfs.mounted(self._dirs(state.layers)) as root:
                real = securejoin.resolve_in_root(root, action.path)
                uid, gid = rootfs.user_ids(root, action.user) if action.user else (0, 0)
                missing = [p for p in [*rootfs.parent_chain(real + "/x")] if not rootfs.exists(root, p)]
            return self._new_layer(
                step, parent_chain, entries=[FileEntry(p, "dir", mode=0o755, uid=uid, gid=gid) for p in missing]
            )
        if isinstance(action, WriteFilesAction):
            files = [FileEntry(f.path, "file", data=f.content.encode(), mode=f.mode) for f in action.files]
            with rootfs.mounted(self._dirs(state.layers)) as root:
                parents = {p for f in action.files for p in rootfs.parent_chain(f.path) if not rootfs.exists(root, p)}
            dirs = [FileEntry(p, "dir", mode=0o755) for p in sorted(parents)]
            return self._new_layer(step, parent_chain, entries=dirs + files)
        raise BuildError(f"{step.id}: cannot execute {type(action).__name__}")

    @contextlib.contextmanager
    def _views(self, action: CopyAction) -> Iterator[dict[str, Path]]:
        from devenv.build import rootfs

        with contextlib.ExitStack() as stack:
            views: dict[str, Path] = {}
            for src in action.sources:
                if src.kind == "stage" and f"stage:{src.stage}" not in views:
                    layers = self.states[src.stage].layers
                    views[f"stage:{src.stage}"] = stack.enter_context(rootfs.mounted(self._dirs(layers)))
                elif src.kind == "image" and f"image:{src.image}" not in views:
                    layers = self._base(BaseAction(src.image, src.digest))
                    views[f"image:{src.image}"] = stack.enter_context(rootfs.mounted(self._dirs(layers)))
            yield views

    def _run(self, step: Step, action: RunAction, state: StageState, parent_chain: str) -> Layer | None:
        import tempfile

        if self.runner is None:
            raise BuildError(f"{step.id}: RUN needs a container runtime, and none is available")
        with tempfile.TemporaryDirectory(prefix="run-", dir=_tmp()) as tmp:
            binds: list[tuple[str, str, bool]] = []
            for i, f in enumerate(action.files):
                host = Path(tmp) / f"file-{i}"
                host.write_text(f.content)
                os.chmod(host, f.mode)
                binds.append((str(host), f.path, True))
            for c in action.cache_mounts:
                host = data_root() / "build" / "cache-mounts" / hashlib.sha256(c.id.encode()).hexdigest()[:32]
                if not host.exists():
                    host.mkdir(parents=True)
                    os.chmod(host, c.mode)
                    os.chown(host, c.uid, c.gid)
                binds.append((str(host), c.target, c.read_only))
            binds.extend(action.binds)
            request = RunRequest(action, tuple(self._dirs(state.layers)), tuple(binds), f"build-{step.key[7:19]}")
            with self.runner.run(request, self.reporter) as outcome:
                if outcome.exit_code != 0:
                    raise StepFailed(step, outcome.exit_code, outcome.output)
                _drop_mount_points(outcome.upper, [b[1] for b in binds], self._dirs(state.layers))
                return self._new_layer(step, parent_chain, upper=outcome.upper)


def _prepare_for_move(upper: Path) -> None:
    """Make a RUN container's upper directory hold what its layer tarball holds, so that it can become
    the step's snapshot as it is (a rename) instead of unpacking the new layer again: sockets are not
    in layers, and the root directory gets the attributes an unpacked layer's root has."""
    stack = [str(upper)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif (
                    not entry.is_file(follow_symlinks=False)
                    and not entry.is_symlink()
                    and stat.S_ISSOCK(entry.stat(follow_symlinks=False).st_mode)
                ):
                    os.unlink(entry.path)
    os.chown(upper, 0, 0)
    os.chmod(upper, 0o755)


def _tmp() -> Path:
    path = data_root() / "build" / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


RUNTIME_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/dev", "/proc", "/sys", "/run/.containerenv")


def _in_lower(layers: list[Path], path: str) -> bool:
    return any(os.path.lexists(str(d) + path) for d in layers)


def _drop_mount_points(upper: Path, targets: list[str], layers: list[Path]) -> None:
    """Remove what the runtime created only to mount over (empty files/dirs absent from the layers)."""
    for target in [*targets, *RUNTIME_FILES]:
        path = target.rstrip("/") or "/"
        while path not in ("/", ""):
            full = Path(str(upper) + path)
            if _in_lower(layers, path) or not os.path.lexists(full):
                break
            if full.is_dir() and not full.is_symlink():
                if any(full.iterdir()):
                    break
                full.rmdir()
            elif full.is_file() and full.stat().st_size == 0:
                full.unlink()
            else:
                break
            path = os.path.dirname(path)
