/** The secret name rule (src/util/secret-name.ts) as `holt secrets` enforces it. */
import { HoltError } from "../errors.ts";
import { SECRET_NAME_PATTERN } from "../util/secret-name.ts";

export { SECRET_NAME_PATTERN };

export function isSecretName(name: string): boolean {
  return SECRET_NAME_PATTERN.test(name);
}

/** Throws HOLT_E_SECRETS when `name` is not a valid secret name. */
export function checkSecretName(name: string): void {
  if (isSecretName(name)) return;
  const shown = name.length > 70 ? `${name.slice(0, 70)}…` : name;
  throw new HoltError(
    "HOLT_E_SECRETS",
    `"${shown}" is not a valid secret name. Use 1 to 63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit, like "jellyfin-api-key".`,
  );
}
