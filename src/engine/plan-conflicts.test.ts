/**
 * Engine lifecycle: a provider says which removed resources a desired one
 * cannot coexist with (`conflictsWith`), and the plan makes the removal go
 * first. The fake system here holds entries by name and, like DNS with a
 * CNAME, refuses an "alias" beside anything else at the same name.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { HoltError } from "../errors.ts";
import type { Exec } from "../hosts/exec.ts";
import { applyPlan } from "./apply.ts";
import { computePlan } from "./plan.ts";
import type { OwnedResource, Provider } from "./provider.ts";
import type { Actual } from "./read.ts";
import type { DesiredGraph, Resource } from "./resource.ts";

interface Entry {
  readonly name: string;
  readonly kind: "alias" | "address";
}

/** Two entries clash when they share a name and one of them is an alias. */
const clash = (a: Entry, b: Entry): boolean =>
  a.name === b.name && a.kind !== b.kind && (a.kind === "alias" || b.kind === "alias");

const addressOf = (e: Entry): string => `entry:${e.name}/${e.kind}`;

function system(initial: readonly Entry[], log: string[]) {
  const entries = new Map(initial.map((e) => [addressOf(e), e]));
  const step = () => new Promise((r) => setTimeout(r, 1));
  const provider = (withHook: boolean): Provider<Entry, Entry> => ({
    type: "entry",
    noun: "entry",
    holdsData: false,
    async read() {
      return { observed: new Map(), owned: [], problems: [] };
    },
    diff: () => [],
    describe: (d) => [{ path: "kind", before: null, after: d.inputs.kind }],
    async create(_ctx, desired) {
      await step();
      if ([...entries.values()].some((e) => clash(e, desired.inputs))) {
        throw new HoltError("HOLT_E_DNS_CONFLICT", `${desired.address} clashes`);
      }
      entries.set(desired.address, desired.inputs);
      log.push(`create ${desired.address}`);
    },
    async update() {},
    async delete(_ctx, owned) {
      await step();
      entries.delete(owned.address);
      log.push(`delete ${owned.address}`);
    },
    async release(_ctx, owned) {
      await step();
      entries.delete(owned.address);
      log.push(`release ${owned.address}`);
    },
    async adopt() {},
    ...(withHook
      ? {
          conflictsWith: (desired: Resource<Entry>, removed: readonly OwnedResource<Entry>[]) =>
            removed.filter((o) => clash(desired.inputs, o.observed.state)).map((o) => o.address),
        }
      : {}),
  });
  return { entries, provider };
}

const want = (e: Entry): Resource<Entry> => ({
  address: addressOf(e),
  type: "entry",
  host: "@edge",
  name: e.name,
  inputs: e,
  dependsOn: [],
  configPath: `entries.${e.name}`,
});

const had = (e: Entry): OwnedResource<Entry> => ({
  address: addressOf(e),
  type: "entry",
  host: "@edge",
  name: e.name,
  dependsOn: [],
  observed: { state: e, managed: true },
});

const exec: Exec = {
  target: "fake",
  run: async () => ({ stdout: "", stderr: "", code: 0, signal: null }),
  start: async () => {
    throw new Error("not used by this test");
  },
  http: async () => {
    throw new Error("not used by this test");
  },
  close: async () => {},
};

function planFor(desired: readonly Entry[], owned: readonly Entry[], provider: Provider) {
  const graph: DesiredGraph = { lab: "l", resources: desired.map(want) };
  const actual: Actual = { observed: new Map(), owned: owned.map(had), problems: [] };
  return computePlan(graph, actual, { providers: [provider], configFile: "x", hosts: [] });
}

const www = (kind: Entry["kind"]): Entry => ({ name: "www", kind });

const CASES = [
  { what: "an address becomes an alias", from: www("address"), to: www("alias") },
  { what: "an alias becomes an address", from: www("alias"), to: www("address") },
] as const;

for (const { what, from, to } of CASES) {
  test(`${what}: the plan removes the old entry before it makes the new one`, async () => {
    const log: string[] = [];
    const fake = system([from], log);
    const plan = planFor([to], [from], fake.provider(true) as Provider);
    const create = plan.changes.find((c) => c.action === "create");
    assert.deepEqual(create?.after, [addressOf(from)]);
    assert.deepEqual(
      plan.changes.map((c) => `${c.action} ${c.address}`),
      [`delete ${addressOf(from)}`, `create ${addressOf(to)}`],
    );
    const result = await applyPlan(plan, {
      providers: [fake.provider(true) as Provider],
      execFor: async () => exec,
      allowDataLoss: false,
    });
    assert.equal(result.ok, true, JSON.stringify(result.failed));
    assert.deepEqual(log, [`delete ${addressOf(from)}`, `create ${addressOf(to)}`]);
    assert.deepEqual([...fake.entries.keys()], [addressOf(to)]);
  });
}

test("without the hook the two changes race, and the system refuses the new entry", async () => {
  const log: string[] = [];
  const fake = system([www("address")], log);
  const plan = planFor([www("alias")], [www("address")], fake.provider(false) as Provider);
  assert.deepEqual(plan.changes.find((c) => c.action === "create")?.after, []);
  const result = await applyPlan(plan, {
    providers: [fake.provider(false) as Provider],
    execFor: async () => exec,
    allowDataLoss: false,
  });
  assert.equal(result.ok, false);
  assert.match(result.failed[0]?.error ?? "", /clashes/);
});

test("only resources the plan removes are offered, and only those are waited for", () => {
  const seen: string[][] = [];
  const { provider } = system([], []);
  const spy: Provider<Entry, Entry> = {
    ...provider(false),
    conflictsWith(_desired, removed) {
      seen.push(removed.map((o) => o.address));
      // Names an address that is not removed: the engine ignores it.
      return [...removed.map((o) => o.address), "entry:kept/address"];
    },
  };
  const kept = www("address");
  const plan = planFor(
    [www("alias"), { name: "kept", kind: "address" }],
    [kept, { name: "kept", kind: "address" }],
    spy as Provider,
  );
  // "kept" is desired and owned: not a removal, never offered.
  assert.deepEqual(seen, [[addressOf(kept)], [addressOf(kept)]]);
  const create = plan.changes.find((c) => c.address === addressOf(www("alias")));
  assert.deepEqual(create?.after, [addressOf(kept)]);
});

test("nothing removed: the hook is not asked", () => {
  let asked = 0;
  const { provider } = system([], []);
  const spy: Provider<Entry, Entry> = {
    ...provider(false),
    conflictsWith() {
      asked++;
      return [];
    },
  };
  const plan = planFor([www("alias")], [], spy as Provider);
  assert.equal(asked, 0);
  assert.equal(plan.changes.length, 1);
});

test("a replace waits for the removal it conflicts with, as a create does", () => {
  const { provider } = system([], []);
  const replacing: Provider<Entry, Entry> = {
    ...provider(true),
    diff: () => [{ path: "kind", before: "old", after: "new", forcesReplace: true }],
  };
  const alias = www("alias");
  const graph: DesiredGraph = { lab: "l", resources: [want(alias)] };
  const actual: Actual = {
    observed: new Map([[addressOf(alias), { state: alias, managed: true }]]),
    owned: [had(alias), had(www("address"))],
    problems: [],
  };
  const plan = computePlan(graph, actual, {
    providers: [replacing as Provider],
    configFile: "x",
    hosts: [],
  });
  assert.deepEqual(
    plan.changes.map((c) => [c.action, c.address, c.after]),
    [
      ["delete", addressOf(www("address")), []],
      ["replace", addressOf(alias), [addressOf(www("address"))]],
    ],
  );
});
