/**
 * Builds the shipped JavaScript, behind `npm run build` and `npm pack`/`npm publish` (prepack).
 *
 *   node scripts/build.ts
 *
 * 1. Fails when src/cli/version.ts and package.json disagree on the version.
 * 2. Deletes dist/ and compiles src/ (tests excluded) with `tsc -p tsconfig.build.json`;
 *    rewriteRelativeImportExtensions turns the `.ts` imports into `.js`.
 * 3. Bundles the CLI with esbuild into dist/bundle/ (bin.js and the chunks loaded on demand;
 *    ssh2 stays a package import): one file per chunk instead of about 250 modules makes every
 *    command start faster. dist/index.js and its types stay tsc's, for holt.config.ts.
 * 4. Makes the entries executable and checks that each runs: `--version` must print the version.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

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

// 3. One bundle for the CLI. Its chunks sit directly in dist/bundle/, so the config loader's
// `../index.js` (relative to its own file) is dist/index.js here too.
const bundle = path.join(dist, "bundle");
try {
  await build({
    entryPoints: [path.join(root, "src", "cli", "bin.ts")],
    outdir: bundle,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node24",
    // ssh2 loads optional native code by path; it stays a package import.
    external: ["ssh2"],
    // Without comments and indentation the chunks are a fifth smaller and pure ASCII (a comment
    // in zod has an em dash, which makes Node decode and V8 parse the whole chunk as two-byte
    // text): every command starts 20-30 ms sooner. Names are kept, so stack traces still read.
    minifyWhitespace: true,
    // Bundled CommonJS packages call require() for Node's own modules.
    banner: {
      js: 'import { createRequire as __holtRequire } from "node:module"; const require = __holtRequire(import.meta.url);',
    },
    logLevel: "warning",
  });
} catch {
  fail("esbuild could not bundle src/cli/bin.ts (errors above)");
}

// 4. The entries bin/holt.js imports must exist, be executable and run.
for (const bin of [path.join(bundle, "bin.js"), path.join(dist, "cli", "bin.js")]) {
  if (!existsSync(bin)) fail(`the build did not write ${path.relative(root, bin)}`);
  chmodSync(bin, 0o755);
  let printed: string;
  try {
    printed = execFileSync(process.execPath, [bin, "--version"], { encoding: "utf8" }).trim();
  } catch (error) {
    fail(`${path.relative(root, bin)} does not run: ${(error as Error).message}`);
  }
  if (printed !== pkg.version) {
    fail(`${path.relative(root, bin)} --version printed "${printed}", expected "${pkg.version}"`);
  }
}

console.log(
  `build: dist/ for holt ${pkg.version} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
