/**
 * One of the processes `lock-takeover.test.ts` races: for each round it waits
 * for the round's start file, tries to take the lab's backup lock (whose
 * holder is dead), writes what happened, and when it won holds the lock
 * until the round's end file appears.
 *
 *   node lock-racer.ts DIR INDEX ROUNDS WIDEN
 *
 * WIDEN=1 sleeps 0-4 ms between reading the dead holder and taking it over,
 * so the interleavings a takeover must survive happen often.
 */
import { existsSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { acquireLock, type Lock } from "../../src/store/lock.ts";

const [dir = "", index = "", rounds = "0", widen = "0"] = process.argv.slice(2);

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function waitFor(file: string): void {
  while (!existsSync(join(dir, file))) sleep(1);
}

writeFileSync(join(dir, `ready-${index}`), "");
for (let round = 0; round < Number(rounds); round++) {
  waitFor(`go-${round}`);
  let lock: Lock | null = null;
  let outcome: string;
  try {
    lock = acquireLock(join(dir, "lab"), `racer ${index}`, "backup", {
      ...(widen === "1" ? { onStale: () => sleep(Math.floor(Math.random() * 5)) } : {}),
    });
    outcome = "won";
  } catch (error) {
    outcome = `lost ${(error as Error).message}`;
  }
  // Whole or not at all: the test reads it as soon as it exists.
  writeFileSync(join(dir, `partial-${index}`), outcome);
  renameSync(join(dir, `partial-${index}`), join(dir, `result-${round}-${index}`));
  waitFor(`done-${round}`);
  lock?.release();
  writeFileSync(join(dir, `released-${round}-${index}`), "");
}
