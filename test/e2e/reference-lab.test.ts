/**
 * The reference lab (examples/homelab): twenty services on a local host and a
 * backup host over SSH. It must validate as shipped, type-check against
 * holt's public API, and plan on this machine once rewritten for it: real
 * zfs-fuse pools for "tank" and "vault", a real sshd for the backup host, a
 * real Caddy for the proxy, and a secrets file holding every secret it names.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadLab } from "../../src/config/load.ts";
import type { ResolvedLab } from "../../src/config/types.ts";
import { type CaddyPeer, startCaddy } from "../peers/caddy.ts";
import { ensurePodman, removeLabResources, testLab } from "../peers/podman.ts";
import { type SshHost, startSshHost } from "../peers/sshd.ts";
import { createTestPool, type TestPool } from "../peers/zfs.ts";
import { BIN, createLabFolder, type LabFolder } from "./harness.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const EXAMPLE = join(ROOT, "examples/homelab/holt.config.ts");
const DOMAIN = "home.example.net";

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function holt(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}, input = ""): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    input,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1", ...env },
    timeout: 120_000,
  });
  if (r.error !== undefined) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(run: Run, what: string): Run {
  assert.equal(
    run.code,
    0,
    `${what}: exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`,
  );
  return run;
}

/** Replaces `from` with `to` in `text`, failing when `from` is not there (the example changed). */
function swap(text: string, from: string | RegExp, to: string): string {
  const found = typeof from === "string" ? text.includes(from) : from.test(text);
  assert.ok(found, `the example no longer contains ${String(from)}; update this test`);
  return typeof from === "string" ? text.replaceAll(from, to) : text.replace(from, to);
}

/** Every `secret("name")` the config refers to. */
function secretNames(config: string): string[] {
  return [...new Set([...config.matchAll(/secret\("([^"]+)"\)/g)].map((m) => m[1] ?? ""))].sort();
}

describe("the reference lab as shipped", () => {
  test("holt validate accepts it", () => {
    const scratch = mkdtempSync(join(tmpdir(), "holt-reference-"));
    try {
      const run = ok(holt(["validate", "-c", EXAMPLE], scratch), "validate");
      assert.match(
        run.stdout,
        /is valid: lab home\.example\.net, 2 hosts, 20 services, \d+ resources\./,
      );
      assert.equal(run.stderr, "");
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test("it type-checks against holt's public API", () => {
    const scratch = mkdtempSync(join(tmpdir(), "holt-reference-tsc-"));
    try {
      // "holt" resolves to the sources, as it does when holt loads the file.
      const tsconfig = join(scratch, "tsconfig.json");
      writeFileSync(
        tsconfig,
        JSON.stringify({
          extends: join(ROOT, "tsconfig.json"),
          compilerOptions: {
            paths: { holt: [join(ROOT, "src/index.ts")] },
            typeRoots: [join(ROOT, "node_modules/@types")],
          },
          include: [EXAMPLE],
        }),
      );
      const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
      const r = spawnSync(process.execPath, [tsc, "--noEmit", "-p", tsconfig], {
        encoding: "utf8",
        timeout: 120_000,
      });
      assert.equal(r.status, 0, `tsc found errors:\n${r.stdout}${r.stderr}`);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});

describe("the reference lab plans on real hosts", () => {
  let tank: TestPool;
  let vault: TestPool;
  let ssh: SshHost;
  let caddy: CaddyPeer;
  let folder: LabFolder;
  let labName: string;
  let lab: ResolvedLab;
  const values = new Map<string, string>();
  let env: NodeJS.ProcessEnv;

  before(async () => {
    ensurePodman();
    [tank, vault] = await Promise.all([createTestPool(), createTestPool()]);
    [ssh, caddy] = await Promise.all([startSshHost(), startCaddy()]);
    folder = createLabFolder();
    labName = testLab("reference");

    let config = readFileSync(EXAMPLE, "utf8");
    // A lab name of its own, so nothing else on this machine's Podman or pools is its.
    config = swap(config, /^ {2}domain,$/m, `  domain,\n  name: ${JSON.stringify(labName)},`);
    config = swap(config, '"tank/', `"${tank.name}/`);
    config = swap(config, '"vault/', `"${vault.name}/`);
    // zfs-fuse pools are version 23: no lz4, records of at most 128K.
    config = swap(config, 'compression: "lz4"', 'compression: "on"');
    config = swap(config, 'recordsize: "1M"', 'recordsize: "128K"');
    config = swap(
      config,
      'proxy: { admin: "127.0.0.1:2019" }',
      `proxy: { admin: "127.0.0.1:${caddy.adminPort}", httpsPort: ${caddy.httpsPort}, httpPort: ${caddy.httpPort} }`,
    );
    config = swap(config, 'address: "192.168.1.30"', `address: "${ssh.address}"`);
    config = swap(config, 'connect: { ssh: { user: "root" } }', ssh.connectConfig);
    folder.write(config);
    lab = await loadLab(join(folder.dir, "holt.config.ts"));

    // The age key goes to $XDG_CONFIG_HOME/holt/age.key, inside the lab's temporary folder.
    env = {
      HOLT_STATE_DIR: folder.stateDir,
      HOLT_AGE_KEY: "",
      HOLT_AGE_KEY_FILE: "",
      XDG_CONFIG_HOME: join(folder.dir, ".config"),
    };
    ok(holt(["secrets", "init"], folder.dir, env), "secrets init");
    for (const name of secretNames(config)) {
      const value = `${name}-${randomBytes(12).toString("hex")}`;
      values.set(name, value);
      ok(holt(["secrets", "set", name], folder.dir, env, `${value}\n`), `secrets set ${name}`);
    }
  });

  after(async () => {
    folder?.remove();
    if (labName !== undefined) removeLabResources(labName);
    await Promise.all([caddy?.stop(), ssh?.stop(), tank?.destroy(), vault?.destroy()]);
  });

  test("every secret the lab names is in secrets.age", () => {
    assert.deepEqual(
      [...values.keys()],
      [
        "grafana-admin-password",
        "immich-db",
        "miniflux-admin-password",
        "miniflux-database-url",
        "miniflux-db",
        "paperless-db",
        "paperless-secret-key",
        "vaultwarden-admin-token",
      ],
    );
    const list = ok(holt(["secrets", "list", "--json"], folder.dir, env), "secrets list");
    assert.deepEqual(JSON.parse(list.stdout).names, [...values.keys()]);
  });

  test("holt plan --json lists each service's datasets, container and route, in order", () => {
    const run = ok(holt(["plan", "--json"], folder.dir, env), "plan");
    for (const [name, value] of values) {
      assert.ok(!run.stdout.includes(value) && !run.stderr.includes(value), `plan shows ${name}`);
    }
    const plan = JSON.parse(run.stdout) as {
      lab: string;
      changes: {
        address: string;
        type: string;
        action: string;
        host: string;
        service: string | null;
      }[];
      unmanaged: unknown[];
      summary: { add: number; change: number; replace: number; destroy: number; release: number };
    };
    assert.equal(plan.lab, labName);
    assert.deepEqual(plan.unmanaged, []);
    const addresses = plan.changes.map((c) => c.address);
    const index = (address: string): number => {
      const at = addresses.indexOf(address);
      assert.ok(at >= 0, `the plan has no ${address}; it has:\n${addresses.join("\n")}`);
      return at;
    };
    for (const change of plan.changes) assert.equal(change.action, "create", change.address);
    assert.deepEqual(plan.summary, {
      add: plan.changes.length,
      change: 0,
      replace: 0,
      destroy: 0,
      release: 0,
    });

    const services = Object.values(lab.services);
    assert.equal(services.length, 20);
    const stateRoot = `${tank.name}/holt`;
    const network = index(`podman.network:odroid/holt-${labName}`);
    for (const service of services) {
      assert.equal(service.host, "odroid", service.name);
      const container = index(`podman.container:odroid/holt-${service.name}`);
      assert.ok(network < container, `${service.name}: the lab network comes first`);
      if (service.state.length > 0) {
        const parent = index(`zfs.dataset:odroid/${stateRoot}/${service.name}`);
        assert.ok(parent < container, `${service.name}: its dataset comes before its container`);
        for (const entry of service.state) {
          const dataset = index(`zfs.dataset:odroid/${stateRoot}/${service.name}/${entry.name}`);
          assert.ok(parent < dataset && dataset < container, `${service.name}/${entry.name}`);
        }
      }
      for (const mount of service.container?.mounts ?? []) {
        const dataset = index(`zfs.dataset:odroid/${mount.dataset}`);
        assert.ok(dataset < container, `${service.name}: ${mount.dataset} before its container`);
      }
      for (const dependency of service.dependsOn) {
        const other = index(`podman.container:odroid/holt-${dependency}`);
        assert.ok(other < container, `${service.name} starts after ${dependency}`);
      }
      const hostname = service.container?.hostname ?? null;
      if (hostname !== null) {
        const route = index(`caddy.route:odroid/${hostname}`);
        assert.ok(container < route, `${service.name}: its container comes before its route`);
      }
    }

    // Spot checks against the example itself, so the loop above cannot pass on an empty lab.
    for (const [service, hostname] of [
      ["jellyfin", "media"],
      ["immich", "photos"],
      ["vaultwarden", "vault"],
      ["homeassistant", "ha"],
      ["paperless", "docs"],
      ["forgejo", "git"],
      ["miniflux", "rss"],
      ["adguard", "adguard"],
      ["uptime-kuma", "status"],
      ["grafana", "grafana"],
    ] as const) {
      const route = plan.changes.find(
        (c) => c.address === `caddy.route:odroid/${hostname}.${DOMAIN}`,
      );
      assert.equal(route?.service, service, `${hostname}.${DOMAIN} is ${service}'s`);
    }
    for (const internal of ["immich-db", "immich-redis", "immich-ml", "paperless-db"]) {
      assert.ok(
        !plan.changes.some((c) => c.type === "caddy.route" && c.service === internal),
        `${internal} has no route`,
      );
    }
    assert.equal(plan.changes.filter((c) => c.type === "caddy.route").length, 14);
    const immich = index("podman.container:odroid/holt-immich");
    assert.ok(index(`zfs.dataset:odroid/${tank.name}/photos`) < immich);

    // The backup host gets its datasets, and nothing that runs.
    const backup = plan.changes.filter((c) => c.host === "backup").map((c) => c.address);
    assert.deepEqual(backup.sort(), [
      `zfs.dataset:backup/${vault.name}/archive`,
      `zfs.dataset:backup/${vault.name}/replicas`,
    ]);
  });
});
