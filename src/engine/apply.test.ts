/**
 * Engine lifecycle with a FakeProvider that implements the real Provider
 * interface (no module mocking): ordering, failure isolation, data-loss
 * refusal, releases by default, and binding fingerprints.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { HoltError } from "../errors.ts";
import type { Exec } from "../hosts/exec.ts";
import { applyPlan } from "./apply.ts";
import type { ApplyEvent } from "./events.ts";
import { computePlan, staleBindings } from "./plan.ts";
import type { Observed, OwnedResource, Provider } from "./provider.ts";
import type { Actual } from "./read.ts";
import type { DesiredGraph, Resource } from "./resource.ts";

interface FakeState {
  value: string;
}

function fakeProvider(
  log: string[],
  failOn = new Set<string>(),
): Provider<{ value: string }, FakeState> {
  const act = async (what: string, address: string) => {
    await new Promise((r) => setTimeout(r, 1));
    if (failOn.has(address))
      throw new HoltError("HOLT_E_EXEC", `boom at ${address}`, { details: ["last line"] });
    log.push(`${what} ${address}`);
  };
  return {
    type: "fake",
    noun: "thing",
    holdsData: true,
    async read() {
      return { observed: new Map(), owned: [], problems: [] };
    },
    diff: (desired, observed) =>
      desired.inputs.value === observed.state.value
        ? []
        : [
            {
              path: "value",
              before: observed.state.value,
              after: desired.inputs.value,
              forcesReplace: desired.inputs.value === "new-kind",
            },
          ],
    describe: (desired) => [{ path: "value", before: null, after: desired.inputs.value }],
    create: (_ctx, d) => act("create", d.address),
    update: (_ctx, d) => act("update", d.address),
    delete: (_ctx, o) => act("delete", o.address),
    release: (_ctx, o) => act("release", o.address),
    adopt: (_ctx, d) => act("adopt", d.address),
  };
}

const res = (
  address: string,
  value: string,
  dependsOn: string[] = [],
): Resource<{ value: string }> => ({
  address,
  type: "fake",
  host: "h",
  name: address,
  inputs: { value },
  dependsOn,
  configPath: address,
});

const seen = (value: string, managed = true): Observed<FakeState> => ({
  state: { value },
  managed,
  info: { used: 2048 },
});

const owned = (
  address: string,
  value: string,
  dependsOn: string[] = [],
): OwnedResource<FakeState> => ({
  address,
  type: "fake",
  host: "h",
  name: address,
  dependsOn,
  observed: seen(value),
});

const exec: Exec = {
  target: "fake",
  run: async () => ({ stdout: "", stderr: "", code: 0, signal: null }),
  start: async () => {
    throw new Error("not used by this test");
  },
  http: async () => {
    throw new Error("no HTTP in this test");
  },
  close: async () => {},
};
const execFor = async () => exec;

function plan(graph: DesiredGraph, actual: Actual, providers: Provider[], allowDataLoss = false) {
  return computePlan(graph, actual, {
    providers,
    configFile: "holt.config.ts",
    hosts: [],
    allowDataLoss,
  });
}

test("creates run parents first; unchanged resources are left out", async () => {
  const log: string[] = [];
  const p = fakeProvider(log) as Provider;
  const graph: DesiredGraph = {
    lab: "l",
    resources: [res("c", "1", ["b"]), res("b", "1", ["a"]), res("a", "1"), res("same", "x")],
  };
  const actual: Actual = {
    observed: new Map([["same", seen("x")]]),
    owned: [owned("same", "x")],
    problems: [],
  };
  const pl = plan(graph, actual, [p]);
  assert.deepEqual(
    pl.changes.map((c) => `${c.action} ${c.address}`),
    ["create a", "create b", "create c"],
  );
  assert.deepEqual(pl.summary, { add: 3, change: 0, replace: 0, destroy: 0, release: 0 });
  const result = await applyPlan(pl, { providers: [p], execFor, allowDataLoss: false });
  assert.equal(result.ok, true);
  assert.deepEqual(log, ["create a", "create b", "create c"]);
});

test("a failed step skips what depends on it and the rest still runs", async () => {
  const log: string[] = [];
  const p = fakeProvider(log, new Set(["a"])) as Provider;
  const graph: DesiredGraph = {
    lab: "l",
    resources: [res("a", "1"), res("a/child", "1", ["a"]), res("other", "1")],
  };
  const events: ApplyEvent[] = [];
  const pl = plan(graph, { observed: new Map(), owned: [], problems: [] }, [p]);
  const result = await applyPlan(pl, {
    providers: [p],
    execFor,
    allowDataLoss: false,
    onEvent: (e) => events.push(e),
  });
  assert.equal(result.ok, false);
  assert.deepEqual(log, ["create other"]);
  assert.deepEqual(result.skipped, ["a/child"]);
  assert.deepEqual(result.failed, [
    { address: "a", error: "[HOLT_E_EXEC] boom at a", details: ["last line"] },
  ]);
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
    "events are numbered in order",
  );
  assert.equal(events.at(-1)?.kind, "apply-done");
});

test("removed resources are released by default and destroyed only when allowed, children first", async () => {
  const log: string[] = [];
  const p = fakeProvider(log) as Provider;
  const actual: Actual = {
    observed: new Map(),
    owned: [owned("p", "1"), owned("p/c", "1", ["p"])],
    problems: [],
  };
  const released = plan({ lab: "l", resources: [] }, actual, [p]);
  assert.deepEqual(
    released.changes.map((c) => `${c.action} ${c.address}`),
    ["release p/c", "release p"],
  );
  const destroyed = plan({ lab: "l", resources: [] }, actual, [p], true);
  assert.deepEqual(
    destroyed.changes.map((c) => c.action),
    ["delete", "delete"],
  );
  assert.deepEqual(destroyed.changes[0]?.dataLoss, { used: 2048 });
  await assert.rejects(
    applyPlan(destroyed, { providers: [p], execFor, allowDataLoss: false }),
    (e: unknown) => e instanceof HoltError && e.code === "HOLT_E_DATA_LOSS",
  );
  assert.deepEqual(log, [], "a refused plan changes nothing");
  await applyPlan(destroyed, { providers: [p], execFor, allowDataLoss: true });
  assert.deepEqual(log, ["delete p/c", "delete p"]);
});

test("a field that cannot change in place means replace, which needs --allow-data-loss", async () => {
  const log: string[] = [];
  const p = fakeProvider(log) as Provider;
  const actual: Actual = {
    observed: new Map([["a", seen("old")]]),
    owned: [owned("a", "old")],
    problems: [],
  };
  const pl = plan({ lab: "l", resources: [res("a", "new-kind")] }, actual, [p]);
  assert.equal(pl.changes[0]?.action, "replace");
  assert.ok(pl.changes[0]?.dataLoss !== undefined);
  await assert.rejects(
    applyPlan(pl, { providers: [p], execFor, allowDataLoss: false }),
    /destroys data/,
  );
  await applyPlan(pl, { providers: [p], execFor, allowDataLoss: true });
  assert.deepEqual(log, ["delete a", "create a"]);
});

test("unmanaged resources are reported for adoption, not changed", () => {
  const p = fakeProvider([]) as Provider;
  const actual: Actual = {
    observed: new Map([["a", seen("other", false)]]),
    owned: [],
    problems: [],
  };
  const pl = plan({ lab: "l", resources: [res("a", "mine")] }, actual, [p]);
  assert.deepEqual(pl.changes, []);
  assert.deepEqual(
    pl.unmanaged.map((u) => u.address),
    ["a"],
  );
});

test("bindings: any change in what was read makes a saved plan stale", () => {
  const p = fakeProvider([]) as Provider;
  const graph: DesiredGraph = { lab: "l", resources: [res("a", "1"), res("b", "1")] };
  const before = plan(
    graph,
    { observed: new Map([["a", seen("0")]]), owned: [owned("a", "0")], problems: [] },
    [p],
  );
  const same = plan(
    graph,
    { observed: new Map([["a", seen("0")]]), owned: [owned("a", "0")], problems: [] },
    [p],
  );
  assert.deepEqual(staleBindings(before, same), []);
  const drifted = plan(
    graph,
    {
      observed: new Map([
        ["a", seen("9")],
        ["b", seen("1")],
      ]),
      owned: [owned("a", "9"), owned("b", "1")],
      problems: [],
    },
    [p],
  );
  assert.deepEqual(
    staleBindings(before, drifted).map((s) => s.address),
    ["a", "b"],
  );
});
