"""``devenv build``: devcontainer.json → plan → layers → an image in the store, tagged (and pushed).

The one place that wires the pure parts (parser, planner, features plan) to the effects (config
loading, feature fetching, base image pulls, the executor with the embedded runtime).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devenv.build.executor import Executor, Layer, RunOutcome, RunRequest, StepOutcome, StepRunner
from devenv.build.features import feature_steps
from devenv.build.imageconfig import ImageConfig
from devenv.build.plan import BaseAction, BaseImage, BuildPlan, CopyAction, StagePlan, Step, cache_key, host_platform
from devenv.errors import BuildError, ConfigError
from devenv.events import NULL, Reporter
from devenv.store.store import Image, Store

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from devenv.build.context import Context, Selection

# A build with everything cached imports neither the Dockerfile parser (image configs) nor the
# container runtime (no RUN step runs): both are imported where they are needed.


@dataclass(frozen=True)
class BuildOptions:
    workspace_folder: str | None = None
    config: str | None = None
    image_names: tuple[str, ...] = ()
    no_cache: bool = False
    push: bool = False
    additional_features: Mapping[str, Any] | None = None
    frozen_lockfile: bool = False
    no_lockfile: bool = False
    explain: bool = False


@dataclass(frozen=True)
class BuildResult:
    image_names: tuple[str, ...]
    image_id: str
    digest: str
    steps: tuple[StepOutcome, ...] = ()
    plan: BuildPlan | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"outcome": "success", "imageName": list(self.image_names)}


class _Inputs:
    def __init__(self, context: Context) -> None:
        self.context = context

    def select(self, source: str) -> Selection:
        return self.context.select(source)

    def fetch_url(self, url: str, checksum: str | None) -> tuple[str, str]:
        import tempfile

        import httpx

        from devenv.paths import data_root

        try:
            response = httpx.get(url, follow_redirects=True, timeout=120.0)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise BuildError(f"ADD {url}: download failed: {exc}") from None
        digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
        if checksum and checksum != digest:
            raise BuildError(f"ADD {url}: checksum mismatch: expected {checksum}, got {digest}")
        folder = data_root() / "build" / "downloads"
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, delete=False) as f:
            f.write(response.content)
        dest = folder / digest.split(":", 1)[1]
        os.replace(f.name, dest)
        return str(dest), digest


def default_image_name(workspace_folder: Path | None, config_path: Path, features: bool) -> str:
    """The reference's name: ``vsc-<folder>-<sha256(folder)>`` (+ ``-features``)."""
    folder = str(workspace_folder or config_path.parent)
    base = re.sub(
        r"[^a-z0-9._-]+", "", f"vsc-{os.path.basename(folder)}-{hashlib.sha256(folder.encode()).hexdigest()}".lower()
    )
    return base + ("-features" if features else "")


def _ensure_image(store: Store, ref: str, reporter: Reporter) -> Image:
    from devenv.errors import ImageNotFound

    try:
        return store.image(ref)
    except ImageNotFound:
        from devenv.store.pull import PullOptions, pull

        return pull(PullOptions(ref), store=store, reporter=reporter)


class _LazyRunner:
    """The embedded runtime, started only when a RUN step really runs."""

    def __init__(self) -> None:
        self._runner: StepRunner | None = None

    def run(self, request: RunRequest, reporter: Reporter) -> AbstractContextManager[RunOutcome]:
        if self._runner is None:
            from devenv.build.runner import EmbeddedRunner

            self._runner = EmbeddedRunner()
        return self._runner.run(request, reporter)


def _base_image(store: Store, ref: str, reporter: Reporter) -> BaseImage:
    image = _ensure_image(store, ref, reporter)
    return BaseImage(ref, image.digest, ImageConfig.from_oci(image.config.to_dict().get("config")))


def _image_plan(store: Store, ref: str, reporter: Reporter) -> tuple[BuildPlan, BaseImage]:
    base = _base_image(store, ref, reporter)
    key = cache_key((("from", base.digest),))
    step = Step(
        id="image",
        description=f"FROM {ref}",
        action=BaseAction(ref, base.digest),
        key=key,
        inputs=(("from", base.digest),),
        config=base.config,
        history=f"FROM {ref}",
    )
    return BuildPlan((StagePlan(0, "image", (step,)),), host_platform()), base


def _dockerfile_plan(store: Store, loaded: Any, reporter: Reporter) -> tuple[BuildPlan, Path, str]:
    build = loaded.config.build
    folder: Path = loaded.config_folder
    dockerfile_path = (folder / build.dockerfile).resolve()
    context_root = (folder / (build.context or ".")).resolve()
    try:
        text = dockerfile_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"the Dockerfile {dockerfile_path} does not exist", path=loaded.config_path, pointer="build.dockerfile"
        ) from None
    from devenv.build import dockerfile as df
    from devenv.build.context import Context
    from devenv.build.dockerignore import Matcher
    from devenv.build.planner import plan_dockerfile, required_images

    shown = os.path.relpath(dockerfile_path, loaded.workspace_folder or folder)
    parsed = df.parse(text, path=shown)
    args = {k: str(v) for k, v in (build.args or {}).items()}
    refs = required_images(parsed, build_args=args, target=build.target)
    bases = {ref: _base_image(store, ref, reporter) for ref in refs}
    context = Context(context_root, Matcher.for_context(context_root, dockerfile_path))
    plan = plan_dockerfile(parsed, bases=bases, inputs=_Inputs(context), build_args=args, target=build.target)
    final = plan.target
    user = final.config.user
    return plan, context_root, user or "root"


def _timestamp(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _created(plan: BuildPlan, base: Image | None, built: Mapping[str, float]) -> str:
    """When the image was made: when its newest step was built (a cached rebuild gives the same image
    id), else the base image's time; now only for a FROM scratch image of metadata alone."""
    times = [built[s.key] for s in plan.target.steps if s.key in built]
    if times:
        return _timestamp(max(times))
    created = base.config.to_dict().get("created") if base is not None else None
    return str(created) if created else _timestamp(datetime.datetime.now(datetime.UTC).timestamp())


def _history(
    base: Image | None, layers: Sequence[Layer], plan: BuildPlan, n_base: int, built: Mapping[str, float], created: str
) -> list[dict[str, Any]]:
    base_history = list(base.config.to_dict().get("history") or []) if base is not None else []
    if sum(1 for h in base_history if not h.get("empty_layer")) != n_base:
        return []
    history = base_history
    new = {layer.digest for layer in layers[n_base:]}
    for step in plan.target.steps:
        if isinstance(step.action, BaseAction):
            continue
        layer_made = any(layer.history == step.history for layer in layers[n_base:]) and bool(new)
        when = _timestamp(built[step.key]) if step.key in built else created
        entry: dict[str, Any] = {"created": when, "created_by": step.history, "comment": "devenv"}
        if not layer_made or step.action is None:
            entry["empty_layer"] = True
        history.append(entry)
    if sum(1 for h in history if not h.get("empty_layer")) != len(layers):
        return []
    return history


def assemble(
    store: Store,
    plan: BuildPlan,
    layers: Sequence[Layer],
    names: Sequence[str],
    built: Mapping[str, float] | None = None,
) -> Image:
    """Write the image config and manifest for ``layers`` + the plan's final config; tag ``names``.

    ``built``: step cache key → when that step was built (first run), for the ``created`` times."""
    built = built or {}
    from devenv.oci import mediatypes as mt
    from devenv.oci.descriptor import Descriptor
    from devenv.oci.manifest import Manifest

    os_, _, rest = plan.platform.partition("/")
    arch, _, variant = rest.partition("/")
    base: Image | None = None
    first = plan.target.steps[0].action if plan.target.steps else None
    n_base = 0
    if isinstance(first, BaseAction) and first.stage < 0 and first.ref != "scratch":
        base = store.image(first.ref)
        n_base = len(base.layers)
    created = _created(plan, base, built)
    config: dict[str, Any] = {
        "architecture": arch,
        "os": os_,
        "created": created,
        "config": plan.target.config.to_oci(),
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
    }
    if variant:
        config["variant"] = variant
    history = _history(base, layers, plan, n_base, built, created)
    if history:
        config["history"] = history
    data = json.dumps(config, separators=(",", ":")).encode()
    with store.transaction():
        config_digest = store.blobs.put_bytes(data)
        manifest = Manifest(
            mt.OCI_MANIFEST,
            Descriptor(mt.OCI_CONFIG, config_digest, len(data)),
            tuple(Descriptor(_oci_layer_type(layer.media_type), layer.digest, layer.size) for layer in layers),
        )
        raw = manifest.to_bytes()
        digest = store.blobs.put_bytes(raw)
        desc = Descriptor(manifest.media_type, digest, len(raw))
        image: Image | None = None
        for name in names:
            image = store.load_image(store.put_record(name, desc, desc))
        if image is None:
            image = store.load_image(store.put_record(digest, desc, desc))
    return image


def _oci_layer_type(media_type: str) -> str:
    from devenv.oci import mediatypes as mt

    return mt.layer_media_type(mt.layer_compression(media_type) or "")


def _base_refs(plan: BuildPlan) -> set[str]:
    refs = set()
    for stage in plan.stages:
        for step in stage.steps:
            action = step.action
            if isinstance(action, BaseAction) and action.stage < 0 and action.ref != "scratch":
                refs.add(action.ref)
            elif isinstance(action, CopyAction):
                refs.update(src.image for src in action.sources if src.kind == "image" and src.image)
    return refs


def _write_stamp(
    opts: BuildOptions,
    loaded: Any,
    plan: BuildPlan,
    resolution: Any,
    store: Store,
    image: Image,
    names: Sequence[str],
    started_ns: int,
) -> None:
    """Let the next ``devenv build`` of the same inputs answer without loading the builder (see stamp)."""
    from devenv.build import stamp
    from devenv.features.lockfile import lockfile_path
    from devenv.paths import data_root

    config_text = loaded.config_path.read_text(encoding="utf-8")
    remote = any(
        isinstance(s.action, CopyAction) and any(x.kind == "url" for x in s.action.sources)
        for st in plan.stages
        for s in st.steps
    )
    if remote or opts.no_lockfile or opts.additional_features or "containerWorkspaceFolder" in config_text:
        return
    files = [str(loaded.config_path), str(lockfile_path(loaded.config_path))]
    if opts.config is None:
        folder = str(loaded.workspace_folder or loaded.config_path.parent)
        files += [os.path.join(folder, ".devcontainer"), os.path.join(folder, ".devcontainer.json")]
        files.append(os.path.join(folder, ".devcontainer", "devcontainer.json"))
    trees = [str(f.folder) for f in resolution.fetched.values() if f.ref.kind == "local"]
    build_cfg = loaded.config.build
    if loaded.config.kind == "dockerfile" and build_cfg is not None:
        dockerfile = (loaded.config_folder / build_cfg.dockerfile).resolve()
        files += [str(dockerfile), f"{dockerfile}.dockerignore"]
        trees.append(str((loaded.config_folder / (build_cfg.context or ".")).resolve()))
    records = {}
    for ref in _base_refs(plan):
        record = store.find_record(ref)
        records[record.name] = record.target.digest
    for name in names:
        record = store.find_record(name)
        records[record.name] = record.target.digest
    stamp.capture(
        data_root=str(data_root()),
        stamp_key=stamp.key(os.getcwd(), opts.workspace_folder, opts.config, opts.image_names, opts.frozen_lockfile),
        files=files,
        trees=trees,
        env_names=stamp.referenced_env(config_text),
        records=records,
        result={"imageName": list(names), "image": image.id, "digest": image.digest},
        started_ns=started_ns,
    )


def build(opts: BuildOptions, *, reporter: Reporter = NULL, runner: StepRunner | None = None) -> BuildResult:
    import time

    from devenv.config import config_metadata_entry, parse_metadata_label
    from devenv.config.loader import load
    from devenv.features.resolve import resolve_features

    started_ns = time.time_ns()
    loaded = load(opts.workspace_folder, opts.config)
    cfg = loaded.config
    store = Store()
    context_root: Path | None = None
    if cfg.kind == "dockerfile":
        plan, context_root, image_user = _dockerfile_plan(store, loaded, reporter)
    elif cfg.kind == "image" and cfg.image:
        plan, base = _image_plan(store, cfg.image, reporter)
        image_user = base.config.user or "root"
    else:
        raise ConfigError(
            'devenv build needs an "image" or a "build.dockerfile" in devcontainer.json',
            path=loaded.config_path,
            remedy="Docker Compose configurations are built by `devenv up` through the Docker engine backend",
        )
    features = dict(loaded.data.get("features") or {})
    resolution = resolve_features(
        features,
        config_path=loaded.config_path,
        workspace_folder=loaded.workspace_folder,
        additional=opts.additional_features,
        override_order=cfg.override_feature_install_order,
        use_lockfile=not opts.no_lockfile,
        frozen=opts.frozen_lockfile,
        config=loaded,
        reporter=reporter,
    )
    base_label = plan.target.config.label_map().get("devcontainer.metadata")
    fb = feature_steps(
        resolution,
        parent_key=plan.target.key,
        config=plan.target.config,
        base_entries=parse_metadata_label(base_label),
        config_entry=config_metadata_entry(loaded.raw),
        container_env={k: str(v) for k, v in (cfg.container_env or {}).items()},
        image_user=image_user,
    )
    plan = plan.extend(fb.steps)
    names = opts.image_names or (
        default_image_name(loaded.workspace_folder, loaded.config_path, bool(resolution.steps)),
    )
    if runner is None:
        runner = _LazyRunner()
    executor = Executor(
        store,
        runner,
        context_root=context_root,
        no_cache=opts.no_cache,
        history_target=str(loaded.config_path),
        reporter=reporter,
    )
    layers = executor.execute(plan)
    image = assemble(store, plan, layers, names, executor.built)
    reporter.event(
        "build.done", image=image.id, names=list(names), message=f"Built {', '.join(names)} ({image.id[:19]})"
    )
    if opts.push:
        from devenv.store.push import PushOptions, push

        for name in names:
            push(PushOptions(name), store=store, reporter=reporter)
    from devenv.errors import DevenvError

    try:
        _write_stamp(opts, loaded, plan, resolution, store, image, names, started_ns)
    except (OSError, DevenvError) as exc:  # only the next build's shortcut is lost
        reporter.event("build.stamp", error=str(exc), message=f"(could not record the build's inputs: {exc})")
    return BuildResult(tuple(names), image.id, image.digest, tuple(executor.outcomes), plan)
