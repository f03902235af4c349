"""Which runtime a workspace uses: ``--runtime`` / ``DEVENV_RUNTIME``, else devenv's own (embedded).

``embedded`` needs no daemon; ``docker`` drives a Docker engine through the docker CLI. A workspace
remembers the runtime it was created with, so ``exec``/``stop``/``down`` find it without the option.
"""

from __future__ import annotations

import os
from typing import Any

from devenv.errors import UsageError
from devenv.runtime.base import Runtime

RUNTIMES = ("embedded", "docker")


def default_runtime_name() -> str:
    name = os.environ.get("DEVENV_RUNTIME", "").strip()
    if name:
        return check_name(name)
    return "embedded" if embedded_available() else "docker"


def check_name(name: str) -> str:
    if name not in RUNTIMES:
        raise UsageError(f"unknown runtime {name!r}: use one of {', '.join(RUNTIMES)}")
    return name


EMBEDDED_MODULE = "devenv.runtime.embedded.runtime"


def embedded_available() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(EMBEDDED_MODULE) is not None
    except ImportError:
        return False


def open_runtime(name: str | None = None) -> Runtime:
    name = check_name(name) if name else default_runtime_name()
    if name == "docker":
        from devenv.runtime.docker import DockerRuntime

        return DockerRuntime()
    if not embedded_available():
        raise UsageError(
            "the embedded runtime is not available in this build",
            remedy="use --runtime docker (or DEVENV_RUNTIME=docker) with a Docker engine",
        )
    import importlib

    rt: Runtime = importlib.import_module(EMBEDDED_MODULE).EmbeddedRuntime()
    return rt


def image_source(runtime: Runtime) -> Any:
    """The ImageSource that fits a runtime (see :mod:`devenv.workspace.images`)."""
    if runtime.name == "docker":
        from devenv.workspace.images import DockerImages

        return DockerImages(runtime)
    from devenv.workspace.images import EmbeddedImages

    return EmbeddedImages(runtime)
