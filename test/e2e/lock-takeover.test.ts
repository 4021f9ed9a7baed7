/**
 * A dead holder's lock taken over by many processes at once: real Node
 * processes, released together against the same stale `backup.lock`, round
 * after round. Exactly one wins each round, the others fail naming it, and
 * the winner's lock file is never removed under it.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";

const RACER = new URL("./lock-racer.ts", import.meta.url).pathname;
const RACERS = 8;
const dirs: string[] = [];

after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function race(rounds: number, widen: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "holt-lock-race-"));
  dirs.push(dir);
  const lab = join(dir, "lab");
  mkdirSync(lab);
  const lock = join(lab, "backup.lock");
  const children = Array.from({ length: RACERS }, (_, i) =>
    spawn(process.execPath, [RACER, dir, String(i), String(rounds), widen ? "1" : "0"], {
      stdio: ["ignore", "ignore", "inherit"],
    }),
  );
  const exited = children.map(
    (c) => new Promise<number | null>((resolve) => c.on("exit", (code) => resolve(code))),
  );
  const pids = children.map((c) => c.pid);
  try {
    await until("the racers to start", () =>
      children.every((_, i) => existsSync(join(dir, `ready-${i}`))),
    );
    for (let round = 0; round < rounds; round++) {
      // A holder that died: a pid that just exited, on this machine.
      const dead = spawnSync("true").pid;
      writeFileSync(
        lock,
        `${JSON.stringify({ host: hostname(), pid: dead, since: new Date().toISOString(), command: "holt backup run" })}\n`,
      );
      writeFileSync(join(dir, `go-${round}`), "");
      await until(`round ${round}'s results`, () =>
        children.every((_, i) => existsSync(join(dir, `result-${round}-${i}`))),
      );
      const results = children.map((_, i) =>
        readFileSync(join(dir, `result-${round}-${i}`), "utf8"),
      );
      const winners = results.flatMap((r, i) => (r === "won" ? [i] : []));
      assert.equal(winners.length, 1, `round ${round}: exactly one winner\n${results.join("\n")}`);
      const winner = winners[0] ?? -1;
      const holder = JSON.parse(readFileSync(lock, "utf8")) as { pid: number };
      assert.equal(holder.pid, pids[winner], `round ${round}: the lock file is the winner's`);
      for (const [i, r] of results.entries()) {
        if (i === winner) continue;
        assert.match(r, /^lost Another backup operation/, `round ${round}, racer ${i}`);
        assert.match(r, new RegExp(`pid ${pids[winner]} `), `round ${round}: names the winner`);
      }
      writeFileSync(join(dir, `done-${round}`), "");
      await until(`round ${round}'s release`, () =>
        children.every((_, i) => existsSync(join(dir, `released-${round}-${i}`))),
      );
      assert.deepEqual(readdirSync(lab), [], `round ${round}: the winner released, nothing left`);
    }
    assert.deepEqual(await Promise.all(exited), Array(RACERS).fill(0));
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill();
  }
}

test("8 processes take over the same dead holder's lock at once: one winner, 40 rounds", async () => {
  await race(40, false);
});

test("the same with 0-4 ms between reading the dead holder and taking it over: one winner, 40 rounds", async () => {
  await race(40, true);
});
