"""CLI: ``devenv image`` — the image store (pull, push, ls, inspect, rm, tag, load, save, bootstrap, prune)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from devenv.store.store import Image, ImageSummary

group = typer.Typer(help="Manage images in devenv's own store.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="image")


def human_size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.3g}{unit}"
        n /= 1000
    return f"{n}"


def _ago(created: str) -> str:
    import datetime

    if not created:
        return "N/A"
    try:
        when = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return created
    secs = max(0.0, time.time() - when.timestamp())
    for unit, size in (("year", 365 * 86400), ("month", 30 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if secs >= size:
            n = int(secs // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


class ProgressReporter:
    """Pull/push progress: rich bars on a terminal (bytes, speed), plain lines otherwise."""

    def __init__(self) -> None:
        from devenv.cli import output

        self.base = output.reporter()
        self.rich: Any = None
        self.tasks: dict[str, Any] = {}
        if output.settings.log_format == "text" and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TransferSpeedColumn,
            )

            self.rich = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                console=Console(stderr=True),
                transient=False,
            )

    def __enter__(self) -> ProgressReporter:
        if self.rich is not None:
            self.rich.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.rich is not None:
            self.rich.stop()

    def event(self, kind: str, /, **fields: Any) -> None:
        progress = kind in ("pull.progress", "push.progress")
        if self.rich is None:
            if not progress or self.base.__class__.__name__ == "JsonReporter":
                self.base.event(kind, **fields)
            return
        digest = str(fields.get("digest", ""))
        if progress:
            task = self.tasks.get(digest)
            if task is None:
                task = self.tasks[digest] = self.rich.add_task(digest[7:19], total=fields.get("total"))
            self.rich.update(task, completed=fields.get("current", 0))
        elif kind in ("pull.layer", "push.blob") and digest in self.tasks:
            self.rich.update(self.tasks[digest], description=f"{digest[7:19]} {fields.get('status', '')}")
        elif fields.get("message"):
            self.rich.console.print(str(fields["message"]), markup=False, highlight=False)


def _platform(value: str | None) -> Any:
    if not value:
        return None
    from devenv.oci.descriptor import Platform

    return Platform.parse(value)


@group.command("pull")
def pull_command(
    ref: Annotated[str, typer.Argument(help="Image reference, e.g. debian:bookworm or 127.0.0.1:5000/app@sha256:…")],
    platform: Annotated[
        str | None, typer.Option("--platform", help="os/arch[/variant] (default: this machine's).")
    ] = None,
) -> None:
    """Pull an image from a registry into devenv's store."""
    from devenv import api
    from devenv.cli import output
    from devenv.store.pull import PullOptions

    with ProgressReporter() as rep:
        image = api.pull_image(PullOptions(ref, _platform(platform)), rep)
    output.result(
        {"name": image.name, "digest": image.target.digest, "id": image.id},
        lambda r: f"{r['name']}\ndigest: {r['digest']}",
    )


@group.command("push")
def push_command(
    src: Annotated[str, typer.Argument(help="Image in the store.")],
    dest: Annotated[str | None, typer.Argument(help="Destination reference (default: the image's name).")] = None,
    chunk_size: Annotated[
        int | None, typer.Option("--chunk-size", help="Upload blobs in chunks of this many bytes.")
    ] = None,
) -> None:
    """Push an image from the store to a registry."""
    from devenv import api
    from devenv.cli import output
    from devenv.store.push import PushOptions

    with ProgressReporter() as rep:
        desc = api.push_image(PushOptions(src, dest, chunk_size), rep)
    output.result({"digest": desc.digest, "size": desc.size}, lambda r: f"digest: {r['digest']}")


def _summary_json(s: ImageSummary) -> dict[str, Any]:
    return {
        "Repository": s.repository,
        "Tag": s.tag,
        "Name": s.name,
        "ID": s.id,
        "Digest": s.digest,
        "Size": s.size,
        "CreatedAt": s.created,
        "Platform": s.platform,
    }


@group.command("ls")
def ls_command(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only image IDs.")] = False,
    digests: Annotated[bool, typer.Option("--digests", help="Show digests.")] = False,
) -> None:
    """List the images in the store."""
    from devenv import api
    from devenv.cli import output

    rows = api.list_images()
    if quiet:
        output.result([r.id for r in rows], lambda ids: "\n".join(dict.fromkeys(i[7:19] for i in ids)))
        return

    def human(items: list[dict[str, Any]]) -> str:
        headers = ["repository", "tag", *(["digest"] if digests else []), "image id", "created", "size"]
        table = [
            [
                i["Repository"],
                i["Tag"],
                *([i["Digest"]] if digests else []),
                i["ID"][7:19],
                _ago(i["CreatedAt"]),
                human_size(i["Size"]),
            ]
            for i in items
        ]
        return output.table(table, headers)

    output.result([_summary_json(r) for r in rows], human)


@group.command("inspect")
def inspect_command(refs: Annotated[list[str], typer.Argument(help="Images to inspect.")]) -> None:
    """Show the details of images (JSON)."""
    import json

    from devenv import api

    sys.stdout.write(json.dumps([api.inspect_image(r) for r in refs], indent=2) + "\n")


@group.command("rm")
def rm_command(
    refs: Annotated[list[str], typer.Argument(help="Images to remove (names or IDs).")],
    force: Annotated[bool, typer.Option("--force", "-f", help="Remove the name even if a container uses it.")] = False,
) -> None:
    """Remove images from the store (content is freed once nothing uses it)."""
    from devenv import api
    from devenv.cli import output

    removed = api.remove_images(refs, force=force)
    output.result({"removed": removed}, lambda r: "\n".join(f"Untagged: {n}" for n in r["removed"]))


@group.command("tag")
def tag_command(
    src: Annotated[str, typer.Argument(help="Image in the store.")],
    dest: Annotated[str, typer.Argument(help="New name.")],
) -> None:
    """Give an image another name."""
    from devenv import api
    from devenv.cli import output

    name = api.tag_image(src, dest)
    output.result({"name": name}, lambda r: r["name"])


@group.command("load")
def load_command(
    input: Annotated[
        Path | None, typer.Option("--input", "-i", help="Archive or OCI layout directory (default: stdin).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Name for an image the archive does not name.")] = None,
) -> None:
    """Load images from a `docker save` archive or an OCI image layout."""
    from devenv import api
    from devenv.cli import output
    from devenv.errors import UsageError

    if input is None and sys.stdin.isatty():
        raise UsageError("no input", remedy="pipe an archive in (docker save IMAGE | devenv image load) or use -i FILE")
    result = api.load_images(input if input is not None else sys.stdin.buffer, name=name, reporter=output.reporter())
    output.result(
        {"names": result.names, "ids": result.image_ids},
        lambda r: "\n".join(f"Loaded image: {n}" for n in r["names"]),
    )


@group.command("save")
def save_command(
    refs: Annotated[list[str], typer.Argument(help="Images to save.")],
    out: Annotated[Path | None, typer.Option("--output", "-o", help="File (or, for oci, a directory).")] = None,
    format: Annotated[str, typer.Option("--format", help="docker (docker load) or oci (OCI image layout).")] = "docker",
) -> None:
    """Write images to a tar archive (stdout by default) that `docker load` or OCI tools read."""
    from devenv import api
    from devenv.errors import UsageError

    if out is None and sys.stdout.isatty():
        raise UsageError("refusing to write an archive to a terminal", remedy="use -o FILE or redirect stdout")
    api.save_images(refs, out if out is not None else sys.stdout.buffer, format=format)
    if out is None:
        sys.stdout.buffer.flush()


@group.command("bootstrap")
def bootstrap_command(
    name: Annotated[str, typer.Argument(help="Name of the image to create, e.g. debian:bookworm.")],
    suite: Annotated[str, typer.Option("--suite", help="Release codename: bookworm, trixie, jammy, ...")],
    mirror: Annotated[
        str | None, typer.Option("--mirror", help="Package mirror URL (default: this machine's apt sources).")
    ] = None,
    include: Annotated[
        list[str] | None, typer.Option("--include", help="Extra packages (comma-separated or repeated).")
    ] = None,
    variant: Annotated[str, typer.Option("--variant", help="mmdebstrap variant.")] = "minbase",
    platform: Annotated[str | None, typer.Option("--platform", help="os/arch (default: this machine's).")] = None,
) -> None:
    """Build a Debian/Ubuntu base image with mmdebstrap (no registry needed)."""
    from devenv import api
    from devenv.cli import output
    from devenv.store.bootstrap import BootstrapOptions

    packages = [p.strip() for item in include or [] for p in item.split(",") if p.strip()]
    image: Image = api.bootstrap_image(
        BootstrapOptions(name, suite, mirror, tuple(packages), variant, _platform(platform)), output.reporter()
    )
    output.result({"name": image.name, "id": image.id, "digest": image.digest}, lambda r: f"{r['name']} {r['id']}")


@group.command("prune")
def prune_command(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be removed.")] = False,
) -> None:
    """Remove content no image and no container uses."""
    from devenv import api
    from devenv.cli import output

    res = api.prune_images(dry_run=dry_run)
    output.result(
        {
            "blobs": res.blobs_removed,
            "snapshots": res.snapshots_removed,
            "bytes": res.bytes_freed,
            "dry_run": dry_run,
        },
        lambda r: (
            f"{'Would remove' if dry_run else 'Removed'} {len(r['blobs'])} blobs and "
            f"{len(r['snapshots'])} snapshots, {human_size(r['bytes'])}"
        ),
    )
