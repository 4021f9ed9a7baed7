/**
 * Contract tests for the Cloudflare DNS backend, against a local server that
 * follows Cloudflare's documented shapes (cloudflare-contract-server.test.ts):
 * records with comments, pagination, the batch endpoint, error envelopes. They
 * are not tests against the live API. Also plain unit tests of the TXT
 * content encoding.
 */
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";
import { HoltError } from "../errors.ts";
import {
  CLOUDFLARE_AUTO_TTL,
  createCloudflareBackend,
  decodeTxt,
  encodeTxt,
  ownershipComment,
} from "./cloudflare.ts";
import { type ContractServer, startContractServer } from "./cloudflare-contract-server.test.ts";
import { tunnelCnameTarget } from "./cloudflare-tunnel.ts";
import type { CloudflareConnection } from "./connection.ts";
import type { ZoneBackend } from "./types.ts";

const ZONE = "lab.example.com";
let server: ContractServer;
let zoneId: string;

before(async () => {
  server = await startContractServer({
    zones: [{ name: ZONE, name_servers: ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"] }],
  });
  zoneId = server.zones[0]?.id ?? "";
});

after(() => server.close());

beforeEach(() => {
  server.records.get(zoneId)?.splice(0);
  server.maxPerPage = 100;
});

function connection(overrides: Partial<CloudflareConnection> = {}): CloudflareConnection {
  return {
    kind: "cloudflare",
    zone: ZONE,
    nameservers: null,
    apiToken: server.token,
    apiBase: server.url,
    zoneId: null,
    timeoutMs: 2000,
    ...overrides,
  };
}

function backend(overrides: Partial<CloudflareConnection> = {}): ZoneBackend {
  return createCloudflareBackend(connection(overrides));
}

function records() {
  return server.records.get(zoneId) ?? [];
}

function add(name: string, type: string, content: string, comment: string | null, ttl = 300) {
  return server.addRecord(zoneId, { name, type, content, ttl, proxied: false, comment });
}

function writes(since: number) {
  return server.log.slice(since).filter((r) => r.method !== "GET");
}

test("contract: the zone id is looked up by name, once", async () => {
  const dns = backend();
  const start = server.log.length;
  await dns.read([{ name: `a.${ZONE}`, type: "A" }]);
  await dns.read([{ name: `b.${ZONE}`, type: "A" }]);
  const lookups = server.log.slice(start).filter((r) => r.path === "/zones");
  assert.equal(lookups.length, 1);
  assert.equal(lookups[0]?.query.get("name"), ZONE);
});

test("contract: a zone Cloudflare does not list is an error that says what to do", async () => {
  const dns = backend({ zone: "other.example.com" });
  await assert.rejects(dns.read([{ name: "x.other.example.com", type: "A" }]), (error: unknown) => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_DNS");
    assert.match(error.message, /Cloudflare has no zone "other\.example\.com"/);
    assert.match(error.message, /dns\.zones\["other\.example\.com"\]\.zoneId/);
    return true;
  });
});

test("contract: read finds a record set across several pages", async () => {
  server.maxPerPage = 2;
  for (const ip of ["10.0.0.5", "10.0.0.1", "10.0.0.4", "10.0.0.2", "10.0.0.3"]) {
    add(`media.${ZONE}`, "A", ip, ownershipComment("home"));
  }
  const dns = backend({ zoneId });
  const start = server.log.length;
  const [set] = await dns.read([{ name: `media.${ZONE}`, type: "A" }]);
  assert.deepEqual(set, {
    name: `media.${ZONE}`,
    type: "A",
    ttl: 300,
    values: ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"],
    ownerMark: "home",
  });
  const pages = server.log.slice(start).map((r) => r.query.get("page"));
  assert.deepEqual(pages, ["1", "2", "3"]);
  const first = server.log[start];
  assert.equal(first?.query.get("name.exact"), `media.${ZONE}`);
  assert.equal(first?.query.get("type"), "A");
});

test("contract: upsert creates a set with the ownership comment, DNS only, in one batch", async () => {
  const dns = backend();
  const start = server.log.length;
  await dns.upsert(
    {
      name: `media.${ZONE}`,
      type: "A",
      ttl: 120,
      values: ["192.168.1.10", "192.168.1.11"],
      owner: "home",
    },
    null,
  );
  const made = records().map((r) => ({
    name: r.name,
    content: r.content,
    ttl: r.ttl,
    proxied: r.proxied,
    comment: r.comment,
  }));
  assert.deepEqual(
    made.sort((a, b) => a.content.localeCompare(b.content)),
    [
      {
        name: `media.${ZONE}`,
        content: "192.168.1.10",
        ttl: 120,
        proxied: false,
        comment: "holt:lab=home",
      },
      {
        name: `media.${ZONE}`,
        content: "192.168.1.11",
        ttl: 120,
        proxied: false,
        comment: "holt:lab=home",
      },
    ],
  );
  assert.deepEqual(
    writes(start).map((r) => `${r.method} ${r.path}`),
    [`POST /zones/${zoneId}/dns_records/batch`],
  );
  const [set] = await dns.read([{ name: `media.${ZONE}`, type: "A" }]);
  assert.equal(set?.ownerMark, "home");
});

test("contract: upsert replaces a set, touching only the records whose values change", async () => {
  const mark = ownershipComment("home");
  const keep = add(`media.${ZONE}`, "A", "10.0.0.2", mark);
  const change = add(`media.${ZONE}`, "A", "10.0.0.1", mark);
  const drop = add(`media.${ZONE}`, "A", "10.0.0.9", mark);
  const dns = backend();
  const [before] = await dns.read([{ name: `media.${ZONE}`, type: "A" }]);
  assert.ok(before);
  const start = server.log.length;
  await dns.upsert(
    { name: `media.${ZONE}`, type: "A", ttl: 300, values: ["10.0.0.2", "10.0.0.3"], owner: "home" },
    before,
  );
  const [batch] = writes(start);
  // Cloudflare's schema requires name and type in every patch (and ttl), as in a post.
  assert.deepEqual(batch?.body, {
    deletes: [{ id: drop.id }],
    patches: [
      {
        id: change.id,
        name: `media.${ZONE}`,
        type: "A",
        content: "10.0.0.3",
        ttl: 300,
        proxied: false,
        comment: mark,
      },
    ],
    posts: [],
  });
  assert.deepEqual(
    records()
      .map((r) => [r.id, r.content])
      .sort(),
    [
      [keep.id, "10.0.0.2"],
      [change.id, "10.0.0.3"],
    ].sort(),
  );
});

test("contract: a patch that only changes the TTL still names the record and its type", async () => {
  const mark = ownershipComment("home");
  const kept = add(`txt.${ZONE}`, "TXT", '"v=1"', mark);
  const dns = backend();
  const [before] = await dns.read([{ name: `txt.${ZONE}`, type: "TXT" }]);
  assert.ok(before);
  const start = server.log.length;
  await dns.upsert({ ...before, ttl: 600, owner: "home" }, before);
  const [batch] = writes(start);
  assert.deepEqual(batch?.body, {
    deletes: [],
    patches: [{ id: kept.id, name: `txt.${ZONE}`, type: "TXT", ttl: 600, comment: mark }],
    posts: [],
  });
});

test("contract: remove deletes every record of the set, and nothing else", async () => {
  const mark = ownershipComment("home");
  add(`media.${ZONE}`, "A", "10.0.0.1", mark);
  add(`media.${ZONE}`, "A", "10.0.0.2", mark);
  const other = add(`media.${ZONE}`, "AAAA", "fd00::1", mark);
  const dns = backend();
  const [set] = await dns.read([{ name: `media.${ZONE}`, type: "A" }]);
  assert.ok(set);
  await dns.remove(set);
  assert.deepEqual(
    records().map((r) => r.id),
    [other.id],
  );
});

test("contract: listMarked finds only this lab's record sets", async () => {
  add(`media.${ZONE}`, "A", "10.0.0.1", ownershipComment("home"));
  add(`media.${ZONE}`, "AAAA", "fd00:0:0:0::1", ownershipComment("home"));
  add(`books.${ZONE}`, "CNAME", `media.${ZONE}`, ownershipComment("home"));
  add(`other.${ZONE}`, "A", "10.0.0.2", ownershipComment("work"));
  add(`shout.${ZONE}`, "A", "10.0.0.3", ownershipComment("HOME")); // the filter ignores case; holt does not
  add(`hand.${ZONE}`, "A", "10.0.0.4", null);
  add(`hand.${ZONE}`, "A", "10.0.0.5", "made by hand");
  server.maxPerPage = 1;
  const sets = await backend().listMarked("home");
  assert.deepEqual(sets, [
    {
      name: `books.${ZONE}`,
      type: "CNAME",
      ttl: 300,
      values: [`media.${ZONE}`],
      ownerMark: "home",
    },
    { name: `media.${ZONE}`, type: "A", ttl: 300, values: ["10.0.0.1"], ownerMark: "home" },
    { name: `media.${ZONE}`, type: "AAAA", ttl: 300, values: ["fd00::1"], ownerMark: "home" },
  ]);
});

test("contract: a record without the mark in the set makes the set's ownerMark null", async () => {
  add(`media.${ZONE}`, "A", "10.0.0.1", ownershipComment("home"));
  add(`media.${ZONE}`, "A", "10.0.0.7", null);
  add(`hand.${ZONE}`, "A", "10.0.0.8", null);
  const dns = backend();
  const sets = await dns.read([
    { name: `media.${ZONE}`, type: "A" },
    { name: `hand.${ZONE}`, type: "A" },
    { name: `none.${ZONE}`, type: "A" },
  ]);
  assert.deepEqual(
    sets.map((s) => [s.name, s.values, s.ownerMark]),
    [
      [`media.${ZONE}`, ["10.0.0.1", "10.0.0.7"], null],
      [`hand.${ZONE}`, ["10.0.0.8"], null],
    ],
  );
  // listMarked shows the whole set, so the caller sees it is not wholly the lab's.
  const marked = await dns.listMarked("home");
  assert.deepEqual(
    marked?.map((s) => [s.name, s.ownerMark]),
    [[`media.${ZONE}`, null]],
  );
});

test("contract: upsert and remove refuse when the set changed since it was read, and change nothing", async () => {
  const mark = ownershipComment("home");
  add(`media.${ZONE}`, "A", "10.0.0.1", mark);
  const dns = backend();
  const [before] = await dns.read([{ name: `media.${ZONE}`, type: "A" }]);
  assert.ok(before);
  add(`media.${ZONE}`, "A", "10.0.0.66", null); // someone else, after holt's read
  const snapshot = JSON.stringify(records());
  const start = server.log.length;

  const isConflict = (error: unknown): boolean => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_DNS_CONFLICT");
    assert.match(
      error.message,
      /"media\.lab\.example\.com" in Cloudflare zone "lab\.example\.com" changed since holt read it/,
    );
    assert.match(
      error.message,
      /now holds 10\.0\.0\.1, 10\.0\.0\.66 \(ttl 300\), holt expected 10\.0\.0\.1 \(ttl 300\)/,
    );
    return true;
  };
  await assert.rejects(
    dns.upsert(
      { name: `media.${ZONE}`, type: "A", ttl: 300, values: ["10.0.0.2"], owner: "home" },
      before,
    ),
    isConflict,
  );
  await assert.rejects(dns.remove(before), isConflict);
  await assert.rejects(
    dns.upsert(
      { name: `media.${ZONE}`, type: "A", ttl: 300, values: ["10.0.0.2"], owner: "home" },
      null,
    ),
    (error: unknown) => error instanceof HoltError && error.code === "HOLT_E_DNS_CONFLICT",
  );
  assert.deepEqual(writes(start), []);
  assert.equal(JSON.stringify(records()), snapshot);
});

test("contract: a change Cloudflare refuses changes nothing and names Cloudflare's error", async () => {
  add(`media.${ZONE}`, "A", "10.0.0.1", ownershipComment("home"));
  const dns = backend();
  const [before] = await dns.read([{ name: `media.${ZONE}`, type: "A" }]);
  const snapshot = JSON.stringify(records());
  await assert.rejects(
    // 30 s is below the non-Enterprise minimum of 60 s.
    dns.upsert(
      {
        name: `media.${ZONE}`,
        type: "A",
        ttl: 30,
        values: ["10.0.0.1", "10.0.0.2"],
        owner: "home",
      },
      before ?? null,
    ),
    (error: unknown) => {
      assert.ok(error instanceof HoltError);
      assert.equal(error.code, "HOLT_E_DNS");
      assert.match(
        error.message,
        /^Cloudflare refused POST \/zones\/\w+\/dns_records\/batch for zone "lab\.example\.com" \(HTTP 400: \[1004\] DNS Validation Error \(\[9021\] Invalid TTL/,
      );
      return true;
    },
  );
  assert.equal(JSON.stringify(records()), snapshot);
});

test("contract: a refused token names the provider, the zone and the fix, never the token", async () => {
  const dns = backend({ apiToken: "wrong-token-value-1234", zoneId });
  await assert.rejects(dns.read([{ name: `media.${ZONE}`, type: "A" }]), (error: unknown) => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_DNS");
    assert.match(error.message, /^Cloudflare refused the API token for zone "lab\.example\.com"/);
    assert.match(error.message, /\[9109\] Invalid access token/);
    assert.match(error.message, /dns\.zones\["lab\.example\.com"\]\.apiToken/);
    assert.match(error.message, /holt secrets set/);
    assert.match(error.message, /Zone\.DNS edit permission/);
    assert.ok(!error.message.includes("wrong-token-value-1234"));
    assert.ok(!error.message.includes(server.token));
    return true;
  });
});

test("contract: a set that asks to be proxied (a tunnel's CNAME) is written proxied with automatic TTL", async () => {
  const target = tunnelCnameTarget("C1744F8B-FAA1-48A4-9E5C-02AC921467FA");
  assert.equal(target, "c1744f8b-faa1-48a4-9e5c-02ac921467fa.cfargotunnel.com");
  const dns = backend();
  await dns.upsert(
    {
      name: `www.${ZONE}`,
      type: "CNAME",
      ttl: CLOUDFLARE_AUTO_TTL,
      values: [target],
      owner: "home",
      proxied: true,
    },
    null,
  );
  await dns.upsert(
    { name: `plain.${ZONE}`, type: "CNAME", ttl: 300, values: [`media.${ZONE}`], owner: "home" },
    null,
  );
  const byName = new Map(records().map((r) => [r.name, r]));
  assert.equal(byName.get(`www.${ZONE}`)?.proxied, true);
  assert.equal(byName.get(`www.${ZONE}`)?.ttl, 1);
  assert.equal(byName.get(`plain.${ZONE}`)?.proxied, false);
  const [set] = await dns.read([{ name: `www.${ZONE}`, type: "CNAME" }]);
  assert.deepEqual(set, {
    name: `www.${ZONE}`,
    type: "CNAME",
    ttl: CLOUDFLARE_AUTO_TTL,
    values: [target],
    ownerMark: "home",
  });
  // Read back and written again: nothing to do.
  const start = server.log.length;
  await dns.upsert({ ...set, values: [target], owner: "home", proxied: true }, set ?? null);
  assert.deepEqual(writes(start), []);
  // Asked for DNS only, the same record is switched back in place.
  await dns.upsert({ ...set, values: [target], owner: "home" }, set ?? null);
  assert.equal(byName.get(`www.${ZONE}`)?.id, records().find((r) => r.name === `www.${ZONE}`)?.id);
  assert.equal(records().find((r) => r.name === `www.${ZONE}`)?.proxied, false);
});

test("contract: a record someone proxied is set back to DNS only when its set is written", async () => {
  const record = add(`media.${ZONE}`, "A", "192.168.1.10", ownershipComment("home"));
  record.proxied = true;
  record.ttl = 1;
  const dns = backend();
  const [set] = await dns.read([{ name: `media.${ZONE}`, type: "A" }]);
  assert.ok(set);
  await dns.upsert({ ...set, ttl: 300, owner: "home" }, set);
  assert.equal(records()[0]?.proxied, false);
  assert.equal(records()[0]?.ttl, 300);
  assert.equal(records()[0]?.id, record.id);
});

test("contract: TXT values are written as quoted strings and read in either form", async () => {
  const dns = backend();
  const long = "v".repeat(300);
  const start = server.log.length;
  await dns.upsert(
    { name: `txt.${ZONE}`, type: "TXT", ttl: 300, values: ['say "hi"', long], owner: "home" },
    null,
  );
  const contents = records()
    .map((r) => r.content)
    .sort();
  assert.deepEqual(contents, ['"say \\"hi\\""', `"${"v".repeat(255)}" "${"v".repeat(45)}"`].sort());
  // TXT records cannot be proxied: holt does not send the field for them.
  const [batch] = writes(start);
  assert.ok(batch);
  const posts = (batch.body as { posts: Record<string, unknown>[] }).posts;
  assert.equal(posts.length, 2);
  assert.ok(posts.every((post) => !("proxied" in post)));
  add(`txt.${ZONE}`, "TXT", "bare legacy text", ownershipComment("home"));
  const [set] = await dns.read([{ name: `txt.${ZONE}`, type: "TXT" }]);
  assert.deepEqual(set?.values, ["bare legacy text", 'say "hi"', long].sort());
});

test("contract: addTxt and removeTxt add and remove one value and keep the others", async () => {
  const dns = backend();
  const name = `_acme-challenge.${ZONE}`;
  await dns.addTxt(name, "token-one", 60);
  await dns.addTxt(name, "token-two", 60);
  await dns.addTxt(name, "token-two", 60); // already there: nothing to do
  assert.deepEqual(
    records()
      .map((r) => r.content)
      .sort(),
    ['"token-one"', '"token-two"'],
  );
  assert.ok(records().every((r) => r.comment === "holt:acme-challenge" && r.ttl === 60));
  await dns.removeTxt(name, "token-one");
  await dns.removeTxt(name, "token-absent");
  const [set] = await dns.read([{ name, type: "TXT" }]);
  assert.deepEqual(set?.values, ["token-two"]);
  assert.equal(set?.ownerMark, null);
});

test("contract: AAAA values come back in RFC 5952 form", async () => {
  add(`v6.${ZONE}`, "AAAA", "FD00:0000:0000:0000:0000:0000:0000:0001", ownershipComment("home"));
  add(`v6.${ZONE}`, "AAAA", "2001:db8:0:0:1:0:0:1", ownershipComment("home"));
  const [set] = await backend().read([{ name: `v6.${ZONE}`, type: "AAAA" }]);
  assert.deepEqual(set?.values, ["2001:db8::1:0:0:1", "fd00::1"]);
});

test("contract: nameservers come from the connection, else from the zone's name_servers", async () => {
  assert.deepEqual(await backend({ nameservers: ["10.0.0.53:5353"] }).nameservers(), [
    "10.0.0.53:5353",
  ]);
  assert.deepEqual(await backend().nameservers(), [
    "ada.ns.cloudflare.com:53",
    "bob.ns.cloudflare.com:53",
  ]);
  assert.deepEqual(await backend({ zoneId }).nameservers(), [
    "ada.ns.cloudflare.com:53",
    "bob.ns.cloudflare.com:53",
  ]);
});

test("contract: a zoneId that names another zone is refused", async () => {
  const other = await startContractServer({ zones: [{ name: "other.example.com" }] });
  try {
    const dns = createCloudflareBackend({
      ...connection(),
      apiBase: other.url,
      apiToken: other.token,
      zoneId: other.zones[0]?.id ?? "",
    });
    await assert.rejects(
      dns.nameservers(),
      /zoneId "\w+" is Cloudflare's zone "other\.example\.com", not "lab\.example\.com"/,
    );
  } finally {
    await other.close();
  }
});

test("encodeTxt splits at 255 bytes without cutting a character, and decodeTxt reverses it", () => {
  assert.equal(encodeTxt(""), '""');
  assert.equal(encodeTxt('a"b\\c'), '"a\\"b\\\\c"');
  const text = `${"x".repeat(254)}é${"y".repeat(10)}`;
  const encoded = encodeTxt(text);
  assert.equal(encoded, `"${"x".repeat(254)}" "é${"y".repeat(10)}"`);
  for (const value of ["", "plain", 'a"b\\c', text, "z".repeat(1000), "ünïcödé ✓"]) {
    assert.equal(decodeTxt(encodeTxt(value)), value);
  }
  assert.equal(decodeTxt('"abc" "def"'), "abcdef");
  assert.equal(decodeTxt('"a\\065b"'), "aAb");
  assert.equal(decodeTxt("v=spf1 -all"), "v=spf1 -all");
  assert.equal(decodeTxt('"unterminated'), '"unterminated');
});

test("contract: a CNAME where holt's A record still stands is a conflict (81053); removed first, it is written", async () => {
  const dns = backend();
  const name = `moved.${ZONE}`;
  await dns.upsert({ name, type: "A", ttl: 300, values: ["192.168.1.10"], owner: "home" }, null);
  const tunnel = {
    name,
    type: "CNAME",
    ttl: CLOUDFLARE_AUTO_TTL,
    owner: "home",
    proxied: true,
  } as const;
  const target = tunnelCnameTarget("6ff42ae2-765d-4adf-8112-31c55c1551ef");
  await assert.rejects(dns.upsert({ ...tunnel, values: [target] }, null), (error: unknown) => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_DNS_CONFLICT");
    assert.match(
      error.message,
      /\[81053\] An A, AAAA, or CNAME record with that host already exists/,
    );
    assert.match(error.message, /a CNAME cannot share its name/);
    return true;
  });
  const [old] = await dns.read([{ name, type: "A" }]);
  assert.ok(old);
  await dns.remove(old);
  await dns.upsert({ ...tunnel, values: [target] }, null);
  assert.deepEqual(
    records().map((r) => [r.name, r.type, r.content, r.proxied]),
    [[name, "CNAME", target, true]],
  );
});

test("contract: past Cloudflare's rate limit, holt waits out retry-after and every read goes through", async () => {
  const mark = ownershipComment("home");
  const names = ["r1", "r2", "r3", "r4", "r5", "r6"].map((n) => `${n}.${ZONE}`);
  for (const name of names) add(name, "A", "10.0.0.1", mark);
  const dns = backend({ zoneId });
  server.rateLimit = { requests: 3, windowMs: 1000 };
  const start = server.log.length;
  try {
    const sets = await dns.read(names.map((name) => ({ name, type: "A" as const })));
    assert.equal(sets.length, 6);
  } finally {
    server.rateLimit = null;
  }
  assert.ok(server.log.length - start > 6, "some requests were refused with 429 and sent again");
});

test("contract: every request holt sent and every answer the stand-in gave matched Cloudflare's published schema", () => {
  assert.deepEqual(server.violations, []);
});
