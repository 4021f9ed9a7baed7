/**
 * Contract tests for the Cloudflare API client: envelope, pagination, errors
 * and timeouts, against a local server that follows Cloudflare's documented
 * shapes (cloudflare-contract-server.test.ts). They are not tests against the
 * live API.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { HoltError } from "../errors.ts";
import { type CloudflareApi, createCloudflareApi } from "./cloudflare-api.ts";
import { type ContractServer, startContractServer } from "./cloudflare-contract-server.test.ts";

let server: ContractServer;
let api: CloudflareApi;
const FIX = 'Check dns.zones["lab.example.com"].apiToken.';

before(async () => {
  server = await startContractServer({
    zones: [{ name: "a.example.com" }, { name: "b.example.com" }, { name: "c.example.com" }],
  });
  api = createCloudflareApi({
    apiBase: server.url,
    apiToken: server.token,
    timeoutMs: 500,
    scope: 'zone "lab.example.com"',
    tokenFix: FIX,
  });
});

after(() => server.close());

function dnsError(check: (message: string) => void) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof HoltError, String(error));
    assert.equal(error.code, "HOLT_E_DNS");
    assert.ok(!error.message.includes(server.token), "the token must never be in a message");
    check(error.message);
    return true;
  };
}

test("contract: a list follows result_info until the last page", async () => {
  server.maxPerPage = 1;
  const before = server.log.length;
  try {
    const zones = await api.list("/zones", {}, 50); // the zone list takes at most 50 a page
    assert.deepEqual(
      zones.map((z) => (z as { name: string }).name),
      ["a.example.com", "b.example.com", "c.example.com"],
    );
    const pages = server.log.slice(before).map((r) => r.query.get("page"));
    assert.deepEqual(pages, ["1", "2", "3"]);
  } finally {
    server.maxPerPage = 100;
  }
});

test("contract: every request carries the token as a bearer token", async () => {
  const result = await api.call("GET", `/zones/${server.zones[0]?.id}`);
  assert.equal((result as { name: string }).name, "a.example.com");
});

test("contract: a refused token (403, 9109) names the scope and the fix, never the token", async () => {
  // A server that echoes the token must still not get it into the message.
  server.overrides.push({
    match: (r) => r.path === "/zones",
    status: 403,
    json: {
      success: false,
      errors: [{ code: 9109, message: `Invalid access token ${server.token}` }],
      messages: [],
      result: null,
    },
  });
  await assert.rejects(
    api.list("/zones"),
    dnsError((message) => {
      assert.match(message, /^Cloudflare refused the API token for zone "lab\.example\.com"/);
      assert.match(message, /HTTP 403, \[9109\] Invalid access token/);
      assert.ok(message.endsWith(FIX));
    }),
  );
});

test("contract: error code 10000 counts as a refused token even on HTTP 400", async () => {
  server.overrides.push({
    match: (r) => r.path === "/zones",
    status: 400,
    json: {
      success: false,
      errors: [{ code: 10000, message: "Authentication error" }],
      messages: [],
      result: null,
    },
  });
  await assert.rejects(
    api.call("GET", "/zones"),
    dnsError((message) =>
      assert.match(message, /refused the API token .*\[10000\] Authentication error/),
    ),
  );
});

test("contract: a 200 with success: false lists Cloudflare's error codes and messages", async () => {
  server.overrides.push({
    match: (r) => r.path === "/zones",
    status: 200,
    json: {
      success: false,
      errors: [
        { code: 1004, message: "DNS Validation Error" },
        { code: 9005, message: "Content for A record is invalid." },
      ],
      messages: [],
      result: null,
    },
  });
  await assert.rejects(
    api.call("GET", "/zones"),
    dnsError((message) =>
      assert.equal(
        message,
        'Cloudflare refused GET /zones for zone "lab.example.com" (HTTP 200: [1004] DNS Validation Error; [9005] Content for A record is invalid.).',
      ),
    ),
  );
});

test("contract: a body that is not JSON is an error that quotes its start", async () => {
  server.overrides.push({
    match: (r) => r.path === "/zones",
    status: 502,
    body: "<html><body>502 Bad Gateway</body></html>",
  });
  await assert.rejects(
    api.call("GET", "/zones"),
    dnsError((message) => {
      assert.match(message, /HTTP 502 and a body that is not a JSON envelope/);
      assert.match(message, /it starts "<html><body>502 Bad Gateway/);
      assert.match(message, /api\.cloudflare\.com\/client\/v4/);
    }),
  );
});

test("contract: success without a result is an error, not undefined", async () => {
  server.overrides.push({
    match: (r) => r.path === "/zones",
    json: { success: true, errors: [], messages: [] },
  });
  await assert.rejects(
    api.call("GET", "/zones"),
    dnsError((message) => assert.match(message, /with success but no result/)),
  );
});

test("contract: a list whose result is not a list is an error", async () => {
  server.overrides.push({
    match: (r) => r.path === "/zones",
    json: { success: true, errors: [], messages: [], result: { id: "x" } },
  });
  await assert.rejects(
    api.list("/zones"),
    dnsError((message) => assert.match(message, /a result that is not a list/)),
  );
});

test("contract: a malformed token (HTTP 400, 6003 with error_chain 6111) gets the token advice", async () => {
  // What Cloudflare answers for an Authorization header it cannot parse (jeessy2/ddns-go#916).
  server.overrides.push({
    match: (r) => r.path === "/zones",
    status: 400,
    json: {
      success: false,
      errors: [
        {
          code: 6003,
          message: "Invalid request headers",
          error_chain: [{ code: 6111, message: "Invalid format for Authorization header" }],
        },
      ],
      messages: [],
      result: null,
    },
  });
  await assert.rejects(
    api.call("GET", "/zones"),
    dnsError((message) => {
      assert.match(message, /^Cloudflare refused the API token for zone "lab\.example\.com"/);
      assert.match(
        message,
        /HTTP 400, \[6003\] Invalid request headers \(\[6111\] Invalid format for Authorization header\)/,
      );
      assert.ok(message.endsWith(FIX), message);
    }),
  );
});

test("contract: a token with spaces or line breaks is refused before it is sent", async () => {
  const before = server.log.length;
  const pasted = createCloudflareApi({
    apiBase: server.url,
    apiToken: `${server.token}\n`,
    scope: 'zone "lab.example.com"',
    tokenFix: FIX,
  });
  await assert.rejects(
    pasted.call("GET", "/zones"),
    dnsError((message) => {
      assert.match(message, /API token for zone "lab\.example\.com" holds a space or line break/);
      assert.ok(message.endsWith(FIX), message);
    }),
  );
  assert.equal(server.log.length, before, "nothing was sent");
});

const RATE_LIMITED = {
  success: false,
  errors: [{ code: 971, message: "Please wait and consider throttling your request speed" }],
  messages: [],
  result: null,
};

/** An API client whose waits are recorded instead of slept. */
function patientApi(waits: number[]) {
  return createCloudflareApi({
    apiBase: server.url,
    apiToken: server.token,
    timeoutMs: 500,
    scope: 'zone "lab.example.com"',
    tokenFix: FIX,
    sleep: async (ms) => {
      waits.push(ms);
    },
  });
}

test("contract: HTTP 429 with retry-after is waited out and the request sent again", async () => {
  server.overrides.push({
    match: (r) => r.path === "/zones",
    status: 429,
    headers: { "retry-after": "2" },
    json: RATE_LIMITED,
  });
  const waits: number[] = [];
  const before = server.log.length;
  const zones = await patientApi(waits).list("/zones", {}, 50);
  assert.equal(zones.length, 3);
  assert.deepEqual(waits, [2000]);
  assert.equal(server.log.length - before, 2, "one refused request, one that went through");
});

test("contract: a retry-after longer than holt waits fails at once and says how long", async () => {
  server.overrides.push({
    match: (r) => r.path === "/zones",
    status: 429,
    headers: { "retry-after": "300" },
    json: RATE_LIMITED,
  });
  const waits: number[] = [];
  const before = server.log.length;
  await assert.rejects(
    patientApi(waits).call("GET", "/zones"),
    dnsError((message) => {
      assert.match(message, /rate limit was reached for zone "lab\.example\.com"/);
      assert.match(message, /asks to wait 300 s, longer than the 30 s holt waits/);
      assert.match(message, /Run holt again in 5 minutes/);
    }),
  );
  assert.deepEqual(waits, []);
  assert.equal(server.log.length - before, 1, "not sent again");
});

test("contract: HTTP 429 again and again gives up after 3 attempts", async () => {
  for (let i = 0; i < 4; i++) {
    server.overrides.push({
      match: (r) => r.path === "/zones",
      status: 429,
      headers: { "retry-after": "1" },
      json: RATE_LIMITED,
    });
  }
  const waits: number[] = [];
  const before = server.log.length;
  await assert.rejects(
    patientApi(waits).call("GET", "/zones"),
    dnsError((message) => assert.match(message, /still rate limited after 3 attempts/)),
  );
  assert.deepEqual(waits, [1000, 1000]);
  assert.equal(server.log.length - before, 3);
  server.overrides.splice(0); // the fourth was never asked for
});

test("contract: HTTP 429 without retry-after waits a short, growing time", async () => {
  for (let i = 0; i < 2; i++) {
    server.overrides.push({ match: (r) => r.path === "/zones", status: 429, json: RATE_LIMITED });
  }
  const waits: number[] = [];
  await patientApi(waits).call("GET", "/zones");
  assert.deepEqual(waits, [1000, 2000]);
});

test("contract: no answer within the timeout is an error naming the wait", async () => {
  server.overrides.push({ match: (r) => r.path === "/zones", delayMs: 1000, json: {} });
  await assert.rejects(
    api.call("GET", "/zones"),
    dnsError((message) => assert.match(message, /did not answer GET \/zones .* within 500 ms/)),
  );
});

test("contract: an unreachable API is an error naming the address", async () => {
  const closed = await startContractServer();
  const url = closed.url;
  await closed.close();
  const dead = createCloudflareApi({
    apiBase: url,
    apiToken: "secret-token",
    scope: 'zone "x"',
    tokenFix: FIX,
  });
  await assert.rejects(dead.call("GET", "/zones"), (error: unknown) => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_DNS");
    assert.match(error.message, /could not be reached for GET \/zones/);
    assert.ok(error.message.includes(url));
    assert.ok(!error.message.includes("secret-token"));
    return true;
  });
});

test("contract: every request holt sent and every answer the stand-in gave matched Cloudflare's published schema", () => {
  assert.deepEqual(server.violations, []);
});
