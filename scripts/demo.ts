/**
 * The demo: a file-backed ZFS pool, a small lab on it, and holt's main job
 * shown end to end (validate, plan, apply, change one property, plan again).
 * Everything lives in a temporary folder and pool, removed at the end unless
 * --keep is given.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const keep = process.argv.includes("--keep");
const bin = new URL("../src/cli/bin.ts", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "holt-demo-"));
const pool = `holtdemo${process.pid}`;
const image = join(dir, "pool.img");

function sh(program: string, args: string[]): void {
  const r = spawnSync(program, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${program} ${args.join(" ")} failed: ${r.stderr}`);
}

function holt(args: string[]): number {
  console.log(`\n\u001b[1m$ holt ${args.join(" ")}\u001b[22m`);
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: dir,
    stdio: "inherit",
    env: { ...process.env, HOLT_STATE_DIR: join(dir, "state") },
  });
  return r.status ?? 1;
}

const config = (recordsize: string) => `import { defineLab } from "holt";

export default defineLab({
  domain: "demo.home.arpa",
  name: "${pool}",
  hosts: {
    odroid: {
      connect: "local",
      stateRoot: "${pool}/holt",
      datasets: {
        "${pool}/media": { recordsize: "${recordsize}", compression: "on", atime: "off", quota: "200M" },
        "${pool}/media/photos": { properties: { "com.example:owner": "demo" } },
      },
    },
  },
  services: {
    jellyfin: { host: "odroid", state: { config: { path: "/config", quota: "50M" }, cache: { path: "/cache" } } },
    vaultwarden: { host: "odroid", state: { data: { path: "/data", quota: "20M" } } },
  },
});
`;

let failed = false;
try {
  sh("truncate", ["-s", "256M", image]);
  sh("zpool", ["create", "-f", pool, image]);
  console.log(`Demo lab in ${dir}, on a file-backed ZFS pool "${pool}".`);
  writeFileSync(join(dir, "holt.config.ts"), config("128K"));
  failed ||= holt(["validate"]) !== 0;
  failed ||= holt(["plan"]) !== 0;
  failed ||= holt(["apply", "--yes"]) !== 0;
  console.log("\nNow change one property in holt.config.ts: media recordsize 128K → 64K.");
  writeFileSync(join(dir, "holt.config.ts"), config("64K"));
  failed ||= holt(["plan"]) !== 0;
  failed ||= holt(["apply", "--yes"]) !== 0;
  failed ||= holt(["plan", "--detailed-exitcode"]) !== 0;
  failed ||= holt(["history"]) !== 0;
  console.log(`\nThe datasets holt manages (zfs list -r ${pool}):`);
  spawnSync("zfs", ["list", "-r", "-o", "name,used,quota,recordsize,holt:managed", pool], { stdio: "inherit" });
} finally {
  if (keep) {
    console.log(`\nKept ${dir} and pool ${pool} (--keep). Remove with: zpool destroy ${pool} && rm -rf ${dir}`);
  } else {
    spawnSync("zfs", ["unmount", "-f", `${pool}`], { stdio: "ignore" });
    for (let i = 0; i < 10; i++) {
      if (spawnSync("zpool", ["destroy", "-f", pool], { stdio: "ignore" }).status === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(failed ? "\nThe demo did not complete." : "\nDemo complete.");
process.exitCode = failed ? 1 : 0;
