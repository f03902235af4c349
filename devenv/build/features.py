"""Resolved features → build steps on top of the base image, as the reference's generated Dockerfile does.

1. One step writes ``/tmp/dev-container-features/devcontainer-features.builtin.env`` with
   ``_CONTAINER_USER``/``_REMOTE_USER`` and appends their homes (looked up in the image's passwd).
2. Per feature, in install order: its ``containerEnv`` as image ENV (expanded as Docker does), then
   one RUN as root that copies the feature folder (bound read-only) to
   ``/tmp/dev-container-features/<id>_<n>``, runs ``devcontainer-features-install.sh`` (which sources
   the builtin env and ``devcontainer-features.env``, then runs ``install.sh``) and removes the copy.
3. The config's ``containerEnv`` as literal ENV, ``USER`` back to the image user, and the
   ``devcontainer.metadata`` label (base image entries + one per feature + the config's entry).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from devenv.build.imageconfig import ImageConfig
from devenv.build.plan import RunAction, Step, cache_key
from devenv.build.shell_words import Lexer
from devenv.features.ref import feature_options, option_env
from devenv.features.resolve import Resolution
from devenv.paths import data_root

FEATURES_DIR = "/tmp/dev-container-features"
SOURCE_DIR = "/tmp/build-features-src"
BUILTIN_ENV = f"{FEATURES_DIR}/devcontainer-features.builtin.env"
METADATA_LABEL = "devcontainer.metadata"


def _sq(text: str) -> str:
    """Text for inside single quotes in a shell script."""
    return text.replace("'", "'\\''")


def passwd_lookup(user: str) -> str:
    escaped = user.replace("\\", "\\\\").replace("'", "\\'")
    rx = "".join("\\" + c if c in ".^$*+?()[]{}|\\" else c for c in user).replace("'", "\\'")
    return (
        f" (command -v getent >/dev/null 2>&1 && getent passwd '{escaped}'"
        f" || grep -E '^{rx}|^[^:]*:[^:]*:{rx}:' /etc/passwd || true)"
    )


def env_file(values: Mapping[str, Any]) -> str:
    return "\n".join(f'{name}="{text}"' for name, text in option_env(values).items())


def install_wrapper(feature: Mapping[str, Any], user_id_without_version: str, option_lines: Sequence[str]) -> str:
    """The reference's ``devcontainer-features-install.sh``."""
    fid = _sq(user_id_without_version or "Unknown")
    name = _sq(str(feature.get("name") or "Unknown"))
    description = _sq(str(feature.get("description") or ""))
    version = _sq(str(feature.get("version") or ""))
    documentation = _sq(str(feature.get("documentationURL") or ""))
    options = _sq("\n".join(f"    {x}" for x in option_lines))
    warning = ""
    if feature.get("deprecated"):
        warning += (
            f'(!) WARNING: Using the deprecated Feature "{_sq(str(feature.get("id")))}". '
            "This Feature will no longer receive any further updates/support.\n"
        )
    echo_warning = f"echo '{warning}'" if warning else ""
    error = f'ERROR: Feature "{name}" ({fid}) failed to install!'
    trouble = (
        f" Look at the documentation at {documentation} for help troubleshooting this error." if documentation else ""
    )
    return f"""#!/bin/sh
set -e

on_exit () {{
	[ $? -eq 0 ] && exit
	echo '{error}{trouble}'
}}

trap on_exit EXIT

echo ===========================================================================
{echo_warning}
echo 'Feature       : {name}'
echo 'Description   : {description}'
echo 'Id            : {fid}'
echo 'Version       : {version}'
echo 'Documentation : {documentation}'
echo 'Options       :'
echo '{options}'
echo ===========================================================================

set -a
. ../devcontainer-features.builtin.env
. ./devcontainer-features.env
set +a

chmod +x ./install.sh
./install.sh
"""


def prepare_folder(source: Path, env_text: str, wrapper: str, content_digest: str) -> tuple[Path, str]:
    """A copy of the feature folder with its env file and wrapper (cached by content); (path, digest)."""
    h = hashlib.sha256()
    for part in (content_digest, env_text, wrapper):
        h.update(part.encode())
        h.update(b"\0")
    digest = h.hexdigest()
    dest = data_root() / "build" / "feature-content" / digest[:32]
    if not dest.is_dir():
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp, symlinks=True)
        (tmp / "devcontainer-features.env").write_text(env_text)
        (tmp / "devcontainer-features-install.sh").write_text(wrapper)
        try:
            tmp.rename(dest)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest, "sha256:" + digest


def metadata_label(entries: Sequence[Mapping[str, Any]]) -> str:
    from devenv.config.jsonout import dumps

    return "[ " + ", ".join(dumps(dict(e)) for e in entries) + " ]"


@dataclass(frozen=True)
class FeatureBuild:
    steps: tuple[Step, ...]
    config: ImageConfig


def find_users(entries: Sequence[Mapping[str, Any]], image_user: str) -> tuple[str, str]:
    """The reference's ``findContainerUsers``: last containerUser/remoteUser in the metadata, else the image's."""
    container_user = next((e["containerUser"] for e in reversed(entries) if e.get("containerUser")), "") or image_user
    remote_user = next((e["remoteUser"] for e in reversed(entries) if e.get("remoteUser")), "") or container_user
    return str(container_user), str(remote_user)


def _step(
    sid: str, text: str, action: RunAction | None, parent: str, inputs: tuple[tuple[str, str], ...], config: ImageConfig
) -> Step:
    if action is None:
        return Step(id=sid, description=text, action=None, key="", config=config, history=text)
    full = (("parent", parent), *inputs)
    return Step(id=sid, description=text, action=action, key=cache_key(full), inputs=full, config=config, history=text)


def feature_steps(
    resolution: Resolution,
    *,
    parent_key: str,
    config: ImageConfig,
    base_entries: Sequence[Mapping[str, Any]],
    config_entry: Mapping[str, Any],
    container_env: Mapping[str, str],
    image_user: str,
) -> FeatureBuild:
    """Steps that install the resolved features and label the image (``parent_key``: the base state)."""
    from devenv.config import feature_metadata_entry

    feature_entries = [feature_metadata_entry(resolution.fetched_for(s).metadata, s.user_id) for s in resolution.steps]
    entries = [*base_entries, *feature_entries, dict(config_entry)]
    entries = [e for e in entries if e]
    steps: list[Step] = []
    parent = parent_key
    if resolution.steps:
        container_user, remote_user = find_users(entries, image_user)
        script = (
            f"mkdir -p {FEATURES_DIR}"
            f" && printf '%s\\n' '_CONTAINER_USER={_sq(container_user)}' '_REMOTE_USER={_sq(remote_user)}'"
            f" > {BUILTIN_ENV} && chmod 0755 {BUILTIN_ENV}"
            f' && echo "_CONTAINER_USER_HOME=$({passwd_lookup(container_user)} | cut -d: -f6)" >> {BUILTIN_ENV}'
            f' && echo "_REMOTE_USER_HOME=$({passwd_lookup(remote_user)} | cut -d: -f6)" >> {BUILTIN_ENV}'
        )
        argv = ("/bin/sh", "-c", script)
        action = RunAction(argv=argv, env=config.env, user="root", workdir="/")
        inputs = (
            ("op", "run"),
            ("command", json.dumps(list(argv))),
            *(("env:" + e.partition("=")[0], e.partition("=")[2]) for e in config.env),
        )
        step = _step("features:builtin-env", "RUN (features) builtin env", action, parent, inputs, config)
        steps.append(step)
        parent = step.key
    for index, install in enumerate(resolution.steps):
        fetched = resolution.fetched_for(install)
        meta = fetched.metadata
        fid = str(meta.get("id") or fetched.ref.id)
        cid = f"{fid}_{index}"
        sid = f"feature:{install.user_id}"
        if any(s.id == sid for s in steps):
            sid = f"{sid}#{index}"
        for key, value in (meta.get("containerEnv") or {}).items():
            word = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            config = config.with_env(str(key), Lexer().process_word(word, config.env_map()))
            steps.append(_step(f"{sid}:env:{key}", f"ENV {key}=...", None, parent, (), config))
        values = feature_options(install.options, meta.get("options"))
        text = env_file(values)
        user_id_wo_version = (
            install.user_id.split("@")[0]
            if fetched.ref.kind != "oci"
            else (fetched.ref.oci.resource if fetched.ref.oci else install.user_id)
        )
        wrapper = install_wrapper(meta, user_id_wo_version, text.split("\n") if text else [])
        folder, folder_digest = prepare_folder(fetched.folder, text, wrapper, fetched.content_digest)
        dest = f"{FEATURES_DIR}/{cid}"
        script = (
            f"cp -ar {SOURCE_DIR}/{cid} {FEATURES_DIR}"
            f" && chmod -R 0755 {dest} && cd {dest}"
            " && chmod +x ./devcontainer-features-install.sh && ./devcontainer-features-install.sh"
            f" && rm -rf {dest}"
        )
        argv = ("/bin/sh", "-c", script)
        action = RunAction(
            argv=argv, env=config.env, user="root", workdir="/", binds=((str(folder), f"{SOURCE_DIR}/{cid}", True),)
        )
        inputs = (
            ("op", "feature"),
            ("feature", install.user_id),
            ("content", fetched.content_digest),
            *((f"option:{k}", json.dumps(v)) for k, v in values.items()),
            ("prepared", folder_digest),
            ("command", json.dumps(list(argv))),
            *(("env:" + e.partition("=")[0], e.partition("=")[2]) for e in config.env),
        )
        label = f"FEATURE {install.user_id} ({', '.join(f'{k}={v}' for k, v in values.items())})"
        step = _step(sid, label, action, parent, inputs, config)
        steps.append(step)
        parent = step.key
    if resolution.steps:
        for key, value in container_env.items():
            config = config.with_env(key, value)
        config = replace(config, user=image_user)
    if entries:
        config = config.with_label(METADATA_LABEL, metadata_label(entries))
    steps.append(_step("features:label", "LABEL devcontainer.metadata", None, parent, (), config))
    return FeatureBuild(tuple(steps), config)
