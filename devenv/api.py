"""The façade the CLI uses. Each function takes an options dataclass and returns a result dataclass.

The library never prints: progress goes to a :class:`devenv.events.Reporter`, results are returned.
Heavy modules are imported inside the functions so that importing ``devenv.api`` stays cheap.
Functions are added here by the issue that implements them (config, image, container, build,
workspace).
"""

from __future__ import annotations
