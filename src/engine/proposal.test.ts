/**
 * comparePlans: a table of saved proposals against one fresh proposal, each
 * row naming the first difference in words (or none), plus proposalOf on a
 * computed plan.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { computePlan } from "./plan.ts";
import {
  comparePlans,
  compareSetup,
  describeDifference,
  type PlanProposal,
  type ProposedChange,
  proposalOf,
} from "./proposal.ts";
import type { Provider } from "./provider.ts";

const SSH = {
  kind: "ssh" as const,
  user: "root",
  port: 22,
  identityFile: "/root/.ssh/id_ed25519",
  knownHostsFile: "/root/.ssh/known_hosts",
};

const web: ProposedChange = {
  address: "podman.container:odroid/holt-web",
  type: "podman.container",
  noun: "container",
  action: "release",
  host: "odroid",
  service: "web",
  name: "holt-web",
  fields: [],
  after: [],
  dataLoss: false,
  desired: null,
};

const media: ProposedChange = {
  address: "zfs.dataset:odroid/tank/media",
  type: "zfs.dataset",
  noun: "dataset",
  action: "update",
  host: "odroid",
  service: null,
  name: "tank/media",
  fields: [
    { path: "quota", before: "100M", after: "200M" },
    { path: "recordsize", before: "128K", after: "64K" },
  ],
  after: ["zfs.dataset:odroid/tank", "zfs.dataset:odroid/tank/a"],
  dataLoss: false,
  desired: "d1",
};

const record: ProposedChange = {
  address: "dns.record:@edge/web.example.com/A",
  type: "dns.record",
  noun: "DNS record",
  action: "create",
  host: "@edge",
  service: "web",
  name: "web.example.com A",
  fields: [{ path: "values", before: null, after: "10.0.0.2" }],
  after: [],
  dataLoss: false,
  desired: "d2",
};

const FRESH: PlanProposal = {
  lab: "home",
  configFile: "/lab/holt.config.ts",
  hosts: [
    {
      name: "odroid",
      address: "10.0.0.2",
      connect: SSH,
      settings: { "caddy.route": { adminPort: 2019 } },
    },
    { name: "@edge", address: "127.0.0.1", connect: { kind: "local" }, settings: {} },
  ],
  changes: [media, web, record],
  bindings: {
    "zfs.dataset:odroid/tank/media": "fp-media",
    "podman.container:odroid/holt-web": "fp-web",
    "dns.record:@edge/web.example.com/A": null,
  },
};

type Edit = (p: PlanProposal) => PlanProposal;
const changeAt =
  (address: string, edit: (c: ProposedChange) => ProposedChange): Edit =>
  (p) => ({
    ...p,
    changes: p.changes.map((c) => (c.address === address ? edit(c) : c)),
  });
const hostAt =
  (name: string, edit: (h: PlanProposal["hosts"][number]) => PlanProposal["hosts"][number]): Edit =>
  (p) => ({ ...p, hosts: p.hosts.map((h) => (h.name === name ? edit(h) : h)) });
const odroidSsh = (connect: Partial<typeof SSH>): Edit =>
  hostAt("odroid", (h) => ({ ...h, connect: { ...SSH, ...connect } }));

const ROWS: readonly { name: string; saved: Edit; fresh?: Edit; expected: string | null }[] = [
  { name: "the same proposal", saved: (p) => p, expected: null },
  {
    name: "changes, fields and after in another order",
    saved: (p) => ({
      ...p,
      changes: [...p.changes].reverse().map((c) => ({
        ...c,
        fields: [...c.fields].reverse(),
        after: [...c.after].reverse(),
      })),
      hosts: [...p.hosts].reverse(),
    }),
    expected: null,
  },
  {
    name: "another lab",
    saved: (p) => ({ ...p, lab: "other" }),
    expected: 'the saved plan is for lab "other", the config is lab "home"',
  },
  {
    name: "another config file",
    saved: (p) => ({ ...p, configFile: "/elsewhere/holt.config.ts" }),
    expected:
      "the saved plan was made from /elsewhere/holt.config.ts, the config is /lab/holt.config.ts",
  },
  {
    name: "a changed host address",
    saved: hostAt("odroid", (h) => ({ ...h, address: "10.0.0.9" })),
    expected:
      "host odroid: the saved plan reaches it as root@10.0.0.9:22, the config as root@10.0.0.2:22",
  },
  {
    name: "a changed SSH port",
    saved: odroidSsh({ port: 2222 }),
    expected:
      "host odroid: the saved plan reaches it as root@10.0.0.2:2222, the config as root@10.0.0.2:22",
  },
  {
    name: "a changed SSH user",
    saved: odroidSsh({ user: "admin" }),
    expected:
      "host odroid: the saved plan reaches it as admin@10.0.0.2:22, the config as root@10.0.0.2:22",
  },
  {
    name: "local instead of SSH",
    saved: hostAt("odroid", (h) => ({ ...h, connect: { kind: "local" } })),
    expected:
      "host odroid: the saved plan reaches it as the machine holt runs on (address 10.0.0.2), the config as root@10.0.0.2:22",
  },
  {
    name: "a changed identity file",
    saved: odroidSsh({ identityFile: "/tmp/evil" }),
    expected:
      'host odroid: the saved plan logs in with the identity file "/tmp/evil", the config with "/root/.ssh/id_ed25519"',
  },
  {
    name: "a changed known_hosts file",
    saved: odroidSsh({ knownHostsFile: "/dev/null" }),
    expected:
      'host odroid: the saved plan checks its host key against the known_hosts file "/dev/null", the config against "/root/.ssh/known_hosts"',
  },
  {
    name: "a host the config does not have",
    saved: (p) => ({
      ...p,
      hosts: [...p.hosts, { name: "pi", address: "10.0.0.3", connect: SSH, settings: {} }],
    }),
    expected: "host pi: the saved plan has it, the config does not",
  },
  {
    name: "control characters from the file are shown escaped",
    saved: (p) => ({
      ...p,
      hosts: [
        ...p.hosts,
        { name: "pi\u001b[2J\n\u202e", address: "10.0.0.3", connect: SSH, settings: {} },
      ],
    }),
    expected: "host pi\\u001b[2J\\u000a\\u202e: the saved plan has it, the config does not",
  },
  {
    name: "a host the saved plan does not have",
    saved: (p) => ({ ...p, hosts: p.hosts.filter((h) => h.name !== "@edge") }),
    expected: "host @edge: the config has it, the saved plan does not",
  },
  {
    name: "other provider settings for a host",
    saved: hostAt("odroid", (h) => ({ ...h, settings: { "caddy.route": { adminPort: 2020 } } })),
    expected: "host odroid: the saved plan's settings for caddy.route differ from the config's",
  },
  {
    name: "a host difference comes before a change difference",
    saved: (p) =>
      odroidSsh({ port: 2 })(changeAt(web.address, (c) => ({ ...c, action: "delete" }))(p)),
    expected:
      "host odroid: the saved plan reaches it as root@10.0.0.2:2, the config as root@10.0.0.2:22",
  },
  {
    name: "nothing left to do (the plan was applied already)",
    saved: (p) => p,
    // What the apply changed reads differently now: named as the evidence.
    fresh: (p) => ({
      ...p,
      changes: [],
      bindings: { ...p.bindings, "zfs.dataset:odroid/tank/media": "fp-applied" },
    }),
    expected:
      "a fresh plan has no changes, the saved plan has 3: the systems already match the config (zfs.dataset:odroid/tank/media: existed at plan time, is different now). Was this plan applied already, or its changes made by hand?",
  },
  {
    name: "nothing left to do, and nothing read differs",
    saved: (p) => p,
    fresh: (p) => ({ ...p, changes: [] }),
    expected:
      "a fresh plan has no changes, the saved plan has 3: the systems already match the config. Was this plan applied already, or its changes made by hand?",
  },
  {
    name: "a release turned into a delete",
    saved: changeAt(web.address, (c) => ({ ...c, action: "delete" })),
    expected:
      'container holt-web on host odroid: the saved plan says "delete", a fresh plan says "release"',
  },
  {
    name: "a step added",
    saved: (p) => ({
      ...p,
      changes: [
        ...p.changes,
        { ...web, address: "podman.container:odroid/holt-db", name: "holt-db" },
      ],
    }),
    expected:
      'container holt-db on host odroid: the saved plan says "release", a fresh plan leaves it alone',
  },
  {
    name: "a step left out",
    saved: (p) => ({ ...p, changes: p.changes.filter((c) => c !== record) }),
    expected:
      'DNS record web.example.com A at the edge: a fresh plan says "create", the saved plan leaves it alone',
  },
  {
    name: "a field value changed",
    saved: changeAt(media.address, (c) => ({
      ...c,
      fields: [
        { path: "quota", before: "100M", after: "1G" },
        { path: "recordsize", before: "128K", after: "64K" },
      ],
    })),
    expected:
      'dataset tank/media on host odroid, quota: the saved plan says "100M" → "1G", a fresh plan says "100M" → "200M"',
  },
  {
    name: "a huge value from the file is shown by both ends",
    saved: changeAt(media.address, (c) => ({
      ...c,
      fields: [{ path: "quota", before: "100M", after: "9".repeat(100_000) }, ...c.fields.slice(1)],
    })),
    expected: `dataset tank/media on host odroid, quota: the saved plan says "100M" → "${"9".repeat(928)} … (98108 characters left out) … ${"9".repeat(964)}", a fresh plan says "100M" → "200M"`,
  },
  {
    name: "a field the fresh plan does not change",
    saved: changeAt(media.address, (c) => ({
      ...c,
      fields: [...c.fields, { path: "atime", before: "on", after: null }],
    })),
    expected:
      'dataset tank/media on host odroid, atime: the saved plan changes it "on" → (none), a fresh plan leaves it alone',
  },
  {
    name: "a field the saved plan does not change",
    saved: changeAt(media.address, (c) => ({ ...c, fields: c.fields.slice(1) })),
    expected:
      'dataset tank/media on host odroid, quota: a fresh plan changes it "100M" → "200M", the saved plan leaves it alone',
  },
  {
    name: "a field said to force a replace",
    saved: changeAt(media.address, (c) => ({
      ...c,
      fields: c.fields.map((f) => (f.path === "quota" ? { ...f, forcesReplace: true } : f)),
    })),
    expected:
      'dataset tank/media on host odroid, quota: the saved plan says "100M" → "200M" (forces a replace), a fresh plan says "100M" → "200M"',
  },
  {
    name: "data loss claimed away",
    saved: changeAt(media.address, (c) => ({ ...c, dataLoss: true })),
    expected:
      "dataset tank/media on host odroid: the saved plan says it destroys data, a fresh plan says it keeps it",
  },
  {
    name: "another order of steps",
    saved: changeAt(media.address, (c) => ({ ...c, after: ["zfs.dataset:odroid/tank"] })),
    expected:
      "dataset tank/media on host odroid: the saved plan runs it after zfs.dataset:odroid/tank, a fresh plan after zfs.dataset:odroid/tank, zfs.dataset:odroid/tank/a",
  },
  {
    name: "other desired inputs behind the same fields",
    saved: changeAt(record.address, (c) => ({ ...c, desired: "d-old" })),
    expected:
      "DNS record web.example.com A at the edge: a fresh plan would write other settings than the saved plan, in a part the plan does not show (a secret's value, for example)",
  },
  {
    name: "a renamed service",
    saved: changeAt(web.address, (c) => ({ ...c, service: "www" })),
    expected:
      'container holt-web on host odroid: the saved plan gives its service as "www", a fresh plan as "web"',
  },
  {
    name: "a resource that changed since the plan",
    saved: (p) => ({
      ...p,
      bindings: { ...p.bindings, "zfs.dataset:odroid/tank/media": "fp-old" },
    }),
    expected: "zfs.dataset:odroid/tank/media: existed at plan time, is different now",
  },
  {
    name: "a resource gone since the plan is named before the change it causes",
    saved: (p) => ({
      ...changeAt(record.address, (c) => ({ ...c, action: "update" }))(p),
      bindings: { ...p.bindings, "dns.record:@edge/web.example.com/A": "fp-seen" },
    }),
    expected: "dns.record:@edge/web.example.com/A: existed at plan time, is gone now",
  },
  {
    name: "a resource that did not exist at plan time",
    saved: (p) => ({ ...p, bindings: { ...p.bindings, "podman.container:odroid/holt-web": null } }),
    expected: "podman.container:odroid/holt-web: did not exist at plan time, exists now",
  },
  {
    name: "a resource read only for the saved plan",
    saved: (p) => ({ ...p, bindings: { ...p.bindings, "zfs.dataset:odroid/tank/x": null } }),
    expected: "zfs.dataset:odroid/tank/x: the saved plan read it, a fresh plan does not",
  },
  {
    name: "a resource read only for the fresh plan",
    saved: (p) => {
      const { "dns.record:@edge/web.example.com/A": _, ...rest } = p.bindings;
      return { ...p, bindings: rest };
    },
    expected: "dns.record:@edge/web.example.com/A: a fresh plan reads it, the saved plan did not",
  },
];

for (const row of ROWS) {
  test(`comparePlans: ${row.name}`, () => {
    const fresh = row.fresh === undefined ? FRESH : row.fresh(FRESH);
    const difference = comparePlans(row.saved(FRESH), fresh);
    assert.equal(difference === null ? null : describeDifference(difference), row.expected);
  });
}

test("compareSetup checks lab, config file and connections, before any host is read", () => {
  const setup = { lab: FRESH.lab, configFile: FRESH.configFile, hosts: FRESH.hosts };
  assert.equal(compareSetup(FRESH, setup), null);
  const moved = { ...setup, hosts: setup.hosts.map((h) => ({ ...h, address: "10.9.9.9" })) };
  assert.deepEqual(compareSetup(FRESH, moved), {
    kind: "host-connection",
    host: "odroid",
    field: "reach",
    saved: "root@10.0.0.2:22",
    fresh: "root@10.9.9.9:22",
  });
});

test("compareSetup compares each SSH setting, not how they read together", () => {
  const hostWith = (user: string, address: string) => ({
    lab: "home",
    configFile: "/lab/holt.config.ts",
    hosts: [{ name: "pi", address, connect: { ...SSH, user } }],
  });
  // Both read "a@b@c:22"; they are still two ways to reach the host.
  assert.equal(compareSetup(hostWith("a", "b@c"), hostWith("a@b", "c"))?.kind, "host-connection");
  assert.equal(compareSetup(hostWith("a", "b@c"), hostWith("a", "b@c")), null);
});

test("proposalOf keeps what is compared: fields, after, data loss, desired inputs, bindings", () => {
  const provider: Provider = {
    type: "fake",
    noun: "thing",
    holdsData: true,
    read: async () => ({ observed: new Map(), owned: [], problems: [] }),
    diff: () => [{ path: "v", before: "1", after: "2", forcesReplace: true }],
    describe: () => [{ path: "v", before: null, after: "2" }],
    create: async () => {},
    update: async () => {},
    delete: async () => {},
    release: async () => {},
    adopt: async () => {},
  };
  const resource = (address: string, v: string, dependsOn: string[] = []) => ({
    address,
    type: "fake",
    host: "h",
    name: address,
    inputs: { v },
    dependsOn,
    configPath: address,
  });
  const plan = computePlan(
    { lab: "l", resources: [resource("a", "2"), resource("b", "2", ["a"])] },
    {
      observed: new Map([["a", { state: { v: "1" }, managed: true }]]),
      owned: [
        {
          address: "gone",
          type: "fake",
          host: "h",
          name: "gone",
          dependsOn: [],
          observed: { state: { v: "0" }, managed: true },
        },
      ],
      problems: [],
    },
    {
      providers: [provider],
      configFile: "/c.ts",
      hosts: [{ name: "h", address: "10.0.0.1", connect: { kind: "local" } }],
    },
  );
  const proposal = proposalOf(plan, { h: { fake: { port: 1 } } });
  assert.deepEqual(proposal.hosts, [
    { name: "h", address: "10.0.0.1", connect: { kind: "local" }, settings: { fake: { port: 1 } } },
  ]);
  const byAddress = new Map(proposal.changes.map((c) => [c.address, c]));
  assert.equal(byAddress.get("a")?.action, "replace");
  assert.equal(byAddress.get("a")?.dataLoss, true);
  assert.deepEqual(byAddress.get("a")?.fields, [
    { path: "v", before: "1", after: "2", forcesReplace: true },
  ]);
  assert.deepEqual(byAddress.get("b")?.after, ["a"]);
  assert.equal(byAddress.get("gone")?.action, "release");
  assert.equal(byAddress.get("gone")?.desired, null);
  assert.equal(typeof byAddress.get("b")?.desired, "string");
  assert.deepEqual(proposal.bindings, plan.bindings);
  // The same plan, proposed again, agrees with itself.
  assert.equal(comparePlans(proposal, proposalOf(plan, { h: { fake: { port: 1 } } })), null);
});
