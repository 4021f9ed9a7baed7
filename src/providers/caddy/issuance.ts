/**
 * Issuing and keeping certificates: what holt stores for each one in the
 * state folder (mode 0600), when one must be issued again, and the DNS-01
 * issuance itself through acme/ and the lab's zones, following
 * `_acme-challenge` CNAME delegation. It runs on the machine holt runs on;
 * the certificate provider copies the result to each host.
 */
import type { ChallengeTarget } from "../../acme/types.ts";
import type { ZoneBackend } from "../../dns/types.ts";
import type { ProviderContext, ProviderStore } from "../../engine/provider.ts";
import { HoltError } from "../../errors.ts";
import type { CertificateInputs } from "../../model/certificate.ts";
import { type ZoneRef, zoneConnection } from "../../model/dns-record.ts";
import { zoneFor } from "../../util/zone.ts";
import type { ChallengeLedger } from "./challenge-ledger.ts";

/** What holt keeps for a certificate in the state folder. */
export interface StoredCertificate {
  readonly version: 1;
  readonly certName: string;
  readonly names: readonly string[];
  readonly directoryUrl: string;
  readonly chainPem: string;
  readonly keyPem: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly issuer: string;
  readonly serial: string;
  readonly sha256: string;
  /** When it becomes due, and why ("lifetime", "ari", "renewBefore", "requested"). */
  readonly renewAt: string;
  readonly renewReason: string;
  readonly issuedAt: string;
}

/** The stored file of a certificate: "*.lab.test" is kept as "wildcard.lab.test". */
export function certificatePath(certName: string): string {
  return `certs/${certName.replace(/^\*\./, "wildcard.")}.json`;
}

function accountKeyPath(directoryUrl: string): string {
  return `acme/${directoryUrl.replace(/^https:\/\//, "").replace(/[^A-Za-z0-9.-]/g, "_")}.key`;
}

export async function readStoredCertificate(
  store: ProviderStore | undefined,
  certName: string,
): Promise<StoredCertificate | null> {
  const text = await store?.read(certificatePath(certName));
  if (text === null || text === undefined) return null;
  try {
    const parsed = JSON.parse(text) as StoredCertificate;
    return parsed.version === 1 && typeof parsed.chainPem === "string" ? parsed : null;
  } catch {
    return null; // damaged: issue a new one
  }
}

/** Asks for a renewal at the next apply (`holt certs renew`). */
export async function requestRenewal(store: ProviderStore, certName: string): Promise<boolean> {
  const stored = await readStoredCertificate(store, certName);
  if (stored === null) return false;
  const next: StoredCertificate = {
    ...stored,
    renewAt: new Date(0).toISOString(),
    renewReason: "requested",
  };
  await store.write(certificatePath(certName), `${JSON.stringify(next, null, 2)}\n`);
  return true;
}

export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().every((n, i) => n === [...b].sort()[i]);
}

export function isDue(stored: StoredCertificate, now: number): boolean {
  return Date.parse(stored.renewAt) <= now;
}

/** Why a step must issue a new certificate, or null when the stored one serves. */
export function issueReason(
  stored: StoredCertificate | null,
  inputs: CertificateInputs,
  now: number,
): string | null {
  if (stored === null) return "none stored";
  if (!sameNames(stored.names, inputs.names)) return "names changed";
  if (stored.directoryUrl !== inputs.acme.directoryUrl) return "CA changed";
  if (Date.parse(stored.notAfter) <= now) return "expired";
  if (isDue(stored, now)) return `renewal due (${stored.renewReason})`;
  return null;
}

/**
 * The ACME and DNS layers, loaded on first use: commands that never issue or
 * read a certificate (validate, status, a lab without `acme`) skip them.
 */
async function libraries() {
  const [certInfo, ari, keys, renewal, trust, open, propagation] = await Promise.all([
    import("../../acme/cert-info.ts"),
    import("../../acme/ari.ts"),
    import("../../acme/keys.ts"),
    import("../../acme/renewal.ts"),
    import("../../acme/trust.ts"),
    import("../../dns/open.ts"),
    import("../../dns/propagation.ts"),
  ]);
  return {
    readCertificateInfo: certInfo.readCertificateInfo,
    fetchRenewalWindow: ari.fetchRenewalWindow,
    createAccountKey: keys.createAccountKey,
    renewalTime: renewal.renewalTime,
    readTrustFile: trust.readTrustFile,
    openZone: open.openZone,
    waitUntilServed: propagation.waitUntilServed,
  };
}

type Libraries = Awaited<ReturnType<typeof libraries>>;

/**
 * Where each name's challenge TXT goes: `_acme-challenge.<name>` in its zone,
 * or, when that name is a CNAME (delegation), its target in the zone that
 * holds the target.
 */
async function challengeTargets(
  ctx: ProviderContext,
  inputs: CertificateInputs,
  ledger: ChallengeLedger,
  { openZone }: Libraries,
): Promise<Record<string, ChallengeTarget>> {
  const backends = new Map<string, ZoneBackend>();
  const backendOf = (ref: ZoneRef): ZoneBackend => {
    let backend = backends.get(ref.zone);
    if (backend === undefined) {
      backend = openZone(zoneConnection(ref, ctx.secretValue));
      backends.set(ref.zone, backend);
    }
    return backend;
  };
  // First, what a killed run may have left behind in these zones.
  await ledger.cleanLeftovers((zone, view) => {
    const ref = inputs.zones.find((z) => z.zone === zone && z.view === view);
    return ref === undefined ? undefined : backendOf(ref);
  });
  const targets: Record<string, ChallengeTarget> = {};
  for (const name of inputs.names) {
    const base = name.replace(/^\*\./, "");
    const challenge = `_acme-challenge.${base}`;
    const zone = zoneFor(challenge, inputs.zones);
    if (zone === undefined) {
      throw new HoltError(
        "HOLT_E_ACME",
        `No zone of dns.zones holds ${challenge}, so holt cannot answer the CA's DNS-01 challenge for "${name}". Add the zone of "${base}" under dns.zones.`,
      );
    }
    const backend = backendOf(zone);
    const [cname] = await backend.read([{ name: challenge, type: "CNAME" }]);
    const delegated = cname?.values[0];
    if (delegated === undefined) {
      targets[name] = { txtName: challenge, backend: ledger.recorded(backend, zone.view) };
      continue;
    }
    const target = zoneFor(delegated, inputs.zones);
    if (target === undefined) {
      throw new HoltError(
        "HOLT_E_ACME",
        `${challenge} is a CNAME to ${delegated} (a delegated challenge), but no zone of dns.zones holds ${delegated}. Add that zone under dns.zones so holt can write the challenge there.`,
      );
    }
    targets[name] = {
      txtName: delegated,
      backend: ledger.recorded(backendOf(target), target.view),
    };
  }
  return targets;
}

export async function issue(
  ctx: ProviderContext,
  inputs: CertificateInputs,
  store: ProviderStore,
  ledger: ChallengeLedger,
): Promise<StoredCertificate> {
  const lib = await libraries();
  const { createAccountKey, readTrustFile, waitUntilServed, fetchRenewalWindow, renewalTime } = lib;
  const { acme } = inputs;
  const keyPath = accountKeyPath(acme.directoryUrl);
  let accountKeyPem = await store.read(keyPath);
  if (accountKeyPem === null) {
    accountKeyPem = createAccountKey();
    await store.write(keyPath, accountKeyPem);
  }
  const extraCaPem = acme.trustFile === null ? null : await readTrustFile(acme.trustFile);
  const challenges = await challengeTargets(ctx, inputs, ledger, lib);
  // acme-client and its dependencies load only when a certificate is issued.
  const { issueCertificate } = await import("../../acme/issue.ts");
  const issued = await issueCertificate({
    directory: acme.directoryUrl,
    extraCaPem,
    accountKeyPem,
    email: acme.email,
    names: inputs.names,
    challenges,
    waitUntilServed: async (servers, name, value) => {
      await waitUntilServed(servers, name, "TXT", value, {
        timeoutMs: acme.propagationTimeoutMs,
      });
    },
  });
  const ari = await fetchRenewalWindow({
    directory: acme.directoryUrl,
    extraCaPem,
    certificatePem: issued.certificatePem,
  }).catch(() => null);
  const info = issued.info;
  let renew = renewalTime(info, ari);
  let renewReason: string = renew.reason;
  if (acme.renewBeforeMs !== null) {
    renew = { at: new Date(info.notAfter.getTime() - acme.renewBeforeMs), reason: "lifetime" };
    renewReason = "renewBefore";
  }
  const stored: StoredCertificate = {
    version: 1,
    certName: inputs.certName,
    names: [...inputs.names].sort(),
    directoryUrl: acme.directoryUrl,
    chainPem: issued.chainPem,
    keyPem: issued.keyPem,
    notBefore: info.notBefore.toISOString(),
    notAfter: info.notAfter.toISOString(),
    issuer: info.issuer,
    serial: info.serial,
    sha256: info.sha256,
    renewAt: renew.at.toISOString(),
    renewReason,
    issuedAt: new Date().toISOString(),
  };
  await store.write(certificatePath(inputs.certName), `${JSON.stringify(stored, null, 2)}\n`);
  return stored;
}
