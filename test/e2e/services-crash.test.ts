/**
 * Crash safety of service applies, on real zfs-fuse, Podman and Caddy: the
 * apply is killed with SIGKILL after each step of a 10-step plan (network,
 * datasets, containers with their health gates, routes); every rerun must
 * converge with exactly one container per service and one route per hostname.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type CaddyPeer, curlThrough, startCaddy } from "../peers/caddy.ts";
import { ensureTestImages, podmanOk, removeLabResources, testLab } from "../peers/podman.ts";
import { freePorts } from "../peers/ports.ts";
import { createTestPool, type TestPool } from "../peers/zfs.ts";
import { createLabFolder, type LabFolder } from "./harness.ts";

let pool: TestPool;
let caddy: CaddyPeer;
let folder: LabFolder;
let image: string;
const labs: string[] = [];

before(async () => {
  image = (await ensureTestImages()).v1;
  pool = await createTestPool({ sizeMb: 512 });
  caddy = await startCaddy();
  folder = createLabFolder();
});

after(async () => {
  for (const lab of labs) removeLabResources(lab);
  await caddy?.stop();
  await pool?.destroy();
  folder?.remove();
});

function config(lab: string, k: number, ports: readonly number[]): string {
  const service = (name: string, port: number | undefined) => `
    ${name}${k}: {
      host: "box",
      image: "${image}",
      hostname: "${name}${k}",
      port: 8080,
      hostPort: ${port},
      command: ["sh", "-c", "echo ${name} > /data/index.html; exec httpd -f -p 8080 -h /data"],
      state: { data: { path: "/data" } },
      health: { http: "/index.html", interval: "1s", timeout: "1s", retries: 5 },
    },`;
  return `import { defineLab } from "holt";
export default defineLab({
  domain: "crash.test",
  name: "${lab}",
  hosts: { box: { connect: "local", stateRoot: "${pool.name}/holt${k}",
    proxy: { admin: "127.0.0.1:${caddy.adminPort}", httpsPort: ${caddy.httpsPort}, httpPort: ${caddy.httpPort} } } },
  services: {${service("alpha", ports[0])}${service("beta", ports[1])}
  },
});
`;
}

function get(host: string): string {
  return curlThrough(caddy, `${host}.crash.test`).body;
}

async function holtRoutes(lab: string): Promise<string[]> {
  const response = await fetch(`http://127.0.0.1:${caddy.adminPort}/config/`);
  const text = await response.text();
  return [...text.matchAll(/"@id":"(holt:[^"]+)"/g)]
    .map((m) => m[1] ?? "")
    .filter((id) => id.startsWith(`holt:${lab}:`) && !id.endsWith(":tls"))
    .sort();
}

test("SIGKILL after every step of a service apply: each rerun converges, nothing duplicated", async () => {
  const probe = testLab("crash");
  labs.push(probe);
  folder.write(config(probe, 0, await freePorts(2)));
  const plan = folder.holt(["plan", "--json"]);
  assert.equal(plan.code, 0, plan.stderr);
  const steps = (JSON.parse(plan.stdout) as { changes: unknown[] }).changes.length;
  // Datasets (5), network, 2 containers, 2 routes, and the kernel setting before the routes.
  assert.equal(steps, 11, plan.stdout);

  for (let k = 1; k < steps; k++) {
    const lab = testLab("crash");
    labs.push(lab);
    folder.write(config(lab, k, await freePorts(2)));
    const crashed = folder.holt(["apply", "--yes", "--parallelism", "1"], {
      HOLT_TEST_CRASH_AFTER_STEP: String(k),
    });
    assert.equal(crashed.signal, "SIGKILL", `step ${k}: not killed\n${crashed.stderr}`);
    assert.equal((crashed.stderr.match(/✓/g) ?? []).length, k, `step ${k}`);

    const rerun = folder.holt(["apply", "--yes"]);
    assert.equal(rerun.code, 0, `step ${k}: rerun failed\n${rerun.stderr}`);
    const check = folder.holt(["plan", "--detailed-exitcode"]);
    assert.equal(check.code, 0, `step ${k}: not converged\n${check.stdout}`);

    const containers = podmanOk([
      "ps",
      "-a",
      "--filter",
      `label=holt.lab=${lab}`,
      "--format",
      "{{.Names}} {{.Status}}",
    ])
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => l.replace(/ Up .*/, " up"))
      .sort();
    assert.deepEqual(containers, [`holt-alpha${k} up`, `holt-beta${k} up`], `step ${k}`);
    assert.deepEqual(
      await holtRoutes(lab),
      [`holt:${lab}:alpha${k}.crash.test`, `holt:${lab}:beta${k}.crash.test`],
      `step ${k}: one route per hostname`,
    );
    assert.equal(get(`alpha${k}`), "alpha\n", `step ${k}`);
    assert.equal(get(`beta${k}`), "beta\n", `step ${k}`);
  }
});
