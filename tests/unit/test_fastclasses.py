"""devenv.fastclasses: dataclasses whose methods come from the compiled-code cache are the same classes.

Each check runs in a fresh interpreter (enabling patches the process's ``dataclasses`` module), with the
cache file in a temporary folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Classes covering what dataclasses generates: defaults, factories, init=False, ClassVar, InitVar,
# __post_init__, frozen (hash, setattr), order, kw_only, slots, inheritance.
CLASSES = """
import dataclasses
from dataclasses import InitVar, dataclass, field
from typing import ClassVar

@dataclass(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict, compare=False)

@dataclass(order=True)
class Version:
    major: int
    minor: int = 0
    kind: ClassVar[str] = "version"
    label: str = field(init=False, default="")
    seed: InitVar[int] = 0

    def __post_init__(self, seed: int) -> None:
        self.label = f"{self.major}.{self.minor}+{seed}"

@dataclass(kw_only=True, slots=True)
class Options:
    name: str
    verbose: bool = False

@dataclass(frozen=True)
class Point3(Point):
    z: int = 0
"""

CHECKS = """
out = {}
p = Point(1, 2, ("a",), {"k": "v"})
out["repr"] = repr(p)
out["eq"] = p == Point(1, 2, ("a",), {"other": "x"})
out["hash"] = hash(p) == hash(Point(1, 2, ("a",)))
try:
    p.x = 3
    out["frozen"] = "assigned"
except dataclasses.FrozenInstanceError:
    out["frozen"] = "refused"
v = Version(2, 1, seed=7)
out["post_init"] = v.label
out["order"] = sorted([Version(3), Version(1, 5), Version(1, 2)]) == [Version(1, 2), Version(1, 5), Version(3)]
out["kind"] = Version.kind
out["fields"] = [f.name for f in dataclasses.fields(Version)]
o = Options(name="n")
out["kw_only"] = (o.name, o.verbose, hasattr(o, "__dict__"))
try:
    Options("positional")
    out["kw_only_refuses"] = False
except TypeError:
    out["kw_only_refuses"] = True
out["inherit"] = repr(Point3(1, z=4))
out["replace"] = repr(dataclasses.replace(p, y=9))
out["annotations"] = repr(Point.__init__.__annotations__) + repr(Version.__init__.__annotations__)
out["signature"] = str(__import__("inspect").signature(Version))
"""


def _run(tmp_path: Path, enable: bool) -> tuple[dict[str, object], bool]:
    """Define the classes and run the checks in a new interpreter; returns the results and whether the
    process compiled something new (had to add to the cache)."""
    cache = tmp_path / "cache.marshal"
    boot = "\n".join(
        [
            "from __future__ import annotations",  # (the classes' annotations are strings, as in devenv)
            "import json, sys",
            "from devenv import fastclasses",
            f"fastclasses.cache_path = lambda: {str(cache)!r}",
            "fastclasses.enable()" if enable else "",
            CLASSES,
            CHECKS,
            "added = fastclasses._added",
            "fastclasses.save()",
            "print(json.dumps({'out': out, 'added': added}))",
        ]
    )
    proc = subprocess.run([sys.executable, "-c", boot], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    return result["out"], bool(result["added"])


def test_classes_built_through_the_cache_behave_as_plain_dataclasses(tmp_path: Path) -> None:
    plain, _ = _run(tmp_path, enable=False)
    first, compiled = _run(tmp_path, enable=True)  # (an empty cache: compiled, then saved)
    again, compiled_again = _run(tmp_path, enable=True)  # (every method from the cache)
    assert compiled and not compiled_again
    assert first == plain and again == plain
    assert plain["frozen"] == "refused" and plain["post_init"] == "2.1+7" and plain["eq"] is True
    assert "'return': None" in str(plain["annotations"])  # (not the string '_return_type')


@pytest.mark.parametrize("damage", [b"", b"not marshal data", b"\xfb\x00\x00"])
def test_a_damaged_cache_file_is_compiled_over(tmp_path: Path, damage: bytes) -> None:
    plain, _ = _run(tmp_path, enable=False)
    (tmp_path / "cache.marshal").write_bytes(damage)
    out, compiled = _run(tmp_path, enable=True)
    assert out == plain and compiled
    assert _run(tmp_path, enable=True)[1] is False  # (and written back whole)


def test_the_cli_caches_the_methods_beside_the_bytecode() -> None:
    """The cache file of this source tree is where the CLI writes it (next to devenv's .pyc files)."""
    from devenv import fastclasses

    path = Path(fastclasses.cache_path())
    assert path.parent == Path(fastclasses.__file__).parent / "__pycache__"
    assert path.name == f"dataclass-methods.{sys.implementation.cache_tag}.marshal"
