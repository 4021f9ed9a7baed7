/**
 * Where holt keeps its journal and lock: --state-dir, else HOLT_STATE_DIR,
 * else /var/lib/holt for root and $XDG_STATE_HOME/holt (~/.local/state/holt)
 * for everyone else. Each lab gets its own folder inside.
 */
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { HoltError } from "../errors.ts";

export { resolveStateDir } from "../util/state-dir.ts";

/** Where the lab's own folder is, without creating it. */
export function labStateDirPath(stateDir: string, lab: string): string {
  return join(stateDir, lab.replace(/[^A-Za-z0-9._-]/g, "_"));
}

/**
 * The lab's own folder, created if needed, mode 0700: its journal, catalog,
 * lock, certificates and DNS ledgers are no one else's business. A folder
 * that exists with a looser mode is tightened.
 */
export function labStateDir(stateDir: string, lab: string): string {
  const dir = labStateDirPath(stateDir, lab);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  } catch (error) {
    throw new HoltError(
      "HOLT_E_STATE",
      `Cannot create the state directory ${dir}, or make it private (mode 0700): ${(error as Error).message}. Pass --state-dir or set HOLT_STATE_DIR to a writable folder of your own.`,
      { cause: error },
    );
  }
  return dir;
}
