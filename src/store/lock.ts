/**
 * One apply at a time per lab: an exclusive lock file holding who has it.
 * A lock left by a dead process on this machine is taken over; any other
 * holder makes the second apply fail at once, naming the first.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { HoltError } from "../errors.ts";
import { processIsRunning } from "../util/process-alive.ts";

export interface LockHolder {
  readonly host: string;
  readonly pid: number;
  readonly since: string;
  readonly command: string;
}

export interface Lock {
  readonly path: string;
  release(): void;
}

function readHolder(path: string): LockHolder | null {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as LockHolder;
  } catch {
    return null;
  }
}

export function acquireLock(dir: string, command: string): Lock {
  const path = join(dir, "apply.lock");
  const me: LockHolder = {
    host: hostname(),
    pid: process.pid,
    since: new Date().toISOString(),
    command,
  };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, `${JSON.stringify(me)}\n`);
      closeSync(fd);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          const holder = readHolder(path);
          if (holder?.pid === me.pid && holder.host === me.host) rmSync(path, { force: true });
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new HoltError(
          "HOLT_E_STATE",
          `Cannot create the lock file ${path}: ${(error as Error).message}.`,
          { cause: error },
        );
      }
      const holder = readHolder(path);
      // A half-written lock (holder null) is only possible for an instant; treat as held.
      if (holder !== null && holder.host === me.host && !processIsRunning(holder.pid)) {
        rmSync(path, { force: true });
        continue;
      }
      const who =
        holder === null
          ? "another holt process"
          : `\`${holder.command}\` (pid ${holder.pid} on ${holder.host}, since ${holder.since})`;
      throw new HoltError(
        "HOLT_E_LOCKED",
        `Another apply is running for this lab: ${who}. Wait for it to finish. If that process is gone (for example its machine crashed), delete ${path} and run again.`,
      );
    }
  }
  throw new HoltError(
    "HOLT_E_LOCKED",
    `Could not take the lock ${path}; another holt process keeps taking it.`,
  );
}
