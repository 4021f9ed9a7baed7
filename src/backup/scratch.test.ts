import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  judgeScratch,
  SCRATCH_NAME_MAX,
  type ScratchPurpose,
  type ScratchReading,
  scratchComponent,
  scratchFor,
} from "./scratch.ts";

describe("scratchFor", () => {
  const cases: [string, [string, ScratchPurpose, string, string, string], string][] = [
    [
      "one component per name",
      ["tank/holt/web/db-data", "offsite", "home", "web", "db-data"],
      "tank/holt-offsite/home/web/db-data",
    ],
    [
      "the service web-db's entry data is elsewhere",
      ["tank/holt/web-db/data", "offsite", "home", "web-db", "data"],
      "tank/holt-offsite/home/web-db/data",
    ],
    [
      "on the pool of the dataset, by purpose",
      ["fast/x/app/db", "verify", "home", "app", "db"],
      "fast/holt-verify/home/app/db",
    ],
    [
      "a dot in an entry is escaped",
      ["tank/holt/app/v1.db", "manifest", "home", "app", "v1.db"],
      "tank/holt-manifest/home/app/v1:2edb",
    ],
    [
      "a lab name with characters ZFS does not take",
      ["tank/holt/app/db", "restore", "my lab/ä", "app", "db"],
      "tank/holt-restore/my:20lab:2f:c3:a4/app/db",
    ],
  ];
  for (const [name, args, expected] of cases) {
    test(name, () => assert.equal(scratchFor(...args).name, expected));
  }

  test("the mark names the lab and the purpose; the mount path is unchanged", () => {
    const s = scratchFor("tank/holt/web/db-data", "offsite", "home", "web", "db-data");
    assert.equal(s.mark, "home:offsite");
    assert.equal(s.path, "/var/lib/holt/offsite/home/web/db-data");
  });

  test("no two (lab, service, entry) share a name", () => {
    const names = ["a", "b", "a-b", "b-a", "a-b-a", "a.b", "a:2eb", "a:2db", "-", "ab"];
    const seen = new Map<string, string>();
    for (const lab of names) {
      for (const service of names) {
        for (const entry of names) {
          const key = scratchFor("tank/x", "offsite", lab, service, entry).name;
          const who = JSON.stringify([lab, service, entry]);
          assert.equal(seen.get(key), undefined, `${who} and ${seen.get(key)} share ${key}`);
          seen.set(key, who);
        }
      }
    }
  });

  test("a component is always a valid ZFS name part, and never holds '::'", () => {
    for (const name of [
      "x",
      "..",
      ".",
      "a b",
      "a/b",
      "@snap",
      "日本",
      "a%b",
      "::",
      ":a:",
      "a::b",
    ]) {
      assert.match(scratchComponent(name), /^[A-Za-z0-9_:-]+$/, name);
      assert.ok(!scratchComponent(name).includes("::"), name);
    }
  });

  test("a name past ZFS's length limit is a digest of the three names, still one per entry", () => {
    // A lab named by a long domain: 3 labels of 63, its dots escaped, with 63-character names.
    const lab = ["a", "b", "c"].map((c) => c.repeat(63)).join(".");
    const service = "s".repeat(63);
    const names = ["d".repeat(63), `${"d".repeat(62)}e`].map(
      (entry) => scratchFor(`tank/holt/${service}/${entry}`, "restore", lab, service, entry).name,
    );
    for (const name of names) {
      assert.match(name, /^tank\/holt-restore\/::[0-9a-f]{32}$/);
      assert.ok(`${name}/copy@restore-safety-20261126T080000Z`.length <= 255);
    }
    assert.notEqual(names[0], names[1]);
    const short = scratchFor("tank/holt/web/db", "restore", lab.slice(0, 20), "web", "db").name;
    assert.equal(short, `tank/holt-restore/${"a".repeat(20)}/web/db`, "a name that fits stays");
    assert.ok(SCRATCH_NAME_MAX + "/copy@holt-20261126T080000Z".length <= 255);
  });
});

describe("judgeScratch", () => {
  const mark = "home:verify";
  const cases: [string, ScratchReading, string][] = [
    ["nothing there", { exists: false }, "absent"],
    ["holt's, of this lab and purpose", { exists: true, value: mark, source: "local" }, "ours"],
    ["no mark at all", { exists: true, value: "-", source: "-" }, "foreign"],
    [
      "the mark only inherited from a parent",
      { exists: true, value: mark, source: "inherited from tank/holt-verify/home" },
      "foreign",
    ],
    [
      "received with the stream, not set here",
      { exists: true, value: mark, source: "received" },
      "foreign",
    ],
    ["another lab's scratch", { exists: true, value: "work:verify", source: "local" }, "foreign"],
    [
      "another purpose's scratch",
      { exists: true, value: "home:restore", source: "local" },
      "foreign",
    ],
    ["a prefix of the mark", { exists: true, value: "home", source: "local" }, "foreign"],
  ];
  for (const [name, reading, verdict] of cases) {
    test(name, () => assert.equal(judgeScratch(reading, mark).kind, verdict));
  }

  test("a refusal says why", () => {
    const v = judgeScratch({ exists: true, value: "work:verify", source: "local" }, mark);
    assert.deepEqual(v, {
      kind: "foreign",
      why: "its mark is holt:scratch=work:verify, not home:verify",
    });
  });
});
