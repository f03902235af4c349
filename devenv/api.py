"""The façade the CLI uses. Each function takes an options dataclass and returns a result dataclass.

The library never prints: progress goes to a :class:`devenv.events.Reporter`, results are returned.
Heavy modules are imported inside the functions so that importing ``devenv.api`` stays cheap.
Functions are added here by the issue that implements them (config, image, container, build,
workspace).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devenv.config.readconf import ReadConfigurationOptions, ReadConfigurationResult


# --- config ---


def read_configuration(options: ReadConfigurationOptions) -> ReadConfigurationResult:
    """``devenv read-configuration``: the config after local substitution, in the reference's JSON shape."""
    from devenv.config.readconf import read_configuration as _read_configuration

    return _read_configuration(options)
