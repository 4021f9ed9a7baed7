/**
 * A lab's secrets: `secrets.age` beside holt.config.ts, an ASCII-armored age
 * file encrypted to every recipient in `secrets.recipients`.
 *
 * Reading needs one private key that fits (see `identity.ts`). Every write
 * decrypts, changes, and re-encrypts the whole file to the recipients listed
 * now, then renames it into place. Two writes at the same moment: the last
 * one wins.
 *
 * No message or detail built here contains a secret value or key material.
 * `no-leak.test.ts` forces each error with a known value and checks.
 */
import { existsSync, readFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { join } from "node:path";
import { HoltError } from "../errors.ts";
import { AgeError, decryptArmored, encryptArmored } from "./age.ts";
import { digestKeyFromFile, digestKeyFromIdentity, secretDigest } from "./digest.ts";
import {
  createKeyFile,
  type Identities,
  KEY_ENV,
  KEY_FILE_ENV,
  keyFilePath,
  keySourceLines,
  loadIdentities,
} from "./identity.ts";
import { checkSecretName } from "./names.ts";
import { decodePayload, encodePayload, newDigestKey, type Payload } from "./payload.ts";
import { addRecipient, readRecipients } from "./recipients.ts";
import { writeFileAtomic } from "./write-file.ts";

export const SECRETS_FILE = "secrets.age";
export const RECIPIENTS_FILE = "secrets.recipients";

export interface SecretStore {
  /** Path of secrets.age (which may not exist: then the store is empty). */
  readonly file: string;
  /** Every secret's name, sorted. */
  names(): string[];
  has(name: string): boolean;
  /** The value. Throws HOLT_E_SECRETS naming the secret and the file when there is none. */
  value(name: string): string;
  /**
   * A keyed digest of the value: 32 hex characters that change exactly when
   * the value changes, and reveal nothing to someone who cannot decrypt
   * secrets.age. The same for everyone who can.
   */
  digest(name: string): string;
}

export interface SecretsOptions {
  /** The lab folder: the one holding holt.config.ts. */
  readonly labDir: string;
  /** Where HOLT_AGE_KEY, HOLT_AGE_KEY_FILE, XDG_CONFIG_HOME and HOME are read. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
}

const EMPTY: Payload = { digestKey: null, secrets: new Map() };

/**
 * Opens the lab's secrets. Without secrets.age the store is empty and no key
 * is needed; with it, a key that can decrypt it is required.
 */
export async function openSecrets(options: SecretsOptions): Promise<SecretStore> {
  const file = join(options.labDir, SECRETS_FILE);
  const text = readSecretsFile(file);
  if (text === null) return createStore(file, EMPTY, Buffer.alloc(32));
  const env = options.env ?? process.env;
  const ids = await requireIdentities(env, file);
  const { payload, identity } = await decryptPayload(options.labDir, file, text, ids, env);
  const baseKey =
    payload.digestKey === null
      ? digestKeyFromIdentity(identity)
      : digestKeyFromFile(payload.digestKey);
  return createStore(file, payload, baseKey);
}

function createStore(file: string, payload: Payload, baseKey: Buffer): SecretStore {
  const names = [...payload.secrets.keys()].sort();
  const get = (name: string): string => {
    const value = payload.secrets.get(name);
    if (value !== undefined) return value;
    const known = names.length === 0 ? "It holds no secrets yet" : `It holds: ${names.join(", ")}`;
    throw new HoltError(
      "HOLT_E_SECRETS",
      `There is no secret "${name}" in ${file}. ${known}. Add it with \`holt secrets set ${name}\`.`,
    );
  };
  return {
    file,
    names: () => [...names],
    has: (name) => payload.secrets.has(name),
    value: get,
    digest: (name) => secretDigest(baseKey, name, get(name)),
  };
}

/** Sets (adds or replaces) one secret and re-encrypts to every recipient. */
export async function setSecret(
  options: SecretsOptions & { readonly name: string; readonly value: string },
): Promise<{ readonly replaced: boolean }> {
  checkSecretName(options.name);
  if (options.value === "") {
    throw new HoltError(
      "HOLT_E_SECRETS",
      `The value for secret "${options.name}" is empty, so nothing was stored. Pipe the value in, or use --from-file.`,
    );
  }
  const edit = await openForWrite(options);
  const replaced = edit.payload.secrets.has(options.name);
  const secrets = new Map(edit.payload.secrets);
  secrets.set(options.name, options.value);
  await edit.write({ digestKey: edit.payload.digestKey, secrets });
  return { replaced };
}

/** Removes one secret; throws HOLT_E_SECRETS when there is none by that name. */
export async function removeSecret(
  options: SecretsOptions & { readonly name: string },
): Promise<void> {
  checkSecretName(options.name);
  const edit = await openForWrite(options);
  if (!edit.payload.secrets.has(options.name)) {
    throw new HoltError(
      "HOLT_E_SECRETS",
      `There is no secret "${options.name}" in ${edit.file}. Run \`holt secrets list\` to see the names.`,
    );
  }
  const secrets = new Map(edit.payload.secrets);
  secrets.delete(options.name);
  await edit.write({ digestKey: edit.payload.digestKey, secrets });
}

/**
 * Re-encrypts secrets.age to the recipients listed now in secrets.recipients,
 * after adding or removing one. Values and digests stay the same.
 */
export async function rekeySecrets(
  options: SecretsOptions,
): Promise<{ readonly recipients: readonly string[] }> {
  const edit = await openForWrite(options);
  if (!edit.existed) {
    throw new HoltError(
      "HOLT_E_SECRETS",
      `There is no ${edit.file} to re-encrypt. Run \`holt secrets init\` first.`,
    );
  }
  await edit.write(edit.payload);
  return { recipients: edit.recipients };
}

export interface InitSecretsResult {
  /** The key file, or `$HOLT_AGE_KEY`. */
  readonly keySource: string;
  /** A new key file was created at `keySource`. */
  readonly keyCreated: boolean;
  /** The public recipient of the key (its first identity). */
  readonly recipient: string;
  readonly recipientsFile: string;
  /** The recipient was added to secrets.recipients (it was not listed yet). */
  readonly recipientAdded: boolean;
  readonly secretsFile: string;
  /** An empty secrets.age was created. */
  readonly secretsCreated: boolean;
  /** The key can decrypt secrets.age. False when the file predates this recipient. */
  readonly canDecrypt: boolean;
}

/**
 * Sets a lab up for secrets, doing only what is missing: a key (at
 * `$HOLT_AGE_KEY_FILE` or the default path, unless `$HOLT_AGE_KEY` is set),
 * its recipient in secrets.recipients, and an empty secrets.age.
 */
export async function initSecrets(options: SecretsOptions): Promise<InitSecretsResult> {
  const env = options.env ?? process.env;
  const secretsFile = join(options.labDir, SECRETS_FILE);
  const recipientsFile = join(options.labDir, RECIPIENTS_FILE);
  // A key file named by $HOLT_AGE_KEY_FILE that does not exist yet is where init creates one.
  const named = env[KEY_FILE_ENV];
  const createNamed =
    (env[KEY_ENV] ?? "") === "" &&
    named !== undefined &&
    named !== "" &&
    !existsSync(keyFilePath(env));
  let ids = createNamed ? null : await loadIdentities(env);
  let keyCreated = false;
  if (ids === null) {
    const path = keyFilePath(env);
    try {
      await createKeyFile(path);
      keyCreated = true;
    } catch (error) {
      // EEXIST: another process created it a moment ago; use that one.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") {
        throw new HoltError(
          "HOLT_E_SECRETS",
          `Cannot create the age key file ${path}: ${code ?? "error"}. Set $${KEY_FILE_ENV} to a path you can write.`,
        );
      }
    }
    ids = await requireIdentities(env, secretsFile);
  }
  const listed = (await readRecipients(recipientsFile)).recipients;
  const known = ids.recipients.some((r) => listed.includes(r));
  const recipient = ids.recipients.find((r) => listed.includes(r)) ?? ids.recipients[0] ?? "";
  const recipientAdded = known
    ? false
    : await writing(recipientsFile, () =>
        addRecipient(recipientsFile, recipient, `${whoAmI(env)}, added ${today()}`),
      );
  let secretsCreated = false;
  let canDecrypt = true;
  const text = readSecretsFile(secretsFile);
  if (text === null) {
    const recipients = (await readRecipients(recipientsFile)).recipients;
    await writePayload(secretsFile, { digestKey: newDigestKey(), secrets: new Map() }, recipients);
    secretsCreated = true;
  } else {
    try {
      await decryptPayload(options.labDir, secretsFile, text, ids, env);
    } catch (error) {
      if (!(error instanceof WrongKeyError)) throw error;
      canDecrypt = false;
    }
  }
  return {
    keySource: ids.source,
    keyCreated,
    recipient,
    recipientsFile,
    recipientAdded,
    secretsFile,
    secretsCreated,
    canDecrypt,
  };
}

interface OpenEdit {
  readonly file: string;
  readonly existed: boolean;
  readonly payload: Payload;
  readonly recipients: readonly string[];
  write(payload: Payload): Promise<void>;
}

async function openForWrite(options: SecretsOptions): Promise<OpenEdit> {
  const env = options.env ?? process.env;
  const file = join(options.labDir, SECRETS_FILE);
  const recipientsFile = join(options.labDir, RECIPIENTS_FILE);
  const ids = await requireIdentities(env, file);
  const { recipients } = await readRecipients(recipientsFile);
  if (recipients.length === 0) {
    throw new HoltError(
      "HOLT_E_SECRETS",
      `${recipientsFile} lists no recipients, so there is no one to encrypt secrets to. Run \`holt secrets init\` to add your key's recipient.`,
    );
  }
  if (!ids.recipients.some((r) => recipients.includes(r))) {
    // Writing would lock out the very key doing the writing.
    throw new HoltError(
      "HOLT_E_SECRETS",
      `Your key (${ids.source}) is not among the recipients in ${recipientsFile}, so after this change you could no longer read ${file}. Add your recipient to that file, or run \`holt secrets init\`.`,
      { details: ids.recipients.map((r) => `your recipient: ${r}`) },
    );
  }
  const text = readSecretsFile(file);
  const payload =
    text === null ? EMPTY : (await decryptPayload(options.labDir, file, text, ids, env)).payload;
  return {
    file,
    existed: text !== null,
    payload,
    recipients,
    // A file without a digest key gets one now: digests change once, then hold.
    write: (next) =>
      writePayload(file, { ...next, digestKey: next.digestKey ?? newDigestKey() }, recipients),
  };
}

async function writePayload(
  file: string,
  payload: Payload,
  recipients: readonly string[],
): Promise<void> {
  const armored = await encryptArmored(encodePayload(payload), recipients);
  // Encrypted, so world-readable is fine, and it is meant to be committed.
  await writing(file, () => writeFileAtomic(file, armored, 0o644));
}

async function writing<T>(file: string, write: () => T | Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof HoltError) throw error;
    throw new HoltError(
      "HOLT_E_SECRETS",
      `Cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}. Check that the lab folder is writable.`,
    );
  }
}

function readSecretsFile(file: string): string | null {
  if (!existsSync(file)) return null;
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new HoltError(
      "HOLT_E_SECRETS",
      `Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? "error"}. Check its permissions.`,
    );
  }
}

async function requireIdentities(env: NodeJS.ProcessEnv, file: string): Promise<Identities> {
  const ids = await loadIdentities(env);
  if (ids !== null) return ids;
  throw new HoltError(
    "HOLT_E_SECRETS",
    `No age key to open ${file}. Run \`holt secrets init\` to create one, or set $HOLT_AGE_KEY_FILE to your key file (or $HOLT_AGE_KEY to the key itself).`,
    { details: ["Where holt looked:", ...keySourceLines(env)] },
  );
}

/** The key is fine but secrets.age is not encrypted to it. */
class WrongKeyError extends HoltError {}

async function decryptPayload(
  labDir: string,
  file: string,
  text: string,
  ids: Identities,
  env: NodeJS.ProcessEnv,
): Promise<{ payload: Payload; identity: string }> {
  try {
    const { plaintext, identity } = await decryptArmored(text, ids.identities);
    return { payload: decodePayload(plaintext, file), identity };
  } catch (error) {
    if (!(error instanceof AgeError)) throw error;
    if (error.reason === "not-armored") {
      throw new HoltError(
        "HOLT_E_SECRETS",
        `${file} is not an ASCII-armored age file (it should start with -----BEGIN AGE ENCRYPTED FILE-----). Restore it from version control; holt only writes armored files.`,
      );
    }
    if (error.reason === "corrupt") {
      throw new HoltError(
        "HOLT_E_SECRETS",
        `${file} is damaged: it did not pass age's integrity check. Restore it from version control.`,
      );
    }
    // Only to pick the hint: a broken recipients file must not hide this error.
    const listed = await readRecipients(join(labDir, RECIPIENTS_FILE)).then(
      (r) => r.recipients,
      () => [] as readonly string[],
    );
    const yours = ids.recipients.filter((r) => listed.includes(r));
    const count =
      ids.identities.length === 1 ? "The key" : `None of the ${ids.identities.length} keys`;
    const fix =
      yours.length > 0
        ? `Your recipient is in ${RECIPIENTS_FILE}, but the file was encrypted before it was added: someone who can read it must run \`holt secrets rekey\`.`
        : `Ask someone who can read it to add your recipient to ${RECIPIENTS_FILE} and run \`holt secrets rekey\`, or set $${KEY_FILE_ENV} to a key it is encrypted to.`;
    throw new WrongKeyError(
      "HOLT_E_SECRETS",
      `${count} in ${ids.source} cannot decrypt ${file}. ${fix}`,
      {
        details: [
          ...ids.recipients.map((r) => `your recipient: ${r}`),
          "Where holt looked:",
          ...keySourceLines(env),
        ],
      },
    );
  }
}

function whoAmI(env: NodeJS.ProcessEnv): string {
  let user = env.USER ?? env.LOGNAME;
  if (user === undefined || user === "") {
    try {
      user = userInfo().username;
    } catch {
      user = "someone";
    }
  }
  return `${user}@${hostname()}`;
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}
