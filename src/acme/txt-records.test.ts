import assert from "node:assert/strict";
import { test } from "node:test";
import { HoltError } from "../errors.ts";
import { ChallengeTxtRecords } from "./txt-records.ts";
import type { AcmeDnsBackend } from "./types.ts";

/** A backend that records what it is asked, and fails where told. */
function fakeBackend(fail: { add?: boolean; remove?: string } = {}) {
  const calls: string[] = [];
  let nameserverCalls = 0;
  const backend: AcmeDnsBackend = {
    kind: "rfc2136",
    zone: "lab.test",
    async addTxt(name, value, ttl) {
      calls.push(`add ${name} ${value} ${ttl}`);
      if (fail.add === true) throw new Error("timed out after sending");
    },
    async removeTxt(name, value) {
      calls.push(`remove ${name} ${value}`);
      if (fail.remove === value) throw new HoltError("HOLT_E_DNS", "refused");
    },
    async nameservers() {
      nameserverCalls++;
      return ["192.0.2.1:53", "192.0.2.2:53"];
    },
  };
  return { backend, calls, nameserverCalls: () => nameserverCalls };
}

test("every value added is removed, one at a time, in order", async () => {
  const { backend, calls } = fakeBackend();
  const records = new ChallengeTxtRecords(60);
  await records.add(backend, "_acme-challenge.lab.test", "v1");
  await records.add(backend, "_acme-challenge.lab.test", "v2");
  assert.deepEqual(records.names, ["_acme-challenge.lab.test"]);
  assert.deepEqual(await records.removeAll(), []);
  assert.deepEqual(calls, [
    "add _acme-challenge.lab.test v1 60",
    "add _acme-challenge.lab.test v2 60",
    "remove _acme-challenge.lab.test v1",
    "remove _acme-challenge.lab.test v2",
  ]);
  assert.deepEqual(await records.removeAll(), [], "a second removeAll has nothing left");
  assert.equal(calls.length, 4);
});

test("an add that fails is still removed, and its error is HOLT_E_DNS", async () => {
  const { backend, calls } = fakeBackend({ add: true });
  const records = new ChallengeTxtRecords(60);
  await assert.rejects(records.add(backend, "_acme-challenge.a.lab.test", "v"), {
    code: "HOLT_E_DNS",
  });
  await records.removeAll();
  assert.deepEqual(calls.at(-1), "remove _acme-challenge.a.lab.test v");
});

test("a failed removal is reported, the others still happen", async () => {
  const { backend, calls } = fakeBackend({ remove: "v1" });
  const records = new ChallengeTxtRecords(60);
  await records.add(backend, "_acme-challenge.lab.test", "v1");
  await records.add(backend, "_acme-challenge.lab.test", "v2");
  const problems = await records.removeAll();
  assert.equal(problems.length, 1);
  assert.match(
    problems[0] ?? "",
    /TXT "v1" at _acme-challenge\.lab\.test \(zone lab\.test, rfc2136\)/,
  );
  assert.match(problems[0] ?? "", /\[HOLT_E_DNS\] refused/);
  assert.ok(calls.includes("remove _acme-challenge.lab.test v2"));
});

test("waiting asks every value on the zone's nameservers, looked up once per backend", async () => {
  const fake = fakeBackend();
  const records = new ChallengeTxtRecords(60);
  await records.add(fake.backend, "_acme-challenge.lab.test", "v1");
  await records.add(fake.backend, "_acme-challenge.lab.test", "v2");
  const waited: string[] = [];
  await records.waitServed(async (servers, name, value) => {
    waited.push(`${servers.join(",")} ${name} ${value}`);
  });
  assert.deepEqual(waited, [
    "192.0.2.1:53,192.0.2.2:53 _acme-challenge.lab.test v1",
    "192.0.2.1:53,192.0.2.2:53 _acme-challenge.lab.test v2",
  ]);
  assert.equal(fake.nameserverCalls(), 1);
});

test("a wait that throws a plain error becomes HOLT_E_DNS naming the value", async () => {
  const { backend } = fakeBackend();
  const records = new ChallengeTxtRecords(60);
  await records.add(backend, "_acme-challenge.lab.test", "v1");
  await assert.rejects(
    records.waitServed(async () => {
      throw new Error("ns2 answers SERVFAIL");
    }),
    (error: unknown) =>
      error instanceof HoltError &&
      error.code === "HOLT_E_DNS" &&
      error.message.includes('TXT "v1" at _acme-challenge.lab.test') &&
      error.message.includes("ns2 answers SERVFAIL"),
  );
});

test("waitUntilGone runs for removed values only; its failure is reported", async () => {
  const { backend } = fakeBackend({ remove: "v1" });
  const records = new ChallengeTxtRecords(60);
  await records.add(backend, "_acme-challenge.lab.test", "v1");
  await records.add(backend, "_acme-challenge.lab.test", "v2");
  const gone: string[] = [];
  const problems = await records.removeAll(async (_servers, _name, value) => {
    gone.push(value);
    throw new Error("still there");
  });
  assert.deepEqual(gone, ["v2"]);
  assert.equal(problems.length, 2);
  assert.match(problems[1] ?? "", /TXT "v2" .* is still served: still there/);
});
