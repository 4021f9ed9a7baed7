import type { ResolvedLab, ResolvedService } from "../../config/types.ts";
import { readActual } from "../../engine/read.ts";
import { HoltError } from "../../errors.ts";
import type { Connections } from "../../hosts/connect.ts";
import { readLabFacts } from "../../lab/plan.ts";
import { type LabSecrets, openLabSecrets } from "../../lab/secrets.ts";
import { compileLab } from "../../model/compile.ts";
import { CONTAINER_TYPE, containerAddress } from "../../model/container.ts";
import { defaultProviders } from "../../providers/index.ts";
import type { ContainerState } from "../../providers/podman/container-provider.ts";
import {
  CONFIG_FLAG,
  CONFIG_HELP,
  type Command,
  connectionsFor,
  openLab,
  parseFlags,
} from "../context.ts";

/** The service, which must run a container; otherwise a usage error naming the ones that do. */
export function serviceWithContainer(lab: ResolvedLab, name: string): ResolvedService {
  const service = lab.services[name];
  const withContainers = Object.values(lab.services)
    .filter((s) => s.container !== null)
    .map((s) => s.name)
    .sort();
  if (service === undefined || service.container === null) {
    const why =
      service === undefined ? "is not a service of this lab" : "has no container (no image)";
    throw new HoltError(
      "HOLT_E_USAGE",
      `"${name}" ${why}. Services with containers: ${withContainers.join(", ") || "(none)"}.`,
    );
  }
  return service;
}

export const restartCommand: Command = {
  name: "restart",
  summary: "Restart a service's container and wait for its health check",
  usage: "holt restart SERVICE",
  flags: [CONFIG_HELP],
  async run(args, ctx) {
    const { values, positionals } = parseFlags("restart", args, { ...CONFIG_FLAG }, true);
    const names: string[] = [...positionals];
    if (names.length !== 1) {
      throw new HoltError(
        "HOLT_E_USAGE",
        "holt restart takes one service name, like `holt restart jellyfin`.",
      );
    }
    const lab = await openLab(ctx, values.config);
    const service = serviceWithContainer(lab, names[0] ?? "");
    const secrets = await openLabSecrets(lab, ctx.env);
    const connections = connectionsFor(lab);
    try {
      ctx.output.err(`Restarting ${service.name} on ${service.host}…`);
      const started = Date.now();
      const found = await restartService(lab, service, connections, secrets);
      if (!found) {
        throw new HoltError(
          "HOLT_E_USAGE",
          `Service "${service.name}" has no container of this lab on host "${service.host}" yet. Run \`holt apply\` first.`,
        );
      }
      ctx.output.err(
        `Restarted ${service.name} in ${((Date.now() - started) / 1000).toFixed(1)} s; it is up.`,
      );
      return 0;
    } finally {
      await connections.closeAll();
    }
  },
};

/**
 * Stops, starts and health-gates the service's container, as the provider
 * converges one seen as unhealthy. False when the lab has no container for
 * it on its host yet (a container of that name that is not holt's is an error).
 */
export async function restartService(
  lab: ResolvedLab,
  service: ResolvedService,
  connections: Connections,
  secrets: LabSecrets,
): Promise<boolean> {
  const exec = await connections.execFor(service.host);
  const facts = await readLabFacts(lab, connections, [service.host]);
  const { graph } = compileLab(lab, facts, { secrets: secrets.digests });
  const address = containerAddress(service.host, service.name);
  const resource = graph.resources.find((r) => r.address === address);
  const provider = defaultProviders().find((p) => p.type === CONTAINER_TYPE);
  if (resource === undefined || provider === undefined) {
    throw new HoltError("HOLT_E_INTERNAL", `No container resource for service "${service.name}".`);
  }
  const actual = await readActual(
    { lab: graph.lab, resources: [resource] },
    { providers: [provider], hosts: [service.host], execFor: async () => exec },
  );
  const observed = actual.observed.get(address);
  if (observed === undefined) return false;
  if (!observed.managed) {
    throw new HoltError(
      "HOLT_E_USAGE",
      `A container named like service "${service.name}" exists on host "${service.host}" but is not holt's; holt leaves it alone.`,
    );
  }
  const state = observed.state as ContainerState;
  await provider.update(
    { host: service.host, exec, lab: lab.name, secretValue: (name) => secrets.value(name) },
    resource,
    { ...observed, state: { ...state, running: true, health: "failing" } },
  );
  return true;
}
