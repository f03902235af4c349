"""CLI: ``devenv container`` — low-level containers of the embedded runtime, shaped like Docker's — and
``devenv volume``.

``run``, ``create`` and ``exec`` are usually answered by the fast path (:mod:`devenv.cli.container_fast`,
no typer import); the typer commands here give them ``--help`` and handle what the fast parser does not.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from typing import Annotated

import typer

from devenv.cli import container_args, output
from devenv.cli.container_fast import do_exec, do_run

group = typer.Typer(
    help="Low-level containers (run, create, start, stop, rm, ls, exec, logs, inspect).", no_args_is_help=True
)
volume_group = typer.Typer(help="Volumes managed by devenv (ls, create, rm).", no_args_is_help=True)
POSITIONAL_ONLY = {"allow_interspersed_args": False}

Multi = Annotated[list[str] | None, typer.Option()]


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="container")
    app.add_typer(volume_group, name="volume")


def _run_values(**kw: object) -> dict[str, object]:
    return {k: v for k, v in kw.items() if v not in (None, False, [])}


def _run_like(create_only: bool, image: str, command: list[str] | None, **kw: object) -> int:
    opts = container_args.run_options(_run_values(**kw), [image, *(command or [])])
    return do_run(opts, create_only=create_only)


# The options of `run` and `create` (kept in line with container_args.RUN_OPTIONS).
def _run_command(create_only: bool):  # type: ignore[no-untyped-def]
    def command(
        image: Annotated[str, typer.Argument(help="Image reference, or a directory with --rootfs.")],
        cmd: Annotated[list[str] | None, typer.Argument(help="Command and arguments (default: the image's).")] = None,
        detach: Annotated[bool, typer.Option("--detach", "-d", help="Run in the background, print the ID.")] = False,
        interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Keep stdin open.")] = False,
        tty: Annotated[bool, typer.Option("--tty", "-t", help="Allocate a terminal.")] = False,
        rm: Annotated[bool, typer.Option("--rm", help="Remove the container when it exits.")] = False,
        name: Annotated[str | None, typer.Option("--name", help="Container name.")] = None,
        env: Annotated[list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE (repeatable).")] = None,
        env_file: Annotated[list[str] | None, typer.Option("--env-file", help="File of KEY=VALUE lines.")] = None,
        user: Annotated[str | None, typer.Option("--user", "-u", help="name|uid[:group|gid].")] = None,
        workdir: Annotated[str | None, typer.Option("--workdir", "-w", help="Working directory.")] = None,
        hostname: Annotated[str | None, typer.Option("--hostname", help="Container host name.")] = None,
        label: Annotated[list[str] | None, typer.Option("--label", "-l", help="KEY=VALUE.")] = None,
        volume: Annotated[list[str] | None, typer.Option("--volume", "-v", help="SRC:DST[:ro] bind or volume.")] = None,
        mount: Annotated[
            list[str] | None, typer.Option("--mount", help="type=bind|volume|tmpfs,source=,target=[,readonly].")
        ] = None,
        tmpfs: Annotated[list[str] | None, typer.Option("--tmpfs", help="PATH[:size=64m,mode=1777].")] = None,
        network: Annotated[
            str | None, typer.Option("--network", "--net", help="bridge (default), host or none.")
        ] = None,
        publish: Annotated[list[str] | None, typer.Option("--publish", "-p", help="[IP:][HOST:]PORT[/udp].")] = None,
        cap_add: Annotated[list[str] | None, typer.Option("--cap-add", help="Add a capability.")] = None,
        cap_drop: Annotated[list[str] | None, typer.Option("--cap-drop", help="Drop a capability.")] = None,
        security_opt: Annotated[
            list[str] | None, typer.Option("--security-opt", help="no-new-privileges, seccomp=unconfined|FILE.")
        ] = None,
        privileged: Annotated[bool, typer.Option("--privileged", help="All capabilities and devices.")] = False,
        memory: Annotated[str | None, typer.Option("--memory", "-m", help="Memory limit, e.g. 512m.")] = None,
        cpus: Annotated[str | None, typer.Option("--cpus", help="CPU limit, e.g. 1.5.")] = None,
        pids_limit: Annotated[str | None, typer.Option("--pids-limit", help="Maximum number of processes.")] = None,
        no_init: Annotated[bool, typer.Option("--no-init", help="The command itself is pid 1.")] = False,
        init: Annotated[bool, typer.Option("--init", help="A reaping pid 1 in front (the default).")] = False,
        entrypoint: Annotated[str | None, typer.Option("--entrypoint", help="Replace the image's entrypoint.")] = None,
        rootfs: Annotated[bool, typer.Option("--rootfs", help="IMAGE is a root filesystem directory.")] = False,
        stop_signal: Annotated[str | None, typer.Option("--stop-signal", help="Default SIGTERM.")] = None,
        stop_timeout: Annotated[str | None, typer.Option("--stop-timeout", help="Seconds before SIGKILL.")] = None,
    ) -> None:
        values = {k: v for k, v in locals().items() if k not in ("image", "cmd", "create_only")}
        raise typer.Exit(_run_like(create_only, image, cmd, **values))

    return command


group.command("run", context_settings=POSITIONAL_ONLY, help="Create and start a container (like docker run).")(
    _run_command(False)
)
group.command("create", context_settings=POSITIONAL_ONLY, help="Create a container without starting it.")(
    _run_command(True)
)


@group.command("exec", context_settings=POSITIONAL_ONLY)
def exec_(
    container: Annotated[str, typer.Argument(help="Container name or ID.")],
    cmd: Annotated[list[str], typer.Argument(help="Command and arguments.")],
    interactive: Annotated[bool, typer.Option("--interactive", "-i", help="Keep stdin open.")] = False,
    tty: Annotated[bool, typer.Option("--tty", "-t", help="Allocate a terminal.")] = False,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE (repeatable).")] = None,
    env_file: Annotated[list[str] | None, typer.Option("--env-file", help="File of KEY=VALUE lines.")] = None,
    user: Annotated[str | None, typer.Option("--user", "-u", help="name|uid[:group|gid].")] = None,
    workdir: Annotated[str | None, typer.Option("--workdir", "-w", help="Working directory.")] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Leave it running in the background.")] = False,
) -> None:
    """Run a command in a running container."""
    values = {
        "interactive": interactive,
        "tty": tty,
        "env": env,
        "env_file": env_file,
        "user": user,
        "workdir": workdir,
        "detach": detach,
    }
    raise typer.Exit(do_exec(values, [container, *cmd]))


@group.command("start")
def start(
    containers: Annotated[list[str], typer.Argument(help="Container names or IDs.")],
) -> None:
    """Start stopped containers (their files are as they were left)."""
    from devenv import api

    reporter = output.reporter()
    for name in containers:
        c = api.start_container(name, reporter)
        output.result({"id": c.id, "name": c.name, "status": c.status.value}, lambda r: str(r["name"]))


@group.command("stop")
def stop(
    containers: Annotated[list[str], typer.Argument(help="Container names or IDs.")],
    time_: Annotated[float | None, typer.Option("--time", "-t", help="Seconds to wait before SIGKILL.")] = None,
) -> None:
    """Stop running containers: the stop signal (SIGTERM), then SIGKILL after the timeout."""
    from devenv import api

    for name in containers:
        c = api.stop_container(name, time_, output.reporter())
        output.result({"id": c.id, "name": c.name, "exit_code": c.exit_code}, lambda r: str(r["name"]))


@group.command("rm")
def rm(
    containers: Annotated[list[str], typer.Argument(help="Container names or IDs.")],
    force: Annotated[bool, typer.Option("--force", "-f", help="Kill a running container first.")] = False,
    volumes: Annotated[bool, typer.Option("--volumes", "-v", help="Also remove its anonymous volumes.")] = False,
) -> None:
    """Remove containers (their changes, logs and cgroups; never volumes or bind-mounted sources)."""
    from devenv import api

    for name in containers:
        api.remove_container(name, force=force, volumes=volumes, reporter=output.reporter())
        output.result({"removed": name}, lambda r: str(r["removed"]))


def _ago(when: float | None) -> str:
    if not when:
        return ""
    seconds = max(0, int(time.time() - when))
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} seconds ago"


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


@group.command("ls")
def ls(
    all_: Annotated[bool, typer.Option("--all", "-a", help="Also stopped containers.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only IDs.")] = False,
    label: Annotated[list[str] | None, typer.Option("--filter-label", help="KEY=VALUE the containers carry.")] = None,
) -> None:
    """List containers (running ones unless --all)."""
    from devenv import api

    containers = api.list_containers(all=all_, labels=container_args.parse_labels(label or []) or None)
    rows = [
        {
            "id": c.id,
            "name": c.name,
            "image": c.spec.image,
            "command": " ".join(c.spec.command),
            "created": c.created,
            "status": c.status.value,
            "exit_code": c.exit_code,
            "started_at": c.started_at,
            "ip": c.ip_address,
        }
        for c in containers
    ]

    def human(items: list[dict[str, object]]) -> str:
        if quiet:
            return "\n".join(str(r["id"])[:12] for r in items)
        table = []
        for r in items:
            status = str(r["status"])
            if status == "running":
                status = f"Up since {_ago(_float(r['started_at']))}"
            elif status == "stopped":
                status = f"Exited ({r['exit_code'] if r['exit_code'] is not None else '?'})"
            command = str(r["command"])
            created = _ago(_float(r["created"]))
            table.append([str(r["id"])[:12], str(r["image"])[-40:], command[:30], created, status, str(r["name"])])
        return output.table(table, ["container id", "image", "command", "created", "status", "names"])

    output.result(rows, human)


group.command("ps", help="List containers (alias of ls).")(ls)


@group.command("logs")
def logs(
    container: Annotated[str, typer.Argument(help="Container name or ID.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the container stops.")] = False,
    timestamps: Annotated[bool, typer.Option("--timestamps", help="Prefix each chunk with its time.")] = False,
) -> None:
    """Print a container's output (stdout to stdout, stderr to stderr)."""
    from devenv import api

    outs = {1: sys.stdout.buffer, 2: sys.stderr.buffer}
    try:
        for stream, when, data in api.container_logs(container, follow=follow):
            out = outs.get(stream, sys.stdout.buffer)
            if timestamps:
                stamp = datetime.datetime.fromtimestamp(when, datetime.UTC).isoformat()
                out.write(stamp.encode() + b" ")
            out.write(data)
            out.flush()
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@group.command("inspect")
def inspect(containers: Annotated[list[str], typer.Argument(help="Container names or IDs.")]) -> None:
    """Details of containers as JSON (shaped like docker inspect)."""
    from devenv import api

    sys.stdout.write(json.dumps([api.inspect_container(c) for c in containers], indent=2) + "\n")


@volume_group.command("ls")
def volume_ls(quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only names.")] = False) -> None:
    """List volumes."""
    from devenv import api

    rows = [{"name": v.name, "path": v.path, "anonymous": v.anonymous} for v in api.list_volumes()]
    output.result(
        rows,
        lambda items: (
            "\n".join(r["name"] for r in items)
            if quiet
            else output.table([[r["name"], r["path"]] for r in items], ["volume name", "path"])
        ),
    )


@volume_group.command("create")
def volume_create(name: Annotated[str, typer.Argument(help="Volume name.")]) -> None:
    """Create a named volume (a container mounting a missing one creates it too)."""
    from devenv import api

    v = api.create_volume(name)
    output.result({"name": v.name, "path": v.path}, lambda r: str(r["name"]))


@volume_group.command("rm")
def volume_rm(names: Annotated[list[str], typer.Argument(help="Volume names.")]) -> None:
    """Remove volumes no container uses (their data is deleted)."""
    from devenv import api

    for name in names:
        api.remove_volume(name)
        output.result({"removed": name}, lambda r: str(r["removed"]))
