#!/usr/bin/env bash
# Run holt's demo on this machine: installs what is missing (scripts/setup.sh), then
# brings up a small lab of two services (ZFS state, Podman containers, HTTPS through Caddy)
# and prints their URLs. Pass --keep to keep it running.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null 2>&1; then
  exec sudo -- bash "$root/scripts/demo.sh" "$@"
fi
bash "$root/scripts/setup.sh"
export PATH="$root/.tools/node_modules/.bin:$PATH"
if [[ ! -d /run/systemd/system ]]; then
  # No systemd (containers, some VMs, CI): Podman needs runc, cgroupfs and explicit ulimits.
  export CONTAINERS_CONF="$root/test/peers/containers.conf"
fi
exec node "$root/scripts/demo.ts" "$@"
