/**
 * Journey J1 end to end, through the CLI on real zfs-fuse, Podman and Caddy:
 * one declaration becomes datasets → container → health gate → HTTPS route;
 * changes replace only the container; removal keeps the data; a failing
 * health check stops only its own service; secrets never show.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CaddyPeer, curlThrough, type HttpsAnswer, startCaddy } from "../peers/caddy.ts";
import {
  ensureTestImages,
  podman,
  podmanOk,
  removeLabResources,
  type TestImages,
  testLab,
} from "../peers/podman.ts";
import { freePorts } from "../peers/ports.ts";
import { createTestPool, type TestPool } from "../peers/zfs.ts";
import { createLabFolder, type LabFolder, zfsGet } from "./harness.ts";

const SECRET_TOKEN = "tok-9f2c1e7a55d04b8e";
const SECRET_PASSWORD = "pw-Qm4xV8rT2sLk";
const NEW_TOKEN = "tok-b71d0c93aa6e42f1";
const DOMAIN = "svc.test";

interface Knobs {
  image?: string;
  tz?: string;
  brokenHealthPath?: string;
  withBroken?: boolean;
  withWeb?: boolean;
}

let pool: TestPool;
let caddy: CaddyPeer;
let images: TestImages;
let folder: LabFolder;
let lab: string;
let ports: number[];
const suffix = String(process.pid);
const web = `web${suffix}`;
const api = `api${suffix}`;
const broken = `broken${suffix}`;

function config(knobs: Knobs = {}): string {
  const [webPort, apiPort, brokenPort] = ports;
  const services: string[] = [];
  if (knobs.withWeb !== false) {
    services.push(`
    ${web}: {
      host: "box",
      image: "${knobs.image ?? images.v1}",
      hostname: "web",
      port: 8080,
      hostPort: ${webPort},
      command: ["sh", "-c", "echo api token is $API_TOKEN; date > /data/written-by-container; echo ok > /data/healthz; printf %s \\"$API_TOKEN\\" | wc -c > /data/token-length; wc -c < /run/secrets/pw > /data/pw-length; exec httpd -f -p 8080 -h /data"],
      state: { data: { path: "/data", quota: "50M" } },
      env: { TZ: "${knobs.tz ?? "UTC"}" },
      secrets: { API_TOKEN: secret("api-token"), "/run/secrets/pw": secret("db-password") },
      health: { http: "/healthz", interval: "1s", timeout: "1s", retries: 3 },
      dependsOn: ["${api}"],
    },`);
  }
  services.push(`
    ${api}: {
      host: "box",
      image: "${images.v1}",
      hostname: "api",
      port: 8081,
      hostPort: ${apiPort},
      command: ["sh", "-c", "mkdir -p /srv && echo api-here > /srv/index.html && exec httpd -f -p 8081 -h /srv"],
      health: { http: "/index.html", interval: "1s", timeout: "1s", retries: 3 },
    },`);
  if (knobs.withBroken === true) {
    services.push(`
    ${broken}: {
      host: "box",
      image: "${images.v1}",
      hostname: "broken",
      port: 8082,
      hostPort: ${brokenPort},
      command: ["sh", "-c", "echo starting broken service; mkdir -p /srv && echo here > /srv/up && exec httpd -f -p 8082 -h /srv"],
      health: { http: "${knobs.brokenHealthPath ?? "/missing"}", interval: "1s", timeout: "1s", retries: 2 },
    },`);
  }
  return `import { defineLab, secret } from "holt";

export default defineLab({
  domain: "${DOMAIN}",
  name: "${lab}",
  hosts: {
    box: {
      connect: "local",
      stateRoot: "${pool.name}/holt",
      proxy: { admin: "127.0.0.1:${caddy.adminPort}", httpsPort: ${caddy.httpsPort}, httpPort: ${caddy.httpPort} },
    },
  },
  services: {${services.join("")}
  },
});
`;
}

const env = (): NodeJS.ProcessEnv => ({ HOLT_AGE_KEY_FILE: join(folder.dir, "age.key") });

function holt(args: string[]) {
  return folder.holt(args, env());
}

/** Everything holt printed, for the secret check at the end. */
const printed: string[] = [];
function run(args: string[]) {
  const r = holt(args);
  printed.push(r.stdout, r.stderr);
  return r;
}

function curl(host: string, path: string): HttpsAnswer {
  return curlThrough(caddy, `${host}.${DOMAIN}`, path);
}

function setSecret(name: string, value: string): void {
  folder.setSecret(name, value, env());
}

function containersOfLab(): string[] {
  return podmanOk(["ps", "-a", "--filter", `label=holt.lab=${lab}`, "--format", "{{.Names}}"])
    .split("\n")
    .filter((n) => n !== "")
    .sort();
}

function mountpoint(service: string): string {
  const mp = zfsGet(`${pool.name}/holt/${service}/data`, "mountpoint");
  assert.ok(mp !== null, `dataset of ${service} is missing`);
  return mp[0];
}

describe("services end to end (zfs-fuse + Podman + Caddy)", () => {
  before(async () => {
    images = await ensureTestImages();
    pool = await createTestPool();
    caddy = await startCaddy();
    ports = await freePorts(3);
    lab = testLab("svc");
    folder = createLabFolder();
    folder.write(config());
    const init = run(["secrets", "init"]);
    assert.equal(init.code, 0, init.stderr);
    setSecret("api-token", SECRET_TOKEN);
    setSecret("db-password", SECRET_PASSWORD);
  });

  after(async () => {
    removeLabResources(lab);
    await caddy?.stop();
    await pool?.destroy();
    folder?.remove();
  });

  test("the plan lists datasets, then the container, then the route, per service", () => {
    const r = run(["plan", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { changes: { address: string; action: string }[] };
    const order = plan.changes.map((c) => c.address);
    const at = (a: string) => {
      const i = order.indexOf(a);
      assert.ok(i >= 0, `${a} not in plan:\n${order.join("\n")}`);
      return i;
    };
    const dataset = at(`zfs.dataset:box/${pool.name}/holt/${web}/data`);
    const network = at(`podman.network:box/holt-${lab}`);
    const container = at(`podman.container:box/holt-${web}`);
    const route = at(`caddy.route:box/web.${DOMAIN}`);
    const apiContainer = at(`podman.container:box/holt-${api}`);
    assert.ok(dataset < container && network < container && container < route, order.join("\n"));
    // Caddy reloads on every route change: the host is set to hand queued connections over first.
    assert.ok(at("host.sysctl:box/net.ipv4.tcp_migrate_req") < route, order.join("\n"));
    assert.ok(apiContainer < container, "dependsOn orders the api container first");
    assert.ok(plan.changes.every((c) => c.action === "create"));
    assert.match(r.stderr, /\(secret\)/, "the human plan shows secrets masked");
    // Podman 4.3 shows environment secrets in `podman inspect`: said once for the host.
    const warnings = (JSON.parse(r.stdout) as { warnings: { host: string; message: string }[] })
      .warnings;
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.equal(warnings[0]?.host, "box");
    assert.match(
      warnings[0]?.message ?? "",
      new RegExp(
        `^Podman 4\\.\\d+\\.\\d+ on host "box" shows the values of secrets given as environment variables in \`podman inspect\` \\(Podman 5\\.3 and later hide them\\): ${web}: API_TOKEN\\. Give them as files instead`,
      ),
    );
    assert.equal(r.stderr.split("shows the values of secrets").length - 1, 1, r.stderr);
    assert.match(r.stderr, /^Warnings:\n {2}! Podman 4\./m);
  });

  test("apply brings both services up behind HTTPS, serving files from their dataset", () => {
    const r = run(["apply", "--yes"]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const data = mountpoint(web);
    writeFileSync(join(data, "page.txt"), "served from zfs\n");
    const page = curl("web", "/page.txt");
    assert.equal(page.body, "served from zfs\n", page.stderr);
    assert.equal(curl("api", "/index.html").body, "api-here\n");
    // A file the container wrote lands in the dataset.
    assert.match(readFileSync(join(data, "written-by-container"), "utf8"), /\d/);
    // Secrets arrived (as env and as a file), checked by length only.
    assert.equal(
      readFileSync(join(data, "token-length"), "utf8").trim(),
      String(SECRET_TOKEN.length),
    );
    assert.equal(
      readFileSync(join(data, "pw-length"), "utf8").trim(),
      String(SECRET_PASSWORD.length),
    );
    assert.deepEqual(containersOfLab(), [`holt-${api}`, `holt-${web}`].sort());
    assert.equal(readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim(), "1");
    assert.match(
      readFileSync(`/etc/sysctl.d/60-holt-${lab}.conf`, "utf8"),
      /^net\.ipv4\.tcp_migrate_req = 1$/m,
      "kept across reboots in holt's own sysctl.d file",
    );
    // A file secret stays out of `podman inspect`; an env secret is in the container's
    // environment, which Podman shows to root on the host (docs/secrets.md says so).
    const inspect = podmanOk(["inspect", `holt-${web}`]);
    assert.ok(!inspect.includes(SECRET_PASSWORD), "the file secret is not in podman inspect");
  });

  test("no change: the plan says so", () => {
    const r = run(["plan"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /No changes\. The lab matches the config\./);
  });

  test("status shows each service running and healthy with its URL and dataset", () => {
    const r = run(["status", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const status = JSON.parse(r.stdout) as {
      services: {
        service: string;
        state: string;
        health: string;
        url: string;
        routed: boolean;
        datasets: { name: string; quota: number | null }[];
      }[];
    };
    const w = status.services.find((s) => s.service === web);
    assert.equal(w?.state, "running");
    assert.equal(w?.health, "passing");
    assert.equal(w?.url, `https://web.${DOMAIN}:${caddy.httpsPort}/`);
    assert.equal(w?.routed, true);
    assert.equal(w?.datasets.find((d) => d.name.endsWith("/data"))?.quota, 50 * 1024 * 1024);
    const human = run(["status"]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, new RegExp(`${web}\\s+on box\\s+running, healthy`));
  });

  test("restart restarts the container and waits for its health check", () => {
    const startedAt = () =>
      podmanOk(["inspect", "--format", "{{.State.StartedAt}}", `holt-${api}`]).trim();
    const before = startedAt();
    const r = run(["restart", api]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`Restarted ${api} in [\\d.]+ s; it is up\\.`));
    assert.notEqual(startedAt(), before);
    assert.equal(curl("api", "/index.html").body, "api-here\n");
    const unknown = run(["restart", "nope"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /HOLT_E_USAGE.*"nope" is not a service/);
  });

  test("logs hides the service's secret values", () => {
    const logs = run(["logs", web]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /^api token is \(secret\)$/m);
    assert.ok(!logs.stdout.includes(SECRET_TOKEN));
  });

  test("logs -f follows the container's output until interrupted", async () => {
    const follow = folder.holtAsync(["logs", "-f", "--tail", "1", api], env());
    await new Promise((resolve) => setTimeout(resolve, 1500));
    podmanOk(["exec", `holt-${api}`, "sh", "-c", "echo a-line-to-follow > /proc/1/fd/1"]);
    const deadline = Date.now() + 10_000;
    let seen = "";
    while (Date.now() < deadline && !seen.includes("a-line-to-follow")) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      seen = follow.stdout() + follow.stderr();
    }
    follow.child.kill("SIGINT");
    await follow.done;
    assert.match(seen, /a-line-to-follow/);
  });

  test("changing the image tag replaces the container and nothing else; data stays", () => {
    folder.write(config({ image: images.v2 }));
    const plan = run(["plan", "--json"]);
    assert.equal(plan.code, 0, plan.stderr);
    const changes = (JSON.parse(plan.stdout) as { changes: { address: string; action: string }[] })
      .changes;
    assert.deepEqual(
      changes.map((c) => `${c.action} ${c.address}`),
      [`replace podman.container:box/holt-${web}`],
    );
    const r = run(["apply", "--yes"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(curl("web", "/page.txt").body, "served from zfs\n");
    const image = podmanOk(["inspect", "--format", "{{.ImageName}}", `holt-${web}`]).trim();
    assert.equal(image, images.v2);
  });

  test("changing only an env var replaces the container and nothing else", () => {
    folder.write(config({ image: images.v2, tz: "Europe/Berlin" }));
    const plan = run(["plan"]);
    assert.match(plan.stdout, new RegExp(`-/\\+ container holt-${web}`));
    assert.match(plan.stdout, /env\.TZ: UTC → Europe\/Berlin/);
    assert.match(
      plan.stdout,
      /Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy, 0 to release\./,
    );
    assert.equal(run(["apply", "--yes"]).code, 0);
    assert.equal(curl("web", "/page.txt").body, "served from zfs\n");
    assert.match(run(["plan"]).stdout, /No changes\./);
  });

  test("a saved plan applies with the lab's secrets, and is refused once a secret it uses changed", () => {
    const planFile = join(folder.dir, "tokyo.plan.json");
    folder.write(config({ image: images.v2, tz: "Asia/Tokyo" }));
    const saved = run(["plan", "--out", planFile]);
    assert.equal(saved.code, 0, saved.stderr);
    const applied = run(["apply", planFile]);
    assert.equal(applied.code, 0, applied.stderr);
    const data = mountpoint(web);
    assert.equal(
      readFileSync(join(data, "token-length"), "utf8").trim(),
      String(SECRET_TOKEN.length),
    );

    const stalePlan = join(folder.dir, "paris.plan.json");
    folder.write(config({ image: images.v2, tz: "Europe/Paris" }));
    assert.equal(run(["plan", "--out", stalePlan]).code, 0);
    setSecret("api-token", NEW_TOKEN);
    const refused = run(["apply", stalePlan]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /HOLT_E_PLAN_STALE/);
    // Named by the field a fresh plan shows, never by the value.
    assert.match(
      refused.stderr,
      /secret API_TOKEN: a fresh plan changes it "\(secret\)" → "\(secret, changed\)" \(forces a replace\), the saved plan leaves it alone/,
    );
    assert.doesNotMatch(refused.stderr, new RegExp(NEW_TOKEN));
    const tz = podmanOk([
      "inspect",
      "--format",
      "{{range .Config.Env}}{{println .}}{{end}}",
      `holt-${web}`,
    ]);
    assert.match(tz, /TZ=Asia\/Tokyo/, "nothing was changed");
  });

  test("a container and a route made by hand are never touched", async () => {
    const hand = `handmade${suffix}`;
    podmanOk(["run", "-d", "--name", hand, images.v1]);
    try {
      folder.write(config({ image: images.v2, tz: "Europe/Berlin", withWeb: false }));
      const r = run(["apply", "--yes"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(
        podman(["container", "exists", hand]).code,
        0,
        "the hand-made container is still there",
      );
    } finally {
      podman(["rm", "-f", "-t", "0", hand]);
    }
  });

  test("removing a service removed its container and route and kept its datasets", () => {
    // (applied in the previous test: web left the config)
    assert.deepEqual(containersOfLab(), [`holt-${api}`]);
    const page = curl("web", "/page.txt");
    assert.notEqual(page.body, "served from zfs\n");
    const data = `${pool.name}/holt/${web}/data`;
    const managed = zfsGet(data, "holt:managed");
    assert.ok(managed !== null, "the dataset is kept");
    assert.notEqual(managed[1], "local", "and released: holt no longer owns it");
    assert.equal(readFileSync(join(mountpoint(web), "page.txt"), "utf8"), "served from zfs\n");
  });

  test("a failing health check fails only its service, shows its logs, and a fixed rerun converges", () => {
    folder.write(config({ withWeb: false, withBroken: true }));
    const r = run(["apply", "--yes"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`HOLT_E_HEALTH.*${broken}|${broken}.*HOLT_E_HEALTH`));
    assert.match(r.stderr, /starting broken service/, "its last log lines are shown");
    assert.equal(curl("api", "/index.html").body, "api-here\n", "the other service still serves");
    folder.write(config({ withWeb: false, withBroken: true, brokenHealthPath: "/up" }));
    const fixed = run(["apply", "--yes"]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.equal(curl("broken", "/up").body, "here\n");
    assert.match(run(["plan"]).stdout, /No changes\./);
  });

  test("no secret value appears in plans, JSON, the journal, logs or errors", () => {
    const journal = spawnSync("sh", ["-c", `cat "${folder.stateDir}"/*/* 2>/dev/null`], {
      encoding: "latin1",
    }).stdout;
    const logs = run(["logs", broken]);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(
      logs.stdout + logs.stderr,
      /starting broken service/,
      "holt logs shows its output",
    );
    const everything = [...printed, journal].join("\n");
    assert.ok(journal.length > 0, "the journal was read");
    for (const value of [SECRET_TOKEN, SECRET_PASSWORD, NEW_TOKEN]) {
      assert.ok(!everything.includes(value), "a secret value leaked");
    }
  });
});
