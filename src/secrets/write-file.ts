/**
 * Writes that never leave a half-written file behind: the data goes to a
 * temporary file in the same folder, is flushed, and only then takes the
 * target's name. A crash leaves either the old file or the new one.
 */
import { randomBytes } from "node:crypto";
import {
  closeSync,
  fchmodSync,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";

export interface WriteOptions {
  /** Give the file exactly `mode`, whatever the umask took away at creation. */
  readonly exactMode?: boolean;
}

/**
 * Replaces `path` (or creates it) with `data`, atomically. The file is always
 * a new one made here: whoever owned the old one, or has it open, can read
 * or change neither the new contents nor its mode. A symbolic link at `path`
 * is replaced, never written through.
 */
export function writeFileAtomic(
  path: string,
  data: string,
  mode: number,
  options: WriteOptions = {},
): void {
  placeWhole(path, data, mode, options, (temp) => renameSync(temp, path));
}

/**
 * Creates `path` with `data`, atomically, and never replaces an existing
 * file (link() fails when the target exists), even one another process
 * created a moment ago: the file appears whole, or not at all.
 */
export function createFileExclusive(path: string, data: string, mode: number): void {
  placeWhole(path, data, mode, {}, (temp) => {
    try {
      linkSync(temp, path);
    } finally {
      rmSync(temp, { force: true });
    }
  });
}

/** Writes and flushes a temporary file beside `path`, then lets `place` give it the name. */
function placeWhole(
  path: string,
  data: string,
  mode: number,
  options: WriteOptions,
  place: (temp: string) => void,
): void {
  const temp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`,
  );
  // "wx": never follow or reuse something already sitting at the temporary name.
  const fd = openSync(temp, "wx", mode);
  try {
    try {
      if (options.exactMode === true) fchmodSync(fd, mode);
      writeSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    place(temp);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
