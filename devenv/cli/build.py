"""CLI: ``devenv build`` (the workspace image into devenv's store), ``devenv outdated`` and ``devenv upgrade``
(feature versions and the lockfile) — shaped like the reference CLI's commands of the same names."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command("build")
    def build_command(
        workspace_folder: Annotated[
            str | None, typer.Option("--workspace-folder", help="The project folder (default: current directory).")
        ] = None,
        config: Annotated[str | None, typer.Option("--config", help="Path of devcontainer.json.")] = None,
        image_name: Annotated[
            list[str] | None, typer.Option("--image-name", help="Name of the image (repeatable).")
        ] = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="Rebuild every step.")] = False,
        push: Annotated[bool, typer.Option("--push", help="Push the image to its registry after the build.")] = False,
        additional_features: Annotated[
            str | None, typer.Option("--additional-features", help="More features, as a JSON object.")
        ] = None,
        explain: Annotated[
            bool, typer.Option("--explain", help="For each step: cached or rebuilt, and which input changed.")
        ] = False,
        frozen_lockfile: Annotated[
            bool, typer.Option("--frozen-lockfile", help="Fail when devcontainer-lock.json is missing or would change.")
        ] = False,
        no_lockfile: Annotated[
            bool, typer.Option("--no-lockfile", help="Neither read nor write the lockfile.")
        ] = False,
        log_format: Annotated[str | None, typer.Option("--log-format", help="text or json.")] = None,
    ) -> None:
        """Build the dev container image (Dockerfile and features) without a Docker daemon."""
        from devenv.cli.build_fast import run_build

        run_build(
            workspace_folder=workspace_folder,
            config=config,
            image_names=image_name or (),
            no_cache=no_cache,
            push=push,
            additional_features=additional_features,
            explain=explain,
            frozen_lockfile=frozen_lockfile,
            no_lockfile=no_lockfile,
            log_format=log_format,
        )

    @app.command("outdated")
    def outdated_command(
        workspace_folder: Annotated[
            str | None, typer.Option("--workspace-folder", help="The project folder (default: current directory).")
        ] = None,
        config: Annotated[str | None, typer.Option("--config", help="Path of devcontainer.json.")] = None,
        output_format: Annotated[str, typer.Option("--output-format", help="text (a table) or json.")] = "text",
        log_format: Annotated[str | None, typer.Option("--log-format", help="text or json.")] = None,
    ) -> None:
        """Show the current, wanted and latest versions of the config's features."""
        import sys

        from devenv import api
        from devenv.cli import output
        from devenv.errors import UsageError

        output.set_log_format(log_format)
        if output_format not in ("text", "json"):
            raise UsageError(f"--output-format must be 'text' or 'json', got {output_format!r}")
        result = api.outdated(workspace_folder, config, output.reporter())
        if output_format == "json":
            indent = 2 if sys.stdout.isatty() else None
            separators = None if indent else (",", ":")
            text = json.dumps(result.to_json(), indent=indent, separators=separators, ensure_ascii=False)
        else:
            text = result.text()
        sys.stdout.write(text + "\n")

    @app.command("upgrade")
    def upgrade_command(
        workspace_folder: Annotated[
            str | None, typer.Option("--workspace-folder", help="The project folder (default: current directory).")
        ] = None,
        config: Annotated[str | None, typer.Option("--config", help="Path of devcontainer.json.")] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print the new lockfile instead of writing it.")
        ] = False,
        feature: Annotated[
            str | None, typer.Option("--feature", "-f", help="Re-target this feature in devcontainer.json first.")
        ] = None,
        target_version: Annotated[
            str | None, typer.Option("--target-version", "-v", help="The version (x, x.y or x.y.z) for --feature.")
        ] = None,
        log_format: Annotated[str | None, typer.Option("--log-format", help="text or json.")] = None,
    ) -> None:
        """Resolve the features again, ignoring the lockfile, and write the new devcontainer-lock.json."""
        import sys

        from devenv import api
        from devenv.cli import output

        output.set_log_format(log_format)
        result = api.upgrade(
            workspace_folder,
            config,
            dry_run=dry_run,
            feature=feature,
            target_version=target_version,
            reporter=output.reporter(),
        )
        if dry_run:
            sys.stdout.write(result.lockfile.render())
