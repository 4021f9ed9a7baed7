/**
 * The DNS layer's HTTP clients (PowerDNS, Cloudflare) against a real local
 * HTTP server that redirects every request to a second server: the redirect
 * is refused with HOLT_E_DNS, and the credential never reaches the second
 * server.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { HoltError } from "../errors.ts";
import { createCloudflareApi } from "./cloudflare-api.ts";
import { createPowerDnsBackend } from "./powerdns.ts";

const API_KEY = "pdns-key-0f3a9c";
const TOKEN = "cf-token-7d21be";
const STATUSES = [301, 302, 303, 307, 308];

/** Everything the second server received: method, path and the credential headers. */
const reached: string[] = [];
let redirector: Server;
let elsewhere: Server;
let redirectorUrl = "";

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

before(async () => {
  elsewhere = createServer((req, res) => {
    reached.push(
      `${req.method} ${req.url} ${req.headers["x-api-key"] ?? ""} ${req.headers.authorization ?? ""}`,
    );
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ success: true, errors: [], messages: [], result: [], rrsets: [] }));
  });
  const target = await listen(elsewhere);
  let next = 0;
  redirector = createServer((req, res) => {
    const status = STATUSES[next++ % STATUSES.length] ?? 307;
    res.writeHead(status, { location: `${target}${req.url ?? "/"}` });
    res.end();
  });
  redirectorUrl = await listen(redirector);
});

after(() => {
  for (const server of [redirector, elsewhere]) {
    server?.closeAllConnections();
    server?.close();
  }
});

function refused(credential: string, check: (message: string) => void) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof HoltError, String(error));
    assert.equal(error.code, "HOLT_E_DNS");
    assert.ok(!error.message.includes(credential), "the credential is not in the message");
    check(error.message);
    return true;
  };
}

test("PowerDNS: a redirect is refused for every status, and the API key never follows it", async () => {
  const backend = createPowerDnsBackend({
    kind: "powerdns",
    zone: "lab.test",
    nameservers: null,
    url: redirectorUrl,
    apiKey: API_KEY,
    serverId: "localhost",
    timeoutMs: 2000,
  });
  for (const _ of STATUSES) {
    await assert.rejects(
      backend.read([{ name: "www.lab.test", type: "A" }]),
      refused(API_KEY, (message) => {
        assert.match(message, /answered with a redirect, which holt does not follow/);
        assert.match(message, /dns\.zones\["lab\.test"\]\.url/);
      }),
    );
  }
  assert.deepEqual(reached, []);
});

test("Cloudflare: a redirect is refused for every status, and the token never follows it", async () => {
  const api = createCloudflareApi({
    apiBase: `${redirectorUrl}/client/v4`,
    apiToken: TOKEN,
    timeoutMs: 2000,
    scope: 'zone "lab.example.com"',
    tokenFix: "Check the token.",
  });
  for (const _ of STATUSES) {
    await assert.rejects(
      api.call("POST", "/zones/abc/dns_records/batch", { body: { deletes: [] } }),
      refused(TOKEN, (message) => {
        assert.match(message, /answered POST \/zones\/abc\/dns_records\/batch .* with a redirect/);
        assert.match(message, /which holt does not follow/);
      }),
    );
  }
  assert.deepEqual(reached, []);
});
