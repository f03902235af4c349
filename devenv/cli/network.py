"""CLI: ``devenv ports`` — the ports forwarded to a workspace's container."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from devenv.cli import output


def ports(
    workspace_folder: Annotated[
        str | None, typer.Option("--workspace-folder", help="The workspace folder (default: the current folder).")
    ] = None,
    config: Annotated[str | None, typer.Option("--config", help="devcontainer.json path (default: looked up).")] = None,
    id_label: Annotated[
        list[str] | None, typer.Option("--id-label", help="name=value label identifying the container (repeatable).")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """List forwarded ports: container port, host address, label, and whether it was auto-forwarded."""
    from devenv import api
    from devenv.workspace.manage import WorkspaceRef

    container_id, state = api.workspace_ports(WorkspaceRef(workspace_folder, config, tuple(id_label or ())))
    if json_:
        output.settings.log_format = "json"
    data = {
        "containerId": container_id,
        "ports": [
            {
                "containerPort": p.container_port,
                "hostAddress": p.address,
                "hostIp": p.host_ip,
                "hostPort": p.host_port,
                "protocol": p.protocol,
                "label": p.label,
                "source": p.source,
                **({"targetHost": p.target_host} if p.target_host else {}),
            }
            for p in state.ports
        ],
        "notForwarded": list(state.skipped),
    }

    def human(_: Any) -> str:
        rows = [
            [
                f"{p.target_host}:{p.container_port}" if p.target_host else str(p.container_port),
                p.address,
                p.label or "",
                p.source,
            ]
            for p in state.ports
        ]
        text = output.table(rows, ["port", "forwarded address", "label", "source"]) if rows else "no forwarded ports"
        return "\n".join([text, *state.skipped])

    output.result(data, human)


def register(app: typer.Typer) -> None:
    app.command("ports")(ports)
