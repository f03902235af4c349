"""Which workspace is this? Its local folder + config file, as the id labels the reference puts on containers.

A workspace's container carries ``devcontainer.local_folder=<folder>`` and
``devcontainer.config_file=<config path>`` (or the labels given with ``--id-label``); that is how it is
found again. The same labels give the workspace its key (``${devcontainerId}``) and its state directory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

LOCAL_FOLDER_LABEL = "devcontainer.local_folder"
CONFIG_FILE_LABEL = "devcontainer.config_file"
METADATA_LABEL = "devcontainer.metadata"
# devenv's own label on the containers it creates:
CONFIG_LABEL = "dev.devenv.config"  # short digests of the properties that need a new container when changed
IMAGE_ENTRIES_LABEL = "dev.devenv.image_entries"  # how many metadata entries came from the image


def parse_id_labels(items: Sequence[str]) -> dict[str, str]:
    """``--id-label name=value`` arguments as a dict (the reference's format and error)."""
    labels: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            from devenv.errors import UsageError

            raise UsageError(
                f"--id-label {item!r}: id-label must match <name>=<value>", remedy="e.g. --id-label project=web"
            )
        labels[name] = value
    return labels


def default_id_labels(folder: str, config_file: str) -> dict[str, str]:
    return {LOCAL_FOLDER_LABEL: folder, CONFIG_FILE_LABEL: config_file}


def workspace_key(labels: Mapping[str, str]) -> str:
    """The workspace's key: ``${devcontainerId}`` of its id labels (names its state directory).

    The same algorithm as :func:`devenv.config.substitute.devcontainer_id` (a unit test holds them
    equal), repeated here because ``devenv exec`` must not pay for importing the config package.
    """
    import json

    from devenv.sha import sha256

    text = json.dumps({k: labels[k] for k in sorted(labels)}, separators=(",", ":"), ensure_ascii=False)
    number = int.from_bytes(sha256(text.encode("utf-8", "surrogatepass")).digest(), "big")
    digits = []
    while number:
        number, rest = divmod(number, 32)
        digits.append("0123456789abcdefghijklmnopqrstuv"[rest])
    return "".join(reversed(digits)).rjust(52, "0")


def container_name_prefix(folder_basename: str) -> str:
    """A container-name-safe version of a folder name (``[a-zA-Z0-9][a-zA-Z0-9_.-]*``)."""
    import re

    clean = re.sub(r"[^a-zA-Z0-9_.-]+", "-", folder_basename).strip("-_.")
    return clean[:40] or "workspace"
