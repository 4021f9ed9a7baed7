/**
 * The secrets a lab's services use: digests for the plan (so a changed value
 * shows as changed) and values for apply steps. A lab whose services use no
 * secret needs no key.
 */
import { dirname } from "node:path";
import type { ResolvedLab } from "../config/types.ts";
import type { DesiredGraph } from "../engine/resource.ts";
import { HoltError } from "../errors.ts";
import { CERTIFICATE_TYPE } from "../model/certificate.ts";
import { CONTAINER_TYPE, type ContainerInputs } from "../model/container.ts";
import { DNS_RECORD_TYPE } from "../model/dns-record.ts";
import { TUNNEL_TYPE } from "../model/tunnel.ts";
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

/** Resource types whose providers need credentials (DNS API keys) to read and apply. */
const CREDENTIAL_TYPES = new Set([DNS_RECORD_TYPE, CERTIFICATE_TYPE, TUNNEL_TYPE]);

/** Opens the lab's secrets file (next to its config) when a service uses a secret. */
export async function openLabSecrets(
  lab: ResolvedLab,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LabSecrets> {
  if (!usesSecrets(lab)) return NONE;
  const store = await openSecrets({ labDir: dirname(lab.file), env });
  return labSecretsOf(store);
}

/**
 * The secrets a saved plan's containers need, opened from the secrets file
 * beside the plan's config. A secret whose value changed since the plan was
 * made makes the plan stale (its container would be labelled with the old
 * digest), so that is refused, naming the secret and never its value.
 */
export async function openSavedPlanSecrets(
  configFile: string,
  graph: DesiredGraph,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LabSecrets> {
  const wanted = graph.resources
    .filter((r) => r.type === CONTAINER_TYPE)
    .flatMap((r) =>
      (r.inputs as ContainerInputs).secrets.map((s) => ({ address: r.address, ...s })),
    );
  const credentials = graph.resources.some((r) => CREDENTIAL_TYPES.has(r.type));
  if (wanted.length === 0 && !credentials) return NONE;
  const store = await openSecrets({ labDir: dirname(configFile), env });
  const moved = wanted.filter((s) => !store.has(s.secret) || store.digest(s.secret) !== s.digest);
  if (moved.length > 0) {
    throw new HoltError(
      "HOLT_E_PLAN_STALE",
      "The plan no longer matches the lab's secrets: a secret it uses was changed or removed since the plan was made. Nothing was changed. Run `holt plan` again.",
      {
        details: moved.map(
          (s) =>
            `${s.address}: secret "${s.secret}" ${store.has(s.secret) ? "has a new value" : "is gone"}`,
        ),
      },
    );
  }
  return labSecretsOf(store);
}

function labSecretsOf(store: SecretStore): LabSecrets {
  const digests = new Map(store.names().map((name) => [name, store.digest(name)]));
  return { digests, value: (name) => store.value(name) };
}
