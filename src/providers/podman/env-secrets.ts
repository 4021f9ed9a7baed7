/**
 * Podman before 5.3 lists a container's environment, secrets given as
 * variables included (`--secret NAME,type=env`), with their values in
 * `podman inspect` (containers/podman#23788, fixed for 5.3). Anyone who may
 * run `podman inspect` on the host (root, for holt's rootful containers)
 * reads them there; a secret given as a file is not shown. Debian 12 ships
 * Podman 4.3. holt says so in the plan, once per host.
 */
import type { ContainerInputs } from "../../model/container.ts";
import { atLeast, type PodmanVersion } from "./host.ts";

/** The warning for a host's services with environment secrets, or null when there is none. */
export function envSecretWarning(
  host: string,
  version: PodmanVersion,
  containers: readonly Pick<ContainerInputs, "service" | "secrets">[],
): string | null {
  if (atLeast(version, 5, 3)) return null;
  const uses = containers
    .flatMap((c) =>
      c.secrets.filter((s) => s.kind === "env").map((s) => `${c.service}: ${s.target}`),
    )
    .sort();
  if (uses.length === 0) return null;
  const shown = `${version.major}.${version.minor}.${version.patch}`;
  return `Podman ${shown} on host "${host}" shows the values of secrets given as environment variables in \`podman inspect\` (Podman 5.3 and later hide them): ${uses.join(", ")}. Give them as files instead (a secrets key starting with "/", read by the app from that path), or upgrade Podman. See docs/secrets.md.`;
}
