/**
 * Where the private age key comes from, in order:
 *
 * 1. `$HOLT_AGE_KEY`: the key itself (`AGE-SECRET-KEY-1…`), for CI and scripts;
 * 2. `$HOLT_AGE_KEY_FILE`: the path of a key file;
 * 3. `$XDG_CONFIG_HOME/holt/age.key` (`~/.config/holt/age.key`).
 *
 * The first one that is set wins; holt does not fall through to the next when
 * it is unusable, so a typo in a path is reported rather than ignored.
 *
 * Key files use age-keygen's format: one identity per line, `#` comments.
 * Like ssh with private keys, holt refuses a key file that other users could
 * read or write (any bit in 0o077): the key would already be exposed, and
 * quietly using it hides that.
 */
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { HoltError } from "../errors.ts";
import { AGE_KEY_ENV } from "../util/age-key-env.ts";
import { generateIdentity, recipientOf } from "./age.ts";
import { createFileExclusive } from "./write-file.ts";

export const KEY_ENV = AGE_KEY_ENV;
export const KEY_FILE_ENV = "HOLT_AGE_KEY_FILE";

export interface Identities {
  /** Where they came from, for messages: `$HOLT_AGE_KEY` or the key file's path. */
  readonly source: string;
  /** The key file, or null when the key came from `$HOLT_AGE_KEY`. */
  readonly file: string | null;
  /** `AGE-SECRET-KEY-…` strings, in file order. */
  readonly identities: readonly string[];
  /** The recipient of each identity, same order. */
  readonly recipients: readonly string[];
}

const set = (value: string | undefined): value is string => value !== undefined && value !== "";

/** `$XDG_CONFIG_HOME/holt/age.key`, else `~/.config/holt/age.key`. */
export function defaultKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME;
  const config = set(xdg) ? xdg : join(set(env.HOME) ? env.HOME : homedir(), ".config");
  return join(config, "holt", "age.key");
}

/** The key file holt reads, and where `holt secrets init` creates one. */
export function keyFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env[KEY_FILE_ENV];
  return set(explicit) ? resolve(explicit) : defaultKeyFile(env);
}

/** One line per place holt looks for the key, saying what it found there. */
export function keySourceLines(env: NodeJS.ProcessEnv = process.env): string[] {
  const fromEnv = set(env[KEY_ENV]);
  const fromFile = set(env[KEY_FILE_ENV]);
  const fileState = (path: string) => (statOrNull(path) === null ? "does not exist" : "exists");
  const lines = [`1. $${KEY_ENV}: ${fromEnv ? "set (used)" : "not set"}`];
  if (fromEnv) {
    lines.push(`2. $${KEY_FILE_ENV}: not read, $${KEY_ENV} comes first`);
    lines.push(`3. ${defaultKeyFile(env)}: not read`);
  } else if (fromFile) {
    const path = keyFilePath(env);
    lines.push(`2. $${KEY_FILE_ENV}: ${path} (${fileState(path)}, used)`);
    lines.push(`3. ${defaultKeyFile(env)}: not read, $${KEY_FILE_ENV} comes first`);
  } else {
    lines.push(`2. $${KEY_FILE_ENV}: not set`);
    const path = defaultKeyFile(env);
    lines.push(`3. ${path}: ${fileState(path)}`);
  }
  return lines;
}

function statOrNull(path: string) {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/**
 * The identities from the first key source that is set, or null when none is
 * (no env var, no default key file). Throws HOLT_E_SECRETS for a source that
 * is set but unusable. Messages never quote key material.
 */
export async function loadIdentities(
  env: NodeJS.ProcessEnv = process.env,
): Promise<Identities | null> {
  const inline = env[KEY_ENV];
  if (set(inline)) return parseIdentities(inline, `$${KEY_ENV}`, null, env);
  const path = keyFilePath(env);
  const stat = statOrNull(path);
  if (stat === null) {
    if (!set(env[KEY_FILE_ENV])) return null;
    throw new HoltError(
      "HOLT_E_SECRETS",
      `$${KEY_FILE_ENV} points at ${path}, which does not exist. Fix the path, unset $${KEY_FILE_ENV} to use ${defaultKeyFile(env)}, or run \`holt secrets init\` to create a key there.`,
      { details: keySourceLines(env) },
    );
  }
  if (!stat.isFile()) {
    throw new HoltError(
      "HOLT_E_SECRETS",
      `The age key file ${path} is not a file. Point $${KEY_FILE_ENV} at your key file.`,
      { details: keySourceLines(env) },
    );
  }
  if (process.platform !== "win32" && (stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, "0");
    throw new HoltError(
      "HOLT_E_SECRETS",
      `The age key file ${path} is open to other users (mode ${mode}), so holt will not use it. Run \`chmod 600 ${path}\`, and if others may have read it, create a new key and re-encrypt (docs/secrets.md).`,
    );
  }
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new HoltError(
      "HOLT_E_SECRETS",
      `Cannot read the age key file ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}. Check its owner and permissions.`,
    );
  }
  return parseIdentities(text, path, path, env);
}

async function parseIdentities(
  text: string,
  source: string,
  file: string | null,
  env: NodeJS.ProcessEnv,
): Promise<Identities> {
  const identities: string[] = [];
  const recipients: string[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const recipient = await recipientOf(line);
    if (recipient === null) {
      // Never quote the line: it may be a key with a typo.
      const what = line.startsWith("AGE-PLUGIN-")
        ? "an age plugin identity, which holt does not support"
        : "not an age identity (AGE-SECRET-KEY-1…)";
      throw new HoltError(
        "HOLT_E_SECRETS",
        `Line ${index + 1} of ${source} is ${what}. A key file holds one identity per line and # comments; \`holt secrets init\` or \`age-keygen\` writes one.`,
        { details: keySourceLines(env) },
      );
    }
    identities.push(line);
    recipients.push(recipient);
  }
  if (identities.length === 0) {
    throw new HoltError(
      "HOLT_E_SECRETS",
      `${source} holds no age identity. It should contain a line starting with AGE-SECRET-KEY-1; \`holt secrets init\` or \`age-keygen\` writes one.`,
      { details: keySourceLines(env) },
    );
  }
  return { source, file, identities, recipients };
}

/**
 * Creates a key file with a new identity (mode 0600, folder 0700) and returns
 * its recipient. Never replaces an existing file, even one created at the
 * same moment by another process.
 */
export async function createKeyFile(path: string): Promise<string> {
  const identity = await generateIdentity();
  const recipient = await recipientOf(identity);
  if (recipient === null) throw new Error("age generated an identity it cannot read");
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const text = [
    `# created: ${new Date().toISOString()}`,
    `# public key: ${recipient}`,
    identity,
    "",
  ].join("\n");
  createFileExclusive(path, text, 0o600);
  return recipient;
}
