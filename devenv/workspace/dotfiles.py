"""``up --dotfiles-repository``: the user's dotfiles, installed once per container, as the reference does.

After ``postCreateCommand`` (and before ``postStartCommand``), as the remote user, in the container:

1. a marker ``~/.devcontainer/.dotfilesMarker`` is created; when it already exists nothing more happens
   (once per container; a failed install is not retried, as with the reference);
2. ``git`` must be in the container (else "git not found" and nothing is installed);
3. the repository is cloned (``--depth 1``) to the target path (default ``~/dotfiles``) unless that exists;
   ``owner/name`` means ``https://github.com/owner/name.git``; URLs and absolute or ``./`` paths are used
   as they are;
4. ``--dotfiles-install-command`` is run from the clone (made executable when it is a file there); without
   one, the first of ``install.sh install bootstrap.sh bootstrap script/bootstrap setup.sh setup
   script/setup`` that exists; with none of them, the clone's dotfiles are symlinked into the home
   folder — all ``.*`` but ``.git`` and, as the reference's filter (``/(.|..|.git)$``) has it, names of
   two characters like ``.z``.

The clone and the install command get the remote environment plus the secrets. A failure is reported as
a warning and ``up`` goes on (the reference does not fail ``up`` for dotfiles either).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from devenv.events import NULL, Reporter
from devenv.runtime.base import Runtime

INSTALL_SCRIPTS = (
    "install.sh",
    "install",
    "bootstrap.sh",
    "bootstrap",
    "script/bootstrap",
    "setup.sh",
    "setup",
    "script/setup",
)
MARKER = "$HOME/.devcontainer/.dotfilesMarker"
DEFAULT_TARGET = "~/dotfiles"


@dataclass(frozen=True)
class Dotfiles:
    repository: str
    install_command: str | None = None
    target_path: str = DEFAULT_TARGET


def repository_url(repository: str) -> str:
    """``owner/name`` → its GitHub URL; anything with a ``:`` (a URL) or a path is kept."""
    if ":" not in repository and not re.match(r"^\.{0,2}/", repository):
        return f"https://github.com/{repository}.git"
    return repository


def shell_path(path: str) -> str:
    """A path for the script: ``~`` and ``~/...`` mean the remote user's home, the rest is quoted."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def install_script(dotfiles: Dotfiles) -> str:
    """The POSIX shell script that does steps 1-4 (see the module doc)."""
    target = shell_path(dotfiles.target_path or DEFAULT_TARGET)
    url = shlex.quote(repository_url(dotfiles.repository))
    head = f"""set -u
marker="{MARKER}"
if [ -e "$marker" ]; then echo "dotfiles already installed (marker found)"; exit 0; fi
mkdir -p "$(dirname "$marker")" && : > "$marker" || exit 1
command -v git >/dev/null 2>&1 || {{ echo "git not found: cannot install the dotfiles"; exit 127; }}
target={target}
[ -e "$target" ] || git clone --depth 1 {url} "$target" || exit $?
echo "Setting current directory to $target"
cd "$target" || exit 1
"""
    if dotfiles.install_command:
        command = shlex.quote(dotfiles.install_command)
        return (
            head
            + f"""cmd={command}
if [ -f "./$cmd" ]; then run="./$cmd"
elif [ -f "$cmd" ]; then run="$cmd"
else echo "Could not locate $cmd"; exit 126
fi
[ -x "$run" ] || {{ echo "Setting $run as executable"; chmod +x "$run"; }}
echo "Executing command $run"
"$run"
"""
        )
    candidates = " ".join(INSTALL_SCRIPTS)
    return (
        head
        + f"""run=
for f in {candidates}; do
  if [ -e "$f" ]; then run="$f"; break; fi
done
if [ -z "$run" ]; then
  found=
  for f in "$target"/.[!.]* "$target"/..?*; do
    [ -e "$f" ] || [ -L "$f" ] || continue
    case "$(basename "$f")" in ??|?git) continue;; esac
    found=1
    echo "Linking dotfile: $f"
    ln -sf "$f" "$HOME"/ || exit $?
  done
  [ -n "$found" ] || echo "No dotfiles found."
  exit 0
fi
[ -x "$run" ] || {{ echo "Setting $target/$run as executable"; chmod +x "$run"; }}
echo "Executing command $target/$run"
./"$run"
"""
    )


def install(
    runtime: Runtime,
    container_id: str,
    dotfiles: Dotfiles,
    *,
    user: str,
    home: str,
    env: Mapping[str, str],
    reporter: Reporter = NULL,
) -> bool:
    """Run the install script in the container; True when it succeeded (or had already run)."""
    from devenv.workspace import incontainer

    reporter.event("dotfiles.start", message=f"Installing dotfiles from {dotfiles.repository}...")

    def on_line(raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        reporter.event("dotfiles.output", line=text, message=f"[dotfiles] {text}")

    code = incontainer.stream(
        runtime,
        container_id,
        ["/bin/sh", "-c", install_script(dotfiles)],
        on_line,
        user=user,
        workdir=home or "/",
        env=env,
    )
    if code != 0:
        reporter.event(
            "warning",
            exit_code=code,
            message=f"warning: installing the dotfiles failed (exit code {code}); see the output above",
        )
        return False
    reporter.event("dotfiles.done", message="Dotfiles installed")
    return True
