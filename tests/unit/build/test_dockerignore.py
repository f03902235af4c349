""".dockerignore matching as Docker applies it, and the build context selection it filters."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.build.context import Context
from devenv.build.dockerignore import Matcher
from devenv.errors import BuildError


@pytest.mark.parametrize(
    ("rules", "path", "excluded"),
    [
        ("*.md", "README.md", True),
        ("*.md", "docs/a.md", False),  # * does not cross /
        ("**/*.md", "docs/a.md", True),
        ("**/*.md", "a.md", True),
        ("node_modules", "node_modules/x/y.js", True),  # a parent matches
        ("/build", "build/out", True),  # leading / dropped
        ("./tmp/../build", "build", True),  # cleaned
        ("*.log\n!keep.log", "keep.log", False),
        ("*.log\n!keep.log", "other.log", True),
        ("!keep.log\n*.log", "keep.log", True),  # the last match wins
        ("# comment\n\n  spaced.txt  ", "spaced.txt", True),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("[a-c]x", "bx", True),
        ("[!a-c]x", "dx", True),
        ("dir/**", "dir/x/y", True),
        ("dir/**", "dir2", False),
        ("docs\n!docs/keep.md", "docs/keep.md", False),
        ("docs\n!docs/keep.md", "docs/other.md", True),
    ],
)
def test_matching(rules: str, path: str, excluded: bool) -> None:
    assert Matcher.from_text(rules).excluded(path) is excluded


def make_tree(root: Path) -> None:
    (root / "src").mkdir(parents=True)
    (root / "src/a.py").write_text("a")
    (root / "src/b.txt").write_text("b")
    (root / "docs").mkdir()
    (root / "docs/keep.md").write_text("k")
    (root / "docs/drop.md").write_text("d")
    (root / "link").symlink_to("src/a.py")
    (root / ".dockerignore").write_text("docs\n!docs/keep.md\n*.txt\n**/*.txt\n")


def test_context_selection_applies_dockerignore(tmp_path: Path) -> None:
    make_tree(tmp_path)
    ctx = Context(tmp_path, Matcher.for_context(tmp_path))
    everything = [e.rel for e in ctx.select(".").entries]
    assert everything == ["", ".dockerignore", "docs", "docs/keep.md", "link", "src", "src/a.py"]
    link = next(e for e in ctx.select(".").entries if e.rel == "link")
    assert link.kind == "symlink"
    assert [e.rel for e in ctx.select("src/*").roots] == ["src/a.py"]
    assert [e.rel for e in ctx.select("../../src").roots] == ["src"]  # cannot escape the context


def test_missing_or_ignored_source_is_an_error(tmp_path: Path) -> None:
    make_tree(tmp_path)
    ctx = Context(tmp_path, Matcher.for_context(tmp_path))
    with pytest.raises(BuildError, match="names nothing"):
        ctx.select("src/b.txt")
    with pytest.raises(BuildError, match="no source files"):
        ctx.select("*.nothing")


def test_digest_changes_with_content_and_mode_only(tmp_path: Path) -> None:
    make_tree(tmp_path)
    ctx = Context(tmp_path)
    d1 = ctx.select("src").digest()
    (tmp_path / "src/a.py").write_text("a")  # same content, new mtime
    assert ctx.select("src").digest() == d1
    (tmp_path / "src/a.py").chmod(0o755)
    d2 = ctx.select("src").digest()
    assert d2 != d1
    (tmp_path / "src/a.py").write_text("changed")
    assert ctx.select("src").digest() != d2
