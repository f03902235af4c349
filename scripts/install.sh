#!/usr/bin/env bash
# Install devenv and its system dependencies on Debian/Ubuntu (as root).
#
#   scripts/install.sh           devenv itself: /opt/devenv/venv, /usr/local/bin/devenv
#   scripts/install.sh --test    plus what the test suite needs (registry, skopeo, Docker engine, sshd, ...)
#
# Safe to run again: it only installs what is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
with_test=0
for arg in "$@"; do
  case "$arg" in
    --test) with_test=1 ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "error: run as root (sudo $0 $*): devenv's embedded runtime needs namespaces and mounts" >&2
  exit 1
fi

# What devenv uses at run time: netlink/iptables for networking, mmdebstrap for `devenv image bootstrap`,
# git for workspace identity, OpenSSH client for remote hosts, tar/gzip/zstd (isal: igzip, a 4x faster
# gzip decompressor) for unpacking image layers.
packages=(python3 python3-venv python3-pip iproute2 iptables mmdebstrap ca-certificates git openssh-client
          uidmap tar gzip zstd isal)
if [ "$with_test" = 1 ]; then
  packages+=(docker.io docker-registry skopeo busybox-static openssh-server apache2-utils psmisc procps
             nodejs npm hyperfine)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine with its own Node.js/npm (e.g. from NodeSource) keeps it.
if command -v npm >/dev/null 2>&1; then
  filtered=(); for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "devenv: installing system packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

venv=/opt/devenv/venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
extra=""
[ "$with_test" = 1 ] && extra="[test]"
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
"$venv/bin/python" -m pip install -q -e "$here$extra"

# Compiled modules up front: the first run of each command (and every run where Python cannot write
# __pycache__) would otherwise compile them.
"$venv/bin/python" -m compileall -q -j 0 "$here/devenv" >/dev/null

# The console script pip writes runs Python's `site` (the venv's .pth files, setuptools' distutils
# hook): a few milliseconds on every command, and `devenv exec` / `devenv container run` are measured
# in tens. devenv's own launcher starts Python without `site` and puts the two directories it needs on
# the path itself (the venv's site-packages and, for this editable install, the source tree).
purelib=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
srcdir=$("$venv/bin/python" -c 'import devenv, os; print(os.path.dirname(os.path.dirname(devenv.__file__)))')
launcher="$venv/bin/devenv"
printf '%s\n' \
  "#!$venv/bin/python -S" \
  "# devenv's launcher, written by scripts/install.sh (pip's console script would import site)." \
  "import sys" \
  "" \
  "sys.path[1:1] = [\"$srcdir\", \"$purelib\"]" \
  "from devenv.cli.main import run" \
  "" \
  "run()" > "$launcher.tmp"
chmod 755 "$launcher.tmp"
mv -f "$launcher.tmp" "$launcher"
ln -sf "$launcher" /usr/local/bin/devenv
echo "devenv: installed $("$venv/bin/devenv" --version) at /usr/local/bin/devenv" >&2
