import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { quoteWord, shellQuote } from "./shell-quote.ts";

test("leaves plain words bare so messages stay readable", () => {
  assert.equal(
    shellQuote(["zfs", "set", "compression=lz4", "tank/data"]),
    "zfs set compression=lz4 tank/data",
  );
});

test("quotes spaces, $ and glob characters", () => {
  assert.equal(shellQuote(["echo", "a b", "$HOME", "*.txt"]), "echo 'a b' '$HOME' '*.txt'");
});

test("quotes the empty string so it stays an argument", () => {
  assert.equal(shellQuote(["printf", ""]), "printf ''");
});

test("splices single quotes in as escaped quotes", () => {
  assert.equal(quoteWord("it's"), `'it'\\''s'`);
  assert.equal(quoteWord("'"), `''\\'''`);
});

test("keeps newlines literal inside quotes", () => {
  assert.equal(quoteWord("a\nb"), "'a\nb'");
});

test("quotes a first word that the shell would read as syntax", () => {
  assert.equal(shellQuote(["A=1", "B=2"]), "'A=1' B=2");
  assert.equal(shellQuote(["if", "if"]), "'if' if");
  assert.equal(quoteWord("~root"), "'~root'");
});

test("round-trips through a real /bin/sh", () => {
  const argv = [
    "",
    "a b",
    "it's",
    `"double"`,
    "$HOME $(id) `id`",
    "line1\nline2",
    "back\\slash",
    "*?[a]{b,c}",
    "#not-a-comment",
    "~",
    "tab\there",
    "ünïcødé",
    "; rm -rf / &",
  ];
  const line = `printf '%s\\0' ${shellQuote(argv)}`;
  const out = execFileSync("/bin/sh", ["-c", line], { encoding: "utf8" });
  assert.deepEqual(out.split("\0").slice(0, -1), argv);
});
