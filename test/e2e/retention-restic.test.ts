/**
 * holt's retention against a real `restic forget`, on generated timelines
 * spanning four years: for each timeline and policy (counts of last, hourly,
 * daily, weekly, monthly and yearly, at least one above 0), restic given the
 * flags holt passes it offsite (`resticKeepFlags`) keeps exactly what
 * `decideRetention` keeps. restic runs in UTC, as holt runs it. A keep of
 * zeros (which the config refuses) keeps everything in both.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import {
  decideRetention,
  RETENTION_KINDS,
  type RetentionPolicy,
  resticKeepFlags,
  type SnapshotInfo,
} from "../../src/model/retention.ts";

const execFileAsync = promisify(execFile);
const HOUR = 3_600_000;
const TIMELINES = 48;
/** restic runs at once: backups take a shared lock, and dry-run forgets none (--no-lock). */
const PARALLEL = 2;

let dir: string;
let repo: string;
let source: string;

async function restic(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("restic", ["-r", repo, ...args], {
    encoding: "utf8",
    env: { ...process.env, RESTIC_PASSWORD: "agreement", TZ: "UTC" },
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** What `restic forget` would do to one timeline (all its snapshots one group), given holt's flags. */
function forgetDryRun(tag: string, keep: RetentionPolicy): Promise<string> {
  const flags = resticKeepFlags(keep);
  return restic(
    "forget",
    "--no-lock",
    "--dry-run",
    "--json",
    "--tag",
    tag,
    "--group-by",
    "",
    ...flags,
  );
}

async function inParallel<T>(items: readonly T[], work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** A seeded generator, so a failure is the same on every run. */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

/** Snapshot times, whole seconds: where periods turn, dense hours, sparse months, a thin year. */
function universe(rand: () => number): number[] {
  const times = new Set<number>(
    [
      "2023-12-31T23:59:30Z", // a year's last minute and the next one's first
      "2024-01-01T00:00:30Z",
      "2024-12-29T23:30:00Z", // Sunday; the Monday after is in ISO week 1 of 2025
      "2024-12-30T00:30:00Z",
      "2026-02-28T23:30:00Z", // a month's last hour and the next one's first
      "2026-03-01T00:30:00Z",
      "2026-12-31T23:00:00Z", // Thursday; Sunday 3 January 2027 is in the same ISO week
      "2027-01-03T22:00:00Z",
      "2027-01-04T01:00:00Z",
    ].map((t) => Date.parse(t)),
  );
  // A busy day: every 25 minutes for 5 hours, so hours hold two or three.
  const busy = Date.parse("2026-06-10T07:10:00Z");
  for (let i = 0; i < 12; i++) times.add(busy + i * 25 * 60_000);
  // Clusters of 1 to 6 snapshots minutes to a day apart, anywhere in four years; 2025 is thin.
  const from = Date.parse("2023-03-01T00:00:00Z");
  const to = Date.parse("2027-03-01T00:00:00Z");
  while (times.size < 100) {
    let t = from + Math.floor(rand() * (to - from));
    if (new Date(t).getUTCFullYear() === 2025 && rand() < 0.8) continue;
    const n = 1 + Math.floor(rand() * 6);
    for (let i = 0; i < n; i++) {
      times.add(Math.floor(t / 1000) * 1000);
      t += Math.floor((5 / 60 + rand() * 30) * HOUR);
    }
  }
  return [...times].sort((a, b) => a - b);
}

function policy(counts: Partial<RetentionPolicy>): RetentionPolicy {
  return { last: 0, hourly: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, ...counts };
}

function randomPolicy(rand: () => number): RetentionPolicy {
  const most = { last: 5, hourly: 12, daily: 10, weekly: 8, monthly: 10, yearly: 4 };
  for (;;) {
    const p = policy(
      Object.fromEntries(
        RETENTION_KINDS.map((k) => [k, rand() < 0.5 ? 1 + Math.floor(rand() * most[k]) : 0]),
      ),
    );
    if (RETENTION_KINDS.some((k) => p[k] > 0)) return p;
  }
}

interface Timeline {
  readonly tag: string;
  readonly members: readonly number[];
  readonly policy: RetentionPolicy;
}

const rand = random(13);
const times = universe(rand);
const everything = times.map((_, i) => i);
const timelines: Timeline[] = [
  // holt's default keep, with years; years alone; the newest alone; weeks across year ends.
  { members: everything, policy: policy({ hourly: 24, daily: 30, weekly: 8, monthly: 12 }) },
  { members: everything, policy: policy({ daily: 7, monthly: 6, yearly: 5 }) },
  { members: everything, policy: policy({ yearly: 3 }) },
  { members: everything, policy: policy({ last: 1 }) },
  { members: everything, policy: policy({ weekly: 30, yearly: 2 }) },
  ...Array.from({ length: TIMELINES - 5 }, () => {
    const share = 0.2 + rand() * 0.8;
    const members = everything.filter(() => rand() < share);
    return { members: members.length > 0 ? members : [0], policy: randomPolicy(rand) };
  }),
].map((t, i) => ({ ...t, tag: `timeline-${i}` }));

describe("retention agrees with a real restic forget (restic in UTC)", () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "holt-retention-restic-"));
    repo = join(dir, "repo");
    source = join(dir, "source");
    mkdirSync(source);
    writeFileSync(join(source, "file"), "the same content in every snapshot\n");
    await restic("init");
    // One restic snapshot per time, tagged with its index and every timeline it belongs to.
    await inParallel(everything, async (i) => {
      const tags = [`u${i}`, ...timelines.filter((t) => t.members.includes(i)).map((t) => t.tag)];
      const at = new Date(times[i] as number).toISOString().replace("T", " ").slice(0, 19);
      await restic(
        "backup",
        "--quiet",
        "--host",
        "agreement",
        "--time",
        at,
        "--tag",
        tags.join(","),
        source,
      );
    });
  });

  after(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  test(`${TIMELINES} timelines over four years: restic keeps what holt keeps, for every policy`, async () => {
    const mismatches: string[] = [];
    // Per kind, how many snapshots that kind alone kept: each must have decided something.
    const decisive: Record<string, number> = Object.fromEntries(RETENTION_KINDS.map((k) => [k, 0]));
    let removed = 0;
    await inParallel(timelines, async (timeline) => {
      const snapshots: SnapshotInfo[] = timeline.members.map((i) => ({
        name: `u${i}`,
        createdMs: times[i] as number,
        holt: true,
        held: false,
      }));
      const holt = decideRetention(snapshots, timeline.policy);
      for (const reasons of holt.keep.values()) {
        const only = reasons.filter((r) => r !== "newest");
        const [alone] = only;
        if (only.length === 1 && alone !== undefined) decisive[alone] = (decisive[alone] ?? 0) + 1;
      }
      const out = await forgetDryRun(timeline.tag, timeline.policy);
      const line = out.split("\n").find((l) => l.startsWith("["));
      const groups = JSON.parse(line ?? "null") as {
        keep: { tags: string[] }[] | null;
        remove: unknown[] | null;
      }[];
      assert.equal(groups.length, 1, timeline.tag);
      const kept = (groups[0]?.keep ?? []).map((s) => s.tags.find((t) => /^u\d+$/.test(t)));
      removed += groups[0]?.remove?.length ?? 0;
      const expected = [...holt.keep.keys()];
      const sort = (names: readonly (string | undefined)[]) => [...names].sort().join(" ");
      if (sort(kept) !== sort(expected)) {
        mismatches.push(
          `${timeline.tag} (${timeline.members.length} snapshots, ${resticKeepFlags(timeline.policy).join(" ")}): restic keeps ${sort(kept)}; holt keeps ${sort(expected)}`,
        );
      }
    });
    assert.deepEqual(mismatches, []);
    assert.ok(removed > TIMELINES, `restic removed ${removed}: the policies decide something`);
    for (const kind of RETENTION_KINDS) {
      assert.ok(
        (decisive[kind] ?? 0) > 0,
        `some snapshot is kept by ${kind} alone: ${JSON.stringify(decisive)}`,
      );
    }
  });

  test("a keep of zeros: restic given holt's flags keeps everything, and so does holt", async () => {
    const zeros = policy({ hourly: 0 });
    const out = await forgetDryRun("timeline-0", zeros);
    assert.equal(out.trim(), "", "nothing to remove: restic reads no policy as keep all");
    const listed = JSON.parse(
      await restic("snapshots", "--json", "--tag", "timeline-0"),
    ) as unknown[];
    assert.equal(listed.length, times.length);
    const holt = decideRetention(
      times.map((ms, i) => ({ name: `u${i}`, createdMs: ms, holt: true, held: false })),
      zeros,
    );
    assert.deepEqual(holt.prune, []);
    assert.equal(holt.keep.size, times.length);
  });
});
