#!/usr/bin/env bash
# Run every holt test on this machine: installs what is missing (scripts/setup.sh), then `npm test`.
#
#   bash scripts/test.sh                      all tests (unit + end-to-end)
#   bash scripts/test.sh --unit               unit tests only (src/**/*.test.ts)
#   bash scripts/test.sh test/peers/zfs.test.ts   just these files
#
# The last line printed is the count: `N passed, N failed[, N skipped]`; the exit code is
# non-zero when any test failed or none ran.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Test files may be given relative to the current directory; npm runs from the repo root.
args=()
for arg in "$@"; do
  if [[ "$arg" != -* && -e "$arg" ]]; then arg="$(realpath "$arg")"; fi
  args+=("$arg")
done
cd "$root"
if [[ "$(id -u)" != 0 ]] && command -v sudo >/dev/null 2>&1; then
  # The zfs-fuse and sshd tests need root.
  exec sudo -- bash "$root/scripts/test.sh" ${args[@]+"${args[@]}"}
fi
bash scripts/setup.sh
export PATH="$root/.tools/node_modules/.bin:$PATH"
# Podman settings for machines without systemd and with hybrid cgroups (runc, cgroupfs).
export CONTAINERS_CONF="$root/test/peers/containers.conf"
# --silent: keep npm's own banner and failure epilogue out, so the count stays the last line.
exec npm test --silent -- ${args[@]+"${args[@]}"}
