/**
 * The host-side lookup a container needs besides Podman: where
 * its datasets are mounted. Through `Exec`, so it works the same over SSH.
 */
import { HoltError } from "../../errors.ts";
import type { Exec } from "../../hosts/exec.ts";
import type { ContainerInputs } from "../../model/container.ts";
import { parseZfsMounts } from "./podman-json.ts";

/**
 * Where each mounted dataset is mounted on the host, with one `zfs list`.
 * Throws naming every dataset that is missing or not mounted: Podman would
 * otherwise create an empty folder and the service would start without its data.
 */
export async function resolveMountpoints(
  exec: Exec,
  host: string,
  inputs: ContainerInputs,
): Promise<Map<string, string>> {
  const datasets = [...new Set(inputs.mounts.map((m) => m.dataset))].sort();
  const found = new Map<string, string>();
  if (datasets.length === 0) return found;
  // zfs list prints what exists and exits 1 for the rest: read stdout either way.
  const result = await exec.run({
    argv: ["zfs", "list", "-H", "-o", "name,mountpoint,mounted", ...datasets],
  });
  if (result.code === 127) {
    throw new HoltError(
      "HOLT_E_ZFS",
      `Service "${inputs.service}" mounts datasets, but ZFS is not installed on host "${host}".`,
    );
  }
  const mounts = parseZfsMounts(result.stdout);
  const problems: string[] = [];
  for (const m of inputs.mounts) {
    const at = mounts.get(m.dataset);
    if (at === undefined) problems.push(`"${m.dataset}" (for ${m.target}) does not exist`);
    else if (at === null) problems.push(`"${m.dataset}" (for ${m.target}) is not mounted`);
    else found.set(m.dataset, at);
  }
  if (problems.length > 0) {
    throw new HoltError(
      "HOLT_E_ZFS",
      `Cannot start service "${inputs.service}" on host "${host}": dataset ${problems.join(", dataset ")}. Mount it (zfs mount, or set its mountpoint and canmount=on) or change the service's mounts, then run again.`,
      { details: result.stderr.split("\n").filter((l) => l.trim() !== "") },
    );
  }
  return found;
}
