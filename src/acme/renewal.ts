/**
 * When a certificate should be renewed. Without ARI: once less than a third
 * of its lifetime remains (day 60 of a 90-day certificate, like certbot and
 * Caddy). With an ARI window from the CA: also at a time inside the window.
 * RFC 9773 suggests a random time; holt derives it from the serial instead,
 * so it is stable across runs for one certificate and still spread across
 * certificates.
 */
import { createHash } from "node:crypto";
import type { CertificateInfo } from "./cert-info.ts";

/** The CA's suggested renewal window (RFC 9773 `suggestedWindow`). */
export interface RenewalWindow {
  readonly start: Date;
  readonly end: Date;
}

export type RenewalReason = "lifetime" | "ari";

export interface RenewalTime {
  readonly at: Date;
  /** Which rule gives the earlier time. */
  readonly reason: RenewalReason;
}

type Dated = Pick<CertificateInfo, "notBefore" | "notAfter" | "serial">;

/** A fraction in [0, 1) that depends only on the serial. */
function serialFraction(serial: string): number {
  return createHash("sha256").update(serial).digest().readUInt32BE(0) / 2 ** 32;
}

/** The time inside an ARI window chosen for this certificate. */
export function chosenAriTime(info: Pick<CertificateInfo, "serial">, window: RenewalWindow): Date {
  const start = window.start.getTime();
  const span = Math.max(0, window.end.getTime() - start);
  return new Date(start + Math.floor(span * serialFraction(info.serial)));
}

/** When renewal becomes due: the earlier of the one-third-left time and the ARI time. */
export function renewalTime(info: Dated, ari: RenewalWindow | null = null): RenewalTime {
  const notBefore = info.notBefore.getTime();
  const notAfter = info.notAfter.getTime();
  const lifetime = new Date(notAfter - (notAfter - notBefore) / 3);
  if (ari === null) return { at: lifetime, reason: "lifetime" };
  const chosen = chosenAriTime(info, ari);
  return chosen < lifetime ? { at: chosen, reason: "ari" } : { at: lifetime, reason: "lifetime" };
}

/** True once `now` reaches `renewalTime(info, ari)`. */
export function renewalDue(info: Dated, now: Date, ari: RenewalWindow | null = null): boolean {
  return now.getTime() >= renewalTime(info, ari).at.getTime();
}
