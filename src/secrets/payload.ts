/**
 * What secrets.age holds once decrypted: JSON
 * `{ "version": 1, "digestKey": "<64 hex>", "secrets": { name: value } }`.
 *
 * `digestKey` is random, made once per file, and travels inside the
 * encryption, so everyone who can decrypt the file computes the same digests
 * and nobody else can. A hand-written file without it still works (see
 * `store.ts`); holt adds one on its next write.
 */
import { randomBytes } from "node:crypto";
import { HoltError } from "../errors.ts";
import { isSecretName } from "./names.ts";

export const PAYLOAD_VERSION = 1;

export interface Payload {
  /** 64 hex characters, or null for a file written by hand without one. */
  readonly digestKey: string | null;
  readonly secrets: ReadonlyMap<string, string>;
}

export function newDigestKey(): string {
  return randomBytes(32).toString("hex");
}

export function encodePayload(payload: Payload): string {
  const secrets: Record<string, string> = {};
  for (const name of [...payload.secrets.keys()].sort()) {
    secrets[name] = payload.secrets.get(name) ?? "";
  }
  return `${JSON.stringify({ version: PAYLOAD_VERSION, digestKey: payload.digestKey, secrets }, null, 2)}\n`;
}

/**
 * Parses and checks a decrypted payload. Messages name the file and the
 * problem, never a value: JSON.parse's own message quotes the text around
 * the error, so it is dropped.
 */
export function decodePayload(text: string, file: string): Payload {
  const broken = (problem: string) =>
    new HoltError(
      "HOLT_E_SECRETS",
      `${file} decrypts, but ${problem}. It should hold JSON like {"version": 1, "secrets": {"name": "value"}}. Restore it from version control, or fix it with \`age -d\` and \`age -e -a -R secrets.recipients\`.`,
    );
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw broken("its content is not valid JSON");
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw broken("its content is not a JSON object");
  }
  const record = data as Record<string, unknown>;
  if (record.version !== PAYLOAD_VERSION) {
    throw broken(
      typeof record.version === "number" && record.version > PAYLOAD_VERSION
        ? `it has format version ${record.version}, newer than this holt understands (${PAYLOAD_VERSION}); upgrade holt`
        : `its "version" is not ${PAYLOAD_VERSION}`,
    );
  }
  const digestKey = record.digestKey ?? null;
  if (digestKey !== null && (typeof digestKey !== "string" || !/^[0-9a-f]{64}$/.test(digestKey))) {
    throw broken(`its "digestKey" is not 64 lower-case hex digits`);
  }
  const raw = record.secrets;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw broken(`its "secrets" is not an object of names and values`);
  }
  const secrets = new Map<string, string>();
  for (const [name, value] of Object.entries(raw)) {
    // Not quoted: in a hand-edited file a "name" might be a value typed in the wrong place.
    if (!isSecretName(name)) throw broken("it holds a secret whose name is not valid");
    if (typeof value !== "string") throw broken(`the value of secret "${name}" is not a string`);
    secrets.set(name, value);
  }
  return { digestKey, secrets };
}
