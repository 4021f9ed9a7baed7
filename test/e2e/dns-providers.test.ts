/**
 * The DNS providers through the CLI, each against its real server: Knot and
 * BIND by RFC 2136 with TSIG, PowerDNS by its HTTP API. One lab, one zone on
 * each server, one service in each zone. For every provider: records are
 * created, updated and deleted; a second apply is a no-op; a record made by
 * hand at another name is never touched, and one at a wanted name shows as a
 * conflict and stays as it was; a wrong key fails naming provider, zone and
 * fix, and changes nothing. The Knot zone's service is public on a host
 * with `public: "auto"`: its record gets the address a local stand-in for a
 * "what is my IP" service answers (`dns.publicIpUrl`). When the host's
 * address becomes a DNS name, every service's name moves from an A record to
 * a CNAME, and back: each server refuses the two side by side, so the plan
 * must delete the old set first.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startBind } from "../peers/bind.ts";
import { type CaddyPeer, startCaddy } from "../peers/caddy.ts";
import type { DnsPeer } from "../peers/dns-peer.ts";
import { startKnot } from "../peers/knot.ts";
import { ensureTestImages, removeLabResources, type TestImages, testLab } from "../peers/podman.ts";
import { freePorts } from "../peers/ports.ts";
import { type PowerDnsPeer, startPowerDns } from "../peers/powerdns.ts";
import { createLabFolder, type LabFolder } from "./harness.ts";

const DOMAIN = "prov.test";
const suffix = String(process.pid);

interface Knobs {
  ttl?: number;
  /** Services to leave out of the config, by zone label. */
  without?: readonly string[];
  /** The host's address as a DNS name: every service's record becomes a CNAME to it (all private). */
  alias?: string;
}

let caddy: CaddyPeer;
let knot: DnsPeer;
let bind: DnsPeer;
let pdns: PowerDnsPeer;
let images: TestImages;
let folder: LabFolder;
let lab: string;
let ports: number[];

/** The three zones, by label: the zone `<label>.prov.test` lives on that server. */
const LABELS = ["knot", "bind", "pdns"] as const;
type Label = (typeof LABELS)[number];
const zoneOf = (label: Label) => `${label}.${DOMAIN}`;
const peerOf = (label: Label): DnsPeer =>
  label === "knot" ? knot : label === "bind" ? bind : pdns;

function config(knobs: Knobs = {}): string {
  const ttl = knobs.ttl ?? 300;
  const rfc2136 = (peer: DnsPeer) => `{
        provider: "rfc2136",
        server: "${peer.server}",
        tsig: { name: "${peer.tsig.name}", algorithm: "${peer.tsig.algorithm}", secret: secret("${peer.kind}-tsig") },
        nameservers: ["${peer.server}"],
        ttl: ${ttl},
      }`;
  const services = LABELS.filter((l) => !(knobs.without ?? []).includes(l))
    .map(
      (label, i) => `
    ${label}${suffix}: {
      host: "box",
      image: "${images.v1}",
      hostname: "app.${label}",${label === "knot" && knobs.alias === undefined ? '\n      expose: "public",' : ""}
      port: 8080,
      hostPort: ${ports[i]},
      command: ["sh", "-c", "exec httpd -f -p 8080 -h /www"],
    },`,
    )
    .join("");
  return `import { defineLab, secret } from "holt";

export default defineLab({
  domain: "${DOMAIN}",
  name: "${lab}",
  hosts: {
    box: {
      connect: "local",${knobs.alias === undefined ? "" : `\n      address: "${knobs.alias}",`}
      // The knot zone's service is public: its record gets this network's public address.
      public: "auto",
      proxy: { admin: "127.0.0.1:${caddy.adminPort}", httpsPort: ${caddy.httpsPort}, httpPort: ${caddy.httpPort} },
    },
  },
  dns: {
    publicIpUrl: "${publicIp.url}",
    zones: {
      "${zoneOf("knot")}": ${rfc2136(knot)},
      "${zoneOf("bind")}": ${rfc2136(bind)},
      "${zoneOf("pdns")}": {
        provider: "powerdns",
        url: "${pdns.apiUrl}",
        apiKey: secret("pdns-key"),
        nameservers: ["${pdns.server}"],
        ttl: ${ttl},
      },
    },
  },
  services: {${services}
  },
});
`;
}

const env = (): NodeJS.ProcessEnv => ({ HOLT_AGE_KEY_FILE: join(folder.dir, "age.key") });
const printed: string[] = [];
/** Async: nothing here serves from this process, but a long apply should not block the peers' timers. */
async function run(args: string[]) {
  const r = await folder.holtAsync(args, env()).done;
  printed.push(r.stdout, r.stderr);
  return r;
}

function setSecret(name: string, value: string): void {
  folder.setSecret(name, value, env());
}

function setCorrectKeys(): void {
  setSecret("knot-tsig", knot.tsig.secret);
  setSecret("bind-tsig", bind.tsig.secret);
  setSecret("pdns-key", pdns.apiKey);
}

const app = (label: Label) => `app.${zoneOf(label)}`;
/** What the stand-in for api.ipify.org answers: this "network's" public address. */
const PUBLIC_IP = "198.51.100.23";
const addressOf = (label: Label) => (label === "knot" ? PUBLIC_IP : "127.0.0.1");
let publicIp: { url: string; close(): Promise<void> };

/** A local stand-in for a "what is my IP" service (`dns.publicIpUrl`), answering in plain text. */
async function startPublicIpService(): Promise<typeof publicIp> {
  const server = createServer((_req, res) => res.end(`${PUBLIC_IP}\n`));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe("DNS providers through the CLI (real Knot, BIND and PowerDNS)", () => {
  before(async () => {
    images = await ensureTestImages();
    ports = await freePorts(3);
    caddy = await startCaddy();
    publicIp = await startPublicIpService();
    [knot, bind, pdns] = await Promise.all([
      startKnot({ zone: zoneOf("knot") }),
      startBind({ zone: zoneOf("bind") }),
      startPowerDns({ zone: zoneOf("pdns") }),
    ]);
    lab = testLab("prov");
    folder = createLabFolder();
    folder.write(config());
    assert.equal((await run(["secrets", "init"])).code, 0);
    setCorrectKeys();
    for (const label of LABELS) {
      const peer = peerOf(label);
      await peer.setByHand(`other.${zoneOf(label)}`, "A", 300, ["10.9.9.9"]);
      await peer.setByHand(`taken.${zoneOf(label)}`, "TXT", 300, ["made by hand"]);
    }
  });

  after(async () => {
    if (lab !== undefined) removeLabResources(lab);
    await caddy?.stop();
    await Promise.all([knot?.stop(), bind?.stop(), pdns?.stop(), publicIp?.close()]);
    folder?.remove();
  });

  test("a record made by hand at a wanted name is a conflict; apply creates the rest", async () => {
    // Each server already has an A record at the name one service wants.
    for (const label of LABELS) await peerOf(label).setByHand(app(label), "A", 300, ["10.1.1.1"]);
    const plan = await run(["plan", "--json"]);
    assert.equal(plan.code, 0, plan.stderr);
    const parsed = JSON.parse(plan.stdout) as { unmanaged: { address: string }[] };
    assert.deepEqual(
      parsed.unmanaged.map((u) => u.address).sort(),
      LABELS.map((l) => `dns.record:@edge/public/${app(l)}/A`).sort(),
    );
    const r = await run(["apply", "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    for (const label of LABELS) {
      assert.deepEqual(peerOf(label).dig(app(label), "A"), ["10.1.1.1"], `${label}: left alone`);
    }
    // The user removes the hand-made records; now holt creates its own.
    for (const label of LABELS) await peerOf(label).setByHand(app(label), "A", 300, []);
    const second = await run(["apply", "--yes"]);
    assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}`);
    for (const label of LABELS) {
      assert.deepEqual(peerOf(label).dig(app(label), "A"), [addressOf(label)], `${label}: created`);
    }
  });

  test("a second apply is a no-op; holt dns shows every record in sync", async () => {
    const plan = await run(["plan", "--detailed-exitcode"]);
    assert.equal(plan.code, 0, `${plan.stdout}\n${plan.stderr}`);
    const dns = await run(["dns", "--json"]);
    assert.equal(dns.code, 0, dns.stdout);
    const records = (JSON.parse(dns.stdout) as { records: { name: string; status: string }[] })
      .records;
    assert.deepEqual(
      records.map((x) => [x.name, x.status]),
      LABELS.map((l) => [app(l), "in sync"]).sort(),
    );
  });

  test("an update changes the record in place on every server", async () => {
    folder.write(config({ ttl: 600 }));
    const plan = await run(["plan"]);
    for (const label of LABELS) {
      assert.match(
        plan.stdout + plan.stderr,
        new RegExp(`~ dns ${app(label).replaceAll(".", "\\.")} A`),
      );
    }
    const r = await run(["apply", "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    for (const label of LABELS) {
      const answer = await peerOf(label).query(app(label), "A");
      assert.deepEqual(
        answer.answers.map((a) => a.ttl),
        [600],
        `${label}: TTL updated`,
      );
    }
    assert.equal((await run(["plan", "--detailed-exitcode"])).code, 0);
  });

  test("a wrong key fails naming provider, zone and fix, and changes nothing", async () => {
    folder.write(config({ ttl: 900 }));
    const wrong = [Buffer.alloc(32, 1).toString("base64"), Buffer.alloc(32, 2).toString("base64")];
    try {
      // RFC 2136 reads are plain queries: the wrong TSIG keys show when the updates are sent.
      setSecret("knot-tsig", wrong[0] ?? "");
      setSecret("bind-tsig", wrong[1] ?? "");
      const r = await run(["apply", "--yes"]);
      const text = r.stdout + r.stderr;
      assert.equal(r.code, 1, text);
      for (const label of ["knot", "bind"] as const) {
        const zone = zoneOf(label).replaceAll(".", "\\.");
        assert.match(text, new RegExp(`HOLT_E_DNS\\] .*zone "${zone}" \\(rfc2136, server`));
      }
      assert.match(text, /Check dns\.zones\["knot\.prov\.test"\]\.tsig/);
      // The PowerDNS key is wrong when the API refuses even to read: the plan stops there.
      setSecret("knot-tsig", knot.tsig.secret);
      setSecret("bind-tsig", bind.tsig.secret);
      setSecret("pdns-key", "wrong-api-key");
      const p = await run(["apply", "--yes"]);
      const ptext = p.stdout + p.stderr;
      assert.equal(p.code, 1, ptext);
      assert.match(ptext, /HOLT_E_DNS\] .*zone "pdns\.prov\.test" \(powerdns, API/);
      assert.match(ptext, /Check dns\.zones\["pdns\.prov\.test"\]\.apiKey/);
      for (const value of [...wrong, "wrong-api-key"]) {
        assert.ok(!text.includes(value) && !ptext.includes(value), "no key is printed");
      }
      for (const label of ["knot", "bind"] as const) {
        const answer = await peerOf(label).query(app(label), "A");
        assert.deepEqual(
          answer.answers.map((a) => a.ttl),
          [600],
          `${label}: unchanged`,
        );
      }
    } finally {
      setCorrectKeys();
    }
    // PowerDNS's key was right in the first apply, so only its record took the new TTL;
    // the second apply stopped at reading PowerDNS, before changing Knot or BIND.
    const answer = await pdns.query(app("pdns"), "A");
    assert.deepEqual(
      answer.answers.map((a) => a.ttl),
      [900],
    );
  });

  test("a name moving from an A record to a CNAME and back applies on every server, the old set deleted first", async () => {
    const GATEWAY = `gw.${DOMAIN}`;
    folder.write(config({ ttl: 600, alias: GATEWAY }));
    const plan = await run(["plan", "--json"]);
    assert.equal(plan.code, 0, plan.stderr);
    const order = (
      JSON.parse(plan.stdout) as { changes: { address: string; action: string }[] }
    ).changes.map((c) => `${c.action} ${c.address}`);
    for (const label of LABELS) {
      const a = order.indexOf(`delete dns.record:@edge/public/${app(label)}/A`);
      const cname = order.indexOf(`create dns.record:@edge/public/${app(label)}/CNAME`);
      assert.ok(a >= 0 && cname > a, `${label}: ${order.join(", ")}`);
    }
    const r = await run(["apply", "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    for (const label of LABELS) {
      assert.deepEqual(peerOf(label).dig(app(label), "CNAME"), [GATEWAY], `${label}: a CNAME now`);
      assert.deepEqual(await peerOf(label).served(app(label), "A"), [], `${label}: no A beside it`);
    }
    assert.equal((await run(["plan", "--detailed-exitcode"])).code, 0);

    folder.write(config({ ttl: 600 }));
    const back = await run(["apply", "--yes"]);
    assert.equal(back.code, 0, `${back.stdout}\n${back.stderr}`);
    for (const label of LABELS) {
      assert.deepEqual(peerOf(label).dig(app(label), "A"), [addressOf(label)], `${label}: A again`);
      assert.deepEqual(await peerOf(label).served(app(label), "CNAME"), [], `${label}: CNAME gone`);
    }
    assert.equal((await run(["plan", "--detailed-exitcode"])).code, 0);
  });

  test("removing a service deletes its record; hand-made records are all untouched", async () => {
    folder.write(config({ ttl: 600, without: ["bind"] }));
    const r = await run(["apply", "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(bind.dig(app("bind"), "A"), [], "deleted");
    assert.deepEqual(knot.dig(app("knot"), "A"), [PUBLIC_IP]);
    assert.deepEqual(pdns.dig(app("pdns"), "A"), ["127.0.0.1"]);
    for (const label of LABELS) {
      assert.deepEqual(peerOf(label).dig(`other.${zoneOf(label)}`, "A"), ["10.9.9.9"]);
      assert.deepEqual(peerOf(label).dig(`taken.${zoneOf(label)}`, "TXT"), ["made by hand"]);
    }
    assert.equal((await run(["plan", "--detailed-exitcode"])).code, 0);
  });

  test("no secret value was ever printed", () => {
    const all = printed.join("\n");
    for (const value of [knot.tsig.secret, bind.tsig.secret, pdns.apiKey]) {
      assert.ok(!all.includes(value));
    }
  });
});
