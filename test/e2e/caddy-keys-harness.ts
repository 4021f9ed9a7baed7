/**
 * What the tests of keys out of Caddy's config share: Knot and Pebble for the
 * lab's certificates, a lab folder with its config, and the checks every test
 * ends on (no key in what Caddy shows, files only root and Caddy's group read,
 * the certificate served from them).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before } from "node:test";
import { connect } from "node:tls";
import type { CaddyPeer } from "../peers/caddy.ts";
import type { DnsPeer } from "../peers/dns-peer.ts";
import { startKnot } from "../peers/knot.ts";
import { type PebblePeer, startPebble } from "../peers/pebble.ts";
import { ensureTestImages, removeLabResources, type TestImages, testLab } from "../peers/podman.ts";
import { type CliResult, createLabFolder, type LabFolder } from "./harness.ts";

export const ZONE = "keys.test";
export const suffix = String(process.pid);
export const KEY_ROOT = "/var/lib/holt-caddy";

/** Ids of a user from this machine's passwd file. */
function userIds(name: string, from: string): { uid: number; gid: number } {
  let line: string;
  try {
    line = execFileSync("getent", ["passwd", name], { encoding: "utf8" });
  } catch {
    throw new Error(`No user "${name}" on this machine: install ${from} (scripts/setup.sh does).`);
  }
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** The system user Debian's caddy package runs Caddy as (the package makes it). */
export const CADDY_USER = userIds("caddy", "Debian's caddy package");
/** `nobody`: a user holt does not give keys to, as it does not any ordinary user. */
export const NOBODY = { uid: 65534, gid: 65534 };

let knot: DnsPeer;
let pebble: PebblePeer;
let images: TestImages;

/** Starts Knot and Pebble before the file's tests, and stops them after. */
export function useKeysPeers(): void {
  before(async () => {
    images = await ensureTestImages();
    knot = await startKnot({ zone: ZONE });
    pebble = await startPebble({ dnsServer: knot.server });
  });
  after(async () => {
    await pebble?.stop();
    await knot?.stop();
  });
}

export interface Lab {
  readonly name: string;
  readonly folder: LabFolder;
  readonly rootCa: string;
}

export function newLab(tag: string): Lab {
  const folder = createLabFolder();
  writeFileSync(join(folder.dir, "pebble-https.pem"), pebble.httpsCaPem);
  const rootCa = join(folder.dir, "pebble-root.pem");
  writeFileSync(rootCa, pebble.rootCaPem);
  return { name: testLab(tag), folder, rootCa };
}

export const env = (lab: Lab): NodeJS.ProcessEnv => ({
  HOLT_AGE_KEY_FILE: join(lab.folder.dir, "age.key"),
});

export function holt(lab: Lab, args: string[]): CliResult {
  return lab.folder.holt(args, env(lab));
}

/** holt without blocking this process, which serves the admin proxy below meanwhile. */
export function holtAsync(lab: Lab, args: string[]): Promise<CliResult> {
  return lab.folder.holtAsync(args, env(lab)).done;
}

export function ok(result: CliResult, what: string): CliResult {
  assert.equal(result.code, 0, `${what}: exit ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

export function initSecrets(lab: Lab): void {
  ok(holt(lab, ["secrets", "init"]), "secrets init");
  lab.folder.setSecret("tsig", knot.tsig.secret, env(lab));
}

export interface HostSpec {
  readonly name: string;
  /** The host's `address` and `connect` lines. */
  readonly reach: string;
  readonly caddy: CaddyPeer;
  /** Caddy's admin address in the lab's config. @default the Caddy's own */
  readonly admin?: string;
}

export function config(
  lab: Lab,
  host: HostSpec,
  service: { name: string; port: number } | null,
  acme = true,
): string {
  const svc =
    service === null
      ? ""
      : `
    ${service.name}: {
      host: "${host.name}",
      image: "${images.v1}",
      hostname: "${service.name}",
      port: 8080,
      hostPort: ${service.port},
      command: ["sh", "-c", "mkdir -p /srv && echo ${service.name} > /srv/index.html && exec httpd -f -p 8080 -h /srv"],
    },`;
  return `import { defineLab, secret } from "holt";

export default defineLab({
  domain: "${ZONE}",
  name: "${lab.name}",
  hosts: {
    ${host.name}: {
      ${host.reach}
      proxy: { admin: "${host.admin ?? host.caddy.adminAddress}", httpsPort: ${host.caddy.httpsPort}, httpPort: ${host.caddy.httpPort} },
    },
  },
  dns: {
    zones: {
      "${ZONE}": {
        provider: "rfc2136",
        server: "${knot.server}",
        tsig: { name: "${knot.tsig.name}", algorithm: "${knot.tsig.algorithm}", secret: secret("tsig") },
        nameservers: ["${knot.server}"],
      },
    },
  },
  ${acme ? `acme: { email: "admin@${ZONE}", directory: "${pebble.directoryUrl}", trust: "./pebble-https.pem", propagationTimeout: 30 },` : ""}
  services: {${svc}
  },
});
`;
}

interface CaddyView {
  /** `GET /config/` as any process on the host can send it. */
  readonly body: string;
  /** Every load_files entry of the lab, by certificate name. */
  readonly pairs: Map<string, { certificate: string; key: string }>;
  /** Every path any load_files entry names. */
  readonly named: string[];
}

export async function caddyConfig(caddy: CaddyPeer, lab: Lab): Promise<CaddyView> {
  const answer = await caddy.admin("GET", "/config/");
  assert.equal(answer.status, 200, answer.body);
  const parsed = JSON.parse(answer.body) as {
    apps?: {
      tls?: {
        certificates?: { load_files?: { certificate: string; key: string; tags?: string[] }[] };
      };
    };
  };
  const pairs = new Map<string, { certificate: string; key: string }>();
  const named: string[] = [];
  const prefix = `holt:${lab.name}:cert:`;
  for (const entry of parsed.apps?.tls?.certificates?.load_files ?? []) {
    named.push(entry.certificate, entry.key);
    const tag = entry.tags?.find((t) => t.startsWith(prefix));
    if (tag !== undefined) {
      pairs.set(tag.slice(prefix.length), { certificate: entry.certificate, key: entry.key });
    }
  }
  return { body: answer.body, pairs, named };
}

/** Files in the lab's folder on the host, sorted. */
export function folderFiles(lab: Lab): string[] {
  const dir = join(KEY_ROOT, lab.name);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

export function assertAccess(path: string, mode: number, gid: number): void {
  const stat = statSync(path);
  assert.equal((stat.mode & 0o777).toString(8), mode.toString(8), `mode of ${path}`);
  assert.equal(stat.uid, 0, `owner of ${path}`);
  assert.equal(stat.gid, gid, `group of ${path}`);
}

/** One TLS handshake with SNI `hostname`, trusting only Pebble's root: the leaf's SHA-256 fingerprint. */
export function handshake(caddy: CaddyPeer, hostname: string): Promise<string> {
  const ca = pebble.rootCaPem;
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: caddy.address, port: caddy.httpsPort, servername: hostname, ca, timeout: 5000 },
      () => {
        const cert = socket.getPeerX509Certificate();
        socket.end();
        if (cert === undefined) reject(new Error("no certificate"));
        else resolve(cert.fingerprint256);
      },
    );
    socket.on("error", reject);
    socket.on("timeout", () => socket.destroy(new Error("handshake timed out")));
  });
}

/** The leaf of a PEM chain file, and whether `keyFile` is its key. */
export function leafOf(
  chainFile: string,
  keyFile: string,
): { fingerprint: string; keyMatches: boolean } {
  const leaf = new X509Certificate(readFileSync(chainFile));
  const key = createPrivateKey(readFileSync(keyFile));
  return { fingerprint: leaf.fingerprint256, keyMatches: leaf.checkPrivateKey(key) };
}

/**
 * The checks every test ends on: no key in what the admin API shows or Caddy
 * autosaved, every file Caddy's config names is there, readable by root and
 * `gid` only, and Caddy serves the certificate in them.
 */
export async function assertServedFromFiles(
  caddy: CaddyPeer,
  lab: Lab,
  hostname: string,
  gid: number,
): Promise<{ certificate: string; key: string }> {
  const view = await caddyConfig(caddy, lab);
  assert.ok(!view.body.includes("PRIVATE KEY"), "GET /config/ holds no private key");
  const autosave = join(caddy.dataDir, "config", "caddy", "autosave.json");
  assert.ok(!readFileSync(autosave, "utf8").includes("PRIVATE KEY"), "nor does autosave.json");
  const pair = view.pairs.get(hostname);
  assert.ok(pair !== undefined, `a load_files entry for ${hostname}: ${view.body}`);
  const folder = join(KEY_ROOT, lab.name);
  assert.ok(pair.certificate.startsWith(`${folder}/`) && pair.key.startsWith(`${folder}/`));
  for (const path of view.named)
    assert.ok(existsSync(path), `${path}, named by Caddy's config, exists`);
  const fileMode = gid === 0 ? 0o600 : 0o640;
  assertAccess(pair.key, fileMode, gid);
  assertAccess(pair.certificate, fileMode, gid);
  assertAccess(folder, gid === 0 ? 0o700 : 0o750, gid);
  assertAccess(KEY_ROOT, 0o711, 0);
  const { fingerprint, keyMatches } = leafOf(pair.certificate, pair.key);
  assert.ok(keyMatches, "the key file holds the certificate's key");
  assert.equal(await handshake(caddy, hostname), fingerprint, "served");
  return pair;
}

export function cleanupLab(lab: Lab): void {
  removeLabResources(lab.name);
  rmSync(join(KEY_ROOT, lab.name), { recursive: true, force: true });
  lab.folder.remove();
}
