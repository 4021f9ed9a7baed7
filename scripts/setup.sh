#!/usr/bin/env bash
# Prepare this machine for holt's tests and demo. Idempotent and quiet; safe to rerun.
#
#   bash scripts/setup.sh      install what is missing, start services, print one summary line
#   source scripts/setup.sh    the same, then put .tools (Node 24) first on this shell's PATH
#
# What it does, skipping every step that is already done:
#   - Debian packages: zfs-fuse openssh-server openssh-client iproute2 procps ca-certificates,
#     Podman with runc and its network stack, busybox-static (test images), systemd (systemd-analyze),
#     caddy, curl, openssl, and the DNS and ACME test peers: knot, bind9, pdns-server (+ sqlite
#     backend), their dig/nsupdate tools, pebble (not started: the tests run them on high ports)
#     (plus npm when Node 24 still has to be bootstrapped and no npm is on PATH)
#   - Node 24 and npm 11 into .tools/ (from the npm registry, with the system npm)
#   - npm ci, skipped while node_modules matches package-lock.json
#   - zfs-fuse daemon started and answering `zpool list`; /run/sshd created
# Needs root; re-executes itself with sudo when run as another user.

_holt_setup_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

holt_setup_main() {
  set -euo pipefail
  local root="$_holt_setup_root"
  local started=${EPOCHREALTIME/[.,]/}
  local -a summary=() installed_here=()
  local log
  log="$(mktemp -t holt-setup.XXXXXX)"
  # shellcheck disable=SC2064 # expand now: $log is local
  trap "rm -f '$log'" EXIT

  # Run a command with its output captured; show the output only when it fails.
  quiet() {
    local what="$1"
    shift
    if ! "$@" >"$log" 2>&1; then
      echo "setup.sh: $what failed: $*" >&2
      if (($(wc -l <"$log") <= 120)); then
        cat "$log" >&2
      else
        head -n 40 "$log" >&2
        echo "[...]" >&2
        tail -n 60 "$log" >&2
      fi
      exit 1
    fi
  }

  local tools_bin="$root/.tools/node_modules/.bin"
  node24_ok() {
    [[ -x "$tools_bin/node" && -x "$tools_bin/npm" ]] || return 1
    local v
    v="$("$tools_bin/node" --version 2>/dev/null)" || return 1
    [[ "$v" == v24.* ]]
  }

  # --- Debian packages -----------------------------------------------------------------
  # Podman's network stack (netavark, aardvark-dns for names, iptables for ports) and runc are
  # only recommended or alternatives, so --no-install-recommends needs them named.
  local -a wanted=(zfs-fuse openssh-server openssh-client iproute2 procps ca-certificates
    podman runc conmon netavark aardvark-dns iptables catatonit uidmap busybox-static systemd
    caddy curl openssl knot knot-dnsutils bind9 bind9-dnsutils pdns-server pdns-backend-sqlite3
    pebble restic)
  if ! node24_ok && ! command -v npm >/dev/null 2>&1; then
    wanted+=(npm)
  fi
  local -a missing=()
  local pkg
  for pkg in "${wanted[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]]; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} > 0)); then
    export DEBIAN_FRONTEND=noninteractive
    # The DNS servers are test peers started by the tests on high ports: their packages must
    # not start (and enable) system-wide servers on port 53. A policy-rc.d that says "no"
    # keeps the install from starting any service; one already in place is left as it is.
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [[ ! -e "$policy" ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      own_policy=1
    fi
    quiet "apt-get update" apt-get update -q
    local install_ok=1
    (quiet "apt-get install" apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}") ||
      install_ok=0
    if ((own_policy)); then rm -f "$policy"; fi
    ((install_ok)) || exit 1
    # On a machine run by systemd, do not start them at the next boot either.
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now knot named pdns >/dev/null 2>&1 || true
    fi
    summary+=("installed ${missing[*]}")
  else
    summary+=("packages ok")
  fi

  # --- Node 24 (+ npm 11, so npm never runs on an older or Debian-patched npm) -----------
  if ! node24_ok; then
    command -v npm >/dev/null 2>&1 || {
      echo "setup.sh: npm is needed to install Node 24 but is not on PATH" >&2
      exit 1
    }
    mkdir -p "$root/.tools"
    quiet "installing Node 24 into .tools" \
      npm install --prefix "$root/.tools" --no-audit --no-fund --loglevel=error node@24 npm@11
    node24_ok || {
      echo "setup.sh: .tools/node_modules/.bin/node is not Node 24 after installing it" >&2
      exit 1
    }
    installed_here+=("$root/.tools")
    summary+=("installed node $("$tools_bin/node" --version)")
  else
    summary+=("node $("$tools_bin/node" --version)")
  fi
  export PATH="$tools_bin:$PATH"

  # --- npm ci ----------------------------------------------------------------------------
  local stamp="$root/node_modules/.holt-lock-hash" hash
  hash="$(cat "$root/package.json" "$root/package-lock.json" <(node --version) | sha256sum)"
  hash="${hash%% *}"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
    summary+=("node_modules up to date")
  else
    (cd "$root" && quiet "npm ci" npm ci --no-audit --no-fund --loglevel=error)
    echo "$hash" >"$root/node_modules/.holt-lock-hash"
    installed_here+=("$root/node_modules")
    summary+=("npm ci done")
  fi

  # --- zfs-fuse ---------------------------------------------------------------------------
  if zpool list >/dev/null 2>&1; then
    summary+=("zfs-fuse running")
  else
    [[ -e /dev/fuse ]] || modprobe fuse >/dev/null 2>&1 || true
    if ! pgrep -x zfs-fuse >/dev/null; then
      # zfs-fuse daemonizes; detach it from our output so it never holds a caller's pipe open.
      zfs-fuse </dev/null >/dev/null 2>&1 || true
    fi
    local deadline=$((SECONDS + 20))
    until zpool list >/dev/null 2>&1; do
      if ((SECONDS >= deadline)); then
        echo "setup.sh: zfs-fuse did not answer \`zpool list\` within 20 s:" >&2
        zpool list >&2 || true
        pgrep -a -x zfs-fuse >&2 || echo "(no zfs-fuse process is running)" >&2
        [[ -e /dev/fuse ]] || echo "(/dev/fuse is missing: zfs-fuse needs FUSE)" >&2
        exit 1
      fi
      sleep 0.2
    done
    summary+=("zfs-fuse started")
  fi

  # --- files made in the repo belong to its owner, also when we run through sudo ------------
  local owner
  owner="$(stat -c %u:%g "$root")"
  if [[ "$owner" != 0:0 && "${#installed_here[@]}" -gt 0 ]]; then
    chown -R "$owner" "${installed_here[@]}"
  fi

  # --- sshd privilege-separation directory --------------------------------------------------
  mkdir -p -m 0755 /run/sshd

  local line ms=$(((${EPOCHREALTIME/[.,]/} - started) / 1000))
  printf -v line '%s, ' "${summary[@]}"
  printf 'setup.sh: %s (%d.%ds)\n' "${line%, }" $((ms / 1000)) $((ms % 1000 / 100))
}

holt_setup_as_root() {
  if [[ "$(id -u)" == 0 ]]; then
    holt_setup_main
  elif command -v sudo >/dev/null 2>&1; then
    sudo -- bash "$_holt_setup_root/scripts/setup.sh"
  else
    echo "setup.sh: must run as root (and sudo is not available); rerun it as root" >&2
    return 1
  fi
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  # Executed.
  set -euo pipefail
  holt_setup_as_root
else
  # Sourced: do the work in a subshell so `set -e` and traps do not leak into the caller's
  # shell. (Not inside `if`: that would switch `set -e` off in the subshell.)
  (holt_setup_as_root)
  _holt_setup_status=$?
  if [[ $_holt_setup_status == 0 ]]; then
    case ":$PATH:" in
    *":$_holt_setup_root/.tools/node_modules/.bin:"*) ;;
    *) export PATH="$_holt_setup_root/.tools/node_modules/.bin:$PATH" ;;
    esac
  fi
  unset -f holt_setup_main holt_setup_as_root
  unset _holt_setup_root
  return "$_holt_setup_status"
fi
