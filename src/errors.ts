/**
 * Every error a user can see carries a stable code, listed with a fix in
 * docs/errors.md (a test fails when a code is missing there).
 */

export const ERROR_CODES = {
  HOLT_E_CONFIG_NOT_FOUND: "No holt.config.ts was found where holt looked.",
  HOLT_E_CONFIG_LOAD: "The config file could not be loaded (syntax error or a failing import).",
  HOLT_E_CONFIG_INVALID: "The config has one or more problems; each is listed with its path.",
  HOLT_E_USAGE: "The command line was not understood.",
  HOLT_E_EXEC: "A program holt ran on a host failed.",
  HOLT_E_SSH: "holt could not reach or authenticate to a host over SSH.",
  HOLT_E_SSH_HOSTKEY: "A host's SSH key is unknown or does not match known_hosts.",
  HOLT_E_HTTP: "An HTTP request to a port on a host (an admin API, a health check) got no answer.",
  HOLT_E_CADDY: "A host's Caddy admin API did not answer, or refused a config change.",
  HOLT_E_HEALTH: "A service's container exited or failed its health check after a create or start.",
  HOLT_E_ZFS: "A ZFS command failed or printed output holt could not understand.",
  HOLT_E_ZFS_UNSUPPORTED: "A pool lacks a feature that the config asks for.",
  HOLT_E_LOCKED:
    "Another apply, or another backup operation, holds the lab's lock of that kind (apply.lock, backup.lock).",
  HOLT_E_PLAN_STALE: "A plan no longer matches a fresh plan from the config and the real systems.",
  HOLT_E_PLAN_FILE:
    "A saved plan file could not be read or written, or was made for another lab or config file.",
  HOLT_E_DATA_LOSS: "The plan destroys data and --allow-data-loss was not given.",
  HOLT_E_APPLY_FAILED: "One or more apply steps failed.",
  HOLT_E_ADOPT: "A resource could not be adopted.",
  HOLT_E_STATE: "The state directory or journal could not be used.",
  HOLT_E_HISTORY: "The requested apply is not in the history.",
  HOLT_E_SECRETS: "The lab's secrets could not be read or changed (key, recipients, secrets.age).",
  HOLT_E_DNS:
    "A DNS provider refused a request or could not be reached (server, credentials, zone).",
  HOLT_E_DNS_CONFLICT:
    "A DNS record holt would change exists and was not made by this lab, or changed since it was read.",
  HOLT_E_ACME: "The ACME certificate authority refused an order, or its challenge did not pass.",
  HOLT_E_BACKUP:
    "A backup step (replication, offsite copy, restore) failed; the message says what is left as it was.",
  HOLT_E_REPOSITORY:
    "An offsite repository is not where holt looked, or its path is on another file system than the one recorded for it.",
  HOLT_E_SCRATCH:
    "A dataset is where holt puts a scratch copy, but it does not carry holt's scratch mark for this lab; holt leaves it alone.",
  HOLT_E_ABORTED: "The user declined the plan.",
  HOLT_E_INTERNAL: "A bug in holt. Please report it with the command and output.",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Shipped with the package and in the repository. */
export const DOCS_ERRORS_URL = "docs/errors.md";

/** An error meant for the user: what happened, where, and what to do. */
export class HoltError extends Error {
  readonly code: ErrorCode;
  /** Extra lines shown under the message (e.g. every config problem). */
  readonly details: readonly string[];
  /** Process exit code when this error reaches the CLI. */
  readonly exitCode: number;

  constructor(
    code: ErrorCode,
    message: string,
    options: { details?: readonly string[]; cause?: unknown; exitCode?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "HoltError";
    this.code = code;
    this.details = options.details ?? [];
    this.exitCode = options.exitCode ?? 1;
  }
}

export function isHoltError(value: unknown): value is HoltError {
  return value instanceof HoltError;
}
