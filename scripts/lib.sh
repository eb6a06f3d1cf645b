# shellcheck shell=bash
# Shared by scripts/test and scripts/run: installing Debian 12 (bookworm)
# packages. Source it after `set -euo pipefail`, with $repo (the repository
# root) and $prog (the calling script's name, for messages) set.
#
#   as_root CMD...             runs CMD as root (directly or with sudo -n)
#   installed PKG              whether the package is installed
#   base_python                prints a python3 that can create a venv with pip
#   linker_packages            prints "gcc libc6-dev" when no `cc` links Rust
#   node_packages              prints "nodejs npm" (each) when node or npm is missing
#   require_node20             ends the script unless node is 20 or later
#   oidc_dev_packages LOG      npm ci in tools/oidc-dev when node_modules is stale
#   install_missing PKG...     installs the packages quietly (log .build/apt.log):
#                              valkey from bookworm-backports (adding that
#                              suite if no apt source has it), packaged
#                              services kept from starting and, under
#                              systemd, disabled

BACKPORTS_PACKAGES=(valkey-server valkey-tools)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "$prog: not root and no sudo: cannot install $*" >&2
    exit 1
  fi
}

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]
}

# A Python that can create a venv with pip inside it.
base_python() {
  local py
  for py in python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
      command -v "$py"
      return 0
    fi
  done
  return 1
}

# The packages the Rust toolchain needs to link (rustup brings no linker):
# gcc and the C library's development files, when no `cc` is there.
linker_packages() {
  command -v cc >/dev/null 2>&1 || echo "gcc libc6-dev"
}

install_missing() {
  local missing=("$@")
  mkdir -p "$repo/.build"
  apt_log="$repo/.build/apt.log"
  : >"$apt_log"
  # valkey is in bookworm-backports; add that suite unless a source has it.
  if ! grep -qsE '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
         /etc/apt/sources.list.d/*.sources; then
    echo "adding /etc/apt/sources.list.d/bookworm-backports.sources"
    as_root tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  fi
  # Packaged services must not start: the scripts run their own instances.
  # policy-rc.d (exit 101) tells invoke-rc.d and deb-systemd-invoke to leave
  # them stopped. Only a file we created ourselves is removed again.
  policy=/usr/sbin/policy-rc.d
  created_policy=false
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy"
    created_policy=true
  fi
  cleanup_policy() { if $created_policy; then as_root rm -f "$policy"; fi; }
  trap cleanup_policy EXIT

  local pkgs=() pkg
  for pkg in "${missing[@]}"; do
    if [[ " ${BACKPORTS_PACKAGES[*]} " == *" $pkg "* ]]; then
      pkgs+=("$pkg/bookworm-backports")
    else
      pkgs+=("$pkg")
    fi
  done
  # Wait for a dpkg lock held by another apt (unattended upgrades) instead
  # of failing at once.
  local lock_wait=(-o DPkg::Lock::Timeout=300)
  if ! { as_root apt-get "${lock_wait[@]}" update -qq &&
         as_root env DEBIAN_FRONTEND=noninteractive apt-get "${lock_wait[@]}" install -y -qq \
           --no-install-recommends -o Dpkg::Use-Pty=0 "${pkgs[@]}"; } >>"$apt_log" 2>&1; then
    tail -n 40 "$apt_log" >&2
    echo "$prog: apt-get failed (full log: $apt_log)" >&2
    exit 1
  fi
  cleanup_policy
  trap - EXIT
  # Under systemd the units were still enabled for the next boot: disable the
  # ones this run installed. Nothing was started (policy-rc.d above).
  if [ -d /run/systemd/system ]; then
    local unit
    for unit in valkey-server mosquitto postgresql; do
      case " ${missing[*]} " in
        *" $unit "*|*" ${unit%-server}-server "*)
          as_root systemctl disable --now "$unit" >>"$apt_log" 2>&1 || true ;;
      esac
    done
  fi
}

# Node.js and npm for tools/oidc-dev (the local OpenID provider): prints
# the Debian packages to install when `node` or `npm` is missing (a newer
# Node.js installed otherwise is kept).
node_packages() {
  command -v node >/dev/null 2>&1 || echo nodejs
  command -v npm >/dev/null 2>&1 || echo npm
}

# Ends the calling script unless `node` is version 20 or later
# (oidc-provider 9 needs it; Debian 12's own is 18).
require_node20() {
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt 20 ]; then
    echo "$prog: tools/oidc-dev (oidc-provider 9) needs Node.js 20 or later; this is $(node --version 2>/dev/null || echo 'no node'):" >&2
    echo "  install a newer Node.js, then run $prog again" >&2
    exit 1
  fi
}

# npm ci in tools/oidc-dev when its node_modules is missing or older than
# package-lock.json; the output to $1 (a log file), its tail on failure.
oidc_dev_packages() {
  local dir="$repo/tools/oidc-dev" log=$1
  if [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    return 0
  fi
  echo "npm ci in tools/oidc-dev"
  if ! (cd "$dir" && npm ci --no-audit --no-fund) >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    echo "$prog: npm ci in tools/oidc-dev failed (log $log)" >&2
    exit 1
  fi
}
