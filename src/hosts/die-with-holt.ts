/**
 * Children that must not outlive holt (a wired `zfs send`, an OpenSSH
 * connection kept for a stream) run under util-linux's `setpriv --pdeathsig
 * KILL`: the kernel kills them when holt dies, however it dies.
 */
import { existsSync } from "node:fs";

const SETPRIV = ["/usr/bin/setpriv", "/bin/setpriv"].find((p) => existsSync(p));

/** Whether this machine can do it (util-linux's setpriv is installed). */
export const canDieWithHolt = SETPRIV !== undefined;

/** `argv` wrapped so that it is killed when holt dies; null when `canDieWithHolt` is false. */
export function dyingWithHolt(argv: readonly string[]): [string, ...string[]] | null {
  return SETPRIV === undefined ? null : [SETPRIV, "--pdeathsig", "KILL", "--", ...argv];
}
