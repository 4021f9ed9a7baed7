/**
 * SQLite files only the user running holt can read: the journal and the
 * backup catalog hold commands, host names, dataset names and errors.
 *
 * SQLite creates a new database file with mode 0644 (less the umask), and
 * gives its `-wal`, `-shm` and `-journal` files the mode of the database
 * file when it creates them; it never changes the mode of one that already
 * exists (a `-wal` left by a crash keeps its mode). So before SQLite opens
 * the database, the database file is created (or tightened) to 0600, and any
 * of its companion files that exists already is tightened too. The files
 * are opened without following a symbolic link.
 */
import { closeSync, constants, fchmodSync, fstatSync, openSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";

const PRIVATE = 0o600;
const COMPANIONS = ["-wal", "-shm", "-journal"] as const;

/** Opens (creating if needed) the database at `path`, it and its companion files mode 0600. */
export function openPrivateDatabase(path: string): DatabaseSync {
  makePrivate(path, true);
  for (const suffix of COMPANIONS) makePrivate(`${path}${suffix}`, false);
  return new DatabaseSync(path);
}

function makePrivate(file: string, create: boolean): void {
  const { O_RDONLY, O_CREAT, O_NOFOLLOW } = constants;
  let fd: number;
  try {
    // Read-only is enough for fchmod, which asks for ownership, not write access.
    fd = openSync(file, O_RDONLY | O_NOFOLLOW | (create ? O_CREAT : 0), PRIVATE);
  } catch (error) {
    if (!create && (error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  try {
    if ((fstatSync(fd).mode & 0o777) !== PRIVATE) fchmodSync(fd, PRIVATE);
  } finally {
    closeSync(fd);
  }
}
