/**
 * ACME certificates by DNS-01 through the CLI, on real Knot, Pebble, Caddy
 * and Podman, for the cases beyond one name per certificate:
 *
 * - a zone with `wildcard: true`: one order for the apex and `*.zone`, two
 *   TXT values at one name at once, one certificate serving two hostnames;
 * - an `_acme-challenge` CNAME into another zone (delegation), followed;
 * - an order the CA rejects: the apply fails with HOLT_E_ACME, the other
 *   services are served, and no challenge TXT is left anywhere;
 * - renewal of a short-lived certificate (Pebble issues 40-second ones
 *   here) swapped into Caddy while a client handshakes in a loop, with no
 *   failed handshake, Caddy loading it from a new pair of files whose key
 *   its config never holds, and the old pair removed; and `holt certs renew`
 *   forcing one.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "node:tls";
import { type CaddyPeer, curlThrough, type HttpsAnswer, startCaddy } from "../peers/caddy.ts";
import type { DnsPeer } from "../peers/dns-peer.ts";
import { startKnot } from "../peers/knot.ts";
import { type PebblePeer, startPebble } from "../peers/pebble.ts";
import { ensureTestImages, removeLabResources, type TestImages, testLab } from "../peers/podman.ts";
import { freePorts } from "../peers/ports.ts";
import { type ResolverPeer, startResolver } from "../peers/resolver.ts";
import { BIN, createLabFolder, type LabFolder } from "./harness.ts";

const DOMAIN = "cert.test";
const WILD = `wild.${DOMAIN}`;
const DELEGATE = "delegate.test";
const suffix = String(process.pid);

interface Lab {
  folder: LabFolder;
  name: string;
  rootCa: string;
  pebble: PebblePeer;
}

let caddy: CaddyPeer;
let knot: DnsPeer;
/** What Pebble asks, as a real CA asks a recursive resolver: it follows CNAMEs across zones. */
let resolver: ResolverPeer;
let images: TestImages;
const labs: Lab[] = [];

function service(name: string, hostname: string, port: number): string {
  return `
    ${name}: {
      host: "box",
      image: "${images.v1}",
      hostname: "${hostname}",
      port: 8080,
      hostPort: ${port},
      command: ["sh", "-c", "mkdir -p /srv && echo ${name} > /srv/index.html && exec httpd -f -p 8080 -h /srv"],
    },`;
}

function config(lab: Lab, services: string, extra = "", nameservers = [knot.server]): string {
  const zone = (name: string, wildcard = false) => `
      "${name}": {
        provider: "rfc2136",
        server: "${knot.server}",
        tsig: { name: "${knot.tsig.name}", algorithm: "${knot.tsig.algorithm}", secret: secret("tsig") },
        nameservers: ${JSON.stringify(nameservers)},
        wildcard: ${wildcard},
      },`;
  return `import { defineLab, secret } from "holt";

export default defineLab({
  domain: "${DOMAIN}",
  name: "${lab.name}",
  hosts: {
    box: {
      connect: "local",
      proxy: { admin: "127.0.0.1:${caddy.adminPort}", httpsPort: ${caddy.httpsPort}, httpPort: ${caddy.httpPort} },
    },
  },
  dns: { zones: {${zone(DOMAIN)}${zone(WILD, true)}${zone(DELEGATE)}
  } },
  acme: { email: "admin@${DOMAIN}", directory: "${lab.pebble.directoryUrl}", trust: "./pebble-https.pem", propagationTimeout: 30${extra} },
  services: {${services}
  },
});
`;
}

async function newLab(tag: string, pebble: PebblePeer): Promise<Lab> {
  const folder = createLabFolder();
  const lab: Lab = {
    folder,
    name: testLab(tag),
    rootCa: join(folder.dir, "pebble-root.pem"),
    pebble,
  };
  writeFileSync(join(folder.dir, "pebble-https.pem"), pebble.httpsCaPem);
  writeFileSync(lab.rootCa, pebble.rootCaPem);
  labs.push(lab);
  return lab;
}

function env(lab: Lab): NodeJS.ProcessEnv {
  return { HOLT_AGE_KEY_FILE: join(lab.folder.dir, "age.key") };
}

function run(lab: Lab, args: string[]) {
  return lab.folder.holt(args, env(lab));
}

function initSecrets(lab: Lab): void {
  assert.equal(run(lab, ["secrets", "init"]).code, 0);
  const r = spawnSync(process.execPath, [BIN, "secrets", "set", "tsig"], {
    cwd: lab.folder.dir,
    input: `${knot.tsig.secret}\n`,
    encoding: "utf8",
    env: { ...process.env, ...env(lab), NO_COLOR: "1", HOLT_STATE_DIR: lab.folder.stateDir },
  });
  assert.equal(r.status, 0, r.stderr);
}

/**
 * The files Caddy loads the lab's certificate `name` from, after checking that
 * its config (as the admin API shows it to anyone on the host) holds no key,
 * and that the files are root's alone (this Caddy runs as root).
 */
async function loadedFiles(lab: Lab, name: string): Promise<{ certificate: string; key: string }> {
  const answer = await caddy.admin("GET", "/config/");
  assert.equal(answer.status, 200, answer.body);
  assert.ok(!answer.body.includes("PRIVATE KEY"), "no private key in Caddy's config");
  const config = JSON.parse(answer.body) as {
    apps: {
      tls: { certificates: { load_files: { certificate: string; key: string; tags: string[] }[] } };
    };
  };
  const entry = config.apps.tls.certificates.load_files.find((e) =>
    e.tags.includes(`holt:${lab.name}:cert:${name}`),
  );
  assert.ok(entry !== undefined, answer.body);
  for (const path of [entry.certificate, entry.key]) {
    const stat = statSync(path);
    assert.deepEqual([stat.mode & 0o777, stat.uid, stat.gid], [0o600, 0, 0], path);
  }
  return { certificate: entry.certificate, key: entry.key };
}

function curl(lab: Lab, hostname: string): HttpsAnswer {
  return curlThrough(caddy, hostname, "/index.html", lab.rootCa);
}

/** Every TXT value left at any challenge name the tests used. */
function challengeLeftovers(names: readonly string[]): string[] {
  return names.flatMap((n) => knot.dig(n, "TXT").map((v) => `${n} ${v}`));
}

/** One TLS handshake with SNI `hostname`, trusting only `ca`: the leaf's fingerprint, or the error. */
function handshake(
  hostname: string,
  ca: string,
): Promise<{ ok: true; sha: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const socket = connect(
      { host: "127.0.0.1", port: caddy.httpsPort, servername: hostname, ca, timeout: 5000 },
      () => {
        const cert = socket.getPeerX509Certificate();
        socket.end();
        resolve(
          cert === undefined
            ? { ok: false, error: "no certificate" }
            : { ok: true, sha: cert.fingerprint256 },
        );
      },
    );
    socket.on("error", (error) => resolve({ ok: false, error: error.message }));
    socket.on("timeout", () => {
      socket.destroy();
      resolve({ ok: false, error: "timeout" });
    });
  });
}

describe("ACME certificates: wildcard + apex, delegation, rejection, renewal (Knot + Pebble + Caddy)", () => {
  let ports: number[];

  before(async () => {
    images = await ensureTestImages();
    ports = await freePorts(7);
    caddy = await startCaddy();
    knot = await startKnot({ zone: DOMAIN, extraZones: [WILD, DELEGATE] });
    resolver = await startResolver({
      [DOMAIN]: knot.server,
      [WILD]: knot.server,
      [DELEGATE]: knot.server,
    });
    // The challenge for deleg.cert.test is delegated to delegate.test, by hand, once.
    await knot.setByHand(`_acme-challenge.deleg.${DOMAIN}`, "CNAME", 300, [`deleg.${DELEGATE}`]);
  });

  after(async () => {
    for (const lab of labs) {
      removeLabResources(lab.name);
      rmSync(`/var/lib/holt-caddy/${lab.name}`, { recursive: true, force: true });
      await lab.pebble.stop();
      lab.folder.remove();
    }
    await caddy?.stop();
    await resolver?.stop();
    await knot?.stop();
  });

  test("wildcard + apex in one order, a delegated challenge, and a rejected order", async () => {
    const pebble = await startPebble({
      dnsServer: resolver.server,
      domainBlocklist: [`blocked.${DOMAIN}`],
    });
    const lab = await newLab("certs", pebble);
    const [a = 0, b = 0, d = 0, x = 0] = ports;
    const services = [
      service(`a${suffix}`, "a.wild", a),
      service(`b${suffix}`, "b.wild", b),
      service(`deleg${suffix}`, "deleg", d),
      service(`blocked${suffix}`, "blocked", x),
    ].join("");
    lab.folder.write(config(lab, services));
    initSecrets(lab);

    const plan = run(lab, ["plan", "--json"]);
    assert.equal(plan.code, 0, plan.stderr);
    const certs = (JSON.parse(plan.stdout) as { changes: { address: string }[] }).changes
      .map((c) => c.address)
      .filter((address) => address.startsWith("tls.certificate:"))
      .sort();
    assert.deepEqual(certs, [
      `tls.certificate:box/*.${WILD}`,
      `tls.certificate:box/blocked.${DOMAIN}`,
      `tls.certificate:box/deleg.${DOMAIN}`,
    ]);

    const r = run(lab, ["apply", "--yes"]);
    assert.equal(r.code, 1, "the rejected order fails its step");
    const text = r.stdout + r.stderr;
    assert.match(text, /HOLT_E_ACME/);
    assert.match(text, /rejectedIdentifier/);
    assert.match(text, new RegExp(`blocked\\.${DOMAIN.replace(".", "\\.")}`));

    // One wildcard certificate serves both hostnames; the delegated one was issued too.
    for (const host of [`a.${WILD}`, `b.${WILD}`, `deleg.${DOMAIN}`]) {
      const page = curl(lab, host);
      assert.equal(page.code, 0, `${host}: ${page.stderr}\n${text}`);
    }
    const wildcard = await handshake(`a.${WILD}`, lab.pebble.rootCaPem);
    const other = await handshake(`b.${WILD}`, lab.pebble.rootCaPem);
    assert.ok(wildcard.ok && other.ok && wildcard.sha === other.sha, "the same certificate");
    const list = JSON.parse(run(lab, ["certs", "--json"]).stdout) as {
      certificates: { name: string; names: string[] }[];
    };
    assert.deepEqual(
      list.certificates.find((c) => c.name === `*.${WILD}`)?.names,
      [WILD, `*.${WILD}`].sort(),
    );

    assert.deepEqual(
      challengeLeftovers([
        `_acme-challenge.${WILD}`,
        `_acme-challenge.blocked.${DOMAIN}`,
        `deleg.${DELEGATE}`,
      ]),
      [],
      "no challenge TXT is left, also after the rejected order",
    );
    // The delegation CNAME is the user's: still there.
    assert.deepEqual(knot.dig(`_acme-challenge.deleg.${DOMAIN}`, "CNAME"), [`deleg.${DELEGATE}`]);
  });

  test("killed while waiting for the challenge: the TXT it left is removed by the next apply", async () => {
    const pebble = await startPebble({ dnsServer: resolver.server });
    const lab = await newLab("crash", pebble);
    const [, , , , , c = 0] = ports;
    const hostname = `crash.${DOMAIN}`;
    const [dead = 0] = await freePorts(1);
    // A second nameserver that never answers keeps holt waiting with the TXT in place.
    lab.folder.write(
      config(lab, service(`crash${suffix}`, "crash", c), "", [knot.server, `127.0.0.1:${dead}`]),
    );
    initSecrets(lab);
    const apply = lab.folder.holtAsync(["apply", "--yes"], env(lab));
    let seen: string[] = [];
    for (let i = 0; i < 300 && seen.length === 0; i++) {
      await sleep(50);
      seen = knot.dig(`_acme-challenge.${hostname}`, "TXT");
    }
    assert.equal(seen.length, 1, `the challenge TXT appeared:\n${apply.stderr()}`);
    apply.child.kill("SIGKILL");
    await apply.done;
    assert.deepEqual(knot.dig(`_acme-challenge.${hostname}`, "TXT"), seen, "the kill left it");

    lab.folder.write(config(lab, service(`crash${suffix}`, "crash", c)));
    const rerun = run(lab, ["apply", "--yes"]);
    assert.equal(rerun.code, 0, `${rerun.stdout}\n${rerun.stderr}`);
    assert.deepEqual(knot.dig(`_acme-challenge.${hostname}`, "TXT"), [], "gone after the rerun");
    assert.equal(curl(lab, hostname).code, 0);
    assert.match(run(lab, ["plan"]).stdout, /No changes\./);
  });

  test("a short-lived certificate is renewed and swapped into Caddy with no failed handshake", async () => {
    const pebble = await startPebble({
      dnsServer: resolver.server,
      certificateValiditySeconds: 45,
    });
    const lab = await newLab("renew", pebble);
    const [, , , , s = 0] = ports;
    lab.folder.write(config(lab, service(`short${suffix}`, "short", s)));
    initSecrets(lab);
    const first = run(lab, ["apply", "--yes"]);
    assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
    const hostname = `short.${DOMAIN}`;
    const before = await handshake(hostname, pebble.rootCaPem);
    assert.ok(before.ok, JSON.stringify(before));
    const oldFiles = await loadedFiles(lab, hostname);
    const listed = JSON.parse(run(lab, ["certs", "--json"]).stdout) as {
      certificates: { renewAt: string; notAfter: string }[];
    };
    const renewAt = Date.parse(listed.certificates[0]?.renewAt ?? "");
    // A third of 45 s left: due 30 s after issuance.
    await sleep(Math.max(0, renewAt - Date.now()) + 500);
    const plan = run(lab, ["plan"]);
    assert.match(plan.stdout + plan.stderr, /expires: .* → renew/);

    // A client handshakes in a loop for the whole apply.
    let stop = false;
    const seen = new Set<string>();
    const failures: string[] = [];
    let handshakes = 0;
    const loop = (async () => {
      while (!stop) {
        const result = await handshake(hostname, pebble.rootCaPem);
        handshakes += 1;
        if (result.ok) seen.add(result.sha);
        else failures.push(result.error);
        await sleep(20);
      }
    })();
    const apply = lab.folder.holtAsync(["apply", "--yes"], env(lab));
    const done = await apply.done;
    await sleep(500);
    stop = true;
    await loop;
    assert.equal(done.code, 0, `${done.stdout}\n${done.stderr}`);
    assert.deepEqual(failures, [], `no handshake failed (${handshakes} made)`);
    assert.ok(handshakes > 20, `the loop ran throughout (${handshakes} handshakes)`);
    assert.equal(seen.size, 2, "it saw the old certificate, then the new one");
    const after = await handshake(hostname, pebble.rootCaPem);
    assert.ok(after.ok && after.sha !== before.sha);
    // A new pair of files, and the old one removed.
    const newFiles = await loadedFiles(lab, hostname);
    assert.notDeepEqual(newFiles, oldFiles);
    assert.deepEqual(
      readdirSync(`/var/lib/holt-caddy/${lab.name}`).sort(),
      [newFiles.certificate, newFiles.key].map((p) => p.split("/").pop()).sort(),
    );
    assert.match(run(lab, ["plan"]).stdout, /No changes\./);

    // `holt certs renew` forces one now.
    const forced = run(lab, ["certs", "renew", hostname]);
    assert.equal(forced.code, 0, `${forced.stdout}\n${forced.stderr}`);
    const renewed = await handshake(hostname, pebble.rootCaPem);
    assert.ok(renewed.ok && after.ok && renewed.sha !== after.sha, "a new certificate is served");
    assert.deepEqual(challengeLeftovers([`_acme-challenge.${hostname}`]), []);
    // The served chain is the CA's.
    const leaf = new X509Certificate(
      spawnSync(
        "openssl",
        ["s_client", "-connect", `127.0.0.1:${caddy.httpsPort}`, "-servername", hostname],
        {
          input: "",
          encoding: "utf8",
        },
      ).stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)?.[0] ?? "",
    );
    assert.ok(leaf.subjectAltName?.includes(hostname));
  });
});
