/**
 * The environment of every program holt starts on this machine (a local
 * program, OpenSSH's client, a wired `zfs send`): holt's own, without the
 * age private key. Whoever can read a process's environment (the same user,
 * root, a crash report, `ps e`) must not find the key there, and no program
 * holt runs has a use for it.
 */
import { AGE_KEY_ENV } from "../util/age-key-env.ts";

/** Variables never passed on. */
export const WITHHELD_ENV: readonly string[] = [AGE_KEY_ENV];

export function childEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const copy: NodeJS.ProcessEnv = { ...env };
  for (const name of WITHHELD_ENV) delete copy[name];
  return copy;
}
