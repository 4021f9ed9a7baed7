/**
 * Where holt keeps its journal and lock: --state-dir, else HOLT_STATE_DIR,
 * else /var/lib/holt for root and $XDG_STATE_HOME/holt (~/.local/state/holt)
 * for everyone else. Each lab gets its own folder inside.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { HoltError } from "../errors.ts";

export { resolveStateDir } from "../util/state-dir.ts";

/** Where the lab's own folder is, without creating it. */
export function labStateDirPath(stateDir: string, lab: string): string {
  return join(stateDir, lab.replace(/[^A-Za-z0-9._-]/g, "_"));
}

/** The lab's own folder, created if needed. */
export function labStateDir(stateDir: string, lab: string): string {
  const dir = labStateDirPath(stateDir, lab);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new HoltError(
      "HOLT_E_STATE",
      `Cannot create the state directory ${dir}: ${(error as Error).message}. Pass --state-dir or set HOLT_STATE_DIR to a writable folder.`,
      { cause: error },
    );
  }
  return dir;
}
