/**
 * The checks a change must pass before it lands, run with the tests so CI runs them too:
 * the type checker over everything tsconfig.json includes, and Biome's linter and formatter.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";

const root = path.resolve(import.meta.dirname, "..");

function runTool(script: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(process.execPath, [path.join(root, "node_modules", script), ...args], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test("the project type-checks (npm run typecheck)", () => {
  const r = runTool("typescript/bin/tsc", ["--noEmit", "-p", "tsconfig.json"]);
  assert.equal(r.status, 0, `tsc found errors:\n${r.output}`);
});

test("the code passes the linter and the formatter (npm run lint)", () => {
  const r = runTool("@biomejs/biome/bin/biome", ["check", "."]);
  assert.equal(
    r.status,
    0,
    `biome check found problems (npx biome check --write . fixes most):\n${r.output}`,
  );
});
