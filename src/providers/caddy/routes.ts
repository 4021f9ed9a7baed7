/**
 * Reading and editing holt's routes in a Caddy JSON config, as pure functions
 * from one config to the next. The admin client (admin.ts) does the I/O.
 *
 * Ownership is the `@id`: a route is this lab's when its id is exactly
 * `holt:<lab>:<hostname>`, its TLS automation policy when its id is
 * `holt:<lab>:<hostname>:tls`. Hostnames hold no `:`, so another lab whose
 * name merely starts with this lab's name and a colon never matches.
 * Everything else in the config is left exactly as it was.
 */
import { ROUTE_ID_PREFIX, type RouteInputs, routeId } from "../../model/route.ts";
import { stableJson } from "../../util/stable-json.ts";
import {
  arrayAt,
  childArray,
  childObject,
  ID_KEY,
  idOf,
  isObject,
  type Json,
  type JsonObject,
  joinHostPort,
  listensOnPort,
  objectAt,
  splitHostPort,
} from "./caddy-json.ts";

export interface Upstream {
  readonly address: string;
  readonly port: number;
}

/** What holt compares for a route. Stable: it binds saved plans. */
export interface RouteState {
  readonly hostname: string;
  /** The single reverse-proxy upstream; null when the route does anything else. */
  readonly upstream: Upstream | null;
  /**
   * Issuer modules of the TLS automation policy Caddy applies to the hostname,
   * joined with "+" ("internal", "acme+zerossl"); null when no policy covers it
   * (Caddy's defaults: public ACME).
   */
  readonly tls: string | null;
}

/** The server holt creates when none listens on the HTTPS port. */
export const HOLT_SERVER = "holt";
const TLS_ID_SUFFIX = ":tls";

export function tlsPolicyId(lab: string, hostname: string): string {
  return `${routeId(lab, hostname)}${TLS_ID_SUFFIX}`;
}

function restOfOwnId(lab: string, id: string | undefined): string | undefined {
  const prefix = `${ROUTE_ID_PREFIX}${lab}:`;
  return id?.startsWith(prefix) === true ? id.slice(prefix.length) : undefined;
}

/** The hostname of this lab's route with this `@id`; undefined for any other id. */
export function ownRouteHostname(lab: string, id: string | undefined): string | undefined {
  const rest = restOfOwnId(lab, id);
  return rest !== undefined && rest !== "" && !rest.includes(":") ? rest : undefined;
}

/** The hostname of this lab's TLS policy with this `@id`; undefined for any other id. */
export function ownPolicyHostname(lab: string, id: string | undefined): string | undefined {
  const rest = restOfOwnId(lab, id);
  if (rest === undefined || !rest.endsWith(TLS_ID_SUFFIX)) return undefined;
  const hostname = rest.slice(0, -TLS_ID_SUFFIX.length);
  return hostname !== "" && !hostname.includes(":") ? hostname : undefined;
}

/** The route holt writes for a hostname. */
export function desiredRoute(lab: string, hostname: string, upstream: Upstream): JsonObject {
  return {
    [ID_KEY]: routeId(lab, hostname),
    match: [{ host: [hostname] }],
    handle: [
      {
        handler: "reverse_proxy",
        upstreams: [{ dial: joinHostPort(upstream.address, upstream.port) }],
      },
    ],
    terminal: true,
  };
}

/** The TLS automation policy holt writes: Caddy's local CA, for this hostname only. */
export function desiredPolicy(lab: string, hostname: string): JsonObject {
  return {
    [ID_KEY]: tlsPolicyId(lab, hostname),
    subjects: [hostname],
    issuers: [{ module: "internal" }],
  };
}

// ---------------------------------------------------------------- reading

function serversOf(config: Json): JsonObject {
  return objectAt(objectAt(objectAt(objectAt(config)?.apps)?.http)?.servers) ?? {};
}

function policiesOf(config: Json): Json[] {
  return arrayAt(objectAt(objectAt(objectAt(objectAt(config)?.apps)?.tls)?.automation)?.policies);
}

function stringsAt(value: Json | undefined): string[] {
  return arrayAt(value).filter((v): v is string => typeof v === "string");
}

/** Every hostname in a route's host matchers, lower-cased. */
function routeHosts(route: Json): string[] {
  return arrayAt(objectAt(route)?.match).flatMap((set) =>
    stringsAt(objectAt(set)?.host).map((h) => h.toLowerCase()),
  );
}

function subjectMatches(subject: string, hostname: string): boolean {
  const s = subject.toLowerCase();
  if (s === hostname) return true;
  if (!s.startsWith("*.")) return false;
  const dot = hostname.indexOf(".");
  return dot > 0 && hostname.slice(dot + 1) === s.slice(2);
}

/** Issuers Caddy uses for a hostname: the first policy that covers it, in order. */
function tlsFor(policies: readonly Json[], hostname: string): string | null {
  for (const policy of policies) {
    const subjects = stringsAt(objectAt(policy)?.subjects);
    if (subjects.length > 0 && !subjects.some((s) => subjectMatches(s, hostname))) continue;
    const modules = arrayAt(objectAt(policy)?.issuers)
      .map((issuer) => objectAt(issuer)?.module)
      .filter((m): m is string => typeof m === "string");
    return modules.length > 0 ? modules.join("+") : null;
  }
  return null;
}

function upstreamOfHandler(handler: Json | undefined): Upstream | null {
  const h = objectAt(handler);
  if (h?.handler !== "reverse_proxy") return null;
  const dial = objectAt(arrayAt(h.upstreams)[0])?.dial;
  return typeof dial === "string" ? (splitHostPort(dial) ?? null) : null;
}

/** The first reverse-proxy upstream in a hand-made route, looking into subroutes. */
function looseUpstream(handlers: readonly Json[], depth = 0): Upstream | null {
  for (const handler of handlers) {
    const direct = upstreamOfHandler(handler);
    if (direct !== null) return direct;
    const h = objectAt(handler);
    if (h?.handler === "subroute" && depth < 3) {
      for (const route of arrayAt(h.routes)) {
        const found = looseUpstream(arrayAt(objectAt(route)?.handle), depth + 1);
        if (found !== null) return found;
      }
    }
  }
  return null;
}

/** holt's own route counts as in sync only when it is exactly what holt writes. */
function strictUpstream(lab: string, hostname: string, route: Json): Upstream | null {
  const upstream = upstreamOfHandler(arrayAt(objectAt(route)?.handle)[0]);
  if (upstream === null) return null;
  const same = stableJson(route) === stableJson(desiredRoute(lab, hostname, upstream));
  return same ? upstream : null;
}

export interface ForeignRoute {
  readonly state: RouteState;
  /** The `@id` when another holt lab owns it. */
  readonly otherLab?: string;
}

export interface Inspection {
  /** This lab's routes, by hostname. */
  readonly own: ReadonlyMap<string, RouteState>;
  /** Routes this lab does not own whose host matcher names a hostname, by hostname (first one). */
  readonly foreign: ReadonlyMap<string, ForeignRoute>;
  /** Hostnames named in a TLS automation policy this lab does not own. */
  readonly foreignPolicySubjects: ReadonlySet<string>;
  /** `apps.http.http_port` / `https_port` when set. */
  readonly httpPort: number | undefined;
  readonly httpsPort: number | undefined;
}

export function inspect(config: Json, lab: string): Inspection {
  const policies = policiesOf(config);
  const own = new Map<string, RouteState>();
  const foreign = new Map<string, ForeignRoute>();
  const servers = serversOf(config);
  for (const name of Object.keys(servers).sort()) {
    for (const route of arrayAt(objectAt(servers[name])?.routes)) {
      const id = idOf(route);
      const hostname = ownRouteHostname(lab, id);
      if (hostname !== undefined) {
        if (!own.has(hostname)) {
          const upstream = strictUpstream(lab, hostname, route);
          own.set(hostname, { hostname, upstream, tls: tlsFor(policies, hostname) });
        }
        continue;
      }
      for (const host of routeHosts(route)) {
        if (foreign.has(host)) continue;
        const upstream = looseUpstream(arrayAt(objectAt(route)?.handle));
        const state = { hostname: host, upstream, tls: tlsFor(policies, host) };
        const otherLab = id?.startsWith(ROUTE_ID_PREFIX) === true ? id : undefined;
        foreign.set(host, otherLab === undefined ? { state } : { state, otherLab });
      }
    }
  }
  const foreignPolicySubjects = new Set<string>();
  for (const policy of policies) {
    if (ownPolicyHostname(lab, idOf(policy)) !== undefined) continue;
    for (const subject of stringsAt(objectAt(policy)?.subjects)) {
      foreignPolicySubjects.add(subject.toLowerCase());
    }
  }
  const http = objectAt(objectAt(objectAt(config)?.apps)?.http);
  const port = (value: Json | undefined) => (typeof value === "number" ? value : undefined);
  return {
    own,
    foreign,
    foreignPolicySubjects,
    httpPort: port(http?.http_port),
    httpsPort: port(http?.https_port),
  };
}

// ---------------------------------------------------------------- editing

function cloneRoot(config: Json): JsonObject {
  return isObject(config) ? structuredClone(config) : {};
}

/** Servers holt created itself and may remove once they hold no route. */
function isHoltServer(name: string, server: Json | undefined): boolean {
  if (name !== HOLT_SERVER && !/^holt-\d+(-\d+)?$/.test(name)) return false;
  const s = objectAt(server);
  return s !== undefined && Object.keys(s).every((key) => key === "listen" || key === "routes");
}

function dropEmptyHoltServers(servers: JsonObject, keep?: string): void {
  for (const name of Object.keys(servers)) {
    if (name === keep || !isHoltServer(name, servers[name])) continue;
    if (arrayAt(objectAt(servers[name])?.routes).length === 0) delete servers[name];
  }
}

/** Removes every route with this `@id`; returns where the first one was. */
function removeRoutesWithId(
  servers: JsonObject,
  id: string,
): { server: string; index: number } | undefined {
  let first: { server: string; index: number } | undefined;
  for (const name of Object.keys(servers).sort()) {
    const server = objectAt(servers[name]);
    const routes = server?.routes;
    if (server === undefined || !Array.isArray(routes)) continue;
    for (let i = routes.length - 1; i >= 0; i--) {
      if (idOf(routes[i]) !== id) continue;
      routes.splice(i, 1);
      // Backwards within a server, so the last hit there is its lowest index.
      if (first === undefined || first.server === name) first = { server: name, index: i };
    }
  }
  return first;
}

function serverListensOn(server: Json | undefined, port: number): boolean {
  return stringsAt(objectAt(server)?.listen).some((l) => listensOnPort(l, port));
}

/**
 * The server a new route goes into: one that listens on the HTTPS port,
 * preferring one that already holds this lab's routes, then holt's own;
 * if none listens there, a new `holt` server.
 */
function targetServer(servers: JsonObject, lab: string, httpsPort: number): JsonObject {
  const candidates = Object.keys(servers)
    .sort()
    .filter((name) => serverListensOn(servers[name], httpsPort));
  const holdsOwn = candidates.find((name) =>
    arrayAt(objectAt(servers[name])?.routes).some(
      (r) => ownRouteHostname(lab, idOf(r)) !== undefined,
    ),
  );
  const chosen = holdsOwn ?? candidates.find((n) => n === HOLT_SERVER) ?? candidates[0];
  if (chosen !== undefined) return objectAt(servers[chosen]) ?? {};
  let name = HOLT_SERVER;
  for (let n = 1; name in servers; n++) {
    name = n === 1 ? `${HOLT_SERVER}-${httpsPort}` : `${HOLT_SERVER}-${httpsPort}-${n}`;
  }
  const created: JsonObject = { listen: [`:${httpsPort}`], routes: [] };
  servers[name] = created;
  return created;
}

function removePoliciesWithId(policies: Json[], id: string): number | undefined {
  let first: number | undefined;
  for (let i = policies.length - 1; i >= 0; i--) {
    if (idOf(policies[i]) !== id) continue;
    policies.splice(i, 1);
    first = i;
  }
  return first;
}

/**
 * The config with this lab's route for `inputs.hostname` in place (created or
 * replaced), its TLS policy, and the global settings it needs: `http_port` and
 * `https_port` when unset, and the local CA's `install_trust: false` when unset.
 */
export function withRoute(config: Json, lab: string, inputs: RouteInputs): JsonObject {
  const root = cloneRoot(config);
  const apps = childObject(root, "apps");
  const http = childObject(apps, "http");
  if (http.http_port === undefined) http.http_port = inputs.proxy.httpPort;
  if (http.https_port === undefined) http.https_port = inputs.proxy.httpsPort;
  const servers = childObject(http, "servers");

  const { hostname, upstream } = inputs;
  const route = desiredRoute(lab, hostname, upstream);
  const was = removeRoutesWithId(servers, routeId(lab, hostname));
  const stay =
    was !== undefined && serverListensOn(servers[was.server], inputs.proxy.httpsPort)
      ? was
      : undefined;
  if (stay !== undefined) {
    childArray(objectAt(servers[stay.server]) ?? {}, "routes").splice(stay.index, 0, route);
  } else {
    // First: a route for one hostname must win over any catch-all the user has.
    childArray(targetServer(servers, lab, inputs.proxy.httpsPort), "routes").unshift(route);
  }
  dropEmptyHoltServers(servers);

  const policies = childArray(childObject(childObject(apps, "tls"), "automation"), "policies");
  const at = removePoliciesWithId(policies, tlsPolicyId(lab, hostname));
  // First too: Caddy applies the first policy that covers a name. A route with
  // an ACME certificate from holt needs none: Caddy serves the loaded one.
  if (inputs.tls === "internal") policies.splice(at ?? 0, 0, desiredPolicy(lab, hostname));

  const ca = childObject(childObject(childObject(apps, "pki"), "certificate_authorities"), "local");
  if (ca.install_trust === undefined) ca.install_trust = false;
  return root;
}

/** The config without this lab's route and TLS policy for `hostname`. */
export function withoutRoute(config: Json, lab: string, hostname: string): Json {
  if (!isObject(config)) return config;
  const root = cloneRoot(config);
  const servers = serversOf(root);
  removeRoutesWithId(servers, routeId(lab, hostname));
  dropEmptyHoltServers(servers);
  removePoliciesWithId(policiesOf(root), tlsPolicyId(lab, hostname));
  return root;
}

export type AdoptResult = { readonly config: JsonObject } | { readonly conflict: string };

/**
 * Replaces hand-made config for `inputs.hostname` with holt's: top-level
 * routes whose host matchers name only this hostname, and TLS policies whose
 * subjects are only this hostname. Anything shared with other hostnames, or
 * owned by another holt lab, is a conflict left for the user to resolve.
 */
export function withAdoptedRoute(config: Json, lab: string, inputs: RouteInputs): AdoptResult {
  const root = cloneRoot(config);
  const hostname = inputs.hostname.toLowerCase();
  const servers = serversOf(root);
  for (const name of Object.keys(servers).sort()) {
    const routes = objectAt(servers[name])?.routes;
    if (!Array.isArray(routes)) continue;
    for (let i = routes.length - 1; i >= 0; i--) {
      const route = routes[i];
      const id = idOf(route);
      if (ownRouteHostname(lab, id) !== undefined) continue;
      const hosts = routeHosts(route ?? null);
      if (!hosts.includes(hostname)) continue;
      if (id?.startsWith(ROUTE_ID_PREFIX) === true) {
        return { conflict: `route "${id}" in server "${name}" belongs to another holt lab` };
      }
      const others = [...new Set(hosts.filter((h) => h !== hostname))];
      if (others.length > 0) {
        return {
          conflict: `route ${i} of server "${name}" also serves ${others.join(", ")}`,
        };
      }
      routes.splice(i, 1);
    }
  }
  const policies = policiesOf(root);
  for (let i = policies.length - 1; i >= 0; i--) {
    const policy = policies[i];
    if (ownPolicyHostname(lab, idOf(policy)) !== undefined) continue;
    const subjects = stringsAt(objectAt(policy)?.subjects).map((s) => s.toLowerCase());
    if (!subjects.includes(hostname)) continue;
    if (subjects.some((s) => s !== hostname)) {
      return {
        conflict: `TLS automation policy ${i} also covers ${subjects.filter((s) => s !== hostname).join(", ")}`,
      };
    }
    policies.splice(i, 1);
  }
  return { config: withRoute(root, lab, inputs) };
}

/** Whether two configs are the same JSON (key order aside). */
export function sameConfig(a: Json, b: Json): boolean {
  return stableJson(a) === stableJson(b);
}
