/**
 * HTTPS routes in a host's Caddy, through its admin API. Ownership lives in
 * Caddy's config: a route is the lab's when its `@id` is
 * `holt:<lab>:<hostname>` (see routes.ts). Caddy autosaves every config
 * change, and started with `--resume` it comes back with them, so holt keeps
 * no copy of its own.
 */
import type {
  FieldChange,
  InputProblem,
  Observed,
  OwnedResource,
  Provider,
  ProviderContext,
  ReadResult,
} from "../../engine/provider.ts";
import type { Resource } from "../../engine/resource.ts";
import { HoltError, isHoltError } from "../../errors.ts";
import {
  type ProxyEndpoint,
  ROUTE_TYPE,
  type RouteInputs,
  routeAddress,
} from "../../model/route.ts";
import {
  type AdminEndpoint,
  adminEndpoint,
  CADDY_DOCS,
  type ChangeOptions,
  changeCaddyConfig,
  createHostQueue,
  DEFAULT_ADMIN,
  describeEndpoint,
  parseEndpoint,
  readCaddyConfig,
} from "./admin.ts";
import { type Json, joinHostPort } from "./caddy-json.ts";
import {
  type Inspection,
  inspect,
  type RouteState,
  type Upstream,
  withAdoptedRoute,
  withoutRoute,
  withRoute,
} from "./routes.ts";

export type { RouteState } from "./routes.ts";

/** `Observed.info` key naming the admin API a route was read from (delete and release need it). */
const CADDY_INFO = "caddy";

export interface CaddyRouteProviderOptions {
  /** Retries and their pacing for writes that meet a concurrent change. */
  readonly change?: ChangeOptions;
}

function showUpstream(upstream: Upstream | null): string {
  return upstream === null
    ? "not a plain reverse proxy"
    : joinHostPort(upstream.address, upstream.port);
}

/** What the route's TLS looks like in Caddy's policies: a certificate of ours needs none. */
function policyOf(tls: RouteInputs["tls"]): string | null {
  return typeof tls === "string" ? tls : null;
}

function showTls(tls: RouteInputs["tls"] | string | null): string {
  if (tls !== null && typeof tls === "object") return `certificate ${tls.certificate} (ACME)`;
  if (tls === "internal") return "internal (Caddy local CA)";
  return tls === null ? "Caddy's default issuers" : `issuers ${tls}`;
}

function sameUpstream(a: Upstream | null, b: Upstream): boolean {
  return a !== null && a.address === b.address && a.port === b.port;
}

function ownedFrom(
  host: string,
  inspection: Inspection,
  endpoint: AdminEndpoint,
): OwnedResource<RouteState>[] {
  return [...inspection.own.values()].map((state) => ({
    address: routeAddress(host, state.hostname),
    type: ROUTE_TYPE,
    host,
    name: state.hostname,
    dependsOn: [],
    observed: { state, managed: true, info: { [CADDY_INFO]: describeEndpoint(endpoint) } },
  }));
}

/**
 * What only the host's Caddy can tell about a desired route. Port clashes are
 * the same for every route on that Caddy, so only `checkPorts` reports them.
 */
function problemsFor(
  host: string,
  resource: Resource<RouteInputs>,
  inspection: Inspection,
  endpoint: AdminEndpoint,
  checkPorts: boolean,
): InputProblem[] {
  const { hostname, proxy } = resource.inputs;
  const problems: InputProblem[] = [];
  const at = `Caddy on host "${host}" (admin API ${describeEndpoint(endpoint)})`;
  const key = hostname.toLowerCase();
  if (
    !inspection.own.has(hostname) &&
    !inspection.foreign.has(key) &&
    inspection.foreignPolicySubjects.has(key)
  ) {
    problems.push({
      address: resource.address,
      path: `${resource.configPath}.hostname`,
      message: `${at} already has a TLS automation policy for "${hostname}" that holt does not manage, and Caddy allows one policy per name. Remove "${hostname}" from that policy's subjects, then plan again. See ${CADDY_DOCS}.`,
    });
  }
  for (const [field, set, wanted] of [
    ["https_port", inspection.httpsPort, proxy.httpsPort],
    ["http_port", inspection.httpPort, proxy.httpPort],
  ] as const) {
    if (!checkPorts || set === undefined || set === wanted) continue;
    problems.push({
      address: resource.address,
      path: `${resource.configPath}.proxy`,
      message: `${at} has apps.http.${field} ${set}, but the lab expects ${wanted}. Make the lab's proxy ports match Caddy's, or change Caddy's ${field}. See ${CADDY_DOCS}.`,
    });
  }
  return problems;
}

export function createCaddyRouteProvider(
  options: CaddyRouteProviderOptions = {},
): Provider<RouteInputs, RouteState> {
  const queue = createHostQueue();

  function change(
    ctx: ProviderContext,
    endpoint: AdminEndpoint,
    what: string,
    edit: (config: Json) => Json,
  ): Promise<Json> {
    return queue(ctx.exec, () =>
      changeCaddyConfig(ctx.exec, ctx.host, endpoint, what, edit, options.change),
    );
  }

  async function put(ctx: ProviderContext, desired: Resource<RouteInputs>): Promise<void> {
    const { inputs } = desired;
    await change(ctx, adminEndpoint(inputs.proxy), `write route "${inputs.hostname}"`, (config) =>
      withRoute(config, ctx.lab, inputs),
    );
  }

  async function remove(ctx: ProviderContext, owned: OwnedResource<RouteState>): Promise<void> {
    // Read recorded which Caddy holds the route; a removed route has no inputs to say so.
    const caddy = owned.observed.info?.[CADDY_INFO];
    const endpoint =
      (typeof caddy === "string" ? parseEndpoint(caddy) : undefined) ?? DEFAULT_ADMIN;
    await change(ctx, endpoint, `remove route "${owned.name}"`, (config) =>
      withoutRoute(config, ctx.lab, owned.name),
    );
  }

  return {
    type: ROUTE_TYPE,
    noun: "route",
    holdsData: false,

    async read(ctx, desired): Promise<ReadResult<RouteState>> {
      const byEndpoint = new Map<
        string,
        { endpoint: AdminEndpoint; routes: Resource<RouteInputs>[] }
      >();
      for (const resource of desired) {
        const endpoint = adminEndpoint(resource.inputs.proxy);
        const group = byEndpoint.get(describeEndpoint(endpoint)) ?? { endpoint, routes: [] };
        group.routes.push(resource);
        byEndpoint.set(describeEndpoint(endpoint), group);
      }
      const observed = new Map<string, Observed<RouteState>>();
      const owned = new Map<string, OwnedResource<RouteState>>();
      const problems: InputProblem[] = [];
      if (byEndpoint.size === 0) {
        // Nothing desired here: look where the host's Caddy is (its proxy
        // settings, else the default), to find routes the lab still owns.
        // No Caddy there simply means none.
        const settings = ctx.settings as ProxyEndpoint | undefined;
        const endpoint = settings === undefined ? DEFAULT_ADMIN : adminEndpoint(settings);
        try {
          const snapshot = await readCaddyConfig(ctx.exec, ctx.host, endpoint);
          for (const o of ownedFrom(ctx.host, inspect(snapshot.config, ctx.lab), endpoint)) {
            owned.set(o.address, o);
          }
        } catch (error) {
          if (!isHoltError(error) || error.code !== "HOLT_E_CADDY") throw error;
        }
        return { observed, owned: [...owned.values()], problems };
      }
      for (const { endpoint, routes } of byEndpoint.values()) {
        const snapshot = await readCaddyConfig(ctx.exec, ctx.host, endpoint);
        const inspection = inspect(snapshot.config, ctx.lab);
        for (const [index, resource] of routes.entries()) {
          const { hostname } = resource.inputs;
          const mine = inspection.own.get(hostname);
          const theirs = inspection.foreign.get(hostname.toLowerCase());
          if (mine !== undefined) observed.set(resource.address, { state: mine, managed: true });
          else if (theirs !== undefined) {
            observed.set(resource.address, {
              state: { ...theirs.state, hostname },
              managed: false,
            });
          }
          problems.push(...problemsFor(ctx.host, resource, inspection, endpoint, index === 0));
        }
        for (const o of ownedFrom(ctx.host, inspection, endpoint)) owned.set(o.address, o);
      }
      return { observed, owned: [...owned.values()], problems };
    },

    diff(desired, observed) {
      const fields: FieldChange[] = [];
      const { upstream, tls } = desired.inputs;
      if (!sameUpstream(observed.state.upstream, upstream)) {
        fields.push({
          path: "upstream",
          before: showUpstream(observed.state.upstream),
          after: showUpstream(upstream),
        });
      }
      if (observed.state.tls !== policyOf(tls)) {
        fields.push({ path: "tls", before: showTls(observed.state.tls), after: showTls(tls) });
      }
      return fields;
    },

    describe(desired) {
      return [
        { path: "upstream", before: null, after: showUpstream(desired.inputs.upstream) },
        { path: "tls", before: null, after: showTls(desired.inputs.tls) },
      ];
    },

    create: put,
    update: (ctx, desired) => put(ctx, desired),
    delete: (ctx, owned) => remove(ctx, owned),
    // A route holds no data: to stop managing it is to remove it.
    release: remove,

    async adopt(ctx, desired) {
      const { hostname } = desired.inputs;
      await change(
        ctx,
        adminEndpoint(desired.inputs.proxy),
        `adopt route "${hostname}"`,
        (config) => {
          const result = withAdoptedRoute(config, ctx.lab, desired.inputs);
          if ("config" in result) return result.config;
          throw new HoltError(
            "HOLT_E_ADOPT",
            `Cannot adopt route "${hostname}" on host "${ctx.host}": in Caddy's config, ${result.conflict}. Give "${hostname}" its own route (and TLS policy) in Caddy, or remove it there, then run holt again. See ${CADDY_DOCS}.`,
          );
        },
      );
    },
  };
}
