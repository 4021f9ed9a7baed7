/**
 * API URLs over which a credential would cross the network unencrypted: a
 * PowerDNS `url` with http:// to anything but this machine sends the API key
 * in the clear on every request. Not an error (a LAN may be trusted), but
 * `holt validate` and `holt plan` say so. The ACME directory needs https://
 * anyway (validate-edge.ts), and Cloudflare's API is https. Pure.
 */
import { isIP } from "node:net";
import type { ResolvedLab } from "./types.ts";

/** True for "localhost", 127.0.0.0/8 and ::1 (as URL.hostname gives them, IPv6 in brackets). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  if (isIP(host) === 6) return host === "::1" || host === "0:0:0:0:0:0:0:1";
  return false;
}

/** One warning per zone whose API key would travel in clear text. */
export function cleartextWarnings(lab: ResolvedLab): string[] {
  const warnings: string[] = [];
  for (const zone of lab.dns?.zones ?? []) {
    const p = zone.provider;
    if (p.kind !== "powerdns") continue;
    let url: URL;
    try {
      url = new URL(p.url);
    } catch {
      continue; // validate already refused it
    }
    if (url.protocol !== "http:" || isLoopbackHost(url.hostname)) continue;
    warnings.push(
      `${zone.configPath}.url is "${p.url}": plain http to another machine, so the PowerDNS API key travels in clear text on every request. Put TLS in front of the API (a reverse proxy) and use an https:// URL, or reach it over loopback (an SSH tunnel).`,
    );
  }
  return warnings;
}
