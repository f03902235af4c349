"""`devenv read-configuration` vs `devcontainer read-configuration` (scenarios in read_configuration.py)."""

from __future__ import annotations

from benchmarks.read_configuration import SCENARIOS

__all__ = ["SCENARIOS"]
