"""A parsed Dockerfile (+ build args, target, base images, context) into a :class:`BuildPlan`.

Pure apart from the injected :class:`PlanInputs` (reading the build context, fetching ADD URLs):
base images are resolved beforehand (``required_images`` says which) and passed in as
:class:`BaseImage` values. Variable expansion follows Docker: global ``ARG``s (and the automatic
platform args) in ``FROM``; in a stage, ``ARG`` values (build args win over defaults) overlaid by
``ENV``; each instruction is expanded with the environment *before* it.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol

from devenv.build import dockerfile as df
from devenv.build.context import Selection
from devenv.build.imageconfig import ImageConfig
from devenv.build.lexer import DockerfileError, parse_heredoc
from devenv.build.plan import (
    BaseAction,
    BaseImage,
    BuildPlan,
    CacheMount,
    CopyAction,
    CopySource,
    InlineFile,
    Inputs,
    MkdirAction,
    RunAction,
    StagePlan,
    Step,
    cache_key,
    host_platform,
)
from devenv.build.shell_words import ExpansionError, Lexer
from devenv.errors import BuildError

SCRATCH = "scratch"


class PlanInputs(Protocol):
    def select(self, source: str) -> Selection: ...

    def fetch_url(self, url: str, checksum: str | None) -> tuple[str, str]:
        """Download ``url``; returns (local path, sha256 digest)."""
        ...


def platform_args(platform: str) -> dict[str, str]:
    os_, _, rest = platform.partition("/")
    arch, _, variant = rest.partition("/")
    values = {"PLATFORM": platform, "OS": os_, "ARCH": arch, "VARIANT": variant}
    out = {f"TARGET{k}": v for k, v in values.items()}
    out.update({f"BUILD{k}": v for k, v in values.items()})
    return out


class _Planner:
    def __init__(
        self,
        dockerfile: df.Dockerfile,
        build_args: Mapping[str, str],
        platform: str,
    ) -> None:
        self.df = dockerfile
        self.build_args = dict(build_args)
        self.platform = platform
        self.lex = Lexer(escape=dockerfile.escape)
        self.auto_args = platform_args(platform)
        self.meta: dict[str, str] = dict(self.auto_args)
        self.global_declared: dict[str, str | None] = {}
        for arg in dockerfile.global_args:
            for name, default in arg.args:
                value: str | None
                if name in self.build_args:
                    value = self.build_args[name]
                elif default is not None:
                    value = self.expand(default, self.meta, arg.line)
                else:
                    value = self.meta.get(name)
                self.global_declared[name] = value
                if value is not None:
                    self.meta[name] = value

    def error(self, msg: str, line: int | None, remedy: str | None = None) -> DockerfileError:
        return DockerfileError(msg, path=self.df.path, line=line, remedy=remedy)

    def expand(self, word: str, env: Mapping[str, str], line: int) -> str:
        try:
            return self.lex.process_word(word, env)
        except ExpansionError as exc:
            raise self.error(str(exc), line) from None

    # --- which stages and images ---------------------------------------------------------------

    def base_ref(self, stage: df.Stage) -> str:
        ref = self.expand(stage.source.image, self.meta, stage.source.line)
        if not ref:
            raise self.error(f"base name ({stage.source.image}) should not be blank", stage.source.line)
        return ref

    def stage_of(self, ref: str, before: int) -> df.Stage | None:
        return self.df.find_stage(ref, before)

    def needed(self, target: str | None) -> list[df.Stage]:
        """The target stage and every stage it depends on, in Dockerfile order."""
        want: set[int] = set()
        todo = [self.df.stage(target)]
        while todo:
            st = todo.pop()
            if st.index in want:
                continue
            want.add(st.index)
            dep = self.stage_of(self.base_ref(st), st.index)
            if dep is not None:
                todo.append(dep)
            for inst in st.instructions:
                src = None
                if isinstance(inst, df.Copy) and inst.from_:
                    src = inst.from_
                elif isinstance(inst, df.Run):
                    src = next((m.get("from") for m in inst.mounts if m.get("from")), None)
                if src:
                    dep = self.stage_of(self.expand(src, self.meta, inst.line), st.index)
                    if dep is not None:
                        todo.append(dep)
        return [st for st in self.df.stages if st.index in want]

    def images(self, target: str | None) -> list[str]:
        refs: list[str] = []
        for st in self.needed(target):
            ref = self.base_ref(st)
            if ref.lower() != SCRATCH and self.stage_of(ref, st.index) is None and ref not in refs:
                refs.append(ref)
            for inst in st.instructions:
                if isinstance(inst, df.Copy) and inst.from_:
                    src = self.expand(inst.from_, self.meta, inst.line)
                    if self.stage_of(src, st.index) is None and src not in refs:
                        refs.append(src)
        return refs


def required_images(
    dockerfile: df.Dockerfile,
    *,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    platform: str | None = None,
) -> list[str]:
    """The image references the build needs (FROM and COPY --from images), in order."""
    return _Planner(dockerfile, build_args or {}, platform or host_platform()).images(target)


def plan_dockerfile(
    dockerfile: df.Dockerfile,
    *,
    bases: Mapping[str, BaseImage],
    inputs: PlanInputs,
    build_args: Mapping[str, str] | None = None,
    target: str | None = None,
    platform: str | None = None,
) -> BuildPlan:
    planner = _Planner(dockerfile, build_args or {}, platform or host_platform())
    stages: list[StagePlan] = []
    done: dict[int, StagePlan] = {}
    for st in planner.needed(target):
        plan = _StageBuilder(planner, st, bases, inputs, done).build()
        done[st.index] = plan
        stages.append(plan)
    return BuildPlan(stages=tuple(stages), platform=planner.platform)


class _StageBuilder:
    def __init__(
        self,
        planner: _Planner,
        stage: df.Stage,
        bases: Mapping[str, BaseImage],
        inputs: PlanInputs,
        done: Mapping[int, StagePlan],
    ) -> None:
        self.p = planner
        self.stage = stage
        self.bases = bases
        self.inputs = inputs
        self.done = done
        self.steps: list[Step] = []
        self.args: dict[str, str] = {}
        self.parent = ""
        self.config = ImageConfig()
        self.cmd_set = False
        self.path = planner.df.path

    # --- helpers ---------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {**self.args, **self.config.env_map()}

    def x(self, word: str, line: int) -> str:
        return self.p.expand(word, self.env(), line)

    def run_env(self) -> tuple[str, ...]:
        env = list(self.config.env)
        names = {e.partition("=")[0] for e in env}
        env.extend(f"{k}={v}" for k, v in self.args.items() if k not in names)
        return tuple(env)

    # --- the stage -------------------------------------------------------------------------------

    def build(self) -> StagePlan:
        src = self.stage.source
        ref = self.p.base_ref(self.stage)
        dep = self.p.stage_of(ref, self.stage.index)
        if dep is not None:
            prev = self.done[dep.index]
            self.config = prev.config
            self.parent = prev.key
            action = BaseAction(ref=f"stage:{dep.name}", digest=prev.key, stage=dep.index)
            text = f"FROM {dep.name}"
        elif ref.lower() == SCRATCH:
            self.config = ImageConfig()
            self.parent = cache_key((("from", SCRATCH),))
            action = BaseAction(ref=SCRATCH)
            text = "FROM scratch"
        else:
            base = self.bases.get(ref)
            if base is None:
                raise self.p.error(f"base image {ref!r} was not resolved", src.line)
            self.config = base.config
            self.parent = cache_key((("from", base.digest),))
            action = BaseAction(ref=ref, digest=base.digest)
            text = f"FROM {ref}"
        self.config = self.config.with_default_path()
        self.steps.append(
            Step(
                id=f"{self.path}:{src.line}",
                description=text,
                action=action,
                key=self.parent,
                inputs=(("from", action.digest or action.ref),),
                config=self.config,
                history=text,
                line=src.line,
            )
        )
        for inst in self.stage.instructions:
            self.instruction(inst)
        name = self.stage.source.name or str(self.stage.index)
        return StagePlan(index=self.stage.index, name=name, steps=tuple(self.steps))

    def layer(self, inst: df.Instruction, text: str, action: object, inputs: Inputs) -> None:
        parent = self.parent
        full = (("parent", parent), *inputs)
        key = cache_key(full)
        self.parent = key
        self.steps.append(
            Step(
                id=f"{self.path}:{inst.line}",
                description=text,
                action=action,  # type: ignore[arg-type]
                key=key,
                inputs=full,
                config=self.config,
                history=text,
                line=inst.line,
            )
        )

    def meta(self, inst: df.Instruction, text: str) -> None:
        self.steps.append(
            Step(
                id=f"{self.path}:{inst.line}",
                description=text,
                action=None,
                key="",
                config=self.config,
                history=text,
                line=inst.line,
            )
        )

    def instruction(self, inst: df.Instruction) -> None:
        line = inst.line
        if isinstance(inst, df.Arg):
            for name, default in inst.args:
                value: str | None
                if name in self.p.build_args:
                    value = self.p.build_args[name]
                elif default is not None:
                    value = self.x(default, line)
                elif name in self.p.global_declared:
                    value = self.p.global_declared[name]
                else:
                    value = self.p.auto_args.get(name)
                if value is not None:
                    self.args[name] = value
            self.meta(inst, inst.original)
        elif isinstance(inst, df.Env):
            env = self.env()
            pairs = [(self.p.expand(k, env, line), self.p.expand(v, env, line)) for k, v in inst.pairs]
            for key, value in pairs:
                if not key:
                    raise self.p.error("ENV names can not be blank", line)
                self.config = self.config.with_env(key, value)
            self.meta(inst, "ENV " + " ".join(f"{k}={v}" for k, v in pairs))
        elif isinstance(inst, df.Label):
            env = self.env()
            for k, v in inst.pairs:
                self.config = self.config.with_label(self.p.expand(k, env, line), self.p.expand(v, env, line))
            self.meta(inst, inst.original)
        elif isinstance(inst, df.User):
            self.config = replace(self.config, user=self.x(inst.user, line))
            self.meta(inst, f"USER {self.config.user}")
        elif isinstance(inst, df.Workdir):
            self.workdir(inst)
        elif isinstance(inst, df.Run):
            self.run(inst)
        elif isinstance(inst, df.Copy):
            self.copy(inst)
        elif isinstance(inst, df.Shell):
            self.config = replace(self.config, shell=inst.argv)
            self.meta(inst, inst.original)
        elif isinstance(inst, (df.Cmd, df.Entrypoint)):
            argv = inst.args if inst.json else (*self.config.effective_shell(), *inst.args)
            if isinstance(inst, df.Cmd):
                self.config = replace(self.config, cmd=argv)
                self.cmd_set = True
            else:
                self.config = replace(self.config, entrypoint=argv)
                if not self.cmd_set:
                    self.config = replace(self.config, cmd=None)
            self.meta(inst, inst.original)
        elif isinstance(inst, df.Expose):
            ports = list(self.config.exposed_ports)
            for raw in inst.ports:
                for port in _ports(self.x(raw, line), self.p, line):
                    if port not in ports:
                        ports.append(port)
            self.config = replace(self.config, exposed_ports=tuple(ports))
            self.meta(inst, inst.original)
        elif isinstance(inst, df.Volume):
            vols = list(self.config.volumes)
            for raw in inst.paths:
                path = self.x(raw, line)
                if not path:
                    raise self.p.error("VOLUME specified can not be an empty string", line)
                if path not in vols:
                    vols.append(path)
            self.config = replace(self.config, volumes=tuple(vols))
            self.meta(inst, inst.original)
        elif isinstance(inst, df.StopSignal):
            self.config = replace(self.config, stop_signal=self.x(inst.signal, line))
            self.meta(inst, inst.original)
        elif isinstance(inst, df.Healthcheck):
            hc: dict[str, object] = {"Test": list(inst.test)}
            for name, ns in (
                ("Interval", inst.interval),
                ("Timeout", inst.timeout),
                ("StartPeriod", inst.start_period),
                ("StartInterval", inst.start_interval),
                ("Retries", inst.retries),
            ):
                if ns:
                    hc[name] = ns
            self.config = replace(self.config, healthcheck=json.dumps(hc, sort_keys=True))
            self.meta(inst, inst.original)
        elif isinstance(inst, df.Onbuild):
            self.config = replace(self.config, onbuild=(*self.config.onbuild, inst.expression))
            self.meta(inst, inst.original)
        else:  # MAINTAINER
            self.meta(inst, inst.original)

    def workdir(self, inst: df.Workdir) -> None:
        path = self.x(inst.path, inst.line)
        if not posixpath.isabs(path):
            path = posixpath.join(self.config.workdir or "/", path)
        path = posixpath.normpath(path)
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        self.config = replace(self.config, workdir=path)
        if path == "/":
            self.meta(inst, f"WORKDIR {path}")
            return
        user = self.config.user
        self.layer(inst, f"WORKDIR {path}", MkdirAction(path, user), (("op", "mkdir"), ("path", path), ("user", user)))

    def run(self, inst: df.Run) -> None:
        line = inst.line
        shell = self.config.effective_shell()
        files: list[InlineFile] = []
        if inst.json:
            argv: tuple[str, ...] = inst.args
        elif inst.heredocs:
            text = inst.args[0]
            only = parse_heredoc(text.strip())
            if len(inst.heredocs) == 1 and only is not None and only.name == inst.heredocs[0].name:
                doc = inst.heredocs[0]
                script = doc.text()
                target = f"/dev/pipes/{doc.name}"
                files.append(InlineFile(target, script, 0o755))
                argv = (target,) if script.startswith("#!") else (*shell, target)
            else:
                body = "".join(h.content + h.name + "\n" for h in inst.heredocs)
                argv = (*shell, text + "\n" + body)
        else:
            argv = (*shell, inst.args[0])
        network = {"none": "none", "host": "host"}.get(inst.network or "", "bridge")
        caches: list[CacheMount] = []
        tmpfs: list[str] = []
        for m in inst.mounts:
            target = self.x(m.target, line)
            if not posixpath.isabs(target):
                target = posixpath.join(self.config.workdir or "/", target)
            if m.type == "cache":
                caches.append(
                    CacheMount(
                        target=target,
                        id=self.x(m.get("id"), line) or target,
                        sharing=m.get("sharing", "shared"),
                        mode=int(m.get("mode", "755"), 8),
                        uid=int(m.get("uid", "0")),
                        gid=int(m.get("gid", "0")),
                        read_only=m.get("ro", m.get("readonly", "false")) == "true",
                    )
                )
            elif m.type == "tmpfs":
                tmpfs.append(target)
            else:
                raise self.p.error(
                    f"RUN --mount=type={m.type} is not supported by devenv's builder yet",
                    line,
                    remedy="use type=cache or type=tmpfs, or COPY the files in a previous step",
                )
        env = self.run_env()
        action = RunAction(
            argv=argv,
            env=env,
            user=self.config.user,
            workdir=self.config.workdir or "/",
            network=network,
            cache_mounts=tuple(caches),
            tmpfs=tuple(tmpfs),
            files=tuple(files),
            shell_form=not inst.json,
        )
        inputs: list[tuple[str, str]] = [("op", "run"), ("command", json.dumps(list(argv)))]
        inputs += [("env:" + e.partition("=")[0], e.partition("=")[2]) for e in env]
        inputs += [("user", action.user), ("workdir", action.workdir), ("network", network)]
        inputs += [(f"cache-mount:{c.target}", f"{c.id} {c.sharing} {c.mode:o} {c.uid}:{c.gid}") for c in caches]
        inputs += [(f"tmpfs:{t}", "") for t in tmpfs]
        inputs += [(f"file:{f.path}", f"{f.mode:o} {_sha(f.content)}") for f in files]
        text = "RUN " + (json.dumps(list(argv)) if inst.json else " ".join(argv))
        self.layer(inst, text, action, tuple(inputs))

    def copy(self, inst: df.Copy) -> None:
        line = inst.line
        op = "ADD" if inst.add else "COPY"
        dest = self.x(inst.dest, line)
        if not dest:
            raise self.p.error(f"{op} destination can not be empty", line)
        trailing = dest.endswith("/") or dest in (".", "./")
        if not posixpath.isabs(dest):
            dest = posixpath.join(self.config.workdir or "/", dest)
        dest = posixpath.normpath(dest)
        if dest.startswith("//"):
            dest = "/" + dest.lstrip("/")
        if trailing and not dest.endswith("/"):
            dest += "/"
        chown = self.x(inst.chown, line) if inst.chown else None
        chmod = None
        if inst.chmod:
            raw = self.x(inst.chmod, line)
            try:
                chmod = int(raw, 8)
            except ValueError:
                raise self.p.error(f"invalid --chmod={raw}: expected an octal mode such as 0755", line) from None
        sources: list[CopySource] = []
        inputs: list[tuple[str, str]] = [("op", op.lower()), ("dest", dest)]
        inputs += [("chown", chown or ""), ("chmod", f"{chmod:o}" if chmod is not None else "")]
        heredocs = {h.name: h for h in inst.heredocs}
        from_ref = self.x(inst.from_, line) if inst.from_ else None
        dep = self.p.stage_of(from_ref, self.stage.index) if from_ref else None
        for raw in inst.sources:
            doc = heredocs.get(_heredoc_name(raw)) if raw.startswith("<<") else None
            if doc is not None:
                content = doc.text()
                if doc.expand:
                    content = Lexer(escape=self.p.df.escape, skip_quotes=True).process_word(content, self.env())
                sources.append(CopySource("inline", doc.name, content=content))
                inputs.append((f"inline:{doc.name}", _sha(content)))
                continue
            src = self.x(raw, line)
            if dep is not None:
                prev = self.done[dep.index]
                sources.append(CopySource("stage", src, stage=dep.index))
                inputs += [("source", src), (f"stage:{dep.name}", prev.key)]
            elif from_ref is not None:
                base = self.bases.get(from_ref)
                if base is None:
                    raise self.p.error(f"COPY --from image {from_ref!r} was not resolved", line)
                sources.append(CopySource("image", src, image=from_ref, digest=base.digest))
                inputs += [("source", src), (f"image:{from_ref}", base.digest)]
            elif inst.add and src.startswith(("http://", "https://")):
                local, digest = self.inputs.fetch_url(src, inst.checksum)
                sources.append(CopySource("url", src, local=local, digest=digest))
                inputs += [("source", src), (f"url:{src}", digest)]
            else:
                try:
                    sel = self.inputs.select(src)
                except BuildError as exc:
                    raise self.p.error(exc.message, line, exc.remedy) from None
                sources.append(CopySource("context", src, entries=sel.entries, roots=tuple(e.rel for e in sel.roots)))
                inputs.append(("source", src))
                inputs += [(f"file:{e.rel or '.'}", f"{e.kind} {e.mode:o} {e.digest}") for e in sel.entries]
        multiple = len(sources) > 1 or any(len(s.roots) > 1 for s in sources)
        if multiple and not dest.endswith("/"):
            raise self.p.error(
                f"When using {op} with more than one source file, the destination must be a directory and end with a /",
                line,
            )
        action = CopyAction(sources=tuple(sources), dest=dest, chown=chown, chmod=chmod, add=inst.add)
        flags = "".join(f" --{k}={v}" for k, v in (("from", from_ref), ("chown", chown), ("chmod", inst.chmod)) if v)
        text = f"{op}{flags} {' '.join(s.path for s in sources)} {dest}"
        self.layer(inst, text, action, tuple(inputs))


def _heredoc_name(word: str) -> str:
    doc = parse_heredoc(word)
    return doc.name if doc else ""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _ports(spec: str, planner: _Planner, line: int) -> list[str]:
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise planner.error(f"invalid proto: {proto}", line)
    start, _, end = port.partition("-")
    if not start.isdigit() or (end and not end.isdigit()):
        raise planner.error(f"invalid containerPort: {port}", line)
    lo, hi = int(start), int(end or start)
    return [f"{p}/{proto}" for p in range(lo, hi + 1)]
