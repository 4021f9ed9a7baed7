/**
 * One hostname, defined once, end to end through the CLI on real peers: a
 * Knot DNS server taking RFC 2136 updates signed with TSIG, Pebble (ACME)
 * validating DNS-01 challenges against that Knot, Caddy, and Podman. A
 * private service gets its A record and a certificate from the CA; Caddy
 * serves it; records made by hand are never touched; renaming the hostname
 * moves record, certificate and route in one plan and nothing else; a wrong
 * TSIG key fails naming provider, zone and fix, and changes nothing.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CaddyPeer, curlThrough, type HttpsAnswer, startCaddy } from "../peers/caddy.ts";
import type { DnsPeer } from "../peers/dns-peer.ts";
import { startKnot } from "../peers/knot.ts";
import { type PebblePeer, startPebble } from "../peers/pebble.ts";
import { ensureTestImages, removeLabResources, type TestImages, testLab } from "../peers/podman.ts";
import { freePorts } from "../peers/ports.ts";
import { createLabFolder, type LabFolder } from "./harness.ts";

const ZONE = "edge.test";
const suffix = String(process.pid);
const media = `media${suffix}`;
const taken = `taken${suffix}`;

let caddy: CaddyPeer;
let knot: DnsPeer;
let pebble: PebblePeer;
let images: TestImages;
let folder: LabFolder;
let lab: string;
let port: number;
let takenPort: number;
let rootCa: string;

interface Knobs {
  hostname?: string;
  ttl?: number;
}

function config(knobs: Knobs = {}): string {
  return `import { defineLab, secret } from "holt";

export default defineLab({
  domain: "${ZONE}",
  name: "${lab}",
  hosts: {
    box: {
      connect: "local",
      proxy: { admin: "127.0.0.1:${caddy.adminPort}", httpsPort: ${caddy.httpsPort}, httpPort: ${caddy.httpPort} },
    },
  },
  dns: {
    zones: {
      "${ZONE}": {
        provider: "rfc2136",
        server: "${knot.server}",
        tsig: { name: "${knot.tsig.name}", algorithm: "${knot.tsig.algorithm}", secret: secret("tsig") },
        nameservers: ["${knot.server}"],
        ttl: ${knobs.ttl ?? 300},
      },
    },
  },
  acme: { email: "admin@${ZONE}", directory: "${pebble.directoryUrl}", trust: "./pebble-https.pem", propagationTimeout: 30 },
  services: {
    ${media}: {
      host: "box",
      image: "${images.v1}",
      hostname: "${knobs.hostname ?? "media"}",
      port: 8080,
      hostPort: ${port},
      command: ["sh", "-c", "mkdir -p /srv && echo private-media > /srv/index.html && exec httpd -f -p 8080 -h /srv"],
      health: { http: "/index.html", interval: "1s", timeout: "1s", retries: 3 },
    },
    ${taken}: {
      host: "box",
      image: "${images.v1}",
      hostname: "taken",
      port: 8080,
      hostPort: ${takenPort},
      user: "1000:1000",
      certificate: { path: "/certs" },
      command: ["sh", "-c", "mkdir -p /tmp/srv && echo taken > /tmp/srv/index.html && exec httpd -f -p 8080 -h /tmp/srv"],
    },
  },
});
`;
}

const env = (): NodeJS.ProcessEnv => ({ HOLT_AGE_KEY_FILE: join(folder.dir, "age.key") });
const printed: string[] = [];
function run(args: string[]) {
  const r = folder.holt(args, env());
  printed.push(r.stdout, r.stderr);
  return r;
}

function setSecret(name: string, value: string): void {
  folder.setSecret(name, value, env());
}

/** curl through Caddy trusting only Pebble's root: the certificate must come from the CA. */
function curlPebble(hostname: string): HttpsAnswer {
  return curlThrough(caddy, hostname, "/index.html", rootCa);
}

interface JsonPlan {
  changes: { address: string; action: string; type: string; name: string }[];
  unmanaged: { address: string }[];
}

function planJson(): JsonPlan {
  const r = run(["plan", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as JsonPlan;
}

describe("DNS records and ACME certificates end to end (Knot + Pebble + Caddy + Podman)", () => {
  before(async () => {
    images = await ensureTestImages();
    [port = 0, takenPort = 0] = await freePorts(2);
    caddy = await startCaddy();
    knot = await startKnot({ zone: ZONE });
    pebble = await startPebble({ dnsServer: knot.server });
    lab = testLab("edge");
    folder = createLabFolder();
    writeFileSync(join(folder.dir, "pebble-https.pem"), pebble.httpsCaPem);
    rootCa = join(folder.dir, "pebble-root.pem");
    writeFileSync(rootCa, `${pebble.rootCaPem}`);
    folder.write(config());
    const init = run(["secrets", "init"]);
    assert.equal(init.code, 0, init.stderr);
    setSecret("tsig", knot.tsig.secret);
    // Made by hand: one at another name, one at the name a service will want.
    await knot.setByHand(`other.${ZONE}`, "A", 300, ["10.9.9.9"]);
    await knot.setByHand(`taken.${ZONE}`, "A", 300, ["10.1.1.1"]);
  });

  after(async () => {
    if (lab !== undefined) {
      removeLabResources(lab);
      rmSync(`/var/lib/holt/certs/${lab}`, { recursive: true, force: true });
    }
    await caddy?.stop();
    await pebble?.stop();
    await knot?.stop();
    folder?.remove();
  });

  test("the plan shows the record, the certificate and the route of the hostname", () => {
    const r = run(["plan"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout + r.stderr,
      new RegExp(`\\+ dns media\\.${ZONE} A\\s+value=127\\.0\\.0\\.1`),
    );
    const plan = planJson();
    const addresses = plan.changes.map((c) => `${c.action} ${c.address}`);
    for (const wanted of [
      `create dns.record:@edge/public/media.${ZONE}/A`,
      `create tls.certificate:box/media.${ZONE}`,
      `create caddy.route:box/media.${ZONE}`,
    ]) {
      assert.ok(addresses.includes(wanted), `${wanted} not in\n${addresses.join("\n")}`);
    }
    assert.deepEqual(
      plan.unmanaged.map((u) => u.address),
      [`dns.record:@edge/public/taken.${ZONE}/A`],
      "a record made by hand at a wanted name is shown as a conflict",
    );
    const cert = addresses.indexOf(`create tls.certificate:box/media.${ZONE}`);
    const route = addresses.indexOf(`create caddy.route:box/media.${ZONE}`);
    assert.ok(cert < route, "the certificate is loaded before the route uses it");
  });

  test("apply: the record is served, Caddy serves the CA's certificate, challenges are gone", async () => {
    const started = Date.now();
    const r = run(["apply", "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    process.stdout.write(`# apply with DNS-01 issuance: ${Date.now() - started} ms\n`);
    assert.deepEqual(knot.dig(`media.${ZONE}`, "A"), ["127.0.0.1"]);
    const page = curlPebble(`media.${ZONE}`);
    assert.equal(page.code, 0, page.stderr);
    assert.equal(page.body, "private-media\n");
    assert.deepEqual(knot.dig(`_acme-challenge.media.${ZONE}`, "TXT"), []);
    assert.deepEqual(knot.dig(`other.${ZONE}`, "A"), ["10.9.9.9"], "a record made by hand stays");
    assert.deepEqual(knot.dig(`taken.${ZONE}`, "A"), ["10.1.1.1"], "a conflicting one too");
    // What anyone on the host can read from Caddy's admin API holds no key.
    const config = await caddy.admin("GET", "/config/");
    assert.match(config.body, /"load_files"/);
    assert.ok(!config.body.includes("PRIVATE KEY"), config.body);
  });

  test("a service that asks gets its certificate's files, readable by its user only", () => {
    const cat = (file: string) =>
      spawnSync("podman", ["exec", `holt-${taken}`, "cat", `/certs/${file}`], { encoding: "utf8" });
    const chain = cat("fullchain.pem");
    assert.equal(chain.status, 0, chain.stderr);
    const leaf = new X509Certificate(chain.stdout);
    assert.match(leaf.subjectAltName ?? "", new RegExp(`taken\\.${ZONE.replace(".", "\\.")}`));
    const key = cat("privkey.pem");
    assert.equal(key.status, 0, "the service's user reads the key");
    assert.ok(createPrivateKey(key.stdout).asymmetricKeyType !== undefined);
    assert.ok(
      leaf.checkPrivateKey(createPrivateKey(key.stdout)),
      "the key matches the certificate",
    );
    const dir = `/var/lib/holt/certs/${lab}/taken.${ZONE}`;
    const stat = statSync(`${dir}/privkey.pem`);
    assert.equal(stat.mode & 0o777, 0o600);
    assert.equal(stat.uid, 1000);
    // Caddy serves the same certificate.
    const served = spawnSync(
      "openssl",
      ["s_client", "-connect", `127.0.0.1:${caddy.httpsPort}`, "-servername", `taken.${ZONE}`],
      { input: "", encoding: "utf8" },
    ).stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)?.[0];
    assert.equal(new X509Certificate(served ?? "").fingerprint256, leaf.fingerprint256);
  });

  test("the account key, certificates and DNS list are kept in the state folder, mode 0600", () => {
    const edge = join(folder.stateDir, lab, "edge");
    const files = readdirSync(edge, { recursive: true, withFileTypes: true });
    const names = files.filter((f) => f.isFile()).map((f) => join(f.parentPath, f.name));
    assert.ok(
      names.some((n) => n.endsWith(`certs/media.${ZONE}.json`)),
      names.join("\n"),
    );
    assert.ok(
      names.some((n) => /acme\/.+\.key$/.test(n)),
      "the account key",
    );
    assert.ok(
      names.some((n) => n.endsWith(`dns/public/${ZONE}.json`)),
      "the DNS list",
    );
    for (const name of names) assert.equal(statSync(name).mode & 0o777, 0o600, name);
    for (const dir of files.filter((f) => f.isDirectory())) {
      assert.equal(statSync(join(dir.parentPath, dir.name)).mode & 0o777, 0o700, dir.name);
    }
  });

  test("a second plan is a no-op; holt dns and holt certs show what is there", () => {
    const r = run(["plan"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /No changes\./);
    const dns = run(["dns", "--json"]);
    assert.equal(dns.code, 2, "exit 2: not everything is in sync (the conflict)");
    const records = (
      JSON.parse(dns.stdout) as { records: { name: string; status: string; have: string[] }[] }
    ).records;
    assert.deepEqual(
      records.map((x) => [x.name, x.status, x.have]),
      [
        [`media.${ZONE}`, "in sync", ["127.0.0.1"]],
        [`taken.${ZONE}`, "conflict", ["10.1.1.1"]],
      ],
    );
    const certs = run(["certs", "--json"]);
    assert.equal(certs.code, 0, certs.stderr);
    const list = (
      JSON.parse(certs.stdout) as {
        certificates: {
          name: string;
          issuer: string;
          notAfter: string;
          renewAt: string;
          hosts: { host: string; loaded: boolean }[];
        }[];
      }
    ).certificates;
    assert.deepEqual(
      list.map((c) => c.name),
      [`media.${ZONE}`, `taken.${ZONE}`],
    );
    assert.match(list[0]?.issuer ?? "", /Pebble/);
    assert.ok(Date.parse(list[0]?.renewAt ?? "") < Date.parse(list[0]?.notAfter ?? ""));
    assert.deepEqual(list[0]?.hosts, [{ host: "box", loaded: true }]);
    const human = run(["certs"]);
    assert.match(human.stdout, /expires/);
  });

  test("holt's own record changed by hand is drift, which apply corrects", async () => {
    await knot.setByHand(`media.${ZONE}`, "A", 300, ["10.1.1.1"]);
    const drift = run(["dns", "--json"]);
    assert.equal(drift.code, 2);
    assert.match(drift.stdout, /"drift"/);
    const fixed = run(["apply", "--yes"]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.deepEqual(knot.dig(`media.${ZONE}`, "A"), ["127.0.0.1"]);
  });

  test("holt adopt takes over the conflicting record; then it is holt's and in sync", () => {
    const address = `dns.record:@edge/public/taken.${ZONE}/A`;
    const r = run(["adopt", address, "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(knot.dig(`taken.${ZONE}`, "A"), ["127.0.0.1"]);
    const dns = JSON.parse(run(["dns", "--json"]).stdout) as {
      records: { name: string; status: string }[];
    };
    assert.deepEqual(
      dns.records.map((x) => [x.name, x.status]),
      [
        [`media.${ZONE}`, "in sync"],
        [`taken.${ZONE}`, "in sync"],
      ],
    );
  });

  test("renaming the hostname moves record, certificate and route in one plan, and nothing else", () => {
    folder.write(config({ hostname: "films" }));
    const plan = planJson();
    const lines = plan.changes.map((c) => `${c.action} ${c.address}`).sort();
    assert.deepEqual(lines, [
      `create caddy.route:box/films.${ZONE}`,
      `create dns.record:@edge/public/films.${ZONE}/A`,
      `create tls.certificate:box/films.${ZONE}`,
      `delete caddy.route:box/media.${ZONE}`,
      `delete dns.record:@edge/public/media.${ZONE}/A`,
      `delete tls.certificate:box/media.${ZONE}`,
    ]);
    const r = run(["apply", "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(knot.dig(`media.${ZONE}`, "A"), []);
    assert.deepEqual(knot.dig(`films.${ZONE}`, "A"), ["127.0.0.1"]);
    assert.equal(curlPebble(`films.${ZONE}`).body, "private-media\n");
    assert.deepEqual(knot.dig(`other.${ZONE}`, "A"), ["10.9.9.9"]);
    assert.match(run(["plan"]).stdout, /No changes\./);
  });

  test("a wrong TSIG key fails naming provider, zone and fix, and changes nothing", () => {
    setSecret("tsig", Buffer.alloc(32, 7).toString("base64"));
    folder.write(config({ hostname: "films", ttl: 600 }));
    const r = run(["apply", "--yes"]);
    const text = r.stdout + r.stderr;
    assert.equal(r.code, 1, text);
    assert.match(text, /HOLT_E_DNS/);
    assert.match(text, /rfc2136/);
    assert.match(text, new RegExp(ZONE.replace(".", "\\.")));
    assert.match(text, /tsig/);
    assert.ok(!text.includes(Buffer.alloc(32, 7).toString("base64")), "the key is not printed");
    assert.deepEqual(knot.dig(`films.${ZONE}`, "A"), ["127.0.0.1"]);
    setSecret("tsig", knot.tsig.secret);
    const ok = run(["apply", "--yes"]);
    assert.equal(ok.code, 0, ok.stderr);
  });

  test("no secret value was ever printed", () => {
    const all = printed.join("\n");
    assert.ok(!all.includes(knot.tsig.secret), "the TSIG secret never shows");
  });
});
