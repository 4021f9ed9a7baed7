/**
 * Facts about a host's Podman and init system, looked up once per connection:
 * an `Exec` lives as long as one command's connection to the host, so a
 * WeakMap keyed by it forgets them when the connection goes.
 */
import { HoltError } from "../../errors.ts";
import type { Exec } from "../../hosts/exec.ts";
import { runChecked } from "../../hosts/run-checked.ts";

export interface PodmanVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

/** "4.3.1", "5.2.0-rc1", "podman version 4.9.3" → its numbers; null when there are none. */
export function parsePodmanVersion(text: string): PodmanVersion | null {
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (match === null) return null;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0) };
}

/** Whether `version` is `major.minor` or later. */
export function atLeast(version: PodmanVersion, major: number, minor: number): boolean {
  return version.major > major || (version.major === major && version.minor >= minor);
}

const versions = new WeakMap<Exec, Promise<PodmanVersion>>();

export function podmanVersion(exec: Exec): Promise<PodmanVersion> {
  let found = versions.get(exec);
  if (found === undefined) {
    found = (async () => {
      const out = await runChecked(exec, {
        argv: ["podman", "version", "--format", "{{.Client.Version}}"],
      });
      const version = parsePodmanVersion(out.stdout);
      if (version === null) {
        throw new HoltError(
          "HOLT_E_EXEC",
          `Could not read Podman's version on ${exec.target}: \`podman version\` printed "${out.stdout.trim()}".`,
        );
      }
      return version;
    })();
    versions.set(exec, found);
    found.catch(() => versions.delete(exec));
  }
  return found;
}

const systemd = new WeakMap<Exec, Promise<boolean>>();

/** Whether systemd is the host's init (the test systemd itself uses: /run/systemd/system exists). */
export function hasSystemd(exec: Exec): Promise<boolean> {
  let found = systemd.get(exec);
  if (found === undefined) {
    found = exec
      .run({ argv: ["test", "-d", "/run/systemd/system"] })
      .then((result) => result.code === 0);
    systemd.set(exec, found);
    found.catch(() => systemd.delete(exec));
  }
  return found;
}

/** The error for a host that has services to run but no Podman. */
export function podmanMissing(host: string, target: string, needs: string): HoltError {
  return new HoltError(
    "HOLT_E_EXEC",
    `Podman is not installed on host "${host}" (${target}), which ${needs}. Install Podman 4.3 or later there (Debian and Ubuntu: apt install podman), then run again.`,
  );
}
