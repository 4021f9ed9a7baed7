/**
 * Contract tests for the Cloudflare Tunnel client, against a local server that
 * follows Cloudflare's documented shapes (cloudflare-contract-server.test.ts):
 * the tunnel list, create, configurations and token endpoints. They are not
 * tests against the live API. Also plain unit tests of the ingress rules and
 * the tunnel's CNAME target.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { HoltError } from "../errors.ts";
import { type ContractServer, startContractServer } from "./cloudflare-contract-server.test.ts";
import {
  CATCH_ALL_SERVICE,
  createTunnelClient,
  ingressRules,
  isTunnelTarget,
  type TunnelClient,
  tunnelCnameTarget,
} from "./cloudflare-tunnel.ts";

let server: ContractServer;
let client: TunnelClient;

before(async () => {
  server = await startContractServer();
  client = createTunnelClient({
    apiBase: server.url,
    apiToken: server.token,
    accountId: server.accountId,
    timeoutMs: 2000,
  });
});

after(() => server.close());

test("ingressRules: one rule per hostname in a fixed order, wildcards after exact names, the catch-all last", () => {
  const rules = ingressRules([
    { hostname: "*.lab.example.com", service: "https://127.0.0.1:443", noTLSVerify: true },
    { hostname: "Web.lab.example.com", service: "http://holt-web:8080" },
    { hostname: "*.apps.lab.example.com", service: "https://127.0.0.1:443" },
    {
      hostname: "media.lab.example.com",
      service: "https://127.0.0.1:443",
      originServerName: "media.lab.example.com",
    },
  ]);
  assert.deepEqual(rules, [
    {
      hostname: "media.lab.example.com",
      service: "https://127.0.0.1:443",
      originRequest: { originServerName: "media.lab.example.com" },
    },
    { hostname: "web.lab.example.com", service: "http://holt-web:8080" },
    { hostname: "*.apps.lab.example.com", service: "https://127.0.0.1:443" },
    {
      hostname: "*.lab.example.com",
      service: "https://127.0.0.1:443",
      originRequest: { noTLSVerify: true },
    },
    { service: CATCH_ALL_SERVICE },
  ]);
  assert.deepEqual(ingressRules([]), [{ service: "http_status:404" }]);
  // The same services in another order give the same rules.
  const reversed = ingressRules([
    { hostname: "b.example.com", service: "http://b:1" },
    { hostname: "a.example.com", service: "http://a:1" },
  ]);
  assert.deepEqual(
    reversed.map((r) => r.hostname),
    ["a.example.com", "b.example.com", undefined],
  );
});

test("ingressRules refuses one hostname twice", () => {
  assert.throws(
    () =>
      ingressRules([
        { hostname: "a.example.com", service: "http://a:1" },
        { hostname: "A.example.com", service: "http://a:2" },
      ]),
    (error: unknown) => error instanceof HoltError && error.code === "HOLT_E_INTERNAL",
  );
});

test("a tunnel's CNAME target is <id>.cfargotunnel.com", () => {
  const target = tunnelCnameTarget("F70FF985-A4EF-4643-BBBC-4A0ED4FC8415");
  assert.equal(target, "f70ff985-a4ef-4643-bbbc-4a0ed4fc8415.cfargotunnel.com");
  assert.equal(isTunnelTarget(target), true);
  assert.equal(isTunnelTarget(`${target}.`), true);
  assert.equal(isTunnelTarget("media.lab.example.com"), false);
  assert.equal(isTunnelTarget("evil.cfargotunnel.com.example.com"), false);
});

test("contract: findOrCreateTunnel creates a remotely managed tunnel once, then finds it", async () => {
  const start = server.log.length;
  const first = await client.findOrCreateTunnel("holt-home");
  const second = await client.findOrCreateTunnel("holt-home");
  assert.deepEqual(second, first);
  assert.equal(first.name, "holt-home");
  const posts = server.log.slice(start).filter((r) => r.method === "POST");
  assert.equal(posts.length, 1);
  assert.deepEqual(posts[0]?.body, { name: "holt-home", config_src: "cloudflare" });
  const lists = server.log.slice(start).filter((r) => r.method === "GET");
  assert.equal(lists[0]?.path, `/accounts/${server.accountId}/cfd_tunnel`);
  assert.equal(lists[0]?.query.get("name"), "holt-home");
  assert.equal(lists[0]?.query.get("is_deleted"), "false");
});

test("contract: a deleted tunnel with the name is not reused", async () => {
  server.tunnels.push({
    id: "0b0b0b0b-0000-4000-8000-000000000000",
    name: "holt-old",
    deleted_at: "2025-01-01T00:00:00Z",
    config: null,
    token: "old-token",
  });
  const tunnel = await client.findOrCreateTunnel("holt-old");
  assert.notEqual(tunnel.id, "0b0b0b0b-0000-4000-8000-000000000000");
});

test("contract: two live tunnels with the name are an error listing both, read across pages", async () => {
  server.maxPerPage = 1; // the tunnel list's result_info has no total_pages: holt uses total_count
  try {
    for (const id of [
      "11111111-0000-4000-8000-000000000000",
      "22222222-0000-4000-8000-000000000000",
    ]) {
      server.tunnels.push({ id, name: "holt-twice", deleted_at: null, config: null, token: "t" });
    }
    await assert.rejects(client.findOrCreateTunnel("holt-twice"), (error: unknown) => {
      assert.ok(error instanceof HoltError);
      assert.equal(error.code, "HOLT_E_DNS");
      assert.match(
        error.message,
        /has 2 tunnels named "holt-twice" \(11111111-[\w-]+, 22222222-[\w-]+\)/,
      );
      return true;
    });
  } finally {
    server.maxPerPage = 100;
  }
});

test("contract: ingress rules survive a put and a get, with the catch-all last and only last", async () => {
  const tunnel = await client.findOrCreateTunnel("holt-ingress");
  assert.deepEqual(await client.getIngress(tunnel.id), []);
  const rules = ingressRules([
    { hostname: "web.lab.example.com", service: "http://holt-web:8080" },
    {
      hostname: "media.lab.example.com",
      service: "https://127.0.0.1:443",
      originServerName: "media.lab.example.com",
      noTLSVerify: false,
    },
  ]);
  await client.putIngress(tunnel.id, rules);
  assert.deepEqual(await client.getIngress(tunnel.id), rules);

  // A catch-all passed in the middle is dropped; one is always added at the end.
  await client.putIngress(tunnel.id, [
    { service: "http_status:503" },
    { hostname: "web.lab.example.com", service: "http://holt-web:8080" },
  ]);
  assert.deepEqual(await client.getIngress(tunnel.id), [
    { hostname: "web.lab.example.com", service: "http://holt-web:8080" },
    { service: "http_status:404" },
  ]);
  const put = server.log.filter((r) => r.method === "PUT").at(-1);
  assert.deepEqual(put?.body, {
    config: {
      ingress: [
        { hostname: "web.lab.example.com", service: "http://holt-web:8080" },
        { service: "http_status:404" },
      ],
    },
  });
});

test("contract: getToken returns the run token, and no error ever carries it", async () => {
  const tunnel = await client.findOrCreateTunnel("holt-token");
  const known = server.tunnels.find((t) => t.id === tunnel.id);
  assert.ok(known);
  assert.equal(await client.getToken(tunnel.id), known.token);

  const path = `/accounts/${server.accountId}/cfd_tunnel/${tunnel.id}/token`;
  const leaks = (error: unknown): boolean => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_DNS");
    assert.ok(!error.message.includes(known.token), error.message);
    assert.ok(!error.details.some((d) => d.includes(known.token)));
    assert.ok(!String(error.cause ?? "").includes(known.token));
    return true;
  };
  // The token as a bare body instead of an envelope.
  server.overrides.push({ match: (r) => r.path === path, body: known.token });
  await assert.rejects(client.getToken(tunnel.id), leaks);
  // The token inside an object instead of as the result itself.
  server.overrides.push({
    match: (r) => r.path === path,
    json: { success: true, errors: [], messages: [], result: { token: known.token } },
  });
  await assert.rejects(client.getToken(tunnel.id), leaks);
});

test("contract: a refused token names the account and the fix, never the token", async () => {
  const bad = createTunnelClient({
    apiBase: server.url,
    apiToken: "not-the-right-token-5678",
    accountId: server.accountId,
  });
  await assert.rejects(bad.findOrCreateTunnel("holt-home"), (error: unknown) => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_DNS");
    assert.match(
      error.message,
      /^Cloudflare refused the API token for the tunnels of Cloudflare account "\w+"/,
    );
    assert.match(error.message, /edge\.tunnel\.apiToken/);
    assert.match(error.message, /Cloudflare Tunnel › Edit/);
    assert.ok(!error.message.includes("not-the-right-token-5678"));
    return true;
  });
});

test("contract: every request holt sent and every answer the stand-in gave matched Cloudflare's published schema", () => {
  assert.deepEqual(server.violations, []);
});
