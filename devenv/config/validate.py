"""Lenient validation of devcontainer.json against the official schema, with source positions.

Two severities:

* **errors** — a value of the wrong type (``"forwardPorts": "3000"``, ``"containerEnv": []``), or a
  value no tool can act on (an unknown ``waitFor`` hook, a port above 65535, a mount object without
  ``target``). Loading stops with a :class:`~devenv.errors.ConfigError` at the first one, which
  names the others in its detail.
* **warnings** — what the reference tool accepts and uses anyway: unknown properties, the legacy
  top-level ``extensions`` / ``settings`` / ``devPort`` (moved to ``customizations.vscode``), values
  that break only a schema pattern (``"forwardPorts": ["3000"]``, ``"memory": "8GB"``), numbers where
  an environment map wants strings, properties that do not apply to this kind of config, and
  duplicate keys.

The rules are a hand-written image of ``devContainer.base.schema.json``: a small set of combinators,
so that messages say what was expected in words a user knows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from devenv.config.jsonc import Document, PathKey, format_pointer

LIFECYCLE_HOOKS = (
    "initializeCommand",
    "onCreateCommand",
    "updateContentCommand",
    "postCreateCommand",
    "postStartCommand",
    "postAttachCommand",
)
LEGACY_PROPERTIES = ("extensions", "settings", "devPort")


@dataclass(frozen=True)
class ConfigWarning:
    """Something the reference accepts but is probably not what the author meant."""

    message: str
    path: str | None = None
    line: int | None = None
    col: int | None = None
    pointer: str | None = None

    def __str__(self) -> str:
        where = self.path or "<config>"
        if self.line is not None:
            where += f":{self.line}:{self.col}"
        return f"{where}: {self.pointer}: {self.message}" if self.pointer else f"{where}: {self.message}"


class Issues:
    """Errors and warnings found while checking one document."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.errors: list[tuple[PathKey, str]] = []
        self.warnings: list[ConfigWarning] = []

    def error(self, where: PathKey, message: str) -> None:
        self.errors.append((where, message))

    def warn(self, where: PathKey, message: str, *, key: bool = False) -> None:
        line_col = None
        span = self.doc.spans.get(where)
        if span is not None:
            offset = span.key_start if key and span.key_start is not None else span.start
            line_col = self.doc.position(offset)
        else:
            line_col = self.doc.locate(where)
        line, col = line_col if line_col else (None, None)
        self.warnings.append(ConfigWarning(message, self.doc.path, line, col, format_pointer(where) or None))


Check = Callable[[Issues, PathKey, Any], None]


def _got(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f'the string "{shown}"'
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def string(issues: Issues, where: PathKey, value: Any) -> None:
    if not isinstance(value, str):
        issues.error(where, f"expected a string, got {_got(value)}")


def boolean(issues: Issues, where: PathKey, value: Any) -> None:
    if not isinstance(value, bool):
        issues.error(where, f"expected true or false, got {_got(value)}")


def any_value(issues: Issues, where: PathKey, value: Any) -> None:
    return None


def obj(issues: Issues, where: PathKey, value: Any) -> None:
    if not isinstance(value, dict):
        issues.error(where, f"expected an object {{...}}, got {_got(value)}")


def integer(minimum: int | None = None, maximum: int | None = None) -> Check:
    def check(issues: Issues, where: PathKey, value: Any) -> None:
        if not _is_int(value):
            issues.error(where, f"expected a whole number, got {_got(value)}")
        elif (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            low = minimum if minimum is not None else "-∞"
            high = maximum if maximum is not None else "∞"
            issues.error(where, f"expected a number from {low} to {high}, got {value}")

    return check


def enum(*choices: str, severity: str = "error") -> Check:
    shown = ", ".join(f'"{c}"' for c in choices)

    def check(issues: Issues, where: PathKey, value: Any) -> None:
        if not isinstance(value, str):
            issues.error(where, f"expected one of {shown}, got {_got(value)}")
        elif value not in choices:
            message = f'expected one of {shown}, got "{value}"'
            if severity == "error":
                issues.error(where, message)
            else:
                issues.warn(where, message)

    return check


def pattern(regex: str, expected: str) -> Check:
    """A string that should match ``regex``; a mismatch is only a warning (the reference uses it as is)."""
    compiled = re.compile(regex)

    def check(issues: Issues, where: PathKey, value: Any) -> None:
        if not isinstance(value, str):
            issues.error(where, f"expected {expected}, got {_got(value)}")
        elif not compiled.search(value):
            issues.warn(where, f'expected {expected}, got "{value}"')

    return check


def array_of(item: Check) -> Check:
    def check(issues: Issues, where: PathKey, value: Any) -> None:
        if not isinstance(value, list):
            issues.error(where, f"expected an array [...], got {_got(value)}")
            return
        for i, entry in enumerate(value):
            item(issues, (*where, i), entry)

    return check


def map_of(item: Check, key_pattern: str | None = None, key_expected: str = "") -> Check:
    compiled = re.compile(key_pattern) if key_pattern else None

    def check(issues: Issues, where: PathKey, value: Any) -> None:
        if not isinstance(value, dict):
            issues.error(where, f"expected an object {{...}}, got {_got(value)}")
            return
        for key, entry in value.items():
            if compiled and not compiled.search(key):
                issues.warn((*where, key), f"the name should be {key_expected}", key=True)
            item(issues, (*where, key), entry)

    return check


def env_value(nullable: bool = False) -> Check:
    """A value of an environment map: a string; numbers and booleans are used as their text."""

    def check(issues: Issues, where: PathKey, value: Any) -> None:
        if isinstance(value, str) or (nullable and value is None):
            return
        if isinstance(value, bool | int | float):
            issues.warn(where, f"expected a string, got {_got(value)}; it is used as its text")
            return
        wanted = "a string or null" if nullable else "a string"
        issues.error(where, f"expected {wanted}, got {_got(value)}")

    return check


def properties(props: Mapping[str, Check], *, required: tuple[str, ...] = (), unknown: str = "warn") -> Check:
    def check(issues: Issues, where: PathKey, value: Any) -> None:
        if not isinstance(value, dict):
            issues.error(where, f"expected an object {{...}}, got {_got(value)}")
            return
        for name in required:
            if name not in value:
                issues.error(where, f'"{name}" is required here')
        for key, entry in value.items():
            rule = props.get(key)
            if rule is not None:
                rule(issues, (*where, key), entry)
            elif unknown == "warn":
                issues.warn((*where, key), f'unknown property "{key}"{_suggest(key, props)}', key=True)

    return check


def union(expected: str, **by_type: Check) -> Check:
    """Dispatch on the JSON type: keys are ``string``, ``number``, ``boolean``, ``array``, ``object``."""

    def check(issues: Issues, where: PathKey, value: Any) -> None:
        kind = _json_type(value)
        rule = by_type.get(kind)
        if rule is None:
            issues.error(where, f"expected {expected}, got {_got(value)}")
        else:
            rule(issues, where, value)

    return check


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _suggest(name: str, known: Mapping[str, Any]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _port_item(issues: Issues, where: PathKey, value: Any) -> None:
    if _is_int(value):
        if not 0 <= value <= 65535:
            issues.error(where, f"expected a port number from 0 to 65535, got {value}")
    elif isinstance(value, str):
        if not re.fullmatch(r"([a-z0-9-]+):(\d{1,5})", value):
            hint = f"; write {value} without quotes" if value.isdigit() else ""
            issues.warn(where, f'expected a port number or "host:port", got "{value}"{hint}')
    else:
        issues.error(where, f'expected a port number or "host:port", got {_got(value)}')


def _app_port_item(issues: Issues, where: PathKey, value: Any) -> None:
    if not (_is_int(value) or isinstance(value, str)):
        issues.error(where, f'expected a port number or "host:port", got {_got(value)}')


def _command_entry(issues: Issues, where: PathKey, value: Any) -> None:
    union("a command string or an array of strings", string=string, array=array_of(string))(issues, where, value)


LIFECYCLE_COMMAND = union(
    'a command: a string, an array of strings, or an object {"name": command}',
    string=string,
    array=array_of(string),
    object=map_of(_command_entry),
)

_BYTES = r"^\d+([tgmk]b)?$"
_BYTES_EXPECTED = 'a size such as "4gb", "512mb" or a number of bytes'

_PORT_ATTRIBUTES = properties(
    {
        "label": string,
        "onAutoForward": enum("notify", "openBrowser", "openBrowserOnce", "openPreview", "silent", "ignore"),
        "elevateIfNeeded": boolean,
        "requireLocalPort": boolean,
        "protocol": enum("http", "https"),
    }
)


def _mount(issues: Issues, where: PathKey, value: Any) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, dict):
        expected = 'a mount: a "--mount" string or {"type", "source", "target"}'
        issues.error(where, f"expected {expected}, got {_got(value)}")
        return
    properties(
        {"type": enum("bind", "volume", severity="warn"), "source": string, "target": string},
        required=("type", "target"),
    )(issues, where, value)


def _gpu(issues: Issues, where: PathKey, value: Any) -> None:
    if isinstance(value, bool) or value == "optional":
        return
    if isinstance(value, dict):
        properties({"cores": integer(1), "memory": pattern(_BYTES, _BYTES_EXPECTED)})(issues, where, value)
        return
    issues.error(where, f'expected true, false, "optional" or {{"cores", "memory"}}, got {_got(value)}')


def _feature_options(issues: Issues, where: PathKey, value: Any) -> None:
    if isinstance(value, str | bool):
        return
    if isinstance(value, dict):
        for key, option in value.items():
            if isinstance(option, str | bool):
                continue
            if isinstance(option, dict):
                issues.error((*where, key), f"expected an option value (a string or true/false), got {_got(option)}")
            else:
                shown = f'{_got(option)}; it is passed as "{js_string(option)}"'
                issues.warn((*where, key), f"expected a string or true/false, got {shown}")
        return
    issues.error(where, f'expected feature options {{"option": value}}, a version string, or true, got {_got(value)}')


def js_string(value: Any) -> str:
    """A JSON value as JavaScript's ``String(value)`` writes it (how the reference passes option values)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


_BUILD = properties(
    {
        "dockerfile": string,
        "context": string,
        "args": map_of(env_value()),
        "target": string,
        "cacheFrom": union("a string or an array of strings", string=string, array=array_of(string)),
        "options": array_of(string),
    }
)

TOP_LEVEL: dict[str, Check] = {
    "$schema": string,
    "name": string,
    "image": string,
    "build": _BUILD,
    "dockerFile": string,
    "context": string,
    "dockerComposeFile": union("a file name or an array of file names", string=string, array=array_of(string)),
    "service": string,
    "runServices": array_of(string),
    "workspaceFolder": string,
    "workspaceMount": string,
    "features": map_of(_feature_options),
    "overrideFeatureInstallOrder": array_of(string),
    "secrets": map_of(
        properties({"description": string, "documentationUrl": string}),
        r"^[a-zA-Z_][a-zA-Z0-9_]*$",
        "an environment variable name (letters, digits and _, not starting with a digit)",
    ),
    "forwardPorts": array_of(_port_item),
    "appPort": union(
        'a port number, "host:port", or an array of them',
        number=_app_port_item,
        string=_app_port_item,
        array=array_of(_app_port_item),
    ),
    "portsAttributes": map_of(_PORT_ATTRIBUTES),
    "otherPortsAttributes": _PORT_ATTRIBUTES,
    "updateRemoteUserUID": boolean,
    "containerEnv": map_of(env_value()),
    "containerUser": string,
    "mounts": array_of(_mount),
    "init": boolean,
    "privileged": boolean,
    "capAdd": array_of(string),
    "securityOpt": array_of(string),
    "remoteEnv": map_of(env_value(nullable=True)),
    "remoteUser": string,
    **{hook: LIFECYCLE_COMMAND for hook in LIFECYCLE_HOOKS},
    "waitFor": enum(*LIFECYCLE_HOOKS[:-1]),
    "userEnvProbe": enum("none", "loginShell", "loginInteractiveShell", "interactiveShell"),
    "hostRequirements": properties(
        {
            "cpus": integer(1),
            "memory": pattern(_BYTES, _BYTES_EXPECTED),
            "storage": pattern(_BYTES, _BYTES_EXPECTED),
            "gpu": _gpu,
        }
    ),
    "customizations": obj,
    "runArgs": array_of(string),
    "shutdownAction": enum("none", "stopContainer", "stopCompose"),
    "overrideCommand": boolean,
    # Legacy VS Code properties: checked, then warned about (and moved) by `check`.
    "extensions": array_of(string),
    "settings": obj,
    "devPort": integer(0, 65535),
}

_NON_COMPOSE = ("appPort", "runArgs", "workspaceMount")
_COMPOSE_ONLY = ("service", "runServices")


def check(doc: Document) -> Issues:
    """Check a parsed devcontainer.json; errors and warnings are collected on the returned object."""
    issues = Issues(doc)
    value = doc.value
    if not isinstance(value, dict):
        issues.error((), f"a devcontainer.json must hold a JSON object {{...}}, got {_got(value)}")
        return issues
    for where, _offset in doc.duplicate_keys:
        issues.warn(where, f'duplicate property "{where[-1]}": the last value is used', key=True)
    for key, entry in value.items():
        rule = TOP_LEVEL.get(key)
        if rule is None:
            issues.warn((key,), f'unknown property "{key}"{_suggest(key, TOP_LEVEL)}; it is ignored', key=True)
            continue
        if entry is None:
            if key == "workspaceMount":
                issues.warn((key,), "null: the workspace folder is not mounted into the container")
            elif key not in ("workspaceFolder", "name", "$schema"):
                issues.warn((key,), f'null: "{key}" is treated as not set')
            continue
        rule(issues, (key,), entry)
        if key in LEGACY_PROPERTIES:
            issues.warn(
                (key,),
                f'"{key}" is a legacy property; it is read as "customizations.vscode.{key}", move it there',
                key=True,
            )
    _check_kind(issues, value)
    return issues


def _check_kind(issues: Issues, value: dict[str, Any]) -> None:
    compose = "dockerComposeFile" in value
    build = value.get("build")
    if isinstance(build, dict) and "dockerFile" not in value and "dockerfile" not in build and "image" not in value:
        issues.warn(("build",), '"build" has no "dockerfile": the config is not a Dockerfile config')
    if compose:
        for key in _NON_COMPOSE:
            if key in value:
                issues.warn((key,), f'"{key}" does not apply to a Docker Compose config; it is ignored', key=True)
        if value.get("shutdownAction") == "stopContainer":
            issues.warn(("shutdownAction",), '"stopContainer" is for image and Dockerfile configs; use "stopCompose"')
    else:
        for key in _COMPOSE_ONLY:
            if key in value:
                issues.warn((key,), f'"{key}" only applies with "dockerComposeFile"; it is ignored', key=True)
        if value.get("shutdownAction") == "stopCompose":
            issues.warn(("shutdownAction",), '"stopCompose" is for Docker Compose configs; use "stopContainer"')
