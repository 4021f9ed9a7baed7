/**
 * Bad configs through the real CLI (`holt plan` in a subprocess, against a real zfs-fuse
 * pool): each must fail with exit code 1, name the file, the config path and the fix, carry
 * its HOLT_E_ code, and touch nothing (no dataset, no journal).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { createTestPool, type TestPool } from "../peers/zfs.ts";

const execFileAsync = promisify(execFile);
const BIN = resolve(import.meta.dirname, "../../src/cli/bin.ts");
const SBIN_PATH = `${process.env.PATH ?? ""}:/usr/local/sbin:/usr/sbin:/sbin`;

let pool: TestPool;
let scratch: string;

before(async () => {
  pool = await createTestPool();
  scratch = mkdtempSync(join(tmpdir(), "holt-bad-config-"));
});
after(async () => {
  await pool?.destroy();
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

async function datasetsOfPool(): Promise<string[]> {
  const { stdout } = await execFileAsync("zfs", ["list", "-H", "-o", "name", "-r", pool.name], {
    env: { ...process.env, PATH: SBIN_PATH },
  });
  return stdout.split("\n").filter((line) => line !== "");
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  stateDir: string;
}

let runs = 0;

/** Runs `holt plan` in a fresh folder holding `config` (none when null). */
async function plan(config: string | null): Promise<Run> {
  const dir = join(scratch, `run-${++runs}`);
  const lab = join(dir, "lab");
  const stateDir = join(dir, "state");
  mkdirSync(lab, { recursive: true });
  if (config !== null) writeFileSync(join(lab, "holt.config.ts"), config);
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [BIN, "plan"], {
      cwd: lab,
      env: {
        ...process.env,
        HOLT_STATE_DIR: stateDir,
        NO_COLOR: "1",
        // Shared by the runs: each starts in half the time (type stripping is cached).
        NODE_COMPILE_CACHE: join(scratch, "compile-cache"),
      },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr, stateDir };
  } catch (error) {
    const e = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof e.code !== "number") throw error;
    return { code: e.code, stdout: e.stdout ?? "", stderr: e.stderr ?? "", stateDir };
  }
}

/** Files holt left in its state folder (the journal would be one). */
function stateFiles(stateDir: string): string[] {
  return existsSync(stateDir) ? readdirSync(stateDir, { recursive: true }).map(String) : [];
}

/** A config file around an object literal, as users write it. */
function lab(body: string): string {
  return `import { defineLab } from "holt";\n\nexport default defineLab(${body});\n`;
}

/**
 * A valid lab on the local host, its state in pool `p`, that a case breaks in one place:
 * `host` is added inside the host, `services` replaces the services, `top` is added at the top.
 */
function localLab(
  p: string,
  options: { host?: string; services?: string; top?: string; stateRoot?: string } = {},
): string {
  return lab(`{
  domain: "lab.example.com",
  hosts: {
    odroid: {
      connect: "local",
      stateRoot: ${JSON.stringify(options.stateRoot ?? `${p}/holt`)},
      ${options.host ?? ""}
    },
  },
  services: ${options.services ?? `{ jelly: { host: "odroid", state: { config: { path: "/config" } } } }`},
  ${options.top ?? ""}
}`);
}

interface BadConfig {
  /** What is wrong, as the test name. */
  readonly name: string;
  /** The config text for pool `p`; null: no config file at all. */
  readonly config: (p: string) => string | null;
  readonly code: string;
  /** The config path the message must name (for HOLT_E_CONFIG_INVALID, as `file: path:`). */
  readonly path: ((p: string) => string) | null;
  /** Fragments of the message and its fix that must appear. */
  readonly hint: ((p: string) => string | string[]) | string | string[];
}

const missingPool = (p: string) => `${p}x`;

/** Any image: a bad service config fails before anything would be pulled or run. */
const IMAGE = "docker.io/library/nginx:1.27";

/** The config with `secret` imported too. */
function withSecret(config: string): string {
  return config.replace("import { defineLab }", "import { defineLab, secret }");
}

const CASES: readonly BadConfig[] = [
  {
    name: "typo'd key at top level",
    config: (p) => localLab(p, { top: `servics: {},` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "servics",
    hint: 'unknown key "servics". Did you mean "services"?',
  },
  {
    name: "typo'd key in a dataset",
    config: (p) => localLab(p, { host: `datasets: { "${p}/media": { recordsise: "1M" } },` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets["${p}/media"].recordsise`,
    hint: 'unknown key "recordsise". Did you mean "recordsize"?',
  },
  {
    name: "wrong type: quota: true",
    config: (p) => localLab(p, { host: `datasets: { "${p}/media": { quota: true } },` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets["${p}/media"].quota`,
    hint: 'true is not a valid quota. Use a number of bytes, or a number with K, M, G, T or P, like "20G".',
  },
  {
    name: "wrong type: hosts: []",
    config: () => lab(`{ domain: "lab.example.com", hosts: [] }`),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "hosts",
    hint: "[] is a list; expected an object.",
  },
  {
    name: 'bad size "20 GB"',
    config: (p) =>
      localLab(p, {
        services: `{ jelly: { host: "odroid", state: { config: { path: "/config", quota: "20 GB" } } } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.state.config.quota",
    hint: '"20 GB" is not a valid quota. Use a number of bytes',
  },
  {
    name: "recordsize that is not a power of two (3K)",
    config: (p) => localLab(p, { host: `datasets: { "${p}/media": { recordsize: "3K" } },` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets["${p}/media"].recordsize`,
    hint: '"3K" is not a valid recordsize. Use a power of two from "512" to "16M", like "128K" or "1M".',
  },
  {
    name: "unknown compression value",
    config: (p) => localLab(p, { host: `datasets: { "${p}/media": { compression: "fast" } },` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets["${p}/media"].compression`,
    hint: '"fast" is not a valid compression. Use "on", "off", "lz4", "zstd"',
  },
  {
    name: "a service's state dataset also declared under datasets",
    config: (p) => localLab(p, { host: `datasets: { "${p}/holt/jelly/config": {} },` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets["${p}/holt/jelly/config"]`,
    hint: (p) =>
      `dataset "${p}/holt/jelly/config" is the state of service "jelly" (services.jelly.state), so holt already manages it. Declare it once`,
  },
  {
    name: "dataset outside any pool the host has",
    config: (p) => localLab(p, { host: `datasets: { "${missingPool(p)}/media": {} },` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets["${missingPool(p)}/media"]`,
    hint: (p) => [
      `dataset "${missingPool(p)}/media" is outside any pool host "odroid" has (pools: `,
      `"${p}"`,
      `Create pool "${missingPool(p)}" on the host first, or use one of its pools.`,
    ],
  },
  {
    name: "state root in a pool the host does not have",
    config: (p) => localLab(p, { stateRoot: `${missingPool(p)}/holt` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "hosts.odroid.stateRoot",
    hint: (p) => `dataset "${missingPool(p)}/holt" is outside any pool host "odroid" has (pools: `,
  },
  {
    name: "unknown host in a service",
    config: (p) =>
      localLab(p, { services: `{ jelly: { host: "odriod", state: { config: { path: "/c" } } } }` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.host",
    hint: '"odriod" is not a host of this lab. Did you mean "odroid"? Use one of: "odroid".',
  },
  {
    name: "dependsOn an unknown service",
    config: (p) =>
      localLab(p, {
        services: `{ app: { host: "odroid", dependsOn: ["postgress"] }, postgres: { host: "odroid" } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.app.dependsOn[0]",
    hint: '"postgress" is not a service of this lab. Did you mean "postgres"?',
  },
  {
    name: "dependency cycle",
    config: (p) =>
      localLab(p, {
        services: `{
          a: { host: "odroid", dependsOn: ["b"] },
          b: { host: "odroid", dependsOn: ["c"] },
          c: { host: "odroid", dependsOn: ["a"] },
        }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.a.dependsOn",
    hint: "dependency cycle: a → b → c → a. Remove one of these dependsOn entries.",
  },
  {
    name: 'two hosts both "local"',
    config: () =>
      lab(`{ domain: "lab.example.com", hosts: { odroid: { connect: "local" }, pi: {} } }`),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "hosts.pi.connect",
    hint: 'host "odroid" is already the local machine; two hosts cannot both be "local". Reach this one with { ssh: { ... } }.',
  },
  {
    name: "ssh host without an address",
    config: (p) =>
      localLab(p).replace("hosts: {", `hosts: { nas: { connect: { ssh: { user: "admin" } } },`),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "hosts.nas.address",
    hint: "is required for a host reached over SSH. Set it to the host's IP address or DNS name.",
  },
  {
    name: "invalid dataset name",
    config: (p) => localLab(p, { host: `datasets: { "${p}/bad name": {} },` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets["${p}/bad name"]`,
    hint: (p) => `"${p}/bad name" is not a dataset name. Use "<pool>/<path>"`,
  },
  {
    name: "a whole pool declared as a dataset",
    config: (p) => localLab(p, { host: `datasets: { "${p}": { atime: "off" } },` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets.${p}`,
    hint: (p) =>
      `"${p}" is a whole pool. Declare datasets inside it, like "${p}/media"; pools are created outside holt.`,
  },
  {
    name: "reserved holt: user property",
    config: (p) =>
      localLab(p, {
        host: `datasets: { "${p}/media": { properties: { "holt:owner": "me" } } },`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets["${p}/media"].properties["holt:owner"]`,
    hint: '"holt:owner" is reserved: holt writes the "holt:" properties itself. Pick another prefix, like "com.example:".',
  },
  {
    name: "unknown raw property name",
    config: (p) =>
      localLab(p, { host: `datasets: { "${p}/media": { properties: { compresion: "on" } } },` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets["${p}/media"].properties.compresion`,
    hint: '"compresion" is not a property holt can set. Did you mean "compression"?',
  },
  {
    name: "invalid user property name",
    config: (p) =>
      localLab(p, {
        host: `datasets: { "${p}/media": { properties: { "Com.Example:Owner": "me" } } },`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets["${p}/media"].properties["Com.Example:Owner"]`,
    hint: 'is not a valid ZFS user property name. Use lower case "module:property"',
  },
  {
    name: "a property set both as a field and in properties",
    config: (p) =>
      localLab(p, {
        host: `datasets: { "${p}/media": { atime: "off", properties: { atime: "on" } } },`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets["${p}/media"].properties.atime`,
    hint: '"atime" is set twice, here and as the "atime" field. Keep one.',
  },
  {
    name: "a health path with a space (it crashed holt on SSH hosts)",
    config: (p) =>
      localLab(p, {
        services: `{ jelly: { host: "odroid", image: "${IMAGE}", port: 8096, health: { http: "/health check" } } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.health.http",
    hint: 'Write them percent-encoded: "/health%20check".',
  },
  {
    name: "a lab name that is not a DNS label",
    config: (p) => localLab(p, { top: `name: "My Lab",` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "name",
    hint: '"My Lab" is not a valid lab name. Use a DNS label',
  },
  {
    name: "a newline in an env value",
    config: (p) =>
      localLab(p, {
        services: `{ jelly: { host: "odroid", image: "${IMAGE}", env: { GREETING: "hello\\nExecStartPre=/bin/false" } } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.env.GREETING",
    hint: '"hello\\nExecStartPre=/bin/false" has a newline (U+000A) at character 6.',
  },
  {
    name: "relative state path",
    config: (p) =>
      localLab(p, {
        services: `{ jelly: { host: "odroid", state: { config: { path: "config" } } } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.state.config.path",
    hint: '"config" is not an absolute path. Use the path inside the container, like "/config".',
  },
  {
    name: "duplicate state path within a service",
    config: (p) =>
      localLab(p, {
        services: `{ jelly: { host: "odroid", state: { config: { path: "/config" }, cache: { path: "/config" } } } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.state.cache.path",
    hint: '"/config" is already used by state "config" of this service. Give each state entry its own path.',
  },
  {
    name: "a connect that is neither local nor ssh",
    config: (p) => localLab(p).replace('connect: "local"', 'connect: "ssh"'),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "hosts.odroid.connect",
    hint: '"ssh" is not a way to connect. Use "local" or { ssh: {',
  },
  {
    name: "ssh port out of range",
    config: (p) =>
      localLab(p).replace(
        "hosts: {",
        `hosts: { nas: { address: "10.0.0.2", connect: { ssh: { port: 70000 } } },`,
      ),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "hosts.nas.connect.ssh.port",
    hint: "70000 is out of range (maximum 65535).",
  },
  {
    name: "domain that is not a DNS name",
    config: (p) => localLab(p).replace('"lab.example.com"', '"My Lab"'),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "domain",
    hint: '"My Lab" is not a domain name. Use lower-case DNS labels separated by dots',
  },
  {
    name: 'compression "zstd" on a zfs-fuse pool (found at plan time)',
    config: (p) => localLab(p, { host: `datasets: { "${p}/media": { compression: "zstd" } },` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: (p) => `hosts.odroid.datasets["${p}/media"].compression`,
    hint: (p) =>
      `"zstd" cannot be used: pool "${p}" is ZFS pool version 23, which has no zstd compression. Use "on", "gzip" or "lzjb" on this pool.`,
  },
  {
    name: 'recordsize "1M" on a zfs-fuse pool (found at plan time)',
    config: (p) =>
      localLab(p, {
        services: `{ jelly: { host: "odroid", state: { media: { path: "/media", recordsize: "1M" } } } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.state.media.recordsize",
    hint: (p) =>
      `"1M" cannot be used: pool "${p}" is ZFS pool version 23, where the largest recordsize is 128K. Use "128K" or less on this pool.`,
  },
  {
    name: "container fields without an image",
    config: (p) =>
      localLab(p, { services: `{ jelly: { host: "odroid", hostname: "media", port: 8096 } }` }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.image",
    hint: 'is required when a service sets "hostname", "port". Add the container image, like image: "docker.io/library/nginx:1.27".',
  },
  {
    name: "a hostname that repeats the lab's domain",
    config: (p) =>
      localLab(p, {
        services: `{ jelly: { host: "odroid", image: "${IMAGE}", hostname: "media.lab.example.com", port: 8096 } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.hostname",
    hint: '"media.lab.example.com" already ends with the lab\'s domain. Write only the part before it: "media".',
  },
  {
    name: "two services with one hostname",
    config: (p) =>
      localLab(p, {
        services: `{
          jelly: { host: "odroid", image: "${IMAGE}", hostname: "media", port: 8096 },
          plex: { host: "odroid", image: "${IMAGE}", hostname: "media", port: 32400 },
        }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.plex.hostname",
    hint: '"media.lab.example.com" is already the hostname of service "jelly". Each hostname belongs to one service; pick another.',
  },
  {
    name: "two services publishing one port on a host",
    config: (p) =>
      localLab(p, {
        services: `{
          jelly: { host: "odroid", image: "${IMAGE}", port: 8080 },
          rss: { host: "odroid", image: "${IMAGE}", port: 8080 },
        }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.rss.port",
    hint: 'tcp port 8080 on host "odroid" is already published by services.jelly.port. Each port is published once per host',
  },
  {
    name: "a service on Caddy's HTTP port",
    config: (p) =>
      localLab(p, {
        services: `{ jelly: { host: "odroid", image: "${IMAGE}", hostname: "media", port: 80 } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.port",
    hint: 'tcp port 80 on host "odroid" is Caddy\'s (hosts.odroid.proxy.httpPort). Publish this service on another loopback port: set hostPort, like hostPort: 8080.',
  },
  {
    name: "a ports entry that is not a port",
    config: (p) =>
      localLab(p, {
        services: `{ jelly: { host: "odroid", image: "${IMAGE}", ports: ["53/udp", "53/sctp"] } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.ports[1]",
    hint: '"53/sctp" is not a port. Use "53/udp", "8883" or "2222:22/tcp"',
  },
  {
    name: "a mount of a dataset the host does not declare",
    config: (p) =>
      localLab(p, {
        host: `datasets: { "${p}/media": {} },`,
        services: `{ jelly: { host: "odroid", image: "${IMAGE}", mounts: { "/media": { dataset: "${p}/film", readOnly: true } } } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => 'services.jelly.mounts["/media"].dataset',
    hint: (p) =>
      `"${p}/film" is not declared on host "odroid" (declared: "${p}/media"). Declare it under hosts.odroid.datasets, or mount one that is.`,
  },
  {
    name: "a secret written in env",
    config: (p) =>
      withSecret(
        localLab(p, {
          services: `{ jelly: { host: "odroid", image: "${IMAGE}", env: { DB_PASSWORD: secret("jelly-db") } } }`,
        }),
      ),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.env.DB_PASSWORD",
    hint: 'secret("jelly-db") cannot go in env, whose values are stored in plain text. Move it to secrets: { DB_PASSWORD: secret("jelly-db") }.',
  },
  {
    name: "a password written into secrets instead of secret(...)",
    config: (p) =>
      localLab(p, {
        services: `{ jelly: { host: "odroid", image: "${IMAGE}", secrets: { DB_PASSWORD: "hunter2" } } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.secrets.DB_PASSWORD",
    hint: '"hunter2" is not a secret reference. Write secret("name") (import { secret } from "holt") and store the value with `holt secrets set name`.',
  },
  {
    name: "a user name instead of a uid",
    config: (p) =>
      localLab(p, {
        services: `{ jelly: { host: "odroid", image: "${IMAGE}", user: "jellyfin", state: { config: { path: "/config" } } } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.user",
    hint: '"jellyfin" is not a numeric user. Use "uid" or "uid:gid", like "1000:1000"',
  },
  {
    name: "a health check whose timeout outlasts its interval",
    config: (p) =>
      localLab(p, {
        services: `{ jelly: { host: "odroid", image: "${IMAGE}", port: 8096, health: { http: "/health", interval: "5s", timeout: "1m" } } }`,
      }),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.health.timeout",
    hint: "is longer than the interval (60000 ms > 5000 ms). A probe must end before the next one starts.",
  },
  {
    name: "a secret that is not in the lab's secrets file (found at plan time)",
    config: (p) =>
      withSecret(
        localLab(p, {
          services: `{ jelly: { host: "odroid", image: "${IMAGE}", secrets: { DB_PASSWORD: secret("jelly-db") } } }`,
        }),
      ),
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "services.jelly.secrets.DB_PASSWORD",
    hint: 'secret "jelly-db" is not in the lab\'s secrets file. Add it with `holt secrets set jelly-db`',
  },
  {
    name: "config file with a syntax error",
    config: () =>
      `import { defineLab } from "holt";\n\nexport default defineLab({\n  domain: "lab.example.com",\n  hosts: { odroid: { connect: "local", } ,\n});\n`,
    code: "HOLT_E_CONFIG_LOAD",
    path: null,
    hint: ["Could not load holt.config.ts: Expected ','", "\n  at holt.config.ts:6\n"],
  },
  {
    name: "config using TypeScript that Node cannot strip (enum)",
    config: () =>
      `import { defineLab } from "holt";\nenum Size { Big }\nexport default defineLab({ domain: "lab.example.com", hosts: { odroid: {} } });\n`,
    code: "HOLT_E_CONFIG_LOAD",
    path: null,
    hint: "holt.config.ts may only use TypeScript that Node can strip: type annotations, not enums or namespaces.",
  },
  {
    name: "config that throws while loading",
    config: () =>
      `import { defineLab } from "holt";\nconst port = Number("x");\nif (Number.isNaN(port)) throw new Error("PORT is not set");\nexport default defineLab({ domain: "lab.example.com", hosts: { odroid: {} } });\n`,
    code: "HOLT_E_CONFIG_LOAD",
    path: null,
    hint: "Could not load holt.config.ts: PORT is not set.\n  at holt.config.ts:3:",
  },
  {
    name: "config without a default export",
    config: () =>
      `import { defineLab } from "holt";\n\nexport const lab = defineLab({ domain: "lab.example.com", hosts: { odroid: {} } });\n`,
    code: "HOLT_E_CONFIG_LOAD",
    path: null,
    hint: "holt.config.ts has no default export. End it with `export default defineLab({ ... })`.",
  },
  {
    name: "default export that is not a lab",
    config: () => `export default "lab.example.com";\n`,
    code: "HOLT_E_CONFIG_INVALID",
    path: () => "(default export)",
    hint: '"lab.example.com" is not a lab. The file must `export default defineLab({ domain, hosts, services })`.',
  },
  {
    name: "no config file at all",
    config: () => null,
    code: "HOLT_E_CONFIG_NOT_FOUND",
    path: null,
    hint: "No holt.config.ts in ",
  },
];

/** Runs `holt plan` and checks that it failed without touching the pool or the state folder. */
async function planFails(config: string | null): Promise<Run> {
  const before = await datasetsOfPool();
  const run = await plan(config);
  assert.equal(run.code, 1, `exit code; stderr:\n${run.stderr}`);
  assert.equal(run.stdout, "", "nothing on stdout");
  assert.deepEqual(await datasetsOfPool(), before, "the pool is unchanged");
  assert.deepEqual(stateFiles(run.stateDir), [], "no journal or lock was written");
  return run;
}

describe("holt plan rejects bad configs", { concurrency: 4 }, () => {
  test("the base config the cases start from is valid", async () => {
    const before = await datasetsOfPool();
    const run = await plan(localLab(pool.name));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`${pool.name}/holt/jelly/config`));
    assert.deepEqual(await datasetsOfPool(), before, "plan changes nothing");
    assert.deepEqual(stateFiles(run.stateDir), [], "plan writes no journal");
  });

  for (const c of CASES) {
    test(c.name, async () => {
      const p = pool.name;
      const run = await planFails(c.config(p));
      const { stderr } = run;
      assert.match(stderr, new RegExp(`^Error \\[${c.code}\\] `), stderr);
      assert.ok(stderr.includes("holt.config.ts"), `names the file:\n${stderr}`);
      if (c.path !== null) {
        const line = `  holt.config.ts: ${c.path(p)}: `;
        assert.ok(stderr.includes(line), `names the path ${JSON.stringify(line)}:\n${stderr}`);
      }
      for (const hint of [typeof c.hint === "function" ? c.hint(p) : c.hint].flat()) {
        assert.ok(stderr.includes(hint), `gives the hint ${JSON.stringify(hint)}:\n${stderr}`);
      }
      assert.ok(
        stderr.includes(`How to fix ${c.code}: docs/errors.md#${c.code.toLowerCase()}`),
        stderr,
      );
    });
  }

  test("every problem of a config is reported in one run", async () => {
    const p = pool.name;
    const run = await planFails(
      lab(`{
        domain: "lab.example.com",
        hosts: {
          odroid: {
            stateRoot: "${p}/holt",
            datasets: { "${p}/media": { recordsise: "1M", quota: "20 GB", compression: "fast" } },
          },
        },
        services: {
          jelly: { host: "odriod", state: { config: { path: "config" } }, dependsOn: ["nope"] },
        },
      }`),
    );
    const lines = run.stderr.split("\n");
    assert.equal(lines[0], "Error [HOLT_E_CONFIG_INVALID] holt.config.ts has 6 problems:");
    const paths = lines
      .filter((line) => line.startsWith("  holt.config.ts: "))
      .map((line) => line.slice("  holt.config.ts: ".length).split(": ")[0]);
    assert.deepEqual(paths, [
      `hosts.odroid.datasets["${p}/media"].recordsise`,
      `hosts.odroid.datasets["${p}/media"].quota`,
      `hosts.odroid.datasets["${p}/media"].compression`,
      "services.jelly.host",
      "services.jelly.state.config.path",
      "services.jelly.dependsOn[0]",
    ]);
  });

  test("plan-time capability problems are all reported together too", async () => {
    const p = pool.name;
    const run = await planFails(
      localLab(p, {
        host: `datasets: { "${p}/media": { compression: "zstd-3", recordsize: "1M" } },`,
        services: `{ jelly: { host: "odroid", state: { cache: { path: "/cache", compression: "lz4" } } } }`,
      }),
    );
    const lines = run.stderr.split("\n");
    assert.equal(lines[0], "Error [HOLT_E_CONFIG_INVALID] holt.config.ts has 3 problems:");
    assert.ok(
      run.stderr.includes(
        `holt.config.ts: hosts.odroid.datasets["${p}/media"].compression: "zstd-3" cannot be used`,
      ),
    );
    assert.ok(
      run.stderr.includes(
        `holt.config.ts: hosts.odroid.datasets["${p}/media"].recordsize: "1M" cannot be used`,
      ),
    );
    assert.ok(
      run.stderr.includes(
        `holt.config.ts: services.jelly.state.cache.compression: "lz4" cannot be used: pool "${p}" is ZFS pool version 23, which has no lz4 compression.`,
      ),
      run.stderr,
    );
  });
});
