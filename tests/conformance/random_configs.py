"""Random devcontainer.json files for differential tests against the reference tool.

Valid JSONC by construction (comments everywhere, trailing commas, duplicate keys, odd blanks,
escapes, numbers, integer-like keys, variables of every phase, legacy properties), with values of the
right types for the typed properties; ``customizations`` and friends hold anything.
"""

from __future__ import annotations

import json
import random

WS = [" ", "\t", "\n", "\r\n", "\u00a0", "\u2028", "\ufeff", "\u3000", "\u200b", "\v", "\f"]


def ws() -> str:
    r = random.random()
    if r < 0.5:
        return ""
    if r < 0.7:
        return random.choice(WS) + " "
    if r < 0.85:
        return " // c " + random.choice(["x", "/* y", '"q']) + "\n"
    return "/*" + random.choice(["", "*", " // ", "\n"]) + "*/"


VARS = [
    "${localEnv:FOO}",
    "${env:FOO:d}",
    "${localEnv:NOPE:a:b}",
    "${localEnv:EMPTY:x}",
    "${localWorkspaceFolder}",
    "${localWorkspaceFolderBasename}",
    "${containerWorkspaceFolder}",
    "${containerWorkspaceFolderBasename}",
    "${devcontainerId}",
    "${x}",
    "${}",
    "$${a}",
    "${localEnv:FOO",
    "${:}",
    "${localEnv::d}",
]


def string() -> str:
    parts = []
    for _ in range(random.randint(0, 4)):
        r = random.random()
        if r < 0.4:
            parts.append(random.choice(VARS))
        elif r < 0.6:
            parts.append(
                random.choice(["\\n", "\\t", "\\\\", '\\"', "\\/", "\\u00e9", "\\ud83d\\ude00", "\\u2028", "\\u0000"])
            )
        elif r < 0.7:
            parts.append(random.choice(["é", "😀", "\t", "\u2028", "</script>"]))
        else:
            parts.append(random.choice(["a", "b c", "x:y", "/p/q", "{", "}", "$"]))
    return '"' + "".join(parts) + '"'


def number() -> str:
    return random.choice(
        [
            "0",
            "-0",
            "1",
            "1.0",
            "1.5",
            "1e3",
            "1E-7",
            "1e21",
            "123456789012345678",
            "-2.5e-3",
            "0.1",
            "99999999999999999999",
            "5e-324",
            "1.7976931348623157e308",
        ]
    )


def value(depth: int = 0) -> str:
    r = random.random()
    if depth > 2 or r < 0.35:
        return string()
    if r < 0.5:
        return number()
    if r < 0.55:
        return random.choice(["true", "false", "null"])
    if r < 0.75:
        items = [value(depth + 1) for _ in range(random.randint(0, 3))]
        return "[" + ws() + ("," + ws()).join(items) + ("," if items and random.random() < 0.3 else "") + ws() + "]"
    return obj(depth + 1)


KEYS = [
    "a",
    "b",
    "10",
    "2",
    "0",
    "01",
    "-1",
    "4294967294",
    "4294967295",
    "é",
    "",
    "__proto__x",
    "${localEnv:FOO}",
    "k k",
]


def obj(depth: int) -> str:
    keys = [random.choice(KEYS) for _ in range(random.randint(0, 4))]
    members = [
        ws() + json.dumps(k, ensure_ascii=random.random() < 0.5) + ws() + ":" + ws() + value(depth) for k in keys
    ]
    return "{" + ",".join(members) + ("," if members and random.random() < 0.3 else "") + ws() + "}"


TOP = {
    "name": string,
    "image": string,
    "customizations": lambda: obj(1),
    "containerEnv": lambda: (
        "{" + ",".join(json.dumps(random.choice(KEYS)) + ":" + string() for _ in range(random.randint(0, 3))) + "}"
    ),
    "workspaceFolder": string,
    "workspaceMount": string,
    "runArgs": lambda: "[" + ",".join(string() for _ in range(2)) + "]",
    "extensions": lambda: "[" + ",".join(string() for _ in range(random.randint(0, 2))) + "]",
    "settings": lambda: obj(1),
    "devPort": lambda: random.choice(["1", "0"]),
    "features": lambda: (
        "{"
        + json.dumps("ghcr.io/a/b/c:1")
        + ":"
        + "{"
        + ",".join(
            json.dumps(random.choice(KEYS)) + ":" + random.choice([string(), "true", "false"])
            for _ in range(random.randint(0, 3))
        )
        + "}"
        + "}"
    ),
    "portsAttributes": lambda: (
        "{"
        + ",".join(
            json.dumps(random.choice(KEYS)) + ":{" + '"label":' + string() + "}" for _ in range(random.randint(0, 3))
        )
        + "}"
    ),
    "postCreateCommand": string,
    "remoteEnv": lambda: (
        "{"
        + ",".join(
            json.dumps(random.choice(KEYS)) + ":" + random.choice([string(), "null"])
            for _ in range(random.randint(0, 3))
        )
        + "}"
    ),
    "mounts": lambda: (
        "["
        + ",".join(
            random.choice([string(), '{"type":"bind","source":' + string() + ',"target":' + string() + "}"])
            for _ in range(random.randint(0, 2))
        )
        + "]"
    ),
}


def doc() -> str:
    keys = random.sample(sorted(TOP), random.randint(1, 6))
    if random.random() < 0.2:
        keys.append(keys[0])
    members = [ws() + json.dumps(k) + ws() + ":" + ws() + TOP[k]() for k in keys]
    return (
        random.choice(["", "\ufeff"])
        + ws()
        + "{"
        + ",".join(members)
        + ("," if random.random() < 0.3 else "")
        + ws()
        + "}"
        + ws()
    )


def generate(seed: int) -> str:
    """One random config; the same seed gives the same text."""
    random.seed(seed)
    return doc()
