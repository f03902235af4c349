"""Harness entry for the pull benchmark (the scenario lives in benchmarks/pull.py)."""

from __future__ import annotations

from benchmarks.pull import SCENARIOS

__all__ = ["SCENARIOS"]
