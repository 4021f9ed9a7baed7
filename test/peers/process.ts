/** Small process helpers the test peers share. */
import { accessSync, constants } from "node:fs";
import path from "node:path";

/** The first executable `name` on PATH, then in `extra` directories; undefined if none. */
export function findProgram(name: string, extra: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter).filter(Boolean), ...extra];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Whether a process with this pid exists (one we may not signal counts). */
export { processIsRunning as pidAlive } from "../../src/util/process-alive.ts";
