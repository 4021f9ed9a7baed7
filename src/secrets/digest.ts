/**
 * Keyed digests of secret values, so plans and stored state can tell that a
 * value changed without holding it. Someone who sees a digest but cannot
 * decrypt secrets.age cannot test guesses against it: that needs the key.
 */
import { createHmac } from "node:crypto";

const LABEL = "holt secret digest v1";

/** The base key from the file's `digestKey`. */
export function digestKeyFromFile(hex: string): Buffer {
  return Buffer.from(hex, "hex");
}

/** The base key for a file without `digestKey`: derived from the identity that decrypted it. */
export function digestKeyFromIdentity(identity: string): Buffer {
  return createHmac("sha256", LABEL).update(identity).digest();
}

/**
 * HMAC-SHA256 of the value under a key derived from the base key and the
 * name, as 32 hex characters (128 bits). The name is in the key, so two
 * secrets with the same value have unrelated digests.
 */
export function secretDigest(baseKey: Buffer, name: string, value: string): string {
  const key = createHmac("sha256", baseKey).update(`${LABEL}\0${name}`).digest();
  return createHmac("sha256", key).update(value, "utf8").digest("hex").slice(0, 32);
}
