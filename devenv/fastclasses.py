"""Dataclass methods compiled once, then cached like module bytecode.

Python 3.11's ``dataclasses`` writes the source of every generated method (``__init__``, ``__repr__``,
``__eq__``, ``__hash__``, and for frozen classes ``__setattr__`` / ``__delattr__``) and compiles it when
the class is defined, at import time. ``devenv up`` defines some forty dataclasses: compiling their
methods was a sixth of its run time. :func:`enable` gives the ``dataclasses`` module an ``exec`` that
takes the compiled code of a method's source from a cache file beside the package's bytecode
(``devenv/__pycache__``, the same trust as the ``.pyc`` files there) and adds what it had to compile;
:func:`save` writes the file back. The classes are exactly those ``dataclasses`` makes: only where the
compiled code comes from changes, keyed by a digest of the source text.

The CLI enables it for the commands that define dataclasses and saves at the end; a damaged or
unwritable cache file only means compiling as usual.
"""

from __future__ import annotations

import builtins
import contextlib
import marshal
import os
import sys

from devenv.sha import sha256

MAX_ENTRIES = 1024  # beyond this (sources of many past versions), the file keeps only this process's

_entries: dict[bytes, bytes] = {}  # digest of a method's source text -> its marshalled code
_used: set[bytes] = set()
_added = False
_enabled = False


def cache_path() -> str:
    tag = sys.implementation.cache_tag or "python"
    return os.path.join(os.path.dirname(__file__), "__pycache__", f"dataclass-methods.{tag}.marshal")


def enable() -> None:
    """Compile the methods of the dataclasses defined from now on through the cache (once per process)."""
    global _enabled
    if _enabled:
        return
    import dataclasses

    _load()
    dataclasses.exec = _exec  # type: ignore[attr-defined]  # (found before the builtin by the module's code)
    _enabled = True


def save() -> None:
    """Write the cache back when this process compiled something new (atomically; errors are ignored)."""
    global _added
    if not _added:
        return
    _added = False
    entries = _entries if len(_entries) <= MAX_ENTRIES else {k: _entries[k] for k in _used}
    path = cache_path()
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            marshal.dump(entries, f)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _load() -> None:
    try:
        with open(cache_path(), "rb") as f:
            found = marshal.load(f)
    except (OSError, EOFError, ValueError, TypeError):
        return
    if isinstance(found, dict):
        _entries.update(found)


def _exec(source: object, globals: dict[str, object] | None = None, locals: object = None, /) -> None:
    if isinstance(source, str):
        source = _compiled(source)
    builtins.exec(source, globals, locals)  # type: ignore[arg-type]


def _compiled(text: str) -> object:
    global _added
    key = sha256(text.encode("utf-8", "surrogatepass")).digest()
    _used.add(key)
    data = _entries.get(key)
    if data is not None:
        try:
            return marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            pass
    # (dont_inherit: compiled as exec() compiles a string in dataclasses, without this module's
    # ``from __future__ import annotations``, which would turn the methods' annotations into strings)
    code = compile(text, "<string>", "exec", dont_inherit=True)
    _entries[key] = marshal.dumps(code)
    _added = True
    return code
