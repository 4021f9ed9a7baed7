/**
 * The certificate resource: an ACME certificate for one hostname (or a
 * zone's wildcard plus apex), loaded into the Caddy of a host that serves
 * it, from files on that host. The certificate itself is kept once per lab in holt's state folder and
 * shared by every host that needs it; each host's resource makes sure its
 * Caddy has the current one.
 */
import type { ResolvedAcme, ResolvedDnsZone, ResolvedLab } from "../config/types.ts";
import { zoneFor } from "../util/zone.ts";
import type { ZoneRef } from "./dns-record.ts";
import type { ProxyEndpoint } from "./route.ts";

export const CERTIFICATE_TYPE = "tls.certificate";

export interface CertificateInputs {
  /** "media.lab.example.com", or "*.lab.example.com" for a zone's wildcard. */
  readonly certName: string;
  /** The names in the certificate, sorted. */
  readonly names: readonly string[];
  readonly acme: ResolvedAcme;
  /** The public zones that hold the names' `_acme-challenge` records. */
  readonly zones: readonly ZoneRef[];
  readonly proxy: ProxyEndpoint;
  /**
   * Where the certificate's files are written on the host, for containers
   * that mount them (`certificate.path`); null when no service asks.
   */
  readonly files: CertificateFiles | null;
}

export interface CertificateFiles {
  /** Host folder holding `fullchain.pem` and `privkey.pem`. */
  readonly dir: string;
  /** "uid:gid" that owns the key; null: root. */
  readonly owner: string | null;
}

/** Where a lab's certificate files live on a host. */
export function certificateFilesDir(lab: string, certName: string): string {
  const safe = (text: string) => text.replace(/[^A-Za-z0-9._-]/g, "_");
  return `/var/lib/holt/certs/${safe(lab)}/${safe(certName.replace(/^\*\./, "wildcard."))}`;
}

/** What the certificate provider reads: holt's stored certificate and the one in Caddy. */
export interface CertificateState {
  /** The stored certificate's names, sorted; empty when none is stored. */
  readonly names: readonly string[];
  readonly stored: {
    readonly sha256: string;
    readonly notAfter: string;
    readonly issuer: string;
    readonly directoryUrl: string;
    readonly renewAt: string;
  } | null;
  /** Renewal is due now. */
  readonly due: boolean;
  /**
   * SHA-256 of the certificate holt loaded into this Caddy, read from the file
   * its config names; null: none; "missing" when a file it names is gone,
   * "unreadable" when it is not a certificate or not a file of holt's.
   */
  readonly loaded: string | null;
  /** Loaded by an older holt with the key in Caddy's config (`load_pem`): the next apply moves it to a file. */
  readonly keyInConfig?: boolean;
  /** Files of this certificate on the host that Caddy's config no longer names (a cut-off step's). */
  readonly leftoverFiles?: number;
  /** The files on the host: "current", "stale", "missing"; null when none are wanted or read. */
  readonly files?: "current" | "stale" | "missing" | null;
}

export function certificateAddress(host: string, certName: string): string {
  return `${CERTIFICATE_TYPE}:${host}/${certName}`;
}

/**
 * Which certificate serves `hostname`: the zone's wildcard when the zone asks
 * for one and the hostname is one label below the apex, else its own.
 */
export function certificateFor(
  lab: ResolvedLab,
  hostname: string,
): { certName: string; names: string[]; zone: ResolvedDnsZone | undefined } {
  const zone = zoneFor(
    hostname,
    (lab.dns?.zones ?? []).filter((z) => z.view === "public"),
  );
  if (zone?.wildcard === true && hostname.endsWith(`.${zone.zone}`)) {
    const label = hostname.slice(0, -(zone.zone.length + 1));
    if (!label.includes(".")) {
      return { certName: `*.${zone.zone}`, names: [zone.zone, `*.${zone.zone}`].sort(), zone };
    }
  }
  return { certName: hostname, names: [hostname], zone };
}
