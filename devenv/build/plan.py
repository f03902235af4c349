"""The typed build plan: steps with cache keys and the inputs those keys were computed from.

A step's cache key is ``sha256`` over its *inputs*: the normalised step (command, env, user,
workdir, destination, flags...), the key of the layer state it runs on (``parent``) and the digests
of what it reads (copied files, feature content, options). The same inputs are recorded with every
build, so ``devenv build --explain`` can say which one changed when a step misses the cache
(BuildKit's CacheMap, made explicit).

Steps that only edit the image config (ENV, LABEL, CMD...) have no key of their own: they never
produce a layer, and they reach the cache keys of later steps only through what those steps use
(a RUN's environment, say).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

from devenv.build.context import Entry
from devenv.build.imageconfig import ImageConfig


@dataclass(frozen=True)
class BaseImage:
    """An image a stage starts FROM, as the planner needs it."""

    ref: str
    digest: str  # manifest digest
    config: ImageConfig


def host_platform() -> str:
    machine = os.uname().machine.lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"linux/{arch}"


KEY_VERSION = "devenv-build-v1"
Inputs = tuple[tuple[str, str], ...]


def cache_key(inputs: Inputs) -> str:
    """The key of a layer state from its (ordered) inputs."""
    data = json.dumps([KEY_VERSION, [list(kv) for kv in inputs]], separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(data.encode()).hexdigest()


# --- actions: what an executor does for a step --------------------------------------------------


@dataclass(frozen=True)
class BaseAction:
    """Start from an image (already in the store) or from scratch."""

    ref: str  # "scratch", "stage:<name>", or the image reference as written (after expansion)
    digest: str = ""  # manifest digest of the resolved image (the stage's key for a stage)
    stage: int = -1  # index of the stage this one continues from


@dataclass(frozen=True)
class CacheMount:
    target: str
    id: str  # persistent cache directory id
    sharing: str = "shared"  # shared, private, locked
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    read_only: bool = False


@dataclass(frozen=True)
class InlineFile:
    """A file provided to a RUN (heredoc script), mounted read-only at ``path``."""

    path: str
    content: str
    mode: int = 0o755


@dataclass(frozen=True)
class RunAction:
    argv: tuple[str, ...]
    env: tuple[str, ...]
    user: str = ""
    workdir: str = "/"
    network: str = "bridge"  # bridge (default), none, host
    cache_mounts: tuple[CacheMount, ...] = ()
    tmpfs: tuple[str, ...] = ()
    files: tuple[InlineFile, ...] = ()
    shell_form: bool = True
    # Host directories bound into the container (feature content). Not part of the cache key: the
    # digests of their content are among the step's inputs.
    binds: tuple[tuple[str, str, bool], ...] = ()


@dataclass(frozen=True)
class CopySource:
    """One source of a COPY/ADD.

    ``kind``: ``context`` (``entries`` from the build context), ``stage`` (``path`` in the result of
    stage ``stage``), ``image`` (``path`` in image ``image``), ``url`` (downloaded to ``local`` with
    ``digest``) or ``inline`` (a heredoc: ``content``).
    """

    kind: str
    path: str
    entries: tuple[Entry, ...] = ()
    roots: tuple[str, ...] = ()  # for context: the top paths the source resolved to
    stage: int = -1
    image: str = ""
    local: str = ""
    digest: str = ""
    content: str = ""


@dataclass(frozen=True)
class CopyAction:
    sources: tuple[CopySource, ...]
    dest: str  # absolute; a trailing "/" means "into this directory"
    chown: str | None = None  # "user[:group]", names resolved in the image at execution time
    chmod: int | None = None
    add: bool = False  # ADD: local tar archives are extracted
    workdir_user: str = ""  # the USER at this point (not used for ownership; recorded)


@dataclass(frozen=True)
class MkdirAction:
    """WORKDIR: create the directory (with parents) owned by ``user`` when it does not exist."""

    path: str
    user: str = ""


@dataclass(frozen=True)
class WriteFilesAction:
    """Write files directly into a new layer (feature helper files)."""

    files: tuple[InlineFile, ...]


Action = BaseAction | RunAction | CopyAction | MkdirAction | WriteFilesAction


@dataclass(frozen=True)
class Step:
    id: str  # stable identity across builds (for --explain): "Dockerfile:12", "feature ./x#1"...
    description: str  # human text: "RUN apt-get update"
    action: Action | None  # None: config-only step (no layer)
    key: str  # cache key of the layer state after this step ("" for config-only steps)
    inputs: Inputs = ()
    config: ImageConfig = field(default_factory=ImageConfig)
    history: str = ""  # created_by text for the image history
    line: int | None = None


@dataclass(frozen=True)
class StagePlan:
    index: int
    name: str
    steps: tuple[Step, ...]

    @property
    def key(self) -> str:
        """Key of the stage's final layer state."""
        for step in reversed(self.steps):
            if step.key:
                return step.key
        return ""

    @property
    def config(self) -> ImageConfig:
        return self.steps[-1].config if self.steps else ImageConfig()


@dataclass(frozen=True)
class BuildPlan:
    stages: tuple[StagePlan, ...]  # the stages to build, dependencies first; the last is the target
    platform: str = "linux/amd64"

    @property
    def target(self) -> StagePlan:
        return self.stages[-1]

    def layer_steps(self) -> list[Step]:
        return [s for st in self.stages for s in st.steps if s.action is not None]

    def extend(self, steps: tuple[Step, ...]) -> BuildPlan:
        """The same plan with more steps on the target stage (features on top of a Dockerfile)."""
        last = self.stages[-1]
        return BuildPlan(
            stages=(*self.stages[:-1], StagePlan(last.index, last.name, last.steps + steps)),
            platform=self.platform,
        )
