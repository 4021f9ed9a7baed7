/**
 * Cloudflare's published schema (fixtures/cloudflare-api-v4.openapi.json)
 * against holt's Cloudflare client and the local stand-in: the checker
 * itself, then every operation holt uses, driven through holt's own client
 * against the stand-in, with every request and answer checked. The live API
 * cannot be reached from here; this keeps holt, the stand-in and the
 * published schema from drifting apart.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { createCloudflareBackend } from "./cloudflare.ts";
import {
  type ContractServer,
  KNOWN_DEVIATIONS,
  startContractServer,
} from "./cloudflare-contract-server.test.ts";
import { cloudflareSchema, FIXTURE_PATH } from "./cloudflare-schema-check.test.ts";
import { createTunnelClient, ingressRules } from "./cloudflare-tunnel.ts";

const schema = cloudflareSchema();

test("the fixture names its sources: repository, file and commit", () => {
  const fixture = JSON.parse(readFileSync(FIXTURE_PATH, "utf8")) as {
    "x-holt-fixture": { sources: { repository: string; file: string; commit: string }[] };
  };
  assert.deepEqual(
    fixture["x-holt-fixture"].sources.map((s) => [s.repository, s.file, s.commit]),
    [
      ["cloudflare/api-schemas", "openapi.json", "8c9b6cfb5909a67682231d479f0f6b5da5aa4681"],
      [
        "cloudflare/cloudflare-typescript",
        "src/resources/dns/records.ts",
        "faaaf89ed8064a9fb54de538ec3e89487f1302b0",
      ],
    ],
  );
});

test("the fixture holds the operations holt calls, and only those", () => {
  assert.deepEqual(schema.operations, [
    "DELETE /zones/{zone_id}/dns_records/{dns_record_id}",
    "GET /accounts/{account_id}/cfd_tunnel",
    "GET /accounts/{account_id}/cfd_tunnel/{tunnel_id}/configurations",
    "GET /accounts/{account_id}/cfd_tunnel/{tunnel_id}/token",
    "GET /zones",
    "GET /zones/{zone_id}",
    "GET /zones/{zone_id}/dns_records",
    "PATCH /zones/{zone_id}/dns_records/{dns_record_id}",
    "POST /accounts/{account_id}/cfd_tunnel",
    "POST /zones/{zone_id}/dns_records",
    "POST /zones/{zone_id}/dns_records/batch",
    "PUT /accounts/{account_id}/cfd_tunnel/{tunnel_id}/configurations",
  ]);
  assert.equal(
    schema.find("POST", "/zones/abc/dns_records/batch")?.operationId,
    "dns-records-for-a-zone-batch-dns-records",
  );
  assert.equal(
    schema.find("DELETE", "/zones/abc/dns_records/def")?.operationId,
    "dns-records-for-a-zone-delete-dns-record",
  );
  assert.equal(schema.find("GET", "/zones/abc/dns_records/def"), null);
});

const ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353";
const RECORD_ID = "372e67954025e0ba6aaa6d586b9e0b59";
const batch = (body: unknown) =>
  schema.checkRequest("POST", `/zones/${ZONE_ID}/dns_records/batch`, new URLSearchParams(), body);

const CHECKS: readonly { what: string; errors: () => string[]; expected: readonly RegExp[] }[] = [
  {
    what: "a batch patch without name and type (what holt sent before) is refused",
    errors: () =>
      batch({ patches: [{ id: RECORD_ID, content: "10.0.0.3", ttl: 300, comment: "x" }] }),
    expected: [/patches\[0\] matches none of the 4 shapes of oneOf; closest: .*\.name is required/],
  },
  {
    what: "a batch patch with id, name, type and ttl passes",
    errors: () =>
      batch({
        deletes: [{ id: RECORD_ID }],
        patches: [
          { id: RECORD_ID, name: "a.lab.example.com", type: "A", content: "10.0.0.3", ttl: 300 },
        ],
        posts: [{ name: "t.lab.example.com", type: "TXT", content: '"v"', ttl: 60 }],
      }),
    expected: [],
  },
  {
    what: "a post without ttl is refused (the SDK's record params require it)",
    errors: () => batch({ posts: [{ name: "a.lab.example.com", type: "A", content: "10.0.0.1" }] }),
    expected: [/ttl is required/],
  },
  {
    what: "an A record's content must be an IPv4 address",
    errors: () =>
      batch({ posts: [{ name: "a.lab.example.com", type: "A", content: "fd00::1", ttl: 300 }] }),
    expected: [/content "fd00::1" is not a valid ipv4/],
  },
  {
    what: "a TTL below 30 is refused; 1 and 30 (Enterprise) pass the schema",
    errors: () =>
      [20, 1, 30].flatMap((ttl) =>
        batch({ posts: [{ name: "a.lab.example.com", type: "A", content: "10.0.0.1", ttl }] }),
      ),
    expected: [/ttl/],
  },
  {
    what: "a field the schema does not name is refused in a request",
    errors: () =>
      batch({
        posts: [
          { name: "a.lab.example.com", type: "A", content: "10.0.0.1", ttl: 300, owner: "me" },
        ],
      }),
    expected: [/posts\[0\]\.owner is not in the schema/],
  },
  {
    what: "a query filter the schema does not name is refused",
    errors: () =>
      schema.checkRequest(
        "GET",
        `/zones/${ZONE_ID}/dns_records`,
        new URLSearchParams({ "name.exact": "a.lab.example.com", hostname: "x" }),
        undefined,
      ),
    expected: [/query hostname is not in the schema/],
  },
  {
    what: "a record answer without created_on is refused",
    errors: () =>
      schema.checkValue(
        "sdk_record_response",
        {
          id: RECORD_ID,
          name: "a.lab.example.com",
          type: "A",
          content: "10.0.0.1",
          ttl: 300,
          proxiable: true,
          meta: {},
          modified_on: "2026-01-01T00:00:00Z",
        },
        "response",
      ),
    expected: [/created_on is required/],
  },
  {
    what: "a failure answer needs a message in every error",
    errors: () =>
      schema.checkResponse("GET", "/zones", 400, {
        success: false,
        errors: [{ code: 6003 }],
        messages: [],
        result: null,
      }),
    expected: [/errors\[0\]\.message is required/],
  },
];

for (const { what, errors, expected } of CHECKS) {
  test(`schema check: ${what}`, () => {
    const found = errors();
    assert.equal(found.length, expected.length, found.join("\n"));
    for (const [i, pattern] of expected.entries()) assert.match(found[i] ?? "", pattern);
  });
}

const ZONE = "lab.example.com";
const ACCOUNT_TUNNEL = "holt-schema-test";
let server: ContractServer;

before(async () => {
  server = await startContractServer({ zones: [{ name: ZONE }] });
});
after(() => server?.close());

test("contract: every operation holt uses, through holt's own client, matches the published schema", async () => {
  const dns = createCloudflareBackend({
    kind: "cloudflare",
    zone: ZONE,
    nameservers: null,
    apiToken: server.token,
    apiBase: server.url,
    zoneId: null,
  });
  const byId = createCloudflareBackend({
    kind: "cloudflare",
    zone: ZONE,
    nameservers: null,
    apiToken: server.token,
    apiBase: server.url,
    zoneId: server.zones[0]?.id ?? "",
  });
  const name = `media.${ZONE}`;
  const owned = (values: string[], ttl = 300) =>
    ({ name, type: "A", ttl, values, owner: "home" }) as const;
  await dns.upsert(owned(["10.0.0.1", "10.0.0.2"]), null);
  const [first] = await dns.read([{ name, type: "A" }]);
  assert.ok(first);
  await dns.upsert(owned(["10.0.0.1", "10.0.0.3"], 600), first); // a patch and a kept record
  const [second] = await dns.read([{ name, type: "A" }]);
  assert.ok(second);
  await dns.remove(second);
  // The name moves to a proxied CNAME once the A records are gone.
  await dns.upsert(
    { name, type: "CNAME", ttl: 300, values: ["x.cfargotunnel.com"], owner: "home", proxied: true },
    null,
  );
  await dns.upsert(
    { name: `v6.${ZONE}`, type: "AAAA", ttl: 300, values: ["fd00::1"], owner: "home" },
    null,
  );
  assert.equal((await dns.listMarked("home"))?.length, 2);
  await dns.addTxt(`_acme-challenge.${ZONE}`, "token", 60);
  await dns.removeTxt(`_acme-challenge.${ZONE}`, "token");
  assert.equal((await byId.nameservers()).length, 2);

  const tunnels = createTunnelClient({
    accountId: server.accountId,
    apiToken: server.token,
    apiBase: server.url,
  });
  const tunnel = await tunnels.findOrCreateTunnel(ACCOUNT_TUNNEL);
  await tunnels.putIngress(
    tunnel.id,
    ingressRules([{ hostname: name, service: "http://holt-web:8080" }]),
  );
  assert.equal((await tunnels.getIngress(tunnel.id)).length, 2);
  assert.ok((await tunnels.getToken(tunnel.id)).length > 0);

  assert.deepEqual(server.violations, []);
  const used = new Set(
    server.log.map((r) => {
      const found = schema.find(r.method, r.path);
      return found === null
        ? `not in the schema: ${r.method} ${r.path}`
        : `${r.method} ${found.template}`;
    }),
  );
  // holt never patches a single record: its changes go through the batch.
  const expected = schema.operations.filter(
    (o) => o !== "PATCH /zones/{zone_id}/dns_records/{dns_record_id}",
  );
  assert.deepEqual([...used].sort(), expected);
});

test("contract: each known deviation from the schema is still needed", () => {
  const found = [
    ...schema.checkRequest(
      "PUT",
      `/accounts/${"a".repeat(32)}/cfd_tunnel/6ff42ae2-765d-4adf-8112-31c55c1551ef/configurations`,
      new URLSearchParams(),
      { config: { ingress: ingressRules([]) } },
    ),
    ...schema.checkResponse("GET", "/zones", 429, {
      success: false,
      errors: [{ code: 971, message: "Please wait and consider throttling your request speed" }],
      messages: [],
      result: null,
    }),
  ];
  for (const deviation of KNOWN_DEVIATIONS) {
    assert.ok(
      found.some((problem) => deviation.pattern.test(problem)),
      `no longer needed: ${deviation.why}`,
    );
  }
});
