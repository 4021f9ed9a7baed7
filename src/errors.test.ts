import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { DOCS_ERRORS_URL, ERROR_CODES } from "./errors.ts";

// The CLI prints `docs/errors.md#<code in lower case>` under every error. GitHub turns a
// heading `### HOLT_E_USAGE` into the anchor `holt_e_usage`, so one such heading per code
// makes every printed link land on its fix.
const docsPath = join(import.meta.dirname, "..", DOCS_ERRORS_URL);
const docs = readFileSync(docsPath, "utf8");
const headings = [...docs.matchAll(/^###[ \t]+(\S+)[ \t]*$/gm)].map((m) => m[1] ?? "");
const codes = Object.keys(ERROR_CODES);

test("every error code has a `### CODE` section in docs/errors.md", () => {
  const missing = codes.filter((code) => !headings.includes(code));
  assert.deepEqual(missing, [], `add a "### CODE" section to ${DOCS_ERRORS_URL} for each of these`);
});

test("docs/errors.md documents no code that src/errors.ts lacks", () => {
  const unknown = headings.filter((heading) => !codes.includes(heading));
  assert.deepEqual(
    unknown,
    [],
    `these ### headings in ${DOCS_ERRORS_URL} are not in ERROR_CODES (src/errors.ts)`,
  );
  // Codes named anywhere else on the page (tables, links, prose) must exist too.
  const mentioned = [...new Set(docs.match(/\bHOLT_E_[A-Z0-9_]+\b/g) ?? [])];
  const stray = mentioned.filter((code) => !codes.includes(code));
  assert.deepEqual(stray, [], `${DOCS_ERRORS_URL} mentions codes that do not exist`);
});

test("each code has exactly one section, so its anchor is not suffixed", () => {
  const repeated = headings.filter((heading, index) => headings.indexOf(heading) !== index);
  assert.deepEqual(repeated, []);
});

test("each section says what happened and how to fix it", () => {
  const sections = docs.split(/^###[ \t]+/m).slice(1);
  for (const section of sections) {
    const code = section.split("\n", 1)[0]?.trim() ?? "";
    assert.match(section, /What happened/, `${code}: no "What happened"`);
    assert.match(section, /How to fix/, `${code}: no "How to fix"`);
  }
});
