/**
 * Drives the real CLI the way a user does: a lab folder with holt.config.ts,
 * `holt <command>` in a subprocess, and a private state dir.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeHolders } from "../peers/zfs.ts";

export const BIN = new URL("../../src/cli/bin.ts", import.meta.url).pathname;

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface LabFolder {
  readonly dir: string;
  readonly stateDir: string;
  write(config: string): void;
  holt(args: readonly string[], env?: NodeJS.ProcessEnv): CliResult;
  /** `holt secrets set NAME` with the value piped in, as a user would; throws on failure. */
  setSecret(name: string, value: string, env?: NodeJS.ProcessEnv): void;
  holtAsync(
    args: readonly string[],
    env?: NodeJS.ProcessEnv,
  ): {
    child: ReturnType<typeof spawn>;
    done: Promise<CliResult>;
    stdout: () => string;
    stderr: () => string;
  };
  remove(): void;
}

export function createLabFolder(): LabFolder {
  const dir = mkdtempSync(join(tmpdir(), "holt-lab-"));
  const stateDir = join(dir, ".state");
  const baseEnv = (env: NodeJS.ProcessEnv = {}) => ({
    ...process.env,
    NO_COLOR: "1",
    HOLT_STATE_DIR: stateDir,
    ...env,
  });
  return {
    dir,
    stateDir,
    write(config) {
      writeFileSync(join(dir, "holt.config.ts"), config);
    },
    holt(args, env) {
      const r = spawnSync(process.execPath, [BIN, ...args], {
        cwd: dir,
        env: baseEnv(env),
        encoding: "utf8",
        timeout: 120_000,
      });
      return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
    },
    setSecret(name, value, env) {
      const r = spawnSync(process.execPath, [BIN, "secrets", "set", name], {
        cwd: dir,
        env: baseEnv(env),
        input: `${value}\n`,
        encoding: "utf8",
        timeout: 60_000,
      });
      if (r.status !== 0) throw new Error(`holt secrets set ${name} failed: ${r.stderr}`);
    },
    holtAsync(args, env) {
      const child = spawn(process.execPath, [BIN, ...args], {
        cwd: dir,
        env: baseEnv(env),
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout?.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr?.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      const done = new Promise<CliResult>((resolve) => {
        child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
      });
      return { child, done, stdout: () => stdout, stderr: () => stderr };
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `zfs get -H -p` of one property: [value, source], or null if the dataset is missing. */
export function zfsGet(dataset: string, property: string): [string, string] | null {
  const r = spawnSync("zfs", ["get", "-H", "-p", "-o", "value,source", property, dataset], {
    encoding: "utf8",
  });
  if (r.status !== 0) return null;
  const [value = "", source = ""] = r.stdout.trim().split("\t");
  return [value, source];
}

export function zfs(...args: string[]): string {
  const r = spawnSync("zfs", args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`zfs ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** Every filesystem under a pool (no snapshots), sorted. */
export function datasetsUnder(pool: string): string[] {
  return zfs("list", "-H", "-o", "name", "-r", pool)
    .split("\n")
    .filter((l) => l !== "" && !l.includes("@"))
    .sort();
}

/** Every snapshot under a pool, sorted. */
export function snapshotsUnder(pool: string): string[] {
  return zfs("list", "-H", "-t", "snapshot", "-o", "name", "-r", pool)
    .split("\n")
    .filter((l) => l.includes("@"))
    .sort();
}

/** sha256 of every file under a folder, by relative path; folders show as "<dir>", symlinks as "-> target". */
export function checksums(dir: string, prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : 1,
  )) {
    const full = join(dir, entry.name);
    const name = `${prefix}${entry.name}`;
    if (entry.isDirectory()) {
      out[name] = "<dir>";
      Object.assign(out, checksums(full, `${name}/`));
    } else if (entry.isSymbolicLink()) {
      out[name] = `-> ${readlinkSync(full)}`;
    } else {
      out[name] = createHash("sha256").update(readFileSync(full)).digest("hex");
    }
  }
  return out;
}

/**
 * Destroys a dataset (with `-r`, its children and snapshots too). zfs-fuse
 * answers "busy" while the dataset is mounted with children, and for a
 * moment whenever another process on the machine enters a new mount
 * namespace (a container starting beside the test): unmount, destroy, and
 * try again for up to 30 s.
 */
export function destroyWhenFree(dataset: string, options: { recursive?: boolean } = {}): void {
  const deadline = Date.now() + 30_000;
  for (;;) {
    // Not -f: a forced unmount of a dataset in use can leave it busy in zfs-fuse for good (see
    // destroyPool in ../peers/zfs.ts).
    spawnSync("zfs", ["unmount", dataset]);
    const args = options.recursive === true ? ["destroy", "-r", dataset] : ["destroy", dataset];
    const r = spawnSync("zfs", args, { encoding: "utf8" });
    if (r.status === 0) return;
    if (!/busy/.test(r.stderr) || Date.now() > deadline) {
      throw new Error(
        `zfs ${args.join(" ")} failed: ${r.stderr.trim()}; ${describeHolders(dataset)}`,
      );
    }
    spawnSync("sleep", ["0.2"]);
  }
}
