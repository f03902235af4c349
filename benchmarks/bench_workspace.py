"""Harness entry for the workspace benchmark (the scenarios live in benchmarks/workspace.py)."""

from __future__ import annotations

from benchmarks.workspace import SCENARIOS

__all__ = ["SCENARIOS"]
