/**
 * The programmatic `status`: for each service, what runs where and whether it
 * is healthy, from one read of the real systems (the same read a plan does).
 * Nothing here changes anything.
 */
import type { ResolvedLab } from "../config/types.ts";
import type { Observed, Provider } from "../engine/provider.ts";
import { readActual } from "../engine/read.ts";
import type { Connections } from "../hosts/connect.ts";
import { compileLab } from "../model/compile.ts";
import { CONTAINER_TYPE, type ContainerInputs } from "../model/container.ts";
import { DATASET_TYPE } from "../model/dataset.ts";
import { ROUTE_TYPE, type RouteInputs } from "../model/route.ts";
import { readLabFacts } from "./plan.ts";

export interface DatasetStatus {
  readonly name: string;
  /** Bytes used, when known. */
  readonly used: number | null;
  /** Quota in bytes; null for none. */
  readonly quota: number | null;
  readonly exists: boolean;
}

export interface ServiceStatus {
  readonly service: string;
  readonly host: string;
  /**
   * "running", "exited" (or another Podman state), "missing" (not created
   * yet), "unmanaged" (a container of that name is not holt's), or "none"
   * (a service without an image).
   */
  readonly state: string;
  /** "passing", "failing", "none" (no check declared) or "unknown" (not running). */
  readonly health: string;
  /** https URL when it has a hostname; `routed` tells whether Caddy has the route. */
  readonly url: string | null;
  readonly routed: boolean;
  readonly image: string | null;
  /** Image id or digest Podman reports for the running container. */
  readonly imageId: string | null;
  readonly datasets: readonly DatasetStatus[];
}

export interface StatusOptions {
  readonly connections: Connections;
  readonly providers: readonly Provider[];
}

export async function labStatus(
  lab: ResolvedLab,
  options: StatusOptions,
): Promise<ServiceStatus[]> {
  const hosts = Object.keys(lab.hosts).sort();
  const { graph } = compileLab(lab, await readLabFacts(lab, options.connections, hosts));
  const actual = await readActual(graph, {
    providers: options.providers,
    hosts,
    execFor: (host) => options.connections.execFor(host),
  });

  return Object.keys(lab.services)
    .sort()
    .map((name): ServiceStatus => {
      const mine = graph.resources.filter((r) => r.service === name);
      const container = mine.find((r) => r.type === CONTAINER_TYPE);
      const route = mine.find((r) => r.type === ROUTE_TYPE);
      const seen = container === undefined ? undefined : actual.observed.get(container.address);
      const inputs = container?.inputs as ContainerInputs | undefined;
      const https = lab.hosts[lab.services[name]?.host ?? ""]?.proxy.httpsPort ?? 443;
      const routeInputs = route?.inputs as RouteInputs | undefined;
      const routeSeen = route === undefined ? undefined : actual.observed.get(route.address);
      return {
        service: name,
        host: lab.services[name]?.host ?? "",
        state: containerState(container === undefined, seen),
        health: healthOf(inputs, seen),
        url:
          routeInputs === undefined
            ? null
            : `https://${routeInputs.hostname}${https === 443 ? "" : `:${https}`}/`,
        routed: routeSeen?.managed === true,
        image: inputs?.image ?? null,
        imageId: text(seen?.info?.imageId) ?? text(seen?.info?.digest),
        datasets: mine
          .filter((r) => r.type === DATASET_TYPE)
          .map((r) => {
            const o = actual.observed.get(r.address);
            return {
              name: r.name,
              used: number(o?.info?.used),
              quota: number(o?.info?.quota),
              exists: o !== undefined,
            };
          }),
      };
    });
}

/**
 * The fields of a container's observed state that status shows. The podman
 * provider's state has them; read structurally, since lab/ imports no provider.
 */
function stateFields(seen: Observed | undefined): { status: string | null; health: string | null } {
  const state = (seen?.state ?? {}) as { status?: unknown; health?: unknown };
  return {
    status: typeof state.status === "string" ? state.status : null,
    health: typeof state.health === "string" ? state.health : null,
  };
}

function containerState(noImage: boolean, seen: Observed | undefined): string {
  if (noImage) return "none";
  if (seen === undefined) return "missing";
  if (!seen.managed) return "unmanaged";
  return stateFields(seen).status ?? "unknown";
}

function healthOf(inputs: ContainerInputs | undefined, seen: Observed | undefined): string {
  if (inputs === undefined) return "none";
  if (inputs.health === null) return "none";
  return stateFields(seen).health ?? "unknown";
}

function text(value: string | number | undefined): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

function number(value: string | number | undefined): number | null {
  return typeof value === "number" ? value : null;
}
