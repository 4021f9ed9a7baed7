#!/usr/bin/env bash
# Run holt's demo on this machine: installs what is missing (scripts/setup.sh),
# then plans and applies a small lab on a file-backed ZFS pool. Pass --keep to keep it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null 2>&1; then
  exec sudo -- bash "$root/scripts/demo.sh" "$@"
fi
bash "$root/scripts/setup.sh"
export PATH="$root/.tools/node_modules/.bin:$PATH"
exec node "$root/scripts/demo.ts" "$@"
