"""Harness entry for the container benchmark (the scenarios live in benchmarks/container.py)."""

from __future__ import annotations

from benchmarks.container import SCENARIOS

__all__ = ["SCENARIOS"]
