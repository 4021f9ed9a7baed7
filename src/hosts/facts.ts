/**
 * Facts about a host that the model needs before it can derive resources
 * (for example the pools that exist, to default a state root).
 */
import { HoltError } from "../errors.ts";
import type { Exec } from "./exec.ts";

export interface HostFacts {
  /** Imported ZFS pools, in the order `zpool list` prints them. */
  readonly pools: readonly string[];
}

export async function readHostFacts(host: string, exec: Exec): Promise<HostFacts> {
  const result = await exec.run({ argv: ["zpool", "list", "-H", "-o", "name"] });
  if (result.code === 127) {
    throw new HoltError(
      "HOLT_E_ZFS",
      `ZFS is not installed on host "${host}" (${exec.target}): \`zpool\` was not found. Install ZFS there (OpenZFS, or zfs-fuse for tests) and run again.`,
    );
  }
  if (result.code !== 0) {
    const reason = result.stderr.trim().split("\n").slice(-3).join(" ");
    throw new HoltError(
      "HOLT_E_ZFS",
      `\`zpool list\` failed on host "${host}" (${exec.target}), exit code ${result.code}: ${reason || "no output"}. Is the ZFS service running there?`,
    );
  }
  const pools = result.stdout
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && line !== "no pools available");
  return { pools };
}
