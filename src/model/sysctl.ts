/**
 * Kernel settings holt keeps on a host because something it runs there needs
 * them. Today one: Caddy (2.6+ on Linux) opens a fresh SO_REUSEPORT listener on
 * every config change and closes the old one, and connections still waiting in
 * the old listener's queue are reset, unless the kernel migrates them
 * (`net.ipv4.tcp_migrate_req`, Linux 5.14+). Every route or certificate change
 * reloads Caddy, so a host whose Caddy holt changes gets that setting first.
 */
import type { Resource } from "../engine/resource.ts";
import { CERTIFICATE_TYPE } from "./certificate.ts";
import { ROUTE_TYPE } from "./route.ts";

export const SYSCTL_TYPE = "host.sysctl";

export interface SysctlInputs {
  /** Dotted name, e.g. "net.ipv4.tcp_migrate_req". */
  readonly key: string;
  readonly value: string;
  /** Why holt sets it, written beside it in the host's sysctl.d file. */
  readonly reason: string;
}

export function sysctlAddress(host: string, key: string): string {
  return `${SYSCTL_TYPE}:${host}/${key}`;
}

const RELOAD_SAFE: SysctlInputs = {
  key: "net.ipv4.tcp_migrate_req",
  value: "1",
  reason: "Caddy reloads hand queued connections to the new listener instead of resetting them",
};

/**
 * Adds the setting to every host whose Caddy holt changes, and orders those
 * changes after it. Returns the resources with the additions.
 */
export function withProxySysctls(resources: readonly Resource[]): Resource[] {
  const proxyHosts = new Set(
    resources
      .filter((r) => r.type === ROUTE_TYPE || r.type === CERTIFICATE_TYPE)
      .map((r) => r.host),
  );
  if (proxyHosts.size === 0) return [...resources];
  const out = resources.map((r) =>
    (r.type === ROUTE_TYPE || r.type === CERTIFICATE_TYPE) && proxyHosts.has(r.host)
      ? { ...r, dependsOn: [...r.dependsOn, sysctlAddress(r.host, RELOAD_SAFE.key)] }
      : r,
  );
  for (const host of [...proxyHosts].sort()) {
    out.push({
      address: sysctlAddress(host, RELOAD_SAFE.key),
      type: SYSCTL_TYPE,
      host,
      name: RELOAD_SAFE.key,
      inputs: RELOAD_SAFE,
      dependsOn: [],
      configPath: `hosts.${host}.proxy`,
    });
  }
  return out;
}
