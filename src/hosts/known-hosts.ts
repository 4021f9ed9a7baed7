/**
 * Reading OpenSSH known_hosts files. holt refuses to talk to a host whose key
 * it cannot check, so this must agree with what `ssh` itself accepts.
 */

import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export interface KnownHostEntry {
  /** 1-based, for messages that point the user at the line. */
  readonly line: number;
  readonly marker: "revoked" | "cert-authority" | null;
  /** Host patterns of a plain entry; `null` for a hashed one. */
  readonly patterns: readonly string[] | null;
  readonly hashed: { readonly salt: Buffer; readonly hash: Buffer } | null;
  readonly keyType: string;
  /** The key blob in SSH wire format, as servers send it during key exchange. */
  readonly key: Buffer;
}

export type HostKeyVerdict =
  | { readonly kind: "match"; readonly entry: KnownHostEntry }
  | { readonly kind: "revoked"; readonly entry: KnownHostEntry }
  | { readonly kind: "unknown" }
  | { readonly kind: "mismatch"; readonly expected: readonly KnownHostEntry[] };

/** Malformed lines are skipped, as ssh does, rather than failing every connection. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const entry = parseLine(raw.trim(), index + 1);
    if (entry !== null) entries.push(entry);
  });
  return entries;
}

function parseLine(text: string, line: number): KnownHostEntry | null {
  if (text === "" || text.startsWith("#")) return null;
  const fields = text.split(/\s+/);
  let marker: KnownHostEntry["marker"] = null;
  if (fields[0]?.startsWith("@")) {
    const name = fields.shift();
    if (name === "@revoked") marker = "revoked";
    else if (name === "@cert-authority") marker = "cert-authority";
    else return null;
  }
  const [hostField, keyType, keyBase64] = fields;
  if (hostField === undefined || keyType === undefined || keyBase64 === undefined) return null;
  const key = Buffer.from(keyBase64, "base64");
  if (keyBlobType(key) !== keyType) return null;
  if (hostField.startsWith("|")) {
    const hashed = parseHashed(hostField);
    if (hashed === null) return null;
    return { line, marker, patterns: null, hashed, keyType, key };
  }
  const patterns = hostField.split(",").filter((p) => p !== "");
  return { line, marker, patterns, hashed: null, keyType, key };
}

function parseHashed(field: string): KnownHostEntry["hashed"] {
  // Only format 1 (HMAC-SHA1) has ever been defined by OpenSSH.
  const [, version, salt, hash] = field.split("|");
  if (version !== "1" || salt === undefined || hash === undefined) return null;
  const saltBytes = Buffer.from(salt, "base64");
  const hashBytes = Buffer.from(hash, "base64");
  if (saltBytes.length === 0 || hashBytes.length !== 20) return null;
  return { salt: saltBytes, hash: hashBytes };
}

/** The name ssh looks up: bare for port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

export function entryMatchesHost(entry: KnownHostEntry, host: string, port: number): boolean {
  const name = knownHostName(host, port);
  if (entry.hashed !== null) {
    const digest = createHmac("sha1", entry.hashed.salt).update(name).digest();
    return timingSafeEqual(digest, entry.hashed.hash);
  }
  let matched = false;
  for (const pattern of entry.patterns ?? []) {
    const negated = pattern.startsWith("!");
    if (!globMatch(negated ? pattern.slice(1) : pattern, name)) continue;
    // A matching negation vetoes the whole line, whatever else matched.
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function globMatch(pattern: string, name: string): boolean {
  const source = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replaceAll("*", ".*")
    .replaceAll("?", ".");
  return new RegExp(`^${source}$`).test(name);
}

/** Decide whether `offered` (the key a server presented) is the host's known key. */
export function checkHostKey(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  offered: Buffer,
): HostKeyVerdict {
  const forHost = entries.filter((e) => entryMatchesHost(e, host, port));
  const revoked = forHost.find((e) => e.marker === "revoked" && e.key.equals(offered));
  if (revoked !== undefined) return { kind: "revoked", entry: revoked };
  // holt does not verify host certificates, so CA lines can neither vouch nor veto.
  const expected = forHost.filter((e) => e.marker === null);
  const match = expected.find((e) => e.key.equals(offered));
  if (match !== undefined) return { kind: "match", entry: match };
  return expected.length === 0 ? { kind: "unknown" } : { kind: "mismatch", expected };
}

/** Key types listed for a host, so the client can ask the server for one it can check. */
export function knownKeyTypes(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
): string[] {
  const types = entries
    .filter((e) => e.marker === null && entryMatchesHost(e, host, port))
    .map((e) => e.keyType);
  return [...new Set(types)];
}

/** The algorithm name embedded at the start of an SSH key blob, or null if malformed. */
export function keyBlobType(key: Buffer): string | null {
  if (key.length < 4) return null;
  const length = key.readUInt32BE(0);
  if (length === 0 || length > 64 || key.length < 4 + length) return null;
  return key.subarray(4, 4 + length).toString("latin1");
}

/** Same format as `ssh-keygen -l` and ssh's own prompts, so users can compare by eye. */
export function fingerprint(key: Buffer): string {
  const digest = createHash("sha256").update(key).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}
