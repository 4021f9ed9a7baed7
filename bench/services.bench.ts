/**
 * The reference lab's 20 services on real Podman, Caddy and zfs-fuse: one `holt apply` from
 * nothing, then a no-change `holt plan`, against the floor: the same reads done directly,
 * all at once.
 *
 *   node bench/services.bench.ts [--json] [--runs N]     (root; zfs-fuse, Podman, Caddy)
 *
 * Setup: a test pool for "tank", a test Caddy, the busybox test images, and a lab folder
 * whose holt.config.ts is examples/homelab/holt.config.ts rewritten for this machine (see
 * benchLab below), with every secret it names set through `holt secrets`. Then one timed
 * `holt apply --yes` creates the lab, and `holt plan --detailed-exitcode` must exit 0.
 * Then, interleaved, N runs each (default 7) of:
 *   - `holt plan` through the shipped entry (bin/holt.js → dist/);
 *   - `holt plan` through the sources (`node src/cli/bin.ts plan`);
 *   - `holt validate` through the shipped entry: start-up, config load and model only;
 *   - the in-process `planLab`, with every Exec call (programs and HTTP) traced;
 *   - the floor: `zpool list`, holt's `zfs get`, `podman ps -a` and `podman network ls` as
 *     child processes, plus GET Caddy's /config/ and one GET per health check, all at once
 *     from this process; then the same reads once more, one after another, to show how much
 *     running together slows each.
 * Goals: the shipped plan's median under 1500 ms, and at most 1.5× the floor's.
 *
 * Health checks keep the example's 30 s interval: the apply's health gate probes every
 * second until the first pass, so the interval does not slow the apply.
 *
 * Only the lab's main host is benchmarked. Its "backup" host cannot be played by an SSH test
 * host here: that would be the same machine, so each host would see the other's datasets and
 * containers (same zfs-fuse, same Podman) as its own, and no plan could come out empty.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { importConfig, loadLab } from "../src/config/load.ts";
import { isSecretRef } from "../src/config/secret.ts";
import type { UserDataset, UserLab, UserService, UserStateEntry } from "../src/config/types.ts";
import { createConnections } from "../src/hosts/connect.ts";
import { planLab } from "../src/lab/plan.ts";
import { openLabSecrets } from "../src/lab/secrets.ts";
import { defaultProviders } from "../src/providers/index.ts";
import { READ_PROPERTIES } from "../src/providers/zfs/provider.ts";
import { ZFS_GET_COLUMNS, zfsGetOrder } from "../src/util/zfs-get.ts";
import { type CaddyPeer, startCaddy } from "../test/peers/caddy.ts";
import {
  ensurePodman,
  ensureTestImages,
  removeLabResources,
  testLab,
} from "../test/peers/podman.ts";
import { freePorts } from "../test/peers/ports.ts";
import { createTestPool, ensureZfsFuse, type TestPool } from "../test/peers/zfs.ts";
import {
  type BenchResult,
  builtPackage,
  childPeakRssMb,
  fmtMs,
  isMain,
  median,
  ownPeakRssMb,
  REPO,
  type Row,
  report,
  runsArg,
  stats,
  type TracedCall,
  timeChild,
  tracedConnections,
  traceLines,
  uncoveredMs,
} from "./lib.ts";

const BENCH = "services";
const EXAMPLE = path.join(REPO, "examples", "homelab", "holt.config.ts");
const MAIN_HOST = "odroid";
const EXAMPLE_POOL = "tank";
const POOL_MB = 512;
const GOAL_MS = 1500;
const GOAL_RATIO = 1.5;
/** Where each container's busybox httpd serves from (/tmp is writable for any user). */
const WWW = "/tmp/www";
/**
 * Podman's DNS (aardvark-dns) listens on UDP port 53 of every network's gateway, the lab's
 * own included, so a container cannot publish 53/udp on every address: Podman 4.3 fails with
 * "listen udp4 :53: bind: address already in use". That port moves to a free one here.
 */
const PODMAN_DNS_PORT = 53;

// ─── The reference lab, rewritten for this machine ──────────────────────────

const onPool = (name: string, pool: string): string =>
  name.startsWith(`${EXAMPLE_POOL}/`) ? `${pool}${name.slice(EXAMPLE_POOL.length)}` : name;

/** zfs-fuse pools are version 23: no lz4, records of at most 128K. */
function forZfsFuse<T extends UserDataset | UserStateEntry>(props: T): T {
  return {
    ...props,
    ...(props.compression === "lz4" ? { compression: "on" } : {}),
    ...(props.recordsize === "1M" ? { recordsize: "128K" } : {}),
  };
}

function mapValues<T, U>(record: Record<string, T>, f: (value: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, f(value)]));
}

/** busybox httpd on the service's port, serving a file at its health path (or /). */
function serveCommand(port: number, healthPath: string): string[] {
  if (!/^\/[\w./-]*$/.test(healthPath)) throw new Error(`unexpected health path ${healthPath}`);
  const file = `${WWW}${healthPath.endsWith("/") ? `${healthPath}index.html` : healthPath}`;
  return [
    "sh",
    "-c",
    `mkdir -p '${path.posix.dirname(file)}' && echo ok > '${file}' && exec httpd -f -p ${port} -h ${WWW}`,
  ];
}

function portFree(port: number, protocol: "tcp" | "udp", address: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (protocol === "udp") {
      const socket = createSocket("udp4");
      socket.once("error", () => resolve(false));
      socket.bind(port, address, () => socket.close(() => resolve(true)));
      return;
    }
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, address, () => server.close(() => resolve(true)));
  });
}

/** A port free on every address for TCP and UDP alike. */
async function freeAnyPort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const [port = 0] = await freePorts(1);
    if (!taken.has(port) && (await portFree(port, "udp", "0.0.0.0"))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error("no free port found in 50 tries");
}

/**
 * Keeps each service's ports, except those in use on this machine (or Podman's DNS port):
 * those move to free ports, and `moved` says which.
 */
async function placePorts(
  service: UserService,
  taken: Set<number>,
  moved: string[],
): Promise<Pick<UserService, "hostPort" | "ports">> {
  const placed: Pick<UserService, "hostPort" | "ports"> = {};
  if (service.port !== undefined) {
    const hostPort = service.hostPort ?? service.port;
    if (await portFree(hostPort, "tcp", "127.0.0.1")) {
      if (service.hostPort !== undefined) placed.hostPort = hostPort;
    } else {
      placed.hostPort = await freeAnyPort(taken);
      moved.push(`hostPort ${hostPort} → ${placed.hostPort} (in use)`);
    }
  }
  if (service.ports !== undefined) {
    placed.ports = [];
    for (const spec of service.ports) {
      const match = /^(?:(\d+):)?(\d+)(?:\/(tcp|udp))?$/.exec(spec);
      if (match === null) throw new Error(`unexpected port ${spec}`);
      const container = Number(match[2]);
      const hostPort = Number(match[1] ?? container);
      const protocol = match[3] === "udp" ? "udp" : "tcp";
      const dns = hostPort === PODMAN_DNS_PORT && protocol === "udp";
      const busy = dns || !(await portFree(hostPort, protocol, "0.0.0.0"));
      if (!busy) {
        placed.ports.push(spec);
        continue;
      }
      const port = await freeAnyPort(taken);
      placed.ports.push(`${port}:${container}/${protocol}`);
      moved.push(
        `"${spec}" → "${port}:${container}/${protocol}" (${dns ? "Podman's DNS has it" : "in use"})`,
      );
    }
  }
  return placed;
}

/**
 * The reference lab on this machine: its main host only, local, with the test pool for
 * "tank", the test Caddy, and every image replaced by the busybox test image running httpd
 * on the service's port with a file at its health path. Service names, ports, hostnames,
 * state, mounts, env, secrets, user, resources, dependsOn and health checks stay as written.
 */
async function benchLab(
  example: UserLab,
  options: { name: string; pool: string; caddy: CaddyPeer; image: string },
): Promise<{ lab: UserLab; moved: string[] }> {
  const host = example.hosts[MAIN_HOST];
  if (host === undefined) throw new Error(`the example has no host "${MAIN_HOST}"`);
  const { pool, caddy } = options;
  const taken = new Set([caddy.adminPort, caddy.httpPort, caddy.httpsPort]);
  const moved: string[] = [];
  const services: Record<string, UserService> = {};
  for (const [name, service] of Object.entries(example.services ?? {})) {
    if (service.host !== MAIN_HOST) throw new Error(`service ${name} is not on "${MAIN_HOST}"`);
    const { command: _replaced, ...kept } = service;
    const movedHere: string[] = [];
    services[name] = {
      ...kept,
      image: options.image,
      ...(service.port === undefined
        ? {}
        : { command: serveCommand(service.port, service.health?.http ?? "/") }),
      ...(service.state === undefined ? {} : { state: mapValues(service.state, forZfsFuse) }),
      ...(service.mounts === undefined
        ? {}
        : {
            mounts: mapValues(service.mounts, (m) => ({ ...m, dataset: onPool(m.dataset, pool) })),
          }),
      ...(await placePorts(service, taken, movedHere)),
    };
    moved.push(...movedHere.map((m) => `${name}: ${m}`));
  }
  const datasets = Object.fromEntries(
    Object.entries(host.datasets ?? {}).map(([name, d]) => [onPool(name, pool), forZfsFuse(d)]),
  );
  const lab: UserLab = {
    domain: example.domain,
    name: options.name,
    hosts: {
      [MAIN_HOST]: {
        connect: "local",
        stateRoot: onPool(host.stateRoot ?? `${EXAMPLE_POOL}/holt`, pool),
        proxy: {
          admin: `127.0.0.1:${caddy.adminPort}`,
          httpsPort: caddy.httpsPort,
          httpPort: caddy.httpPort,
        },
        datasets,
      },
    },
    services,
  };
  return { lab, moved };
}

/** A config value as TypeScript source; secret references become `secret("name")` calls. */
function toSource(value: unknown, indent = ""): string {
  if (isSecretRef(value)) return `secret(${JSON.stringify(value.name)})`;
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    return `[${value.map((v) => toSource(v, inner)).join(", ")}]`;
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return "{}";
    const lines = entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${toSource(v, inner)},`);
    return `{\n${lines.join("\n")}\n${indent}}`;
  }
  return JSON.stringify(value);
}

function secretNames(lab: UserLab): string[] {
  const names = Object.values(lab.services ?? {}).flatMap((s) =>
    Object.values(s.secrets ?? {}).map((ref) => ref.name),
  );
  return [...new Set(names)].sort();
}

// ─── The floor: the same reads, directly and all at once ────────────────────

interface Read {
  readonly name: string;
  /** Resolves to the size of what was read. */
  readonly run: () => Promise<number>;
}

function program(argv: readonly string[], env: NodeJS.ProcessEnv): Read {
  const [file = "", ...args] = argv;
  return {
    name: argv.join(" "),
    run: () =>
      new Promise((resolve, reject) => {
        const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
        let bytes = 0;
        let stderr = "";
        child.stdout.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
        });
        child.stderr.on("data", (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        child.on("error", reject);
        child.on("close", (code) =>
          code === 0 ? resolve(bytes) : reject(new Error(`${argv.join(" ")}: ${code} ${stderr}`)),
        );
      }),
  };
}

function httpGet(port: number, urlPath: string): Read {
  return {
    name: `GET 127.0.0.1:${port}${urlPath}`,
    run: () =>
      new Promise((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path: urlPath, agent: false }, (res) => {
          let bytes = 0;
          res.on("data", (chunk: Buffer) => {
            bytes += chunk.length;
          });
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 400) resolve(bytes);
            else reject(new Error(`GET ${port}${urlPath}: ${status}`));
          });
        });
        req.on("error", reject);
        req.end();
      }),
  };
}

async function timeReads(reads: readonly Read[]): Promise<{ ms: number; each: number[] }> {
  const started = performance.now();
  const each = await Promise.all(
    reads.map(async (read) => {
      const t = performance.now();
      await read.run();
      return performance.now() - t;
    }),
  );
  return { ms: performance.now() - started, each };
}

// ─── The apply's own report ─────────────────────────────────────────────────

interface Step {
  readonly address: string;
  readonly seconds: number;
}

/** The apply's `✓ + address (N.Ns)` lines. */
function appliedSteps(stderr: string): Step[] {
  return [...stderr.matchAll(/✓ \S+ (\S+) \((\d+(?:\.\d+)?)s\)/g)].map((m) => ({
    address: m[1] ?? "",
    seconds: Number(m[2]),
  }));
}

function applyNotes(steps: readonly Step[], totalMs: number): string[] {
  const byType = new Map<string, number[]>();
  for (const step of steps) {
    const type = step.address.slice(0, step.address.indexOf(":"));
    byType.set(type, [...(byType.get(type) ?? []), step.seconds]);
  }
  const types = [...byType].map(([type, secs]) => {
    const sum = secs.reduce((a, b) => a + b, 0);
    return `${secs.length} × ${type} (median ${median(secs).toFixed(1)} s, max ${Math.max(...secs).toFixed(1)} s, sum ${sum.toFixed(1)} s)`;
  });
  const slowest = [...steps]
    .sort((a, b) => b.seconds - a.seconds)
    .slice(0, 6)
    .map((s) => `${s.address} ${s.seconds.toFixed(1)} s`);
  return [
    `apply from nothing: ${(totalMs / 1000).toFixed(1)} s wall clock for ${steps.length} steps: ${types.join("; ")}. Steps run in parallel where dependsOn allows, so their times overlap.`,
    `  slowest steps: ${slowest.join(", ")}`,
  ];
}

// ─── The benchmark ──────────────────────────────────────────────────────────

function holtOk(
  argv: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; input?: string },
): string {
  const [file = "", ...args] = argv;
  const r = spawnSync(file, args, { ...options, encoding: "utf8", input: options.input ?? "" });
  if (r.status !== 0) throw new Error(`\`${argv.join(" ")}\` exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

/** The reference lab set up on this machine, not applied yet. */
export interface ServicesLab {
  /** The lab folder: holt.config.ts, the age key, secrets.age, the state dir. */
  readonly dir: string;
  readonly configFile: string;
  /** For running holt there: NO_COLOR, the state dir, the age key, CONTAINERS_CONF. */
  readonly env: NodeJS.ProcessEnv;
  readonly name: string;
  readonly pool: TestPool;
  readonly caddy: CaddyPeer;
  readonly image: string;
  readonly services: number;
  readonly secrets: number;
  /** Ports that had to move (see placePorts). */
  readonly moved: readonly string[];
  /** Removes the lab's containers, network and secrets, then Caddy, the pool and the folder. */
  tearDown(): Promise<void>;
}

/**
 * Pool, Caddy, images and the lab folder with its config and secrets. `holt` is the argv
 * prefix that runs the CLI (for `holt secrets`). Cleans up after itself when it fails.
 */
export async function setUpServicesLab(holt: readonly string[]): Promise<ServicesLab> {
  await ensureZfsFuse();
  ensurePodman(); // sets CONTAINERS_CONF to the tests' settings when nothing set it
  const images = await ensureTestImages();
  const name = testLab("bench");
  const dir = mkdtempSync(path.join(tmpdir(), "holt-bench-services-"));
  let pool: TestPool | undefined;
  let caddy: CaddyPeer | undefined;
  const tearDown = async (): Promise<void> => {
    // Containers first: they hold the pool's datasets mounted.
    try {
      removeLabResources(name);
    } catch (error) {
      console.error(`services bench: removing lab ${name}'s containers: ${String(error)}`);
    }
    await caddy?.stop();
    await pool?.destroy();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    pool = await createTestPool({ sizeMb: POOL_MB, prefix: "holtbench" });
    caddy = await startCaddy();
    const example = (await importConfig(EXAMPLE)) as UserLab;
    const { lab, moved } = await benchLab(example, {
      name,
      pool: pool.name,
      caddy,
      image: images.v1,
    });
    const services = Object.keys(lab.services ?? {});
    for (const service of services) {
      if (spawnSync("podman", ["container", "exists", `holt-${service}`]).status === 0) {
        throw new Error(`a container holt-${service} exists already; remove it to run this bench`);
      }
    }
    const configFile = path.join(dir, "holt.config.ts");
    writeFileSync(
      configFile,
      `import { defineLab, secret } from "holt";\n\nexport default defineLab(${toSource(lab)});\n`,
    );
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NO_COLOR: "1",
      HOLT_STATE_DIR: path.join(dir, ".state"),
      HOLT_AGE_KEY: "",
      HOLT_AGE_KEY_FILE: path.join(dir, "age.key"),
    };
    holtOk([...holt, "secrets", "init"], { cwd: dir, env });
    const secrets = secretNames(lab);
    for (const secret of secrets) {
      const value = `${secret}-${randomBytes(12).toString("hex")}`;
      holtOk([...holt, "secrets", "set", secret], { cwd: dir, env, input: `${value}\n` });
    }
    return {
      dir,
      configFile,
      env,
      name,
      pool,
      caddy,
      image: images.v1,
      services: services.length,
      secrets: secrets.length,
      moved,
      tearDown,
    };
  } catch (error) {
    await tearDown();
    throw error;
  }
}

export async function runServicesBench(runs = runsArg(7)): Promise<BenchResult> {
  const rows: Row[] = [];
  const notes: string[] = [];
  const pkg = builtPackage();
  const shipped = [process.execPath, path.join(pkg, "bin", "holt.js")];
  const source = [process.execPath, path.join(REPO, "src", "cli", "bin.ts")];
  const setup = await setUpServicesLab(shipped);
  const { dir, env, pool, caddy } = setup;
  try {
    console.error(
      `services bench: pool ${pool.name}, lab ${setup.name}; applying ${setup.services} services`,
    );
    const apply = timeChild([...shipped, "apply", "--yes"], { cwd: dir, env });
    if (apply.code !== 0) throw new Error(`holt apply failed:\n${apply.stderr}${apply.stdout}`);
    const check = timeChild([...shipped, "plan", "--detailed-exitcode"], { cwd: dir, env });
    if (check.code !== 0) {
      throw new Error(
        `after apply, \`holt plan --detailed-exitcode\` exited ${check.code} (expected 0, no changes):\n${check.stdout}${check.stderr}`,
      );
    }
    const resolved = await loadLab(setup.configFile);
    const withHealth = Object.values(resolved.services).flatMap(({ container }) =>
      container?.health == null || container.hostPort === null
        ? []
        : [{ hostPort: container.hostPort, http: container.health.http }],
    );
    const count = (argv: string[]) =>
      spawnSync(argv[0] ?? "", argv.slice(1), { encoding: "utf8", env })
        .stdout.split("\n")
        .filter((line) => line !== "").length;
    const datasets = count(["zfs", "list", "-H", "-o", "name", "-r", pool.name]);
    notes.push(
      `setup: ${setup.services} services (${withHealth.length} with a health check, ${Object.values(resolved.services).filter((s) => s.container?.hostname != null).length} with a route), ${datasets} filesystems on pool ${pool.name}, ${setup.secrets} secrets; images replaced by ${setup.image} running busybox httpd; health checks as in the example.`,
      `on the whole machine (other test runs included) when the runs began: containers ${count(["podman", "ps", "-a", "-q"])}, pools ${count(["zpool", "list", "-H", "-o", "name"])}, filesystems ${count(["zfs", "list", "-H", "-o", "name"])}.`,
      ...(setup.moved.length === 0 ? [] : [`ports moved: ${setup.moved.join("; ")}`]),
      ...applyNotes(appliedSteps(apply.stderr), apply.ms),
    );

    // The floor: every read a no-change plan needs, each done once, all at once.
    const floorReads: Read[] = [
      program(["zpool", "list", "-H", "-o", "name"], env),
      program(
        ["zfs", "get", "-H", "-p", "-o", ZFS_GET_COLUMNS, zfsGetOrder(READ_PROPERTIES).join(",")],
        env,
      ),
      program(["podman", "ps", "--all", "--format", "json"], env),
      program(["podman", "network", "ls", "--format", "json"], env),
      httpGet(caddy.adminPort, "/config/"),
      ...withHealth.map((h) => httpGet(h.hostPort, h.http)),
    ];
    const secretsOpened = await openLabSecrets(resolved, env);
    const traces: { calls: TracedCall[]; from: number; to: number }[] = [];
    const inProcessOnce = async (): Promise<number> => {
      const calls: TracedCall[] = [];
      const connections = tracedConnections(
        createConnections(Object.values(resolved.hosts)),
        calls,
      );
      const started = performance.now();
      try {
        const { plan } = await planLab(resolved, {
          connections,
          providers: defaultProviders(),
          secrets: secretsOpened,
        });
        if (plan.changes.length > 0) {
          throw new Error(`in-process plan has ${plan.changes.length} changes`);
        }
      } finally {
        await connections.closeAll();
      }
      const ended = performance.now();
      traces.push({ calls, from: started, to: ended });
      return ended - started;
    };
    await inProcessOnce(); // warm-up
    traces.length = 0;
    await timeReads(floorReads);

    const ok = (argv: string[]) => {
      const r = timeChild(argv, { cwd: dir, env });
      if (r.code !== 0) throw new Error(`\`${argv.join(" ")}\` exited ${r.code}: ${r.stderr}`);
      return r.ms;
    };
    const samples = {
      planShipped: [] as number[],
      planSource: [] as number[],
      validateShipped: [] as number[],
      inProcess: [] as number[],
      floor: [] as number[],
    };
    const eachRead: number[][] = floorReads.map(() => []);
    const aloneRead: number[][] = floorReads.map(() => []);
    for (let i = 0; i < runs; i++) {
      samples.planShipped.push(ok([...shipped, "plan"]));
      const floor = await timeReads(floorReads);
      samples.floor.push(floor.ms);
      for (const [at, ms] of floor.each.entries()) eachRead[at]?.push(ms);
      // Each read alone, one after another: how much running them together slows each.
      for (const [at, read] of floorReads.entries()) {
        aloneRead[at]?.push((await timeReads([read])).ms);
      }
      samples.planSource.push(ok([...source, "plan"]));
      samples.inProcess.push(await inProcessOnce());
      samples.validateShipped.push(ok([...shipped, "validate"]));
    }

    const floorMedian = median(samples.floor);
    const planMedian = median(samples.planShipped);
    const ratio = (values: number[]) => median(values) / floorMedian;
    const planRss = childPeakRssMb([...shipped, "plan"], { cwd: dir, env });
    rows.push(
      stats(BENCH, "holt plan (shipped: bin/holt.js → dist)", samples.planShipped, {
        rssMb: planRss,
        note: `${ratio(samples.planShipped).toFixed(2)}× floor`,
        goal: { text: `< ${GOAL_MS} ms`, pass: planMedian < GOAL_MS },
      }),
      stats(BENCH, "holt plan (shipped), against the floor", samples.planShipped, {
        rssMb: planRss,
        note: `${ratio(samples.planShipped).toFixed(2)}× the ${fmtMs(floorMedian)} ms floor`,
        goal: {
          text: `≤ ${GOAL_RATIO}× floor`,
          pass: ratio(samples.planShipped) <= GOAL_RATIO,
        },
      }),
      stats(BENCH, "holt plan (sources: node src/cli/bin.ts)", samples.planSource, {
        rssMb: childPeakRssMb([...source, "plan"], { cwd: dir, env }),
        note: `${ratio(samples.planSource).toFixed(2)}× floor`,
      }),
      stats(BENCH, "holt validate (shipped; no host reads)", samples.validateShipped, {
        rssMb: childPeakRssMb([...shipped, "validate"], { cwd: dir, env }),
        note: "start-up + config load + model",
      }),
      stats(BENCH, "planLab in-process (warm)", samples.inProcess, {
        rssMb: ownPeakRssMb(),
        note: `${ratio(samples.inProcess).toFixed(2)}× floor; RSS of the bench process`,
      }),
      stats(BENCH, "floor: the same reads at once", samples.floor, {
        note: `${floorReads.length - withHealth.length - 1} programs + ${withHealth.length + 1} HTTP GETs, in the bench process`,
      }),
    );
    // The run whose time is the median: the trace that shows a typical plan.
    const byTime = [...traces].sort((a, b) => a.to - a.from - (b.to - b.from));
    const trace = byTime[Math.floor((byTime.length - 1) / 2)] ?? { calls: [], from: 0, to: 0 };
    notes.push(
      `floor, median time of each read: together (all at once, as in the floor) and alone (one after another; ${fmtMs(aloneRead.reduce((sum, ms) => sum + median(ms), 0))} ms in all):`,
      ...floorReads.map(
        (read, at) =>
          `  ${fmtMs(median(eachRead[at] ?? [])).padStart(6)} ms  ${fmtMs(median(aloneRead[at] ?? [])).padStart(6)} ms  ${read.name}`,
      ),
      `planLab's Exec calls in its median run (${trace.calls.length} calls; ${fmtMs(trace.to - trace.from)} ms in all, of which ${fmtMs(uncoveredMs(trace.calls, trace.from, trace.to))} ms with no call in flight):`,
      "  start      time       status  size       call",
      ...traceLines(trace.calls, trace.from),
    );
    return { bench: BENCH, rows, notes };
  } finally {
    await setup.tearDown();
  }
}

if (isMain(import.meta.url)) report(await runServicesBench());
