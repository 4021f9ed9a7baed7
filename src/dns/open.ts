/**
 * Opens the backend for a zone's provider. `HOLT_CLOUDFLARE_API` replaces
 * Cloudflare's API base URL (for the contract tests' local server).
 */
import { createCloudflareBackend } from "./cloudflare.ts";
import { createTunnelClient, type TunnelClient } from "./cloudflare-tunnel.ts";
import type { ZoneConnection } from "./connection.ts";
import { createPowerDnsBackend } from "./powerdns.ts";
import { createRfc2136Backend } from "./rfc2136.ts";
import type { ZoneBackend } from "./types.ts";

export function openZone(conn: ZoneConnection): ZoneBackend {
  switch (conn.kind) {
    case "rfc2136":
      return createRfc2136Backend(conn);
    case "powerdns":
      return createPowerDnsBackend(conn);
    case "cloudflare": {
      const base = process.env.HOLT_CLOUDFLARE_API;
      return createCloudflareBackend(
        base === undefined || base === "" ? conn : { ...conn, apiBase: base },
      );
    }
  }
}

/** The Cloudflare Tunnel client for an account (same `HOLT_CLOUDFLARE_API` override). */
export function openTunnel(accountId: string, apiToken: string): TunnelClient {
  const base = process.env.HOLT_CLOUDFLARE_API;
  return createTunnelClient({
    accountId,
    apiToken,
    ...(base === undefined || base === "" ? {} : { apiBase: base }),
  });
}
