"""``devenv build`` without typer: a build with everything cached takes a few tens of milliseconds, so
importing typer would be most of its cost. The typer command (``devenv.cli.build``) runs the same code.

Parses the options itself and returns None for anything it does not know (``--help``, unknown flags),
so that the typer command handles and explains those.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devenv.build.builder import BuildResult

_VALUE = {
    "--workspace-folder": "workspace_folder",
    "--config": "config",
    "--additional-features": "additional_features",
    "--log-format": "log_format",
}
_BOOL = {
    "--no-cache": "no_cache",
    "--push": "push",
    "--explain": "explain",
    "--frozen-lockfile": "frozen_lockfile",
    "--no-lockfile": "no_lockfile",
}


def parse(argv: Sequence[str]) -> dict[str, Any] | None:
    """``build`` options as keyword arguments of :func:`run_build`; None for anything else."""
    opts: dict[str, Any] = {"image_names": []}
    args = list(argv)
    while args:
        name, eq, inline = args.pop(0).partition("=")
        if name in _BOOL and not eq:
            opts[_BOOL[name]] = True
        elif name in _VALUE or name == "--image-name":
            if not eq and not args:
                return None
            value = inline if eq else args.pop(0)
            if name == "--image-name":
                opts["image_names"].append(value)
            else:
                opts[_VALUE[name]] = value
        else:
            return None
    return opts


def _explain_text(result: BuildResult) -> str:
    lines = []
    for step in result.steps:
        state = "cached " if step.cached else "rebuilt"
        why = "" if step.cached or step.reason is None else f"  <- {step.reason.text()}"
        lines.append(f"{state}  {step.id}  {step.description}{why}")
    return "\n".join(lines)


def run_build(
    *,
    workspace_folder: str | None = None,
    config: str | None = None,
    image_names: Sequence[str] = (),
    no_cache: bool = False,
    push: bool = False,
    additional_features: str | None = None,
    explain: bool = False,
    frozen_lockfile: bool = False,
    no_lockfile: bool = False,
    log_format: str | None = None,
) -> None:
    """Build, print progress on stderr (and ``--explain``), and the reference's result JSON on stdout."""
    from devenv.cli import output

    output.set_log_format(log_format)
    if not (no_cache or push or explain or additional_features or no_lockfile):
        unchanged = _unchanged(workspace_folder, config, image_names, frozen_lockfile)
        if unchanged is not None:
            names = ", ".join(unchanged["imageName"])
            output.reporter().event(
                "build.done",
                image=unchanged["image"],
                names=unchanged["imageName"],
                unchanged=True,
                message=f"Built {names} ({str(unchanged['image'])[:19]}): nothing changed since the last build",
            )
            _print_result({"outcome": "success", "imageName": unchanged["imageName"]})
            return

    from devenv import api
    from devenv.build.builder import BuildOptions
    from devenv.errors import UsageError

    extra = None
    if additional_features:
        try:
            extra = json.loads(additional_features)
        except ValueError as exc:
            raise UsageError(f"--additional-features is not valid JSON: {exc}") from None
        if not isinstance(extra, dict):
            raise UsageError("--additional-features must be a JSON object")
    opts = BuildOptions(
        workspace_folder=workspace_folder,
        config=config,
        image_names=tuple(image_names),
        no_cache=no_cache,
        push=push,
        additional_features=extra,
        frozen_lockfile=frozen_lockfile,
        no_lockfile=no_lockfile,
        explain=explain,
    )
    result = api.build(opts, output.reporter())
    if explain:
        if output.settings.log_format == "json":
            for step in result.steps:
                output.JsonReporter().event(
                    "build.explain",
                    id=step.id,
                    step=step.description,
                    cached=step.cached,
                    reason=step.reason.to_json() if step.reason else None,
                )
        else:
            sys.stderr.write(_explain_text(result) + "\n")
    _print_result(result.to_json())


def _unchanged(
    workspace_folder: str | None, config: str | None, image_names: Sequence[str], frozen: bool
) -> dict[str, Any] | None:
    """The last build's result when none of its inputs changed (see devenv.build.stamp)."""
    import os

    from devenv.build import stamp
    from devenv.paths import data_root

    key = stamp.key(os.getcwd(), workspace_folder, config, tuple(image_names), frozen)
    return stamp.check(str(data_root()), key)


def _print_result(obj: dict[str, Any]) -> None:
    from devenv.cli import output

    if output.settings.log_format == "json":
        output.result(obj)
    else:  # compact, as the reference prints it
        sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def fast_build(argv: list[str]) -> int | None:
    opts = parse(argv)
    if opts is None:
        return None
    from devenv.cli import main
    from devenv.errors import DevenvError

    try:
        run_build(**opts)
    except DevenvError as exc:
        return main._report(exc, exc.exit_code, exc.message, exc.render())
    except KeyboardInterrupt as exc:
        return main._report(exc, 130, "interrupted")
    return 0
