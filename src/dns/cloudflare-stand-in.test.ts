/**
 * The local Cloudflare stand-in (cloudflare-contract-server.test.ts) refuses
 * what the real API refuses, with the real error codes where Cloudflare's
 * answers are on record (cloudflare-contract-rules.test.ts names where each
 * comes from). The other contract tests rely on it being this strict.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { HoltError } from "../errors.ts";
import { type CloudflareApi, createCloudflareApi } from "./cloudflare-api.ts";
import { FREE_PLAN_BATCH_LIMIT } from "./cloudflare-contract-rules.test.ts";
import { type ContractServer, startContractServer } from "./cloudflare-contract-server.test.ts";

const ZONE = "lab.example.com";
let server: ContractServer;
let api: CloudflareApi;
let batchPath = "";
let postPath = "";

before(async () => {
  server = await startContractServer({ zones: [{ name: ZONE }] });
  api = createCloudflareApi({
    apiBase: server.url,
    apiToken: server.token,
    scope: `zone "${ZONE}"`,
    tokenFix: "Check the token.",
    sleep: async () => {},
  });
  const zoneId = server.zones[0]?.id ?? "";
  postPath = `/zones/${zoneId}/dns_records`;
  batchPath = `${postPath}/batch`;
});
after(() => server?.close());
beforeEach(() => {
  server.records.get(server.zones[0]?.id ?? "")?.splice(0);
});

const record = (name: string, type: string, content: string, ttl = 300) => ({
  name: `${name}.${ZONE}`,
  type,
  content,
  ttl,
});

function refusedWith(code: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof HoltError, String(error));
    assert.match(error.message, code);
    return true;
  };
}

test("stand-in: a CNAME beside an A record is 81053, an A beside a CNAME is 81054", async () => {
  await api.call("POST", postPath, { body: record("www", "A", "192.168.1.10") });
  await assert.rejects(
    api.call("POST", postPath, { body: record("www", "CNAME", "t.cfargotunnel.com") }),
    refusedWith(/\[81053\] An A, AAAA, or CNAME record with that host already exists\./),
  );
  await api.call("POST", postPath, { body: record("alias", "CNAME", "t.cfargotunnel.com") });
  for (const [type, content] of [
    ["A", "192.168.1.11"],
    ["AAAA", "fd00::11"],
  ] as const) {
    await assert.rejects(
      api.call("POST", postPath, { body: record("alias", type, content) }),
      refusedWith(/\[81054\] A CNAME record with that host already exists\./),
    );
  }
  // In one batch the deletes go first, so the move is one transaction.
  const [a] = (await api.list(postPath, { "name.exact": `www.${ZONE}` })) as { id: string }[];
  await api.call("POST", batchPath, {
    body: { deletes: [{ id: a?.id }], posts: [record("www", "CNAME", "t.cfargotunnel.com")] },
  });
  const now = (await api.list(postPath, { "name.exact": `www.${ZONE}` })) as { type: string }[];
  assert.deepEqual(
    now.map((r) => r.type),
    ["CNAME"],
  );
});

test("stand-in: content per type, a CNAME to itself, and the same record twice are refused", async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [record("a", "A", "fd00::1"), /\[9005\] Content for A record must be a valid IPv4 address/],
    [record("b", "AAAA", "10.0.0.1"), /\[9006\] Content for AAAA record must be a valid IPv6/],
    [record("c", "CNAME", `c.${ZONE}`), /\[9007\] Content for CNAME record must not match/],
    [record("d", "CNAME", "not a host"), /\[9007\] Content for CNAME record is invalid/],
    [{ ...record("e", "TXT", '"x"'), proxied: true }, /\[9041\] Invalid proxied mode/],
    [record("f", "A", "10.0.0.1", 30), /\[1004\] DNS Validation Error \(\[9021\] Invalid TTL/],
  ];
  for (const [body, expected] of cases) {
    await assert.rejects(api.call("POST", postPath, { body }), refusedWith(expected));
  }
  // The schema check saw the two addresses of the wrong family; the rules answered.
  assert.deepEqual(
    server.violations.splice(0).map((v) => /"[^"]+" is not a valid ipv\d/.exec(v)?.[0]),
    ['"fd00::1" is not a valid ipv4', '"10.0.0.1" is not a valid ipv6'],
  );
  await api.call("POST", postPath, { body: record("g", "A", "10.0.0.1") });
  await assert.rejects(
    api.call("POST", postPath, { body: record("g", "A", "10.0.0.1") }),
    refusedWith(/\[81058\] An identical record already exists\./),
  );
});

test("stand-in: TXT records of one name hold at most 8192 characters together", async () => {
  const chunk = `"${"x".repeat(250)}"`.repeat(1); // 252 characters each
  const posts = Array.from({ length: 33 }, (_, i) => record("txt", "TXT", `${chunk}${i}`));
  await assert.rejects(
    api.call("POST", batchPath, { body: { posts } }),
    refusedWith(/exceed 8192 characters/),
  );
  await api.call("POST", batchPath, { body: { posts: posts.slice(0, 32) } });
});

test(`stand-in: a batch holds at most ${FREE_PLAN_BATCH_LIMIT} changes (the Free plan), all or nothing`, async () => {
  const posts = Array.from({ length: FREE_PLAN_BATCH_LIMIT + 1 }, (_, i) =>
    record(`n${i}`, "A", "10.0.0.1"),
  );
  await assert.rejects(
    api.call("POST", batchPath, { body: { posts } }),
    refusedWith(/at most 200 record changes/),
  );
  // One bad change among good ones: nothing is kept.
  await assert.rejects(
    api.call("POST", batchPath, {
      body: { posts: [record("ok", "A", "10.0.0.1"), record("bad", "A", "nope")] },
    }),
    refusedWith(/9005/),
  );
  assert.equal(server.violations.splice(0).length, 1, "the schema check saw it too");
  assert.deepEqual(await api.list(postPath), []);
  await api.call("POST", batchPath, { body: { posts: posts.slice(0, FREE_PLAN_BATCH_LIMIT) } });
});

test("stand-in: past its rate limit it answers 429 with retry-after, until the window resets", async () => {
  server.rateLimit = { requests: 2, windowMs: 60_000 };
  const waits: number[] = [];
  const limited = createCloudflareApi({
    apiBase: server.url,
    apiToken: server.token,
    scope: `zone "${ZONE}"`,
    tokenFix: "Check the token.",
    maxRetryWaitMs: 120_000,
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
  try {
    await limited.call("GET", postPath);
    await limited.call("GET", postPath);
    const start = server.log.length;
    await assert.rejects(limited.call("GET", postPath), /still rate limited after 3 attempts/);
    assert.equal(server.log.length - start, 3);
    assert.equal(waits.length, 2);
    for (const ms of waits) assert.ok(ms > 0 && ms <= 60_000, `waited ${ms} ms`);
  } finally {
    server.rateLimit = null;
  }
});

test("stand-in: every request and answer above matched the published schema", () => {
  assert.deepEqual(server.violations, []);
});
