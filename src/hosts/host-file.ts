import type { Exec } from "./exec.ts";
import { runChecked } from "./run-checked.ts";

/** Writes a file on the host (mode 0644), replacing it in one step: a crash leaves the old or the new. */
export async function writeHostFile(exec: Exec, path: string, content: string): Promise<void> {
  const temporary = `${path}.holt-new`;
  await runChecked(exec, { argv: ["dd", `of=${temporary}`, "status=none"], stdin: content });
  await runChecked(exec, { argv: ["chmod", "0644", temporary] });
  await runChecked(exec, { argv: ["mv", "-f", temporary, path] });
}
