/**
 * The secrets a lab's services use: digests for the plan (so a changed value
 * shows as changed) and values for apply steps. A lab whose services use no
 * secret needs no key.
 */
import { dirname } from "node:path";
import type { ResolvedLab } from "../config/types.ts";
import { openSecrets, type SecretStore } from "../secrets/store.ts";

export interface LabSecrets {
  /** Digest by name, for every secret the store holds. */
  readonly digests: ReadonlyMap<string, string>;
  /** The value; throws a HoltError naming the secret (never its value) when missing. */
  value(name: string): string;
}

const NONE: LabSecrets = {
  digests: new Map(),
  value(name) {
    throw new Error(`secret "${name}" was asked for, but the lab uses no secrets`);
  },
};

export function usesSecrets(lab: ResolvedLab): boolean {
  return (
    Object.values(lab.services).some((s) => (s.container?.secrets.length ?? 0) > 0) ||
    (lab.dns?.zones.length ?? 0) > 0 ||
    lab.tunnel !== null ||
    Object.keys(lab.backups.repositories).length > 0
  );
}

/** Opens the lab's secrets file (next to its config) when a service uses a secret. */
export async function openLabSecrets(
  lab: ResolvedLab,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LabSecrets> {
  if (!usesSecrets(lab)) return NONE;
  const store = await openSecrets({ labDir: dirname(lab.file), env });
  return labSecretsOf(store);
}

function labSecretsOf(store: SecretStore): LabSecrets {
  const digests = new Map(store.names().map((name) => [name, store.digest(name)]));
  return { digests, value: (name) => store.value(name) };
}
