/**
 * `secret("name")` in holt.config.ts: a reference to a value in the lab's
 * age-encrypted secrets file. The config only ever holds the name; the value
 * is decrypted at plan and apply time and never printed.
 */

export interface SecretRef {
  readonly kind: "holt.secret";
  readonly name: string;
}

/**
 * Refers to a secret in the lab's secrets file (see `holt secrets`).
 *
 * @example
 * secrets: { DB_PASSWORD: secret("nextcloud-db") }
 */
export function secret(name: string): SecretRef {
  return Object.freeze({ kind: "holt.secret", name });
}

export function isSecretRef(value: unknown): value is SecretRef {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { kind?: unknown }).kind === "holt.secret" &&
    typeof (value as { name?: unknown }).name === "string"
  );
}
