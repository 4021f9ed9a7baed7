/**
 * Plan files: written 0600 without following a symbolic link, replaced (not
 * rewritten in place) when they exist; read back only when every field has
 * the shape a plan file's field has.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  closeSync,
  lstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readlinkSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { PlanProposal } from "../engine/proposal.ts";
import { HoltError, isHoltError } from "../errors.ts";
import {
  MAX_PLAN_FILE_BYTES,
  parseSavedPlan,
  readSavedPlan,
  writeSavedPlan,
} from "./saved-plan.ts";

const PROPOSAL: PlanProposal & { createdAt: string } = {
  createdAt: "2026-11-26T03:16:18.261Z",
  lab: "home",
  configFile: "/lab/holt.config.ts",
  hosts: [
    {
      name: "odroid",
      address: "10.0.0.2",
      connect: {
        kind: "ssh",
        user: "root",
        port: 22,
        identityFile: "/root/.ssh/id_ed25519",
        knownHostsFile: "/root/.ssh/known_hosts",
      },
      settings: { "caddy.route": { adminPort: 2019 } },
    },
    { name: "box", address: "127.0.0.1", connect: { kind: "local" }, settings: {} },
  ],
  changes: [
    {
      address: "zfs.dataset:odroid/tank/media",
      type: "zfs.dataset",
      noun: "dataset",
      action: "update",
      host: "odroid",
      service: null,
      name: "tank/media",
      fields: [{ path: "quota", before: "100M", after: "200M", forcesReplace: true }],
      after: [],
      dataLoss: false,
      desired: "abc",
    },
    {
      address: "podman.container:odroid/holt-web",
      type: "podman.container",
      noun: "container",
      action: "release",
      host: "odroid",
      service: "web",
      name: "holt-web",
      fields: [],
      after: ["zfs.dataset:odroid/tank/media"],
      dataLoss: false,
      desired: null,
    },
  ],
  bindings: { "zfs.dataset:odroid/tank/media": "fp", "podman.container:odroid/holt-web": null },
};

function withDir(run: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "holt-saved-plan-"));
  try {
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

test("a written plan reads back as the same proposal, pretty-printed, format 2, mode 0600", () => {
  withDir((dir) => {
    const file = join(dir, "plan.json");
    writeSavedPlan(file, PROPOSAL);
    assert.equal(mode(file), "600");
    const text = readFileSync(file, "utf8");
    assert.match(text, /^\{\n {2}"kind": "holt-plan",\n {2}"formatVersion": "2",/);
    const saved = readSavedPlan(file);
    const { kind, formatVersion, summary, ...proposal } = saved;
    assert.deepEqual(proposal, PROPOSAL);
    assert.deepEqual(summary, { add: 0, change: 1, replace: 0, destroy: 0, release: 1 });
  });
});

test("an existing 0644 plan file is replaced by a new 0600 file; whoever had it open reads the old plan", () => {
  withDir((dir) => {
    const file = join(dir, "plan.json");
    writeFileSync(file, "old plan\n");
    chmodSync(file, 0o644);
    const before = lstatSync(file).ino;
    const held = openSync(file, "r");
    try {
      writeSavedPlan(file, PROPOSAL);
      assert.equal(mode(file), "600");
      assert.notEqual(lstatSync(file).ino, before, "a new file, not the old one rewritten");
      const buffer = Buffer.alloc(64);
      const read = readSync(held, buffer, 0, 64, 0);
      assert.equal(buffer.subarray(0, read).toString(), "old plan\n");
    } finally {
      closeSync(held);
    }
  });
});

test("the plan file is 0600 whatever the umask", () => {
  withDir((dir) => {
    const file = join(dir, "plan.json");
    const umask = process.umask(0o277);
    try {
      writeSavedPlan(file, PROPOSAL);
    } finally {
      process.umask(umask);
    }
    assert.equal(mode(file), "600");
  });
});

test("a symbolic link at the plan's path is refused, and its target is left alone", () => {
  withDir((dir) => {
    const target = join(dir, "target.txt");
    writeFileSync(target, "precious\n");
    chmodSync(target, 0o644);
    const link = join(dir, "plan.json");
    symlinkSync(target, link);
    assert.throws(
      () => writeSavedPlan(link, PROPOSAL),
      (error) =>
        isHoltError(error) &&
        error.code === "HOLT_E_PLAN_FILE" &&
        /is a symbolic link, and holt does not write a plan through one/.test(error.message),
    );
    assert.equal(readFileSync(target, "utf8"), "precious\n");
    assert.equal(mode(target), "644");
    assert.equal(readlinkSync(link), target, "the link stays");
    // A dangling link too.
    rmSync(target);
    assert.throws(() => writeSavedPlan(link, PROPOSAL), HoltError);
    assert.throws(() => statSync(target), "nothing was created through the link");
  });
});

/** The written file as parsed JSON, for editing. */
function body(): Record<string, unknown> {
  let parsed: Record<string, unknown> = {};
  withDir((dir) => {
    const file = join(dir, "plan.json");
    writeSavedPlan(file, PROPOSAL);
    parsed = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  });
  return parsed;
}

type Json = Record<string, unknown>;
const edit = (change: (b: Json) => void) => (): Json => {
  const b = structuredClone(body());
  change(b);
  return b;
};
const change0 = (b: Json): Json => (b.changes as Json[])[0] as Json;
const host0 = (b: Json): Json => (b.hosts as Json[])[0] as Json;

const BAD: readonly { name: string; body: () => unknown; message: RegExp }[] = [
  { name: "not an object", body: () => [], message: /is not a holt plan\./ },
  {
    name: "another kind",
    body: edit((b) => (b.kind = "terraform")),
    message: /is not a holt plan/,
  },
  {
    name: "format 1 (an older holt's, which carried the steps to run)",
    body: edit((b) => (b.formatVersion = "1")),
    message: /is a plan in format 1, made by an older holt.*Make the plan again/,
  },
  {
    name: "an unknown format",
    body: edit((b) => (b.formatVersion = "3")),
    message: /is a plan in format "3", which this holt cannot read/,
  },
  {
    name: "a field this holt does not know",
    body: edit((b) => (b.allowDataLoss = true)),
    message: /allowDataLoss is not a field of a plan file/,
  },
  { name: "no lab", body: edit((b) => delete b.lab), message: /lab is missing/ },
  {
    name: "a lab that is a number",
    body: edit((b) => (b.lab = 3)),
    message: /lab is not a string/,
  },
  {
    name: "a bad date",
    body: edit((b) => (b.createdAt = "yesterday")),
    message: /createdAt is not a date and time/,
  },
  {
    name: "an unknown action",
    body: edit((b) => (change0(b).action = "destroy")),
    message: /changes\[0\]\.action is not one of create, update, replace, delete, release/,
  },
  {
    name: "a field value that is not a string",
    body: edit((b) => (((change0(b).fields as Json[])[0] as Json).after = 200)),
    message: /changes\[0\]\.fields\[0\]\.after is not a string/,
  },
  {
    name: "dataLoss that is not a boolean",
    body: edit((b) => (change0(b).dataLoss = "no")),
    message: /changes\[0\]\.dataLoss is not true or false/,
  },
  {
    name: "a step inside a change (the graph of format 1)",
    body: edit((b) => (change0(b).resource = { inputs: {} })),
    message: /changes\[0\]\.resource is not a field of a plan file/,
  },
  {
    name: "a step listed twice",
    body: edit((b) => (b.changes as Json[]).push(change0(b))),
    message: /changes lists the address "zfs\.dataset:odroid\/tank\/media" twice/,
  },
  {
    name: "a field listed twice",
    body: edit((b) => {
      const fields = change0(b).fields as Json[];
      fields.push(fields[0] as Json);
    }),
    message: /changes\[0\]\.fields lists the path "quota" twice/,
  },
  {
    name: "a summary that does not count the changes",
    body: edit((b) => ((b.summary as Json).release = 0)),
    message: /summary does not count the changes the file lists/,
  },
  {
    name: "an SSH port out of range",
    body: edit((b) => ((host0(b).connect as Json).port = 70000)),
    message: /hosts\[0\]\.connect\.port is not a whole number from 1 to 65535/,
  },
  {
    name: "an SSH host without a known_hosts file",
    body: edit((b) => delete (host0(b).connect as Json).knownHostsFile),
    message: /hosts\[0\]\.connect\.knownHostsFile is missing/,
  },
  {
    name: "a local host with SSH settings",
    body: edit((b) => (host0(b).connect = { kind: "local", user: "root" })),
    message: /hosts\[0\]\.connect\.user is not a field of a plan file/,
  },
  {
    name: "an unknown connection kind",
    body: edit((b) => ((host0(b).connect as Json).kind = "telnet")),
    message: /hosts\[0\]\.connect\.kind is not "local" or "ssh"/,
  },
  {
    name: "a binding that is not a fingerprint",
    body: edit((b) => ((b.bindings as Json)["zfs.dataset:odroid/tank/media"] = 1)),
    message: /bindings\["zfs\.dataset:odroid\/tank\/media"\] is not a string/,
  },
  {
    name: "host settings nested a hundred thousand deep (no stack overflow)",
    body: edit((b) => {
      let deep: unknown = 1;
      for (let i = 0; i < 100_000; i++) deep = [deep];
      host0(b).settings = { "caddy.route": deep };
    }),
    message: /hosts\[0\]\.settings is nested more than 32 levels deep/,
  },
  {
    name: "a key with control characters and a bidirectional override, shown escaped",
    body: edit((b) => (b["\u001b[2J\u202eevil"] = 1)),
    message: /apply: \\u001b\[2J\\u202eevil is not a field of a plan file\./,
  },
  {
    name: "a format with a bidirectional override, shown escaped",
    body: edit((b) => (b.formatVersion = "\u202e3")),
    message: /is a plan in format "\\u202e3", which this holt cannot read/,
  },
  {
    name: "a huge unknown key, cut short",
    body: edit((b) => (b["k".repeat(100_000)] = 1)),
    message: new RegExp(
      `: ${"k".repeat(200)}… \\(99800 more characters\\) is not a field of a plan file\\.`,
    ),
  },
  {
    name: "a host listed twice",
    body: edit((b) => (b.hosts as Json[]).push(host0(b))),
    message: /hosts lists the host "odroid" twice/,
  },
];

for (const row of BAD) {
  test(`a plan file is refused: ${row.name}`, () => {
    assert.throws(
      () => parseSavedPlan("plan.json", row.body()),
      (error) =>
        isHoltError(error) && error.code === "HOLT_E_PLAN_FILE" && row.message.test(error.message),
    );
  });
}

test("a file that is not JSON is refused", () => {
  withDir((dir) => {
    const file = join(dir, "plan.json");
    writeFileSync(file, "{ not json");
    assert.throws(
      () => readSavedPlan(file),
      (error) => isHoltError(error) && /is not a holt plan \(it is not JSON\)/.test(error.message),
    );
  });
});

test("what is not a regular file is refused at once, not read: a FIFO, /dev/zero", () => {
  withDir((dir) => {
    const fifo = join(dir, "plan.json");
    execFileSync("mkfifo", [fifo]);
    for (const file of [fifo, "/dev/zero"]) {
      const started = Date.now();
      assert.throws(
        () => readSavedPlan(file),
        (error) =>
          isHoltError(error) &&
          error.code === "HOLT_E_PLAN_FILE" &&
          error.message ===
            `${file} is not a regular file, so it is not a plan \`holt plan --out\` wrote. Pass the file it saved.`,
      );
      assert.ok(Date.now() - started < 1000, `${file} refused without waiting`);
    }
  });
});

test("a file larger than 16 MiB is refused without being read", () => {
  withDir((dir) => {
    const file = join(dir, "plan.json");
    writeFileSync(file, JSON.stringify(body()));
    truncateSync(file, MAX_PLAN_FILE_BYTES + 1);
    assert.throws(
      () => readSavedPlan(file),
      (error) =>
        isHoltError(error) &&
        error.code === "HOLT_E_PLAN_FILE" &&
        /is larger than 16 MiB, far more than any plan holt writes/.test(error.message),
    );
  });
});
