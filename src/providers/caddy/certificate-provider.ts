/**
 * ACME certificates (`tls.certificate`), issued by DNS-01 through the lab's
 * zones and loaded into a host's Caddy, where they replace the local CA for
 * the routes that use them. Caddy loads them from files on the host that
 * only root and Caddy's group can read (`apps.tls.certificates.load_files`,
 * tagged `holt:<lab>:cert:<name>`; key-files.ts), so its config, which the
 * admin API shows to anyone on the host, holds no key.
 *
 * The certificate, its key and the account key are kept once per lab in
 * holt's state folder (mode 0600; issuance.ts), so hosts that serve the same name share
 * one certificate and an apply issues only what is missing, changed or due:
 * when a third of its lifetime is left (or `acme.renewBefore`, or the CA's
 * renewal window, or `holt certs renew`). Whether a certificate is due is
 * decided again when the step runs, so the second host of a shared
 * certificate loads the one the first host's step just issued.
 *
 * Caddy swaps a loaded certificate in a config reload: connections keep
 * their handshake, new ones get the new certificate. A step writes the new
 * pair of files, then points Caddy's config at it, then removes the files
 * the config no longer names. Cut off anywhere, it leaves Caddy with a
 * config whose files are all there, and a read that shows what is left to
 * do (the certificate not loaded yet, or files left over), which the next
 * apply finishes. All of it runs one step at a time per host.
 */
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
import {
  CERTIFICATE_TYPE,
  type CertificateInputs,
  type CertificateState,
  certificateAddress,
} from "../../model/certificate.ts";
import type { ProxyEndpoint } from "../../model/route.ts";
import {
  type AdminEndpoint,
  adminEndpoint,
  changeCaddyConfig,
  createHostQueue,
  DEFAULT_ADMIN,
  describeEndpoint,
  parseEndpoint,
  readCaddyConfig,
} from "./admin.ts";
import type { Json } from "./caddy-json.ts";
import type { CaddyUser } from "./caddy-user.ts";
import { ChallengeLedger } from "./challenge-ledger.ts";
import {
  findCaddyUser,
  readKeyFolder,
  removeHostFiles,
  writeCertificatePair,
} from "./host-keys.ts";
import {
  isDue,
  issue,
  issueReason,
  readStoredCertificate,
  type StoredCertificate,
  sameNames,
} from "./issuance.ts";
import {
  type CertificateFilePair,
  certificateFiles,
  isOwnPair,
  keyAccess,
  leftoverFiles,
} from "./key-files.ts";
import { filesState, writeFiles } from "./service-files.ts";
import {
  certificateTag,
  type LoadedCertificate,
  loadedCertificates,
  referencedFiles,
  withCertificateFiles,
  withoutCertificate,
} from "./tls-certificates.ts";

export { requestRenewal } from "./issuance.ts";

const CERT_INFO = "caddy";

function shortHash(sha256: string | null): string {
  if (sha256 === null) return "none";
  // "missing" (a file Caddy's config names is gone) or "unreadable".
  return /^[0-9a-f]{64}$/.test(sha256) ? `sha256:${sha256.slice(0, 12)}` : sha256;
}

function stateOf(stored: StoredCertificate | null, loaded: Seen, now: number): CertificateState {
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
    loaded: loaded.sha,
    ...(loaded.keyInConfig ? { keyInConfig: true } : {}),
    ...(loaded.leftover > 0 ? { leftoverFiles: loaded.leftover } : {}),
  };
}

/** What a read found of one certificate in one Caddy and on its host. */
interface Seen {
  /** SHA-256 of what Caddy loads; "missing" or "unreadable" for a damaged entry; null: none. */
  readonly sha: string | null;
  /** Loaded the old way, with the key in Caddy's config. */
  readonly keyInConfig: boolean;
  /** Files of holt's for it on the host that Caddy's config no longer names. */
  readonly leftover: number;
}

/**
 * What each of the lab's certificates in a Caddy config is: the SHA-256 of
 * its certificate, from the text of the file it names (`files`, read from
 * the host), or from the config for an entry of the old kind. A pair holt
 * did not write (other paths) counts as "unreadable" and is not read; a pair
 * with a file gone as "missing".
 */
async function seenCertificates(
  lab: string,
  loaded: ReadonlyMap<string, LoadedCertificate>,
  files: ReadonlyMap<string, string | null>,
): Promise<Map<string, Seen>> {
  const out = new Map<string, Seen>();
  if (loaded.size === 0) return out;
  const { readCertificateInfo } = await import("../../acme/cert-info.ts");
  const shaOf = (pem: string | null | undefined): string => {
    if (pem === null || pem === undefined) return "missing";
    try {
      return readCertificateInfo(pem).sha256;
    } catch {
      return "unreadable";
    }
  };
  for (const [name, entry] of loaded) {
    let sha: string;
    if (entry.kind === "pem") sha = shaOf(entry.certificatePem);
    else if (!isOwnPair(lab, name, entry.files)) sha = "unreadable";
    else sha = shaOf(files.get(entry.files.certificate));
    out.set(name, { sha, keyInConfig: entry.kind === "pem", leftover: 0 });
  }
  return out;
}

/** The pairs of holt's own files the configs name: the ones a read looks at on the host. */
function ownPairs(
  lab: string,
  configs: readonly ReadonlyMap<string, LoadedCertificate>[],
): CertificateFilePair[] {
  const pairs = new Map<string, CertificateFilePair>();
  for (const loaded of configs) {
    for (const [name, entry] of loaded) {
      if (entry.kind === "files" && isOwnPair(lab, name, entry.files)) {
        pairs.set(entry.files.certificate, entry.files);
      }
    }
  }
  return [...pairs.values()];
}

function needStore(ctx: ProviderContext): ProviderStore {
  if (ctx.store === undefined) {
    throw new HoltError("HOLT_E_INTERNAL", "the certificate provider needs the state folder");
  }
  return ctx.store;
}

/**
 * A config change Caddy refused because it could not read holt's key file,
 * with who holt gave the file to and why.
 */
function withAccessHint(error: unknown, user: CaddyUser, key: string): unknown {
  if (!isHoltError(error) || error.code !== "HOLT_E_CADDY") return error;
  if (!/permission denied/i.test(error.message)) return error;
  const given =
    user.kind === "unknown"
      ? `the files are root's alone (mode 0600), because ${user.why}`
      : user.kind === "root"
        ? "Caddy listens as root, so the files are root's alone (mode 0600)"
        : `the files are root's with group ${user.gid}, the group Caddy listens as (mode 0640)`;
  return new HoltError("HOLT_E_CADDY", error.message, {
    details: [
      ...error.details,
      `Caddy must read ${key}: ${given}. Run Caddy as root or as a system user of its own (Debian's package: caddy), alone on its admin address, with \`ss\` (iproute2) on the host. See docs/dns-and-certificates.md#in-caddy.`,
    ],
    cause: error,
  });
}

export function createCertificateProvider(): Provider<CertificateInputs, CertificateState> {
  const queue = createHostQueue();
  const issuing = new Map<string, Promise<StoredCertificate>>();
  let ledger: ChallengeLedger | undefined;
  /** Who each host's Caddy runs as, found once per run. */
  const users = new WeakMap<Exec, Map<string, Promise<CaddyUser>>>();

  function userOf(exec: Exec, endpoint: AdminEndpoint): Promise<CaddyUser> {
    let forExec = users.get(exec);
    if (forExec === undefined) {
      forExec = new Map();
      users.set(exec, forExec);
    }
    const key = describeEndpoint(endpoint);
    let found = forExec.get(key);
    if (found === undefined) {
      found = findCaddyUser(exec, endpoint);
      forExec.set(key, found);
    }
    return found;
  }

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

  /**
   * Changes Caddy's config, then removes the lab's files on the host that the
   * config Caddy now runs no longer names. Runs inside the host's queue: no
   * other step of this provider writes files or config there meanwhile, so
   * every file not named is one nobody will load.
   */
  async function changeThenTidy(
    ctx: ProviderContext,
    endpoint: AdminEndpoint,
    what: string,
    edit: (config: Json) => Json,
  ): Promise<void> {
    const running = await changeCaddyConfig(ctx.exec, ctx.host, endpoint, what, edit);
    const { names } = await readKeyFolder(ctx.exec, ctx.lab, []);
    const left = leftoverFiles(ctx.lab, names, referencedFiles(running));
    await removeHostFiles(ctx.exec, [...left.values()].flat());
  }

  async function put(ctx: ProviderContext, desired: Resource<CertificateInputs>): Promise<void> {
    const stored = await ensureIssued(ctx, desired.inputs);
    // Files first: a container that mounts them starts after this step.
    if (desired.inputs.files !== null) await writeFiles(ctx.exec, desired.inputs.files, stored);
    const { certName } = desired.inputs;
    const tag = certificateTag(ctx.lab, certName);
    const endpoint = adminEndpoint(desired.inputs.proxy);
    const files = certificateFiles(ctx.lab, certName, stored.sha256);
    await queue(ctx.exec, async () => {
      const user = await userOf(ctx.exec, endpoint);
      // The new pair goes beside the old one, which Caddy's config still names.
      await writeCertificatePair(ctx.exec, ctx.lab, files, stored, keyAccess(user));
      try {
        // Caddy loads the new pair (keeping its previous config if it cannot), and
        // only then do the old files go.
        await changeThenTidy(ctx, endpoint, `load certificate "${certName}"`, (config) => {
          const loaded = loadedCertificates(config, ctx.lab).get(certName);
          const current =
            loaded?.kind === "files" &&
            loaded.files.certificate === files.certificate &&
            loaded.files.key === files.key;
          return current ? config : withCertificateFiles(config, tag, files);
        });
      } catch (error) {
        throw withAccessHint(error, user, files.key);
      }
    });
  }

  async function unload(
    ctx: ProviderContext,
    owned: OwnedResource<CertificateState>,
  ): Promise<void> {
    const caddy = owned.observed.info?.[CERT_INFO];
    const endpoint =
      (typeof caddy === "string" ? parseEndpoint(caddy) : undefined) ?? DEFAULT_ADMIN;
    const tag = certificateTag(ctx.lab, owned.name);
    await queue(ctx.exec, () =>
      changeThenTidy(ctx, endpoint, `unload certificate "${owned.name}"`, (config) =>
        withoutCertificate(config, tag),
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
      const configs: { where: string; loaded: Map<string, LoadedCertificate> }[] = [];
      const referenced = new Set<string>();
      for (const [where, endpoint] of endpoints) {
        let config: Json;
        try {
          config = (await readCaddyConfig(ctx.exec, ctx.host, endpoint)).config;
        } catch (error) {
          // No Caddy where nothing is desired simply means no certificates there.
          if (desired.length > 0 || !isHoltError(error) || error.code !== "HOLT_E_CADDY")
            throw error;
          continue;
        }
        for (const path of referencedFiles(config)) referenced.add(path);
        configs.push({ where, loaded: loadedCertificates(config, ctx.lab) });
      }
      // One command reads the lab's folder on the host and the certificate files the configs
      // name. Only beside a Caddy that answered: without one, nothing loads them or tidies.
      const pairs = ownPairs(
        ctx.lab,
        configs.map((c) => c.loaded),
      );
      const folder =
        configs.length === 0
          ? { names: [], certificates: [] }
          : await readKeyFolder(ctx.exec, ctx.lab, pairs);
      const texts = new Map(
        pairs.map((pair, i) => [pair.certificate, folder.certificates[i] ?? null]),
      );
      const caddies: { where: string; seen: Map<string, Seen> }[] = [];
      for (const { where, loaded } of configs) {
        caddies.push({ where, seen: await seenCertificates(ctx.lab, loaded, texts) });
      }
      // Files a cut-off step left on the host, by certificate.
      const leftover = leftoverFiles(ctx.lab, folder.names, referenced);
      const leftOf = (name: string) => leftover.get(name)?.length ?? 0;
      const accounted = new Set<string>();
      const none: Seen = { sha: null, keyInConfig: false, leftover: 0 };
      for (const { where, seen } of caddies) {
        const here = desired.filter(
          (r) => describeEndpoint(adminEndpoint(r.inputs.proxy)) === where,
        );
        for (const r of here) {
          const name = r.inputs.certName;
          accounted.add(name);
          const stored = await storedOf(name);
          const found = { ...(seen.get(name) ?? none), leftover: leftOf(name) };
          if (stored === null && found.sha === null && found.leftover === 0) continue;
          const files =
            r.inputs.files === null ? null : await filesState(ctx.exec, r.inputs.files, stored);
          observed.set(r.address, {
            state: { ...stateOf(stored, found, now), files },
            managed: true,
            info: { [CERT_INFO]: where },
          });
        }
        for (const [certName, found] of seen) {
          accounted.add(certName);
          owned.push(
            ownedCertificate(ctx.host, certName, where, {
              state: stateOf(
                await storedOf(certName),
                { ...found, leftover: leftOf(certName) },
                now,
              ),
            }),
          );
        }
      }
      // Files of a certificate no Caddy here names any more: removing it tidies them.
      const [first] = caddies;
      for (const [certName, paths] of leftover) {
        if (accounted.has(certName) || first === undefined) continue;
        owned.push(
          ownedCertificate(ctx.host, certName, first.where, {
            state: stateOf(await storedOf(certName), { ...none, leftover: paths.length }, now),
          }),
        );
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
      if (state.keyInConfig === true) {
        // Loaded by an older holt: the key is in Caddy's config and its admin API.
        fields.push({
          path: "key",
          before: "in Caddy's config (load_pem)",
          after: "in a file only root and Caddy can read",
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
      const left = state.leftoverFiles ?? 0;
      if (fields.length === 0 && left > 0) {
        fields.push({
          path: "old files",
          before: `${left} left on the host`,
          after: "removed",
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

function ownedCertificate(
  host: string,
  certName: string,
  where: string,
  observed: Pick<Observed<CertificateState>, "state">,
): OwnedResource<CertificateState> {
  return {
    address: certificateAddress(host, certName),
    type: CERTIFICATE_TYPE,
    host,
    name: certName,
    dependsOn: [],
    observed: { ...observed, managed: true, info: { [CERT_INFO]: where } },
  };
}
