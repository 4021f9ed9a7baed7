/**
 * Where holt keeps its state on this machine: --state-dir, else
 * HOLT_STATE_DIR, else /var/lib/holt for root and $XDG_STATE_HOME/holt
 * (~/.local/state/holt) for everyone else. In `util/` because the journal
 * (`store/`) and OpenSSH's control sockets (`hosts/`) both live under it.
 */
import { homedir } from "node:os";
import { join } from "node:path";

export function resolveStateDir(
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (explicit !== undefined && explicit !== "") return explicit;
  if (env.HOLT_STATE_DIR !== undefined && env.HOLT_STATE_DIR !== "") return env.HOLT_STATE_DIR;
  if (process.getuid?.() === 0) return "/var/lib/holt";
  const xdg = env.XDG_STATE_HOME;
  return join(xdg !== undefined && xdg !== "" ? xdg : join(homedir(), ".local", "state"), "holt");
}
