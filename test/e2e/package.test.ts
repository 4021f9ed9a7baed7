/**
 * The package as users get it: `npm pack` (which builds dist/ through prepack), then the
 * tarball installed the three ways the docs describe:
 *
 *   (a) into a lab folder:   npm install holt, then node_modules/.bin/holt
 *   (b) globally:            npm install -g holt, then `holt` in a folder without node_modules
 *   (c) without installing:  npx --package holt holt
 *
 * The pack runs in a staged copy of the repository (package.json, bin/, src/, tsconfigs,
 * scripts/build.ts, node_modules linked), so building never rewrites the checkout's dist/
 * while other tests run. Every npm command uses the same npm cache (npm's default, which
 * `npm ci` has already filled with holt's dependencies; HOLT_TEST_NPM_CACHE overrides it) and
 * --prefer-offline, so the registry is only asked for what the cache lacks. Installs pass
 * --ignore-scripts: the only install scripts are ssh2's and cpu-features' optional native
 * builds (about 20 s per install), which ssh2 does not need.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const pkg = JSON.parse(readFileSync(path.join(repo, "package.json"), "utf8")) as {
  name: string;
  version: string;
};

/** Node 24 first on PATH: npm runs `node scripts/build.ts`, and bin/holt.js says `env node`. */
const env: NodeJS.ProcessEnv = {
  ...process.env,
  PATH: [path.dirname(process.execPath), process.env.PATH ?? ""].join(path.delimiter),
  NO_COLOR: "1",
  npm_config_update_notifier: "false",
  npm_config_fund: "false",
  npm_config_audit: "false",
};
// Nothing may help `import "holt"` resolve except holt itself.
delete env.NODE_PATH;
delete env.NODE_OPTIONS;

interface Result {
  readonly command: string;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end; never rejects (a failure to start is exit code null). */
function run(program: string, args: readonly string[], cwd: string, timeoutMs = 120_000) {
  const command = [program, ...args].join(" ");
  return new Promise<Result>((resolve) => {
    const child = spawn(program, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (error) => {
      stderr += String(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ command, code, stdout, stderr });
    });
  });
}

function assertOk(result: Result): void {
  assert.equal(
    result.code,
    0,
    `\`${result.command}\` exited with ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
  );
}

const CONFIG = `import { defineLab, type UserLab } from "holt";

// Type annotations: Node strips them when it loads this file.
const domain: string = "lab.example.com";

const lab: UserLab = defineLab({
  domain,
  hosts: {
    nas: { connect: "local", datasets: { "tank/media": { recordsize: "1M" } } },
  },
  services: {
    jellyfin: { host: "nas", state: { config: { path: "/config", quota: "20G" } } },
  },
});

export default lab;
`;
const VALID =
  /^holt\.config\.ts is valid: lab lab\.example\.com, 1 host, 1 service, 4 resources\.$/m;

async function labFolder(dir: string, packageJson: boolean): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, "holt.config.ts"), CONFIG);
  if (packageJson) {
    await writeFile(
      path.join(dir, "package.json"),
      `${JSON.stringify({ name: "my-lab", private: true }, null, 2)}\n`,
    );
  }
  return dir;
}

/** A copy of what `npm pack` needs, so prepack builds there and not in the checkout. */
async function stageRepo(stage: string): Promise<void> {
  const entries = [
    "package.json",
    "bin",
    "src",
    "tsconfig.json",
    "tsconfig.build.json",
    "scripts/build.ts",
    "README.md",
    "LICENSE",
    ".gitignore",
    ".npmignore",
  ];
  for (const entry of entries) {
    const from = path.join(repo, entry);
    if (existsSync(from)) await cp(from, path.join(stage, entry), { recursive: true });
  }
  await rm(path.join(stage, "dist"), { recursive: true, force: true });
  await symlink(path.join(repo, "node_modules"), path.join(stage, "node_modules"), "dir");
}

describe("the npm package", { timeout: 240_000 }, () => {
  let root = "";
  let tarball = "";
  let packed: { path: string; mode: number }[] = [];
  let cache = "";
  let local: Promise<Result>;
  let global: Promise<Result>;
  let npx: Promise<Result>;

  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), "holt-package-"));
    cache = process.env.HOLT_TEST_NPM_CACHE ?? "";
    if (cache === "") {
      const got = await run("npm", ["config", "get", "cache"], root);
      assertOk(got);
      cache = got.stdout.trim();
    }
    const npm = ["--cache", cache, "--prefer-offline", "--no-audit", "--no-fund"];

    const stage = path.join(root, "stage");
    const out = path.join(root, "pack");
    await mkdir(stage);
    await mkdir(out);
    await stageRepo(stage);
    const pack = await run("npm", ["pack", "--json", "--pack-destination", out, ...npm], stage);
    assertOk(pack);
    const report = JSON.parse(pack.stdout.slice(pack.stdout.indexOf("["))) as {
      filename: string;
      files: { path: string; mode: number }[];
    }[];
    const first = report[0];
    assert.ok(first !== undefined, `npm pack reported nothing: ${pack.stdout}`);
    tarball = path.join(out, first.filename);
    packed = first.files;
    assert.ok(existsSync(tarball), `npm pack did not write ${tarball}`);

    // The three installs are independent: run them at the same time, check them one by one.
    const install = ["install", ...npm, "--ignore-scripts"];
    const labA = await labFolder(path.join(root, "lab-local"), true);
    local = run("npm", [...install, tarball], labA);
    const prefix = path.join(root, "global");
    global = run("npm", [...install, "--global", "--prefix", prefix, tarball], root);
    const npxDir = path.join(root, "npx-cwd");
    await mkdir(npxDir);
    npx = run(
      "npx",
      [...npm, "--ignore-scripts", "--yes", "--package", tarball, "holt", "--version"],
      npxDir,
    );
  });

  after(async () => {
    await Promise.allSettled([local, global, npx]);
    if (root !== "") await rm(root, { recursive: true, force: true });
    // npx installed the tarball into <cache>/_npx/<hash>; that copy is ours to remove.
    const npxRoot = path.join(cache, "_npx");
    for (const entry of await readdir(npxRoot).catch(() => [] as string[])) {
      const manifest = await readFile(path.join(npxRoot, entry, "package.json"), "utf8").catch(
        () => "",
      );
      if (tarball !== "" && manifest.includes(JSON.stringify(tarball))) {
        await rm(path.join(npxRoot, entry), { recursive: true, force: true });
      }
    }
  });

  test("the tarball holds bin/ and the built dist/, and no sources or tests", () => {
    const paths = packed.map((f) => f.path);
    for (const wanted of [
      "package.json",
      "bin/holt.js",
      "dist/index.js",
      "dist/index.d.ts",
      "dist/cli/bin.js",
      "dist/bundle/bin.js",
      "dist/config/load.js",
    ]) {
      assert.ok(
        paths.includes(wanted),
        `${wanted} is missing from the tarball: ${paths.join(", ")}`,
      );
    }
    const unwanted = paths.filter(
      (p) =>
        p.startsWith("src/") ||
        p.startsWith("test/") ||
        /\.test\.[cm]?[jt]s$/.test(p) ||
        (p.endsWith(".ts") && !p.endsWith(".d.ts")),
    );
    assert.deepEqual(unwanted, [], "sources or tests in the tarball");
    const mode = (p: string) => packed.find((f) => f.path === p)?.mode ?? 0;
    assert.ok((mode("bin/holt.js") & 0o111) !== 0, "bin/holt.js is not executable");
    assert.ok((mode("dist/bundle/bin.js") & 0o111) !== 0, "dist/bundle/bin.js is not executable");
  });

  test("installed in a lab folder: holt --version and holt validate", async () => {
    assertOk(await local);
    const dir = path.join(root, "lab-local");
    const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    };
    assert.ok(manifest.dependencies?.holt !== undefined, "holt was not added to package.json");
    for (const dependency of ["zod", "ssh2"]) {
      assert.ok(
        existsSync(path.join(dir, "node_modules", dependency, "package.json")),
        `${dependency} was not installed`,
      );
    }
    const holt = path.join(dir, "node_modules", ".bin", "holt");
    const version = await run(holt, ["--version"], dir);
    assertOk(version);
    assert.equal(version.stdout.trim(), pkg.version);
    const validate = await run(holt, ["validate"], dir);
    assertOk(validate);
    assert.match(validate.stdout, VALID);
    // ssh2 loads from the installed tree (without its optional native parts).
    const ssh2 = await run(process.execPath, ["-e", "require('ssh2').Client"], dir);
    assertOk(ssh2);
  });

  test("installed in a lab folder: holt validate loads no HTTP, TLS or SSH code", async () => {
    assertOk(await local);
    const dir = path.join(root, "lab-local");
    // Records the modules Node loaded, as the process exits. An ESM import of node:http alone
    // costs ~80 ms (its module facade loads undici); ssh2 another ~80 ms. (dgram is not listed:
    // Node's child_process loads it.)
    const loaded = path.join(root, "loaded.json");
    const recorder = path.join(root, "record-modules.mjs");
    await writeFile(
      recorder,
      `import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
const cache = createRequire(import.meta.url).cache;
process.on("exit", () => {
  writeFileSync(${JSON.stringify(loaded)}, JSON.stringify([...process.moduleLoadList, ...Object.keys(cache)]));
});
`,
    );
    const entry = path.join(dir, "node_modules", "holt", "bin", "holt.js");
    const validate = await run(
      process.execPath,
      ["--import", pathToFileURL(recorder).href, entry, "validate"],
      dir,
    );
    assertOk(validate);
    const modules = JSON.parse(await readFile(loaded, "utf8")) as string[];
    const heavy = modules.filter((m) =>
      /^NativeModule (http|https|tls|_http_client|zlib|internal\/deps\/undici\/undici)$|[\\/]ssh2[\\/]/.test(
        m,
      ),
    );
    assert.deepEqual(heavy, [], `holt validate loaded ${heavy.join(", ")}`);
    assert.ok(modules.includes("NativeModule fs"), "the recorder saw no modules at all");
  });

  test("installed globally: holt validate in a lab folder without node_modules", async () => {
    assertOk(await global);
    const prefix = path.join(root, "global");
    assert.ok(
      readdirSync(path.join(prefix, "lib", "node_modules", "holt", "node_modules")).includes("zod"),
      "zod was not installed with the global holt",
    );
    const dir = await labFolder(path.join(root, "lab-global"), false);
    const holt = path.join(prefix, "bin", "holt");
    const version = await run(holt, ["--version"], dir);
    assertOk(version);
    assert.equal(version.stdout.trim(), pkg.version);
    const validate = await run(holt, ["validate"], dir);
    assertOk(validate);
    assert.match(validate.stdout, VALID);
    assert.ok(!existsSync(path.join(dir, "node_modules")), "validate created node_modules");
  });

  test("npx --package TARBALL holt --version", async () => {
    const result = await npx;
    assertOk(result);
    assert.equal(result.stdout.trim(), pkg.version);
  });
});
