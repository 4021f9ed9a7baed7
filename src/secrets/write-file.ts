/**
 * Writes that never leave a half-written file behind: the data goes to a
 * temporary file in the same folder, is flushed, and only then takes the
 * target's name. A crash leaves either the old file or the new one.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Replaces `path` (or creates it) with `data`, atomically. */
export function writeFileAtomic(path: string, data: string, mode: number): void {
  placeWhole(path, data, mode, (temp) => renameSync(temp, path));
}

/**
 * Creates `path` with `data`, atomically, and never replaces an existing
 * file (link() fails when the target exists), even one another process
 * created a moment ago: the file appears whole, or not at all.
 */
export function createFileExclusive(path: string, data: string, mode: number): void {
  placeWhole(path, data, mode, (temp) => {
    try {
      linkSync(temp, path);
    } finally {
      rmSync(temp, { force: true });
    }
  });
}

/** Writes and flushes a temporary file beside `path`, then lets `place` give it the name. */
function placeWhole(path: string, data: string, mode: number, place: (temp: string) => void): void {
  const temp = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`,
  );
  // "wx": never follow or reuse something already sitting at the temporary name.
  const fd = openSync(temp, "wx", mode);
  try {
    try {
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
