/**
 * Contract test: public exposure through a Cloudflare Tunnel, through the
 * CLI, against a local stand-in for Cloudflare's API that follows its
 * documented request and answer shapes (src/dns/cloudflare-contract-server.test.ts).
 * The live API cannot be reached from here, so this proves holt speaks the
 * documented protocol, not that Cloudflare answers the same.
 *
 * Real parts: Podman runs the tunnel's container (a stand-in image named
 * fake-cloudflared, which prints what it was started with), Caddy serves
 * the routes. The lab: one public service through the tunnel (proxied CNAME
 * to the tunnel, an ingress rule to the service on the lab network) and one
 * private service (an unproxied A record), which is then made public through
 * the tunnel and private again: its name moves between an A record and a
 * CNAME, which the stand-in, like Cloudflare, refuses to hold side by side.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type ContractServer,
  startContractServer,
} from "../../src/dns/cloudflare-contract-server.test.ts";
import { type CaddyPeer, startCaddy } from "../peers/caddy.ts";
import {
  ensureTestImages,
  podman,
  podmanOk,
  removeLabResources,
  type TestImages,
  testLab,
} from "../peers/podman.ts";
import { freePorts } from "../peers/ports.ts";
import { createLabFolder, type LabFolder } from "./harness.ts";

const ZONE = "tun.example.com";
const FAKE_CLOUDFLARED = "localhost/holt-test/fake-cloudflared:1";
const TUNNEL_TOKEN = "eyJ-fake-tunnel-token-5c1d";
const suffix = String(process.pid);
const web = `web${suffix}`;
const home = `home${suffix}`;

let server: ContractServer;
let caddy: CaddyPeer;
let images: TestImages;
let folder: LabFolder;
let lab: string;
let ports: number[];
const tunnelId = randomUUID();

function buildFakeCloudflared(): void {
  const dir = mkdtempSync(join(tmpdir(), "holt-fake-cloudflared-"));
  try {
    writeFileSync(
      join(dir, "Containerfile"),
      [
        `FROM ${images.v1}`,
        // Prints its arguments and the token's length (never the token), then idles.
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell expansion inside the image
        'ENTRYPOINT ["/bin/entry", "/bin/sh", "-c", "echo fake-cloudflared \\"$*\\" token-length=${#TUNNEL_TOKEN}; exec sleep 100000", "cloudflared"]',
        "",
      ].join("\n"),
    );
    podmanOk(["build", "--pull=never", "-q", "-t", FAKE_CLOUDFLARED, dir]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function config(knobs: { homePublic?: boolean } = {}): string {
  const [webPort, homePort] = ports;
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
  dns: { zones: { "${ZONE}": { provider: "cloudflare", apiToken: secret("cloudflare") } } },
  edge: {
    tunnel: {
      provider: "cloudflare",
      accountId: "${server.accountId}",
      tunnelId: "${tunnelId}",
      token: secret("tunnel-token"),
      apiToken: secret("cloudflare"),
      host: "box",
      image: "${FAKE_CLOUDFLARED}",
    },
  },
  services: {
    ${web}: {
      host: "box",
      image: "${images.v1}",
      hostname: "www",
      expose: "public",
      port: 8080,
      hostPort: ${webPort},
      command: ["sh", "-c", "mkdir -p /srv && echo public > /srv/index.html && exec httpd -f -p 8080 -h /srv"],
    },
    ${home}: {
      host: "box",
      image: "${images.v1}",
      hostname: "home",${knobs.homePublic === true ? '\n      expose: "public",' : ""}
      port: 8080,
      hostPort: ${homePort},
      command: ["sh", "-c", "mkdir -p /srv && echo private > /srv/index.html && exec httpd -f -p 8080 -h /srv"],
    },
  },
});
`;
}

const env = (): NodeJS.ProcessEnv => ({
  HOLT_AGE_KEY_FILE: join(folder.dir, "age.key"),
  HOLT_CLOUDFLARE_API: server.url,
});
const printed: string[] = [];
/** Async: the stand-in API runs in this process, so a blocking spawn would starve it. */
async function run(args: string[]) {
  const r = await folder.holtAsync(args, env()).done;
  printed.push(r.stdout, r.stderr);
  return r;
}

function setSecret(name: string, value: string): void {
  folder.setSecret(name, value, env());
}

function zoneRecords() {
  const zone = server.zones[0];
  assert.ok(zone !== undefined);
  return (server.records.get(zone.id) ?? [])
    .map((r) => ({
      name: r.name,
      type: r.type,
      content: r.content,
      proxied: r.proxied,
      comment: r.comment,
    }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

describe("contract: Cloudflare DNS and Tunnel through the CLI (documented API shapes, local stand-in)", () => {
  before(async () => {
    images = await ensureTestImages();
    buildFakeCloudflared();
    ports = await freePorts(2);
    caddy = await startCaddy();
    server = await startContractServer({ zones: [{ name: ZONE }] });
    server.tunnels.push({
      id: tunnelId,
      name: "homelab",
      deleted_at: null,
      config: null,
      token: TUNNEL_TOKEN,
    });
    lab = testLab("tunnel");
    folder = createLabFolder();
    folder.write(config());
    assert.equal((await run(["secrets", "init"])).code, 0);
    setSecret("cloudflare", server.token);
    setSecret("tunnel-token", TUNNEL_TOKEN);
  });

  after(async () => {
    if (lab !== undefined) removeLabResources(lab);
    podman(["rm", "-f", "holt-cloudflared"]);
    await caddy?.stop();
    await server?.close();
    folder?.remove();
  });

  test("contract: the plan shows the proxied CNAME, the ingress rule and the tunnel's container", async () => {
    const r = await run(["plan"]);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout + r.stderr;
    assert.match(text, /\+ dns www\.tun\.example\.com CNAME/);
    assert.match(text, new RegExp(`${tunnelId}\\.cfargotunnel\\.com`));
    assert.match(text, /proxied: yes/);
    assert.match(text, new RegExp(`www\\.tun\\.example\\.com → http://${web}:8080`));
    assert.match(text, /\+ container holt-cloudflared/);
    assert.match(text, /\+ dns home\.tun\.example\.com A\s+value=127\.0\.0\.1/);
  });

  test("contract: apply writes the records with holt's mark, the tunnel's ingress, and runs cloudflared", async () => {
    const r = await run(["apply", "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(zoneRecords(), [
      {
        name: `home.${ZONE}`,
        type: "A",
        content: "127.0.0.1",
        proxied: false,
        comment: `holt:lab=${lab}`,
      },
      {
        name: `www.${ZONE}`,
        type: "CNAME",
        content: `${tunnelId}.cfargotunnel.com`,
        proxied: true,
        comment: `holt:lab=${lab}`,
      },
    ]);
    const config = server.tunnels[0]?.config as {
      ingress: { hostname?: string; service: string }[];
    };
    assert.deepEqual(config.ingress, [
      { hostname: `www.${ZONE}`, service: `http://${web}:8080` },
      { service: "http_status:404" },
    ]);
    const logs = podmanOk(["logs", "holt-cloudflared"]);
    assert.match(logs, /fake-cloudflared tunnel --no-autoupdate run token-length=26/);
  });

  test("contract: a second plan is a no-op", async () => {
    const r = await run(["plan"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /No changes\./);
  });

  test("contract: a private service made public through the tunnel: its A record goes, then the CNAME comes", async () => {
    folder.write(config({ homePublic: true }));
    const plan = await run(["plan", "--json"]);
    assert.equal(plan.code, 0, plan.stderr);
    const changes = (JSON.parse(plan.stdout) as { changes: { address: string; action: string }[] })
      .changes;
    const a = `dns.record:@edge/public/home.${ZONE}/A`;
    const cname = `dns.record:@edge/public/home.${ZONE}/CNAME`;
    assert.ok(
      changes.findIndex((c) => c.address === a && c.action === "delete") <
        changes.findIndex((c) => c.address === cname && c.action === "create"),
      JSON.stringify(changes),
    );
    const r = await run(["apply", "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(
      zoneRecords().filter((rec) => rec.name === `home.${ZONE}`),
      [
        {
          name: `home.${ZONE}`,
          type: "CNAME",
          content: `${tunnelId}.cfargotunnel.com`,
          proxied: true,
          comment: `holt:lab=${lab}`,
        },
      ],
    );
    const tunnel = server.tunnels[0]?.config as { ingress: { hostname?: string }[] } | undefined;
    assert.deepEqual(
      tunnel?.ingress.map((rule) => rule.hostname),
      [`home.${ZONE}`, `www.${ZONE}`, undefined],
    );
    assert.match((await run(["plan"])).stdout, /No changes\./);
  });

  test("contract: and private again: the CNAME goes, then the A record comes back", async () => {
    folder.write(config());
    const r = await run(["apply", "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(
      zoneRecords().filter((rec) => rec.name === `home.${ZONE}`),
      [
        {
          name: `home.${ZONE}`,
          type: "A",
          content: "127.0.0.1",
          proxied: false,
          comment: `holt:lab=${lab}`,
        },
      ],
    );
    assert.match((await run(["plan"])).stdout, /No changes\./);
  });

  test("contract: every request holt sent and every answer the stand-in gave matched Cloudflare's published schema", () => {
    assert.deepEqual(server.violations, []);
  });

  test("contract: neither the API token nor the tunnel token is ever printed", () => {
    const all = printed.join("\n");
    assert.ok(!all.includes(server.token));
    assert.ok(!all.includes(TUNNEL_TOKEN));
  });
});
