import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  checkHostKey,
  entryMatchesHost,
  fingerprint,
  keyBlobType,
  knownHostName,
  knownKeyTypes,
  parseKnownHosts,
} from "./known-hosts.ts";

function fakeKey(type = "ssh-ed25519"): Buffer {
  const name = Buffer.from(type);
  const body = randomBytes(32);
  const out = Buffer.alloc(8 + name.length + body.length);
  out.writeUInt32BE(name.length, 0);
  name.copy(out, 4);
  out.writeUInt32BE(body.length, 4 + name.length);
  body.copy(out, 8 + name.length);
  return out;
}

function keyText(key: Buffer, type = "ssh-ed25519"): string {
  return `${type} ${key.toString("base64")}`;
}

function line(hosts: string, key: Buffer, type = "ssh-ed25519"): string {
  return `${hosts} ${keyText(key, type)}`;
}

const dir = mkdtempSync(join(tmpdir(), "holt-known-hosts-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("parses plain entries and skips comments, blanks and junk", () => {
  const key = fakeKey();
  const text = [
    "# a comment",
    "",
    `${line("nas,10.0.0.2", key)} root@nas`,
    "nas ssh-ed25519 not-base64-of-a-key",
    "@unknown-marker nas ssh-ed25519 AAAA",
    "only-one-field",
  ].join("\n");
  const entries = parseKnownHosts(text);
  assert.equal(entries.length, 1);
  assert.deepEqual(entries[0]?.patterns, ["nas", "10.0.0.2"]);
  assert.equal(entries[0]?.line, 3);
  assert.ok(entries[0]?.key.equals(key));
});

test("matches comma lists, case-insensitively, only on port 22", () => {
  const [entry] = parseKnownHosts(line("NAS,10.0.0.2", fakeKey()));
  assert.ok(entry);
  assert.ok(entryMatchesHost(entry, "nas", 22));
  assert.ok(entryMatchesHost(entry, "10.0.0.2", 22));
  assert.ok(!entryMatchesHost(entry, "10.0.0.2", 2222));
  assert.ok(!entryMatchesHost(entry, "10.0.0.20", 22));
});

test("matches [host]:port entries for other ports", () => {
  assert.equal(knownHostName("Nas", 2222), "[nas]:2222");
  const [entry] = parseKnownHosts(line("[nas]:2222", fakeKey()));
  assert.ok(entry);
  assert.ok(entryMatchesHost(entry, "nas", 2222));
  assert.ok(!entryMatchesHost(entry, "nas", 22));
});

test("supports wildcards and negation", () => {
  const [entry] = parseKnownHosts(line("10.0.0.*,!10.0.0.9", fakeKey()));
  assert.ok(entry);
  assert.ok(entryMatchesHost(entry, "10.0.0.5", 22));
  assert.ok(!entryMatchesHost(entry, "10.0.0.9", 22));
  assert.ok(!entryMatchesHost(entry, "10.0.1.5", 22));
});

test("matches hashed entries written by ssh-keygen -H", () => {
  const key = fakeKey();
  const file = join(dir, "hashed");
  writeFileSync(file, `${line("nas.lan", key)}\n${line("[nas.lan]:2222", key)}\n`);
  execFileSync("ssh-keygen", ["-H", "-f", file], { stdio: "ignore" });
  const entries = parseKnownHosts(readFileSync(file, "utf8"));
  assert.equal(entries.length, 2);
  assert.ok(entries.every((e) => e.hashed !== null && e.patterns === null));
  assert.equal(checkHostKey(entries, "nas.lan", 22, key).kind, "match");
  assert.equal(checkHostKey(entries, "nas.lan", 2222, key).kind, "match");
  assert.equal(checkHostKey(entries, "nas.lan", 2223, key).kind, "unknown");
  assert.equal(checkHostKey(entries, "other.lan", 22, key).kind, "unknown");
});

test("tells match, mismatch and unknown apart", () => {
  const known = fakeKey();
  const other = fakeKey();
  const entries = parseKnownHosts(line("nas", known));
  assert.equal(checkHostKey(entries, "nas", 22, known).kind, "match");
  const verdict = checkHostKey(entries, "nas", 22, other);
  assert.equal(verdict.kind, "mismatch");
  assert.equal(verdict.kind === "mismatch" && verdict.expected[0]?.line, 1);
  assert.equal(checkHostKey(entries, "router", 22, known).kind, "unknown");
});

test("a revoked key is refused even when also listed as valid", () => {
  const key = fakeKey();
  const entries = parseKnownHosts(`${line("nas", key)}\n@revoked * ${keyText(key)}`);
  assert.equal(entries[1]?.marker, "revoked");
  assert.equal(checkHostKey(entries, "nas", 22, key).kind, "revoked");
});

test("cert-authority lines neither vouch for nor veto a host", () => {
  const key = fakeKey();
  const entries = parseKnownHosts(`@cert-authority *.lan ${keyText(key)}`);
  assert.equal(entries[0]?.marker, "cert-authority");
  assert.equal(checkHostKey(entries, "nas.lan", 22, key).kind, "unknown");
  assert.deepEqual(knownKeyTypes(entries, "nas.lan", 22), []);
});

test("lists the key types known for a host", () => {
  const text = [
    line("nas", fakeKey("ssh-rsa"), "ssh-rsa"),
    line("nas", fakeKey()),
    line("nas", fakeKey()),
    line("router", fakeKey("ecdsa-sha2-nistp256"), "ecdsa-sha2-nistp256"),
  ].join("\n");
  assert.deepEqual(knownKeyTypes(parseKnownHosts(text), "nas", 22), ["ssh-rsa", "ssh-ed25519"]);
});

test("reads the type out of a key blob", () => {
  assert.equal(keyBlobType(fakeKey("ssh-ed25519")), "ssh-ed25519");
  assert.equal(keyBlobType(Buffer.from([0, 0])), null);
  assert.equal(keyBlobType(Buffer.from([0, 0, 0, 9, 65])), null);
});

test("fingerprints like ssh-keygen -l", () => {
  const keyFile = join(dir, "id");
  execFileSync("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", keyFile]);
  const blob = Buffer.from(readFileSync(`${keyFile}.pub`, "utf8").split(" ")[1] ?? "", "base64");
  const listed = execFileSync("ssh-keygen", ["-l", "-f", `${keyFile}.pub`], { encoding: "utf8" });
  assert.equal(listed.split(" ")[1], fingerprint(blob));
});
