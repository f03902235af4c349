"""A Dockerfile as typed instructions grouped in stages (pure; no variable expansion yet).

``parse(text)`` returns a :class:`Dockerfile`: the global ``ARG``s before the first ``FROM`` and the
stages, each a ``From`` and its instructions. Words keep their quotes and ``$VARS``: expansion
happens when the build is planned, with the build arguments and the stage's environment, as Docker
does. Every error names ``Dockerfile:LINE``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from devenv.build.lexer import DockerfileError, Heredoc, Node, ParsedDockerfile
from devenv.build.lexer import parse as lex

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")


@dataclass(frozen=True)
class Instruction:
    line: int
    original: str


@dataclass(frozen=True)
class From(Instruction):
    image: str
    name: str | None = None  # lower case
    platform: str | None = None


@dataclass(frozen=True)
class Arg(Instruction):
    args: tuple[tuple[str, str | None], ...] = ()  # name, default (raw word) or None


@dataclass(frozen=True)
class Env(Instruction):
    pairs: tuple[tuple[str, str], ...] = ()  # raw words, expanded at plan time


@dataclass(frozen=True)
class Label(Instruction):
    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Workdir(Instruction):
    path: str = ""


@dataclass(frozen=True)
class User(Instruction):
    user: str = ""


@dataclass(frozen=True)
class RunMount:
    type: str  # cache, bind, tmpfs, secret, ssh
    target: str
    options: tuple[tuple[str, str], ...] = ()

    def get(self, key: str, default: str = "") -> str:
        return dict(self.options).get(key, default)


@dataclass(frozen=True)
class Command(Instruction):
    """RUN, CMD, ENTRYPOINT: exec form (``json``) or shell form (one string in ``args``)."""

    args: tuple[str, ...] = ()
    json: bool = False
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True)
class Run(Command):
    mounts: tuple[RunMount, ...] = ()
    network: str | None = None


@dataclass(frozen=True)
class Cmd(Command):
    pass


@dataclass(frozen=True)
class Entrypoint(Command):
    pass


@dataclass(frozen=True)
class Shell(Instruction):
    argv: tuple[str, ...] = ()


@dataclass(frozen=True)
class Copy(Instruction):
    sources: tuple[str, ...] = ()
    dest: str = ""
    add: bool = False  # ADD: tar auto-extraction, URLs
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    checksum: str | None = None
    excludes: tuple[str, ...] = ()
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True)
class Expose(Instruction):
    ports: tuple[str, ...] = ()


@dataclass(frozen=True)
class Volume(Instruction):
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class StopSignal(Instruction):
    signal: str = ""


@dataclass(frozen=True)
class Healthcheck(Instruction):
    test: tuple[str, ...] = ()  # ("NONE",), ("CMD", ...) or ("CMD-SHELL", cmd)
    interval: int = 0  # nanoseconds; 0 = inherit
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True)
class Onbuild(Instruction):
    expression: str = ""


@dataclass(frozen=True)
class Maintainer(Instruction):
    name: str = ""


@dataclass(frozen=True)
class Stage:
    index: int
    source: From
    instructions: tuple[Instruction, ...] = ()

    @property
    def name(self) -> str:
        return self.source.name or str(self.index)


@dataclass(frozen=True)
class Dockerfile:
    path: str
    global_args: tuple[Arg, ...]
    stages: tuple[Stage, ...]
    escape: str = "\\"
    syntax: str | None = None

    def stage(self, target: str | None) -> Stage:
        """The stage to build: ``target`` (build.target) or the last one."""
        if target is None or target == "":
            return self.stages[-1]
        for st in self.stages:
            if st.source.name == target.lower():
                return st
        names = ", ".join(s.source.name for s in self.stages if s.source.name) or "none"
        raise DockerfileError(f"target stage {target!r} could not be found (stages: {names})", path=self.path)

    def find_stage(self, ref: str, before: int) -> Stage | None:
        """A stage named ``ref`` (or numbered) defined before stage index ``before``."""
        for st in self.stages[:before]:
            if st.source.name == ref.lower() or (ref.isdigit() and int(ref) == st.index):
                return st
        return None


# --- argument forms --------------------------------------------------------------------------


def _parse_json(rest: str) -> list[str] | None:
    text = rest.strip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise ValueError("the JSON array must contain only strings")
    return value


def parse_words(rest: str, escape: str = "\\") -> list[str]:
    """Whitespace-separated words, keeping quotes and escapes (BuildKit's ``parseWords``)."""
    words: list[str] = []
    word = ""
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    n = len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            phase = "word"
        if phase in ("word", "quote") and pos == n:
            if blank_ok or word:
                words.append(word)
            break
        if phase == "word":
            if ch.isspace():
                phase = "spaces"
                if blank_ok or word:
                    words.append(word)
                word = ""
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = "quote"
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                word += ch
                pos += 1
                ch = rest[pos]
            word += ch
            pos += 1
            continue
        # in quote
        if ch == quote:
            phase = "word"
        if ch == escape and quote != "'":
            if pos + 1 == n:
                phase = "word"
                pos += 1
                continue
            word += ch
            pos += 1
            ch = rest[pos]
        word += ch
        pos += 1
    return words


def _name_values(node: Node, escape: str, path: str, what: str) -> tuple[tuple[str, str], ...]:
    words = parse_words(node.rest, escape)
    if not words:
        raise DockerfileError(f"{what} requires at least one argument", path=path, line=node.line)
    if "=" not in words[0]:
        parts = _WHITESPACE.split(node.rest.strip(), maxsplit=1)
        if len(parts) < 2:
            raise DockerfileError(f"{what} must have two arguments", path=path, line=node.line)
        return ((parts[0], parts[1]),)
    pairs: list[tuple[str, str]] = []
    for word in words:
        if "=" not in word:
            raise DockerfileError(
                f"syntax error - can't find = in {word!r}. Must be of the form: name=value",
                path=path,
                line=node.line,
            )
        key, value = word.split("=", 1)
        if not key:
            raise DockerfileError(f"{what} names can not be blank", path=path, line=node.line)
        pairs.append((key, value))
    return tuple(pairs)


def _duration_ns(value: str, node: Node, path: str, flag: str) -> int:
    m = re.fullmatch(r"((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+", value)
    if not m:
        raise DockerfileError(f"invalid duration for --{flag}: {value!r}", path=path, line=node.line)
    units = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    total = 0.0
    for num, unit in re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", value):
        total += float(num) * units[unit]
    return int(total)


class _Flags:
    def __init__(self, node: Node, path: str, allowed: set[str], repeatable: set[str] | None = None) -> None:
        self.values: dict[str, list[str]] = {}
        for word in node.flags:
            name, sep, value = word[2:].partition("=")
            if name not in allowed:
                raise DockerfileError(f"unknown flag: --{name} for {node.keyword.upper()}", path=path, line=node.line)
            if name in self.values and name not in (repeatable or set()):
                raise DockerfileError(f"duplicate flag specified: --{name}", path=path, line=node.line)
            self.values.setdefault(name, []).append(value if sep else "true")

    def get(self, name: str) -> str | None:
        values = self.values.get(name)
        return values[-1] if values else None

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])


def _parse_mount(spec: str, node: Node, path: str) -> RunMount:
    options: dict[str, str] = {}
    for part in spec.split(","):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        options[{"dst": "target", "destination": "target", "src": "source"}.get(key, key)] = value if sep else "true"
    kind = options.pop("type", "bind")
    target = options.pop("target", "")
    if kind not in ("bind", "cache", "tmpfs", "secret", "ssh"):
        raise DockerfileError(f"unsupported mount type {kind!r} in --mount={spec}", path=path, line=node.line)
    if not target and kind in ("bind", "cache", "tmpfs"):
        raise DockerfileError(f"--mount={spec} needs a target", path=path, line=node.line)
    return RunMount(type=kind, target=target, options=tuple(sorted(options.items())))


def _command(node: Node, path: str) -> tuple[tuple[str, ...], bool]:
    try:
        as_json = _parse_json(node.rest)
    except ValueError as exc:
        raise DockerfileError(str(exc), path=path, line=node.line) from None
    if as_json is not None:
        return tuple(as_json), True
    return ((node.rest,) if node.rest else ()), False


def _instruction(node: Node, parsed: ParsedDockerfile, path: str) -> Instruction:
    kw = node.keyword
    esc = parsed.escape
    base: dict[str, Any] = {"line": node.line, "original": node.original}
    no_flags: set[str] = set()
    if kw == "from":
        flags = _Flags(node, path, {"platform"})
        words = _WHITESPACE.split(node.rest.strip()) if node.rest.strip() else []
        if len(words) == 3 and words[1].lower() == "as":
            name = words[2].lower()
            if not re.fullmatch(r"[a-z][a-z0-9\-_.]*", name):
                raise DockerfileError(f"invalid name for build stage: {words[2]!r}", path=path, line=node.line)
            return From(**base, image=words[0], name=name, platform=flags.get("platform"))
        if len(words) != 1:
            raise DockerfileError("FROM requires either one or three arguments", path=path, line=node.line)
        return From(**base, image=words[0], platform=flags.get("platform"))
    if kw == "arg":
        _Flags(node, path, no_flags)
        words = parse_words(node.rest, esc)
        if not words:
            raise DockerfileError("ARG requires at least one argument", path=path, line=node.line)
        args: list[tuple[str, str | None]] = []
        for word in words:
            key, sep, value = word.partition("=")
            if not key:
                raise DockerfileError("ARG names can not be blank", path=path, line=node.line)
            args.append((key, value if sep else None))
        return Arg(**base, args=tuple(args))
    if kw in ("env", "label"):
        _Flags(node, path, no_flags)
        pairs = _name_values(node, esc, path, kw.upper())
        return Env(**base, pairs=pairs) if kw == "env" else Label(**base, pairs=pairs)
    if kw in ("workdir", "user", "stopsignal", "maintainer", "onbuild"):
        _Flags(node, path, no_flags)
        if not node.rest:
            raise DockerfileError(f"{kw.upper()} requires exactly one argument", path=path, line=node.line)
        if kw == "workdir":
            return Workdir(**base, path=node.rest)
        if kw == "user":
            return User(**base, user=node.rest)
        if kw == "stopsignal":
            return StopSignal(**base, signal=node.rest)
        if kw == "onbuild":
            return Onbuild(**base, expression=node.rest)
        return Maintainer(**base, name=node.rest)
    if kw == "run":
        flags = _Flags(node, path, {"mount", "network", "security"}, {"mount"})
        args_, is_json = _command(node, path)
        if not args_:
            raise DockerfileError("RUN requires at least one argument", path=path, line=node.line)
        mounts = tuple(_parse_mount(m, node, path) for m in flags.all("mount"))
        network = flags.get("network")
        if network not in (None, "default", "none", "host"):
            raise DockerfileError(f"unsupported RUN --network={network}", path=path, line=node.line)
        return Run(**base, args=args_, json=is_json, heredocs=node.heredocs, mounts=mounts, network=network)
    if kw in ("cmd", "entrypoint"):
        _Flags(node, path, no_flags)
        args_, is_json = _command(node, path)
        cls = Cmd if kw == "cmd" else Entrypoint
        return cls(**base, args=args_, json=is_json)
    if kw == "shell":
        _Flags(node, path, no_flags)
        try:
            argv = _parse_json(node.rest)
        except ValueError as exc:
            raise DockerfileError(str(exc), path=path, line=node.line) from None
        if not argv:
            raise DockerfileError(
                'SHELL requires the arguments to be in JSON form: SHELL ["executable", "param"]',
                path=path,
                line=node.line,
            )
        return Shell(**base, argv=tuple(argv))
    if kw in ("copy", "add"):
        allowed = {"chown", "chmod", "link", "exclude"}
        allowed |= {"from", "parents"} if kw == "copy" else {"checksum", "keep-git-dir"}
        flags = _Flags(node, path, allowed, {"exclude"})
        try:
            as_json = _parse_json(node.rest)
        except ValueError as exc:
            raise DockerfileError(str(exc), path=path, line=node.line) from None
        words = as_json if as_json is not None else _WHITESPACE.split(node.rest.strip()) if node.rest.strip() else []
        if len(words) < 2:
            raise DockerfileError(
                f"{kw.upper()} requires at least two arguments, but only {len(words)} provided",
                path=path,
                line=node.line,
            )
        return Copy(
            **base,
            sources=tuple(words[:-1]),
            dest=words[-1],
            add=kw == "add",
            from_=flags.get("from"),
            chown=flags.get("chown"),
            chmod=flags.get("chmod"),
            link=flags.get("link") in ("true", ""),
            checksum=flags.get("checksum"),
            excludes=tuple(flags.all("exclude")),
            heredocs=node.heredocs,
        )
    if kw in ("expose", "volume"):
        _Flags(node, path, no_flags)
        try:
            as_json = _parse_json(node.rest) if kw == "volume" else None
        except ValueError as exc:
            raise DockerfileError(str(exc), path=path, line=node.line) from None
        items = as_json if as_json is not None else _WHITESPACE.split(node.rest.strip()) if node.rest.strip() else []
        if not items:
            raise DockerfileError(f"{kw.upper()} requires at least one argument", path=path, line=node.line)
        return Expose(**base, ports=tuple(items)) if kw == "expose" else Volume(**base, paths=tuple(items))
    if kw == "healthcheck":
        return _healthcheck(node, path, base)
    raise DockerfileError(f"unknown instruction: {node.keyword.upper()}", path=path, line=node.line)


def _healthcheck(node: Node, path: str, base: dict[str, Any]) -> Healthcheck:
    flags = _Flags(node, path, {"interval", "timeout", "start-period", "start-interval", "retries"})
    words = _WHITESPACE.split(node.rest.strip(), maxsplit=1) if node.rest.strip() else []
    if not words:
        raise DockerfileError("HEALTHCHECK requires an argument", path=path, line=node.line)
    kind = words[0].upper()
    if kind == "NONE":
        if len(words) > 1 or flags.values:
            raise DockerfileError("HEALTHCHECK NONE takes no arguments", path=path, line=node.line)
        return Healthcheck(**base, test=("NONE",))
    if kind != "CMD" or len(words) < 2:
        raise DockerfileError(f"unknown type {words[0]!r} in HEALTHCHECK (try CMD)", path=path, line=node.line)
    try:
        as_json = _parse_json(words[1])
    except ValueError as exc:
        raise DockerfileError(str(exc), path=path, line=node.line) from None
    test = ("CMD", *as_json) if as_json is not None else ("CMD-SHELL", words[1])
    durations: dict[str, int] = {}
    for flag in ("interval", "timeout", "start-period", "start-interval"):
        raw = flags.get(flag)
        durations[flag.replace("-", "_")] = _duration_ns(raw, node, path, flag) if raw else 0
    retries_raw = flags.get("retries")
    retries = 0
    if retries_raw:
        if not retries_raw.isdigit() or int(retries_raw) < 1:
            raise DockerfileError("--retries must be at least 1", path=path, line=node.line)
        retries = int(retries_raw)
    return Healthcheck(
        **base,
        test=test,
        retries=retries,
        interval=durations["interval"],
        timeout=durations["timeout"],
        start_period=durations["start_period"],
        start_interval=durations["start_interval"],
    )


def parse(text: str, *, path: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile into global ARGs and stages."""
    parsed = lex(text, path=path)
    global_args: list[Arg] = []
    stages: list[Stage] = []
    current: From | None = None
    body: list[Instruction] = []
    for node in parsed.nodes:
        inst = _instruction(node, parsed, path)
        if isinstance(inst, From):
            if current is not None:
                stages.append(Stage(index=len(stages), source=current, instructions=tuple(body)))
            current, body = inst, []
            continue
        if current is None:
            if isinstance(inst, Arg):
                global_args.append(inst)
                continue
            raise DockerfileError(
                f"{node.keyword.upper()} before the first FROM: only ARG may come before FROM",
                path=path,
                line=node.line,
            )
        body.append(inst)
    if current is None:
        raise DockerfileError(
            "the Dockerfile has no FROM instruction",
            path=path,
            line=None,
            remedy="start the build stage with FROM <image>",
        )
    stages.append(Stage(index=len(stages), source=current, instructions=tuple(body)))
    seen_names: set[str] = set()
    for st in stages:
        if st.source.name in seen_names:
            raise DockerfileError(f"duplicate stage name {st.source.name!r}", path=path, line=st.source.line)
        if st.source.name:
            seen_names.add(st.source.name)
    return Dockerfile(
        path=path, global_args=tuple(global_args), stages=tuple(stages), escape=parsed.escape, syntax=parsed.syntax
    )


__all__ = [
    "Arg",
    "Cmd",
    "Command",
    "Copy",
    "Dockerfile",
    "DockerfileError",
    "Entrypoint",
    "Env",
    "Expose",
    "From",
    "Healthcheck",
    "Instruction",
    "Label",
    "Maintainer",
    "Onbuild",
    "Run",
    "RunMount",
    "Shell",
    "Stage",
    "StopSignal",
    "User",
    "Volume",
    "Workdir",
    "parse",
    "parse_words",
]
