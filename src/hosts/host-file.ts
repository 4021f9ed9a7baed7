import type { Exec } from "./exec.ts";
import { runChecked } from "./run-checked.ts";

/** Writes a file on the host (mode 0644), replacing it in one step: a crash leaves the old or the new. */
export async function writeHostFile(exec: Exec, path: string, content: string): Promise<void> {
  const temporary = `${path}.holt-new`;
  await runChecked(exec, { argv: ["dd", `of=${temporary}`, "status=none"], stdin: content });
  await runChecked(exec, { argv: ["chmod", "0644", temporary] });
  await runChecked(exec, { argv: ["mv", "-f", temporary, path] });
}

/** Who may read a file written by `writePrivateHostFile`. */
export interface HostFileAccess {
  /** For chmod, like "0600". */
  readonly mode: string;
  /** For chown: "uid:gid". */
  readonly owner: string;
}

/**
 * Writes a file that may hold a secret (a private key), replacing it in one
 * step. The content travels on stdin, never on a command line. It goes to
 * `temporary` first (in the same folder, so the rename is atomic): whatever
 * is there is removed, and the file is created afresh (`set -C`: O_EXCL, so
 * neither a symbolic link planted there nor a file someone still holds open
 * receives the secret) under umask 077, so no one else can read even part of
 * it. Then, if it holds every byte (a connection cut mid-way ends the input
 * early, and cat takes that for the end), it is flushed to disk, given its
 * owner and mode, renamed over `path` (`-T`: never into a folder of that
 * name), and the folder flushed so the rename survives a power cut. A crash
 * leaves the old file or the new one, and at worst the temporary file.
 */
export async function writePrivateHostFile(
  exec: Exec,
  path: string,
  temporary: string,
  content: string,
  access: HostFileAccess,
): Promise<void> {
  await runChecked(exec, {
    argv: [
      "sh",
      "-c",
      PRIVATE_WRITE,
      "sh",
      temporary,
      path,
      access.owner,
      access.mode,
      folderOf(path),
      String(Buffer.byteLength(content)),
    ],
    stdin: content,
  });
}

const PRIVATE_WRITE = [
  'umask 077 && rm -f -- "$1" && set -C && cat > "$1"',
  // A cut connection ends stdin early, and cat exits 0: only the whole content goes on.
  '{ [ "$(stat -c %s -- "$1")" = "$6" ] || { echo "$1: input cut short" >&2; exit 1; }; }',
  'sync -- "$1" && chown -- "$3" "$1" && chmod -- "$4" "$1"',
  'mv -f -T -- "$1" "$2" && sync -- "$5"',
].join(" && ");

function folderOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}
