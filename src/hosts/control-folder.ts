/**
 * Private folders for OpenSSH's control sockets (the connection opened
 * ahead for streams, `openssh-stream.ts`).
 *
 * They live in `$XDG_RUNTIME_DIR/holt-ssh` when that is set (memory, per
 * user, gone at log-out) to a folder of this user that nobody else may
 * enter, as the XDG spec has it (`su` without `-` hands root another user's,
 * whose owner could swap what root made in it), else in `ssh/` under the
 * state directory (the command's `--state-dir` when given); never
 * in a folder every user can write to. That root is made with mode 0700,
 * and used only when it is a real folder (not a symbolic link) of this user
 * that nobody else can enter. Each connection gets its own folder in it,
 * `<pid of holt>-<random>`, holding a marker file and the socket.
 *
 * ssh is started in that folder and given the socket as the relative name
 * `control`: a Unix socket's path is limited to 107 bytes, which a deep
 * state directory would pass, and a relative name never does.
 *
 * A holt killed before it closed the connection leaves its folder behind
 * (its ssh died with it). The next one removes such folders, and only
 * those: a folder (not a link) of this user, with the marker, named for a
 * process that is gone. It deletes the socket and the marker by name,
 * without following links, then the folder only if that left it empty.
 */
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmdirSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { resolveStateDir } from "../util/state-dir.ts";

/** The socket's name inside its folder, as ssh is given it. */
export const CONTROL_SOCKET = "control";
const MARKER = ".holt-ssh";
const FOLDER = /^(\d+)-[A-Za-z0-9]{6}$/;
/** ssh makes the socket under a temporary name first, then links it into place. */
const SOCKET_FILE = /^control(\.[A-Za-z0-9]{16})?$/;

/**
 * Where the folders go: `$XDG_RUNTIME_DIR/holt-ssh`, else `ssh/` in the
 * state directory (`stateDir`, the `--state-dir` a command was given, else
 * where holt keeps state by default).
 */
export function controlRoot(env: NodeJS.ProcessEnv = process.env, stateDir?: string): string {
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime?.startsWith("/") && isPrivate(runtime)) return join(runtime, "holt-ssh");
  return join(resolveStateDir(stateDir, env), "ssh");
}

const uid = (): number | undefined => process.getuid?.();

/** What the sweep may know of an entry of the root, read without following links. */
export interface FolderEntry {
  readonly name: string;
  readonly isDirectory: boolean;
  readonly uid: number;
  /** Its marker is a regular file of the same user. */
  readonly marked: boolean;
}

/** Whether a folder is a holt's that is gone: the one decision the sweep makes. */
export function isLeftBehind(
  entry: FolderEntry,
  ownUid: number | undefined,
  running: (pid: number) => boolean,
): boolean {
  const m = FOLDER.exec(entry.name);
  if (m === null || !entry.isDirectory || !entry.marked) return false;
  if (ownUid !== undefined && entry.uid !== ownUid) return false;
  const pid = Number(m[1]);
  return pid !== process.pid && !running(pid);
}

/** Whether `root` is a folder (not a link) of this user that nobody else may enter. */
function isPrivate(root: string): boolean {
  const stat = lstatSync(root, { throwIfNoEntry: false });
  const own = uid();
  if (!stat?.isDirectory()) return false;
  return (own === undefined || stat.uid === own) && (stat.mode & 0o077) === 0;
}

/** The root, made if needed; null when it is not a private folder of this user. */
function privateRoot(root: string): string | null {
  try {
    mkdirSync(root, { recursive: true, mode: 0o700 });
    return isPrivate(root) ? root : null;
  } catch {
    return null;
  }
}

/** A new folder for one connection's socket, with its marker; null when none can be made. */
export function createControlFolder(root: string): string | null {
  const base = privateRoot(root);
  if (base === null) return null;
  try {
    const dir = mkdtempSync(join(base, `${process.pid}-`));
    writeFileSync(join(dir, MARKER), `holt's OpenSSH control socket folder, pid ${process.pid}\n`, {
      mode: 0o600,
      flag: "wx",
    });
    return dir;
  } catch {
    return null;
  }
}

/** Removes a folder made by `createControlFolder`: its socket and marker, then it if empty. */
export function removeControlFolder(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const path = join(dir, name);
    try {
      const stat = lstatSync(path);
      const ours = uid() === undefined || stat.uid === uid();
      if (!ours) continue;
      if ((SOCKET_FILE.test(name) && stat.isSocket()) || (name === MARKER && stat.isFile())) {
        unlinkSync(path);
      }
    } catch {
      // Gone meanwhile (ssh removes its socket when it exits).
    }
  }
  try {
    rmdirSync(dir);
  } catch {
    // Not empty: something holt did not make is in it, so it stays.
  }
}

/** Removes the folders in `root` of holt processes that are gone (see the file comment). */
export function removeLeftBehind(root: string, running: (pid: number) => boolean): void {
  let names: string[];
  try {
    if (!isPrivate(root)) return;
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    if (!FOLDER.test(name)) continue;
    const dir = join(root, name);
    try {
      const stat = lstatSync(dir);
      let marked = false;
      if (stat.isDirectory()) {
        const marker = lstatSync(join(dir, MARKER), { throwIfNoEntry: false });
        marked = marker?.isFile() === true && marker.uid === stat.uid;
      }
      const entry = { name, isDirectory: stat.isDirectory(), uid: stat.uid, marked };
      if (isLeftBehind(entry, uid(), running)) removeControlFolder(dir);
    } catch {
      // Going away as we look: not ours to worry about.
    }
  }
}
