"""Feature install order: the reference tool's round-based algorithm, as a pure function.

1. Build the graph from the user's features: ``dependsOn`` recursively (with options), ``installsAfter``
   one level (soft: never adds a feature). Equal features (same source and digest/path, equal
   options) are installed once; the same feature with other options is installed again.
2. Drop soft edges whose target is not in the graph.
3. ``overrideFeatureInstallOrder`` of length n gives the entry at index i a round priority n−i,
   matched by reference without version.
4. Rounds: every node whose hard and soft dependencies are installed is a candidate; only those with
   the highest priority are committed, sorted as the reference sorts them. No candidate means a
   cycle, reported with the cycle itself (``./a → ./b → ./c → ./a``).

Fetching is not done here: ``resolve(user_id)`` returns an already-fetched :class:`ResolvedFeature`
for every id it is asked about (user features, ``dependsOn`` and ``installsAfter`` ids, overrides).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from devenv.errors import ConfigError
from devenv.features.ref import FeatureRef, FeatureValue


@dataclass(frozen=True)
class ResolvedFeature:
    """A feature reference with what fetching it told us."""

    ref: FeatureRef
    digest: str | None = None  # OCI manifest digest, or sha256 of the tarball
    metadata: Mapping[str, Any] | None = None  # devcontainer-feature.json


@dataclass(frozen=True)
class InstallStep:
    """One feature installation, in order. ``options`` is the value as written (object, string, bool)."""

    user_id: str
    options: FeatureValue
    feature: ResolvedFeature
    origin: Literal["user", "dependency"]


class _Locator(Protocol):
    def error(self, where: tuple[str | int, ...] | str, message: str, *, remedy: str | None = None) -> ConfigError: ...


@dataclass(eq=False)
class _Node:
    user_id: str
    options: FeatureValue
    origin: Literal["user", "dependency"]
    feature: ResolvedFeature | None = None
    depends_on: list[_Node] = field(default_factory=list)
    installs_after: list[_Node] = field(default_factory=list)
    aliases: list[str] | None = None
    priority: int = 0


# --- comparison, as the reference's localeCompare-based sort ---------------------------------------

_PUNCTUATION = "_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"


def _collation_key(text: str) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]]:
    """An approximation of ICU root collation (JavaScript ``localeCompare``) good for feature ids:
    punctuation before digits before letters, letters case-insensitive first, lower case first on ties."""
    primary: list[tuple[int, int]] = []
    tertiary: list[int] = []
    for ch in text:
        if ch in _PUNCTUATION:
            primary.append((1, _PUNCTUATION.index(ch)))
        elif ch.isspace():
            primary.append((0, ord(ch)))
        elif "0" <= ch <= "9":
            primary.append((2, ord(ch)))
        elif ch.isascii() and ch.isalpha():
            primary.append((3, ord(ch.lower())))
        else:
            primary.append((4, ord(ch.lower())))
        tertiary.append(1 if ch.isupper() else 0)
    return tuple(primary), tuple(tertiary)


def locale_compare(a: str, b: str) -> int:
    if a == b:
        return 0
    ka, kb = _collation_key(a), _collation_key(b)
    return -1 if ka < kb else 1 if ka > kb else (-1 if a < b else 1)


def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "undefined"
    return "number" if isinstance(value, int | float) else "object"


def options_compare(a: Any, b: Any) -> int:
    """Fewer option keys first, then keys, then values (strings with localeCompare, false before true)."""
    ta, tb = _value_type(a), _value_type(b)
    if ta == tb == "string":
        return locale_compare(a, b)
    if ta == tb == "boolean":
        return 0 if a == b else (1 if a else -1)
    if ta == tb == "object":
        if len(a) != len(b):
            return len(a) - len(b)
        for ka, kb in zip(sorted(a), sorted(b), strict=True):
            if ka != kb:
                return locale_compare(ka, kb)
            va, vb = a[ka], b[kb]
            result = 0
            if isinstance(va, str) and isinstance(vb, str):
                result = locale_compare(va, vb)
            elif isinstance(va, bool) and isinstance(vb, bool):
                result = 0 if va == vb else (1 if va else -1)
            elif va is None or vb is None:
                result = 0 if va is vb else (1 if va is None else -1)
            if result:
                return result
        return 0
    return locale_compare(ta, tb)


def _info(node: _Node) -> ResolvedFeature:
    assert node.feature is not None
    return node.feature


def _oci_resource_compare(a: _Node, b: _Node) -> int:
    ra, rb = _info(a).ref.oci, _info(b).ref.oci
    assert ra is not None and rb is not None
    ns_a, ns_b = f"{ra.registry}/{ra.namespace}", f"{rb.registry}/{rb.namespace}"
    if ns_a != ns_b:
        return locale_compare(ns_a, ns_b)
    if set(a.aliases or [ra.id]) & set(b.aliases or [rb.id]):
        return 0
    return locale_compare(ra.id, rb.id)


def compare(a: _Node, b: _Node) -> int:
    fa, fb = _info(a), _info(b)
    if fa.ref.kind != fb.ref.kind:
        return locale_compare(a.user_id, b.user_id)
    kind = fa.ref.kind
    if kind == "oci":
        if fa.digest == fb.digest and options_compare(a.options, b.options) == 0:
            return 0
        result = _oci_resource_compare(a, b)
        if result:
            return result
        tag_a, tag_b = fa.ref.oci.tag if fa.ref.oci else None, fb.ref.oci.tag if fb.ref.oci else None
        if tag_a and tag_b and tag_a != tag_b:
            return locale_compare(tag_a, tag_b)
        result = options_compare(a.options, b.options)
        if result:
            return result
        if fa.digest != fb.digest:
            return locale_compare(fa.digest or "", fb.digest or "")
        return 0
    if kind == "local":
        key_a, key_b = fa.ref.local_path or fa.ref.user_id, fb.ref.local_path or fb.ref.user_id
    elif kind == "tarball":
        key_a, key_b = fa.ref.tarball_url or "", fb.ref.tarball_url or ""
    else:
        key_a, key_b = fa.ref.without_version, fb.ref.without_version
    return locale_compare(key_a, key_b) or options_compare(a.options, b.options)


def _equals(a: _Node, b: _Node) -> bool:
    return _info(a).ref.kind == _info(b).ref.kind and compare(a, b) == 0


def _satisfies_soft(node: _Node, soft: _Node) -> bool:
    """Whether ``node`` is the feature ``soft`` names (version ignored; ``legacyIds`` accepted)."""
    fn, fs = _info(node).ref, _info(soft).ref
    if fn.kind != fs.kind:
        return False
    if fn.kind == "oci":
        assert fn.oci is not None and fs.oci is not None
        if fn.oci.resource == fs.oci.resource:
            return True
        prefix = f"{fs.oci.registry}/{fs.oci.namespace}"
        return any(f"{prefix}/{alias}" == fn.oci.resource for alias in soft.aliases or [])
    if fn.kind == "local":
        return fn.local_path == fs.local_path
    if fn.kind == "tarball":
        return fn.tarball_url == fs.tarball_url
    return fn.without_version == fs.without_version


def _aliases(metadata: Mapping[str, Any] | None) -> list[str] | None:
    if not metadata:
        return None
    legacy = metadata.get("legacyIds") or []
    current = metadata.get("currentId") or metadata.get("id")
    return [str(current), *(str(x) for x in legacy if isinstance(x, str))]


# --- the algorithm ----------------------------------------------------------------------------------


def build_graph(
    user_features: Sequence[tuple[str, FeatureValue]], resolve: Callable[[str], ResolvedFeature]
) -> list[_Node]:
    worklist = [_Node(user_id, options, "user") for user_id, options in user_features]
    graph: list[_Node] = []
    while worklist:
        current = worklist.pop(0)
        current.feature = resolve(current.user_id)
        if any(_equals(seen, current) for seen in graph):
            continue
        metadata = current.feature.metadata
        if metadata:
            current.aliases = _aliases(metadata)
            depends_on = metadata.get("dependsOn") or {}
            for dep_id, dep_options in depends_on.items() if isinstance(depends_on, Mapping) else ():
                dependency = _Node(dep_id, dep_options, "dependency")
                current.depends_on.append(dependency)
                worklist.append(dependency)
            installs_after = metadata.get("installsAfter") or []
            for soft_id in installs_after if isinstance(installs_after, list) else ():
                soft = _Node(soft_id, {}, "dependency", feature=resolve(soft_id))
                soft.aliases = (
                    _aliases(soft.feature.metadata) if soft.feature and soft.feature.ref.kind == "oci" else None
                )
                current.installs_after.append(soft)
        graph.append(current)
    return graph


def install_order(
    user_features: Sequence[tuple[str, FeatureValue]],
    resolve: Callable[[str], ResolvedFeature],
    override_install_order: Sequence[str] | None = None,
    *,
    config: _Locator | None = None,
) -> list[InstallStep]:
    """The order to install features in. ``user_features`` are ``(id as written, value)`` pairs
    (see :func:`devenv.features.ref.user_features`). A cycle raises :class:`ConfigError` naming it
    (located at ``features`` when ``config``, a :class:`~devenv.config.LoadedConfig`, is given)."""
    worklist = build_graph(user_features, resolve)
    if override_install_order:
        count = len(override_install_order)
        for index in range(count - 1, -1, -1):
            override = _Node(override_install_order[index], {}, "user", feature=resolve(override_install_order[index]))
            for node in worklist:
                if _satisfies_soft(node, override):
                    node.priority = max(node.priority, count - index)
    for node in worklist:
        node.installs_after = [s for s in node.installs_after if any(_satisfies_soft(n, s) for n in worklist)]
    installed: list[_Node] = []
    while worklist:
        ready = [
            node
            for node in worklist
            if all(any(_equals(done, dep) for done in installed) for dep in node.depends_on)
            and all(any(_satisfies_soft(done, soft) for done in installed) for soft in node.installs_after)
        ]
        if not ready:
            raise _cycle_error(worklist, config)
        top = max(node.priority for node in ready)
        ready = [node for node in ready if node.priority == top]
        worklist = [node for node in worklist if not any(_equals(r, node) for r in ready)]
        ready.sort(key=functools.cmp_to_key(compare))
        installed.extend(ready)
    return [InstallStep(n.user_id, n.options, _info(n), n.origin) for n in installed]


def _cycle_error(remaining: list[_Node], config: _Locator | None) -> ConfigError:
    def edges(node: _Node) -> list[_Node]:
        out = [r for dep in node.depends_on for r in remaining if _equals(r, dep)]
        out += [r for soft in node.installs_after for r in remaining if _satisfies_soft(r, soft)]
        return out

    def name(node: _Node) -> str:
        options = node.options
        if not options or (isinstance(options, Mapping) and not options):
            return node.user_id
        import json

        return f"{node.user_id} {json.dumps(options, ensure_ascii=False, default=str)}"

    cycle = _find_cycle(remaining, edges)
    names = " → ".join(map(name, cycle)) if cycle else ", ".join(map(name, remaining))
    message = f"features depend on each other in a cycle: {names}" if cycle else f"features cannot be ordered: {names}"
    remedy = "remove one of these dependsOn/installsAfter links (they come from the features' metadata)"
    if config is not None:
        return config.error(("features",), message, remedy=remedy)
    return ConfigError(message, pointer="features", remedy=remedy)


def _find_cycle(nodes: list[_Node], edges: Callable[[_Node], list[_Node]]) -> list[_Node] | None:
    state: dict[int, int] = {}  # 1 = on the stack, 2 = done
    stack: list[_Node] = []

    def visit(node: _Node) -> list[_Node] | None:
        state[id(node)] = 1
        stack.append(node)
        for nxt in edges(node):
            if state.get(id(nxt)) == 1:
                start = next(i for i, n in enumerate(stack) if n is nxt)
                return [*stack[start:], nxt]
            if id(nxt) not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[id(node)] = 2
        return None

    for node in nodes:
        if id(node) not in state:
            found = visit(node)
            if found:
                return found
    return None
