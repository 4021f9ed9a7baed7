/**
 * ACME certificates (`tls.certificate`), issued by DNS-01 through the lab's
 * zones and loaded into a host's Caddy (`apps.tls.certificates.load_pem`,
 * tagged `holt:<lab>:cert:<name>`), where they replace the local CA for the
 * routes that use them.
 *
 * The certificate, its key and the account key are kept once per lab in
 * holt's state folder (mode 0600), so hosts that serve the same name share
 * one certificate and an apply issues only what is missing, changed or due:
 * when a third of its lifetime is left (or `acme.renewBefore`, or the CA's
 * renewal window, or `holt certs renew`). Whether a certificate is due is
 * decided again when the step runs, so the second host of a shared
 * certificate loads the one the first host's step just issued.
 *
 * Caddy swaps a loaded certificate in a config reload: connections keep
 * their handshake, new ones get the new certificate.
 */
import type { ChallengeTarget } from "../../acme/types.ts";
import type { ZoneBackend } from "../../dns/types.ts";
import type {
  FieldChange,
  Observed,
  OwnedResource,
  Provider,
  ProviderContext,
  ProviderStore,
  ReadResult,
} from "../../engine/provider.ts";
import type { Resource } from "../../engine/resource.ts";
import { HoltError, isHoltError } from "../../errors.ts";
import type { Exec } from "../../hosts/exec.ts";
import { runChecked } from "../../hosts/run-checked.ts";
import {
  CERTIFICATE_TYPE,
  type CertificateFiles,
  type CertificateInputs,
  type CertificateState,
  certificateAddress,
} from "../../model/certificate.ts";
import { type ZoneRef, zoneConnection } from "../../model/dns-record.ts";
import type { ProxyEndpoint } from "../../model/route.ts";
import { zoneFor } from "../../util/zone.ts";
import {
  type AdminEndpoint,
  adminEndpoint,
  changeCaddyConfig,
  createHostQueue,
  DEFAULT_ADMIN,
  describeEndpoint,
  readCaddyConfig,
} from "./admin.ts";
import { arrayAt, childArray, childObject, isObject, type Json, objectAt } from "./caddy-json.ts";
import { ChallengeLedger } from "./challenge-ledger.ts";

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

const CERT_INFO = "caddy";

export function certificateTag(lab: string, certName: string): string {
  return `holt:${lab}:cert:${certName}`;
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

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().every((n, i) => n === [...b].sort()[i]);
}

function shortHash(sha256: string | null): string {
  return sha256 === null ? "none" : `sha256:${sha256.slice(0, 12)}`;
}

function isDue(stored: StoredCertificate, now: number): boolean {
  return Date.parse(stored.renewAt) <= now;
}

/** Why a step must issue a new certificate, or null when the stored one serves. */
function issueReason(
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

function stateOf(
  stored: StoredCertificate | null,
  loaded: string | null,
  now: number,
): CertificateState {
  return {
    names: stored === null ? [] : [...stored.names].sort(),
    stored:
      stored === null
        ? null
        : {
            sha256: stored.sha256,
            notAfter: stored.notAfter,
            issuer: stored.issuer,
            directoryUrl: stored.directoryUrl,
            renewAt: stored.renewAt,
          },
    due: stored !== null && isDue(stored, now),
    loaded,
  };
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

/** This lab's loaded certificates in a Caddy config: certName → the PEM Caddy serves. */
function loadedPems(config: Json, lab: string): Map<string, string> {
  const prefix = `holt:${lab}:cert:`;
  const found = new Map<string, string>();
  const list = arrayAt(
    objectAt(objectAt(objectAt(objectAt(config)?.apps)?.tls)?.certificates)?.load_pem,
  );
  for (const entry of list) {
    const e = objectAt(entry);
    const tag = arrayAt(e?.tags).find(
      (t): t is string => typeof t === "string" && t.startsWith(prefix),
    );
    if (tag !== undefined && typeof e?.certificate === "string") {
      found.set(tag.slice(prefix.length), e.certificate);
    }
  }
  return found;
}

/** SHA-256 of each loaded leaf ("unreadable" for a PEM that does not parse). */
async function fingerprints(pems: ReadonlyMap<string, string>): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (pems.size === 0) return out;
  const { readCertificateInfo } = await import("../../acme/cert-info.ts");
  for (const [name, pem] of pems) {
    try {
      out.set(name, readCertificateInfo(pem).sha256);
    } catch {
      out.set(name, "unreadable");
    }
  }
  return out;
}

function withoutCertificate(config: Json, tag: string): Json {
  if (!isObject(config)) return config;
  const root = structuredClone(config);
  const certs = objectAt(objectAt(objectAt(root.apps)?.tls)?.certificates);
  const list = certs?.load_pem;
  if (certs === undefined || !Array.isArray(list)) return root;
  const kept = list.filter((e) => !arrayAt(objectAt(e)?.tags).includes(tag));
  if (kept.length === 0) delete certs.load_pem;
  else certs.load_pem = kept;
  return root;
}

function withCertificate(config: Json, tag: string, stored: StoredCertificate): Json {
  const root = withoutCertificate(config, tag);
  const object = isObject(root) ? root : {};
  const certs = childObject(childObject(childObject(object, "apps"), "tls"), "certificates");
  childArray(certs, "load_pem").push({
    certificate: stored.chainPem,
    key: stored.keyPem,
    tags: [tag],
  });
  return object;
}

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

async function issue(
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

function needStore(ctx: ProviderContext): ProviderStore {
  if (ctx.store === undefined) {
    throw new HoltError("HOLT_E_INTERNAL", "the certificate provider needs the state folder");
  }
  return ctx.store;
}

export function createCertificateProvider(): Provider<CertificateInputs, CertificateState> {
  const queue = createHostQueue();
  const issuing = new Map<string, Promise<StoredCertificate>>();
  let ledger: ChallengeLedger | undefined;

  /** One issuance per certificate name at a time, shared by the hosts that need it. */
  function ensureIssued(
    ctx: ProviderContext,
    inputs: CertificateInputs,
  ): Promise<StoredCertificate> {
    const running = issuing.get(inputs.certName);
    if (running !== undefined) return running;
    const store = needStore(ctx);
    const task = (async () => {
      const stored = await readStoredCertificate(store, inputs.certName);
      if (issueReason(stored, inputs, Date.now()) === null && stored !== null) return stored;
      ledger ??= new ChallengeLedger(store);
      return issue(ctx, inputs, store, ledger);
    })().finally(() => issuing.delete(inputs.certName));
    issuing.set(inputs.certName, task);
    return task;
  }

  async function put(ctx: ProviderContext, desired: Resource<CertificateInputs>): Promise<void> {
    const stored = await ensureIssued(ctx, desired.inputs);
    // Files first: a container that mounts them starts after this step.
    if (desired.inputs.files !== null) await writeFiles(ctx.exec, desired.inputs.files, stored);
    const tag = certificateTag(ctx.lab, desired.inputs.certName);
    const endpoint = adminEndpoint(desired.inputs.proxy);
    await queue(ctx.exec, () =>
      changeCaddyConfig(
        ctx.exec,
        ctx.host,
        endpoint,
        `load certificate "${desired.inputs.certName}"`,
        (config) =>
          loadedPems(config, ctx.lab).get(desired.inputs.certName) === stored.chainPem
            ? config
            : withCertificate(config, tag, stored),
      ),
    );
  }

  async function unload(
    ctx: ProviderContext,
    owned: OwnedResource<CertificateState>,
  ): Promise<void> {
    const caddy = owned.observed.info?.[CERT_INFO];
    const [address, port] = typeof caddy === "string" ? caddy.split(/:(?=\d+$)/) : [];
    const endpoint: AdminEndpoint =
      address !== undefined && port !== undefined ? { address, port: Number(port) } : DEFAULT_ADMIN;
    const tag = certificateTag(ctx.lab, owned.name);
    await queue(ctx.exec, () =>
      changeCaddyConfig(
        ctx.exec,
        ctx.host,
        endpoint,
        `unload certificate "${owned.name}"`,
        (config) => withoutCertificate(config, tag),
      ),
    );
  }

  return {
    type: CERTIFICATE_TYPE,
    noun: "certificate",
    holdsData: false,

    async read(ctx, desired): Promise<ReadResult<CertificateState>> {
      const now = Date.now();
      const settings = ctx.settings as ProxyEndpoint | undefined;
      const endpoints = new Map<string, AdminEndpoint>();
      for (const r of desired) {
        const e = adminEndpoint(r.inputs.proxy);
        endpoints.set(describeEndpoint(e), e);
      }
      if (endpoints.size === 0) {
        const e = settings === undefined ? DEFAULT_ADMIN : adminEndpoint(settings);
        endpoints.set(describeEndpoint(e), e);
      }
      const observed = new Map<string, Observed<CertificateState>>();
      const owned: OwnedResource<CertificateState>[] = [];
      // A certificate is read from the state folder once, however many times it is loaded or desired.
      const storedReads = new Map<string, Promise<StoredCertificate | null>>();
      const storedOf = (name: string): Promise<StoredCertificate | null> => {
        let read = storedReads.get(name);
        if (read === undefined) {
          read = readStoredCertificate(ctx.store, name);
          storedReads.set(name, read);
        }
        return read;
      };
      for (const [where, endpoint] of endpoints) {
        let loaded = new Map<string, string>();
        try {
          loaded = await fingerprints(
            loadedPems((await readCaddyConfig(ctx.exec, ctx.host, endpoint)).config, ctx.lab),
          );
        } catch (error) {
          // No Caddy where nothing is desired simply means no certificates there.
          if (desired.length > 0 || !isHoltError(error) || error.code !== "HOLT_E_CADDY")
            throw error;
        }
        const here = desired.filter(
          (r) => describeEndpoint(adminEndpoint(r.inputs.proxy)) === where,
        );
        for (const r of here) {
          const stored = await storedOf(r.inputs.certName);
          const sha = loaded.get(r.inputs.certName) ?? null;
          if (stored === null && sha === null) continue;
          const files =
            r.inputs.files === null ? null : await filesState(ctx.exec, r.inputs.files, stored);
          observed.set(r.address, {
            state: { ...stateOf(stored, sha, now), files },
            managed: true,
            info: { [CERT_INFO]: where },
          });
        }
        for (const [certName, sha] of loaded) {
          const stored = await storedOf(certName);
          owned.push({
            address: certificateAddress(ctx.host, certName),
            type: CERTIFICATE_TYPE,
            host: ctx.host,
            name: certName,
            dependsOn: [],
            observed: {
              state: stateOf(stored, sha, now),
              managed: true,
              info: { [CERT_INFO]: where },
            },
          });
        }
      }
      return { observed, owned, problems: [] };
    },

    diff(desired, observed) {
      const fields: FieldChange[] = [];
      const state = observed.state;
      const { inputs } = desired;
      if (state.stored === null) {
        fields.push({
          path: "certificate",
          before: "none",
          after: `issue from ${inputs.acme.directoryUrl}`,
        });
      } else {
        if (!sameNames(state.names, inputs.names)) {
          fields.push({
            path: "names",
            before: state.names.join(", "),
            after: [...inputs.names].sort().join(", "),
          });
        }
        if (state.stored.directoryUrl !== inputs.acme.directoryUrl) {
          fields.push({
            path: "ca",
            before: state.stored.directoryUrl,
            after: inputs.acme.directoryUrl,
          });
        }
        if (state.due) {
          fields.push({
            path: "expires",
            before: state.stored.notAfter,
            after: `renew (due since ${state.stored.renewAt})`,
          });
        }
      }
      const storedSha = state.stored?.sha256 ?? null;
      if (fields.length === 0 && state.loaded !== storedSha) {
        fields.push({
          path: "caddy",
          before: shortHash(state.loaded),
          after: shortHash(storedSha),
        });
      }
      const files = inputs.files;
      if (fields.length === 0 && files !== null && state.files !== "current") {
        fields.push({
          path: `files ${files.dir}`,
          before: state.files ?? "missing",
          after: "current",
        });
      }
      return fields;
    },

    describe(desired) {
      return [
        { path: "names", before: null, after: [...desired.inputs.names].sort().join(", ") },
        { path: "ca", before: null, after: desired.inputs.acme.directoryUrl },
      ];
    },

    create: put,
    update: (ctx, desired) => put(ctx, desired),
    delete: (ctx, owned) => unload(ctx, owned),
    // The certificate stays in the state folder; Caddy just stops serving it.
    release: unload,
    adopt: (ctx, desired) => put(ctx, desired),
  };
}

const CHAIN_FILE = "fullchain.pem";
const KEY_FILE = "privkey.pem";

/** Whether the host's files hold the stored certificate. */
async function filesState(
  exec: Exec,
  files: CertificateFiles,
  stored: StoredCertificate | null,
): Promise<"current" | "stale" | "missing"> {
  const r = await exec.run({ argv: ["cat", `${files.dir}/${CHAIN_FILE}`] });
  if (r.code !== 0) return "missing";
  return stored !== null && r.stdout === stored.chainPem ? "current" : "stale";
}

/**
 * Writes `fullchain.pem` (0644) and `privkey.pem` (0600, owned by the
 * service's user) into the host folder, each to a temporary name first and
 * renamed, so a container never reads half a file. The key first: a reader
 * that sees the new chain finds the new key already there.
 */
async function writeFiles(
  exec: Exec,
  files: CertificateFiles,
  stored: StoredCertificate,
): Promise<void> {
  const script =
    'umask 077 && mkdir -p "$1" && chmod 0755 "$1" && cat > "$1/.$2.holt-new" && ' +
    'chmod "$3" "$1/.$2.holt-new" && chown "$4" "$1/.$2.holt-new" && mv -f "$1/.$2.holt-new" "$1/$2"';
  const owner = files.owner ?? "0:0";
  await runChecked(exec, {
    argv: ["sh", "-c", script, "sh", files.dir, KEY_FILE, "0600", owner],
    stdin: stored.keyPem,
  });
  await runChecked(exec, {
    argv: ["sh", "-c", script, "sh", files.dir, CHAIN_FILE, "0644", owner],
    stdin: stored.chainPem,
  });
}
