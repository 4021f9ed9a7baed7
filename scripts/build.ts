/**
 * Builds the shipped JavaScript, behind `npm run build` and `npm pack`/`npm publish` (prepack).
 *
 *   node scripts/build.ts
 *
 * 1. Fails when src/cli/version.ts and package.json disagree on the version.
 * 2. Deletes dist/ and compiles src/ (tests excluded) with `tsc -p tsconfig.build.json`;
 *    rewriteRelativeImportExtensions turns the `.ts` imports into `.js`.
 * 3. Makes dist/cli/bin.js executable and checks that the result runs: `dist/cli/bin.js
 *    --version` must print the version.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");

function fail(message: string): never {
  console.error(`build: ${message}`);
  process.exit(1);
}

const started = performance.now();

// 1. The version the CLI prints is the version npm publishes.
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
  version: string;
};
const versionSource = readFileSync(path.join(root, "src/cli/version.ts"), "utf8");
const match = /export const VERSION = "([^"]+)";/.exec(versionSource);
if (match === null) fail('src/cli/version.ts has no `export const VERSION = "...";` line');
if (match[1] !== pkg.version) {
  fail(
    `src/cli/version.ts says VERSION = "${match[1]}" but package.json says "${pkg.version}". ` +
      "Set both to the same version.",
  );
}

// 2. A clean compile: nothing stale from deleted or renamed sources ends up in the package.
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
try {
  execFileSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json")], {
    cwd: root,
    stdio: "inherit",
  });
} catch {
  fail("tsc -p tsconfig.build.json failed (errors above)");
}

// 3. The entry bin/holt.js imports must exist, be executable and run.
const bin = path.join(dist, "cli", "bin.js");
if (!existsSync(bin)) fail(`tsc did not write ${path.relative(root, bin)}`);
chmodSync(bin, 0o755);
let printed: string;
try {
  printed = execFileSync(process.execPath, [bin, "--version"], { encoding: "utf8" }).trim();
} catch (error) {
  fail(`the compiled CLI does not run: ${(error as Error).message}`);
}
if (printed !== pkg.version) {
  fail(`dist/cli/bin.js --version printed "${printed}", expected "${pkg.version}"`);
}

console.log(
  `build: dist/ for holt ${pkg.version} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
