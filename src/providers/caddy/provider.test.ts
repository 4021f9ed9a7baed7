import assert from "node:assert/strict";
import { test } from "node:test";
import type { Resource } from "../../engine/resource.ts";
import { HoltError } from "../../errors.ts";
import type { Exec, HttpRequest, HttpResponse } from "../../hosts/exec.ts";
import { ROUTE_TYPE, type RouteInputs, routeAddress } from "../../model/route.ts";
import { caddy26Etag, type Json, type JsonObject } from "./caddy-json.ts";
import { createCaddyRouteProvider } from "./provider.ts";

const LAB = "home";
const ADMIN_PORT = 2999;

function route(hostname: string, port = 8096, httpsPort = 443): Resource<RouteInputs> {
  const service = hostname.split(".")[0] ?? "svc";
  return {
    address: routeAddress("box", hostname),
    type: ROUTE_TYPE,
    host: "box",
    service,
    name: hostname,
    inputs: {
      hostname,
      service,
      upstream: { address: "127.0.0.1", port },
      tls: "internal",
      proxy: {
        adminAddress: `127.0.0.1:${ADMIN_PORT}`,
        adminPort: ADMIN_PORT,
        httpsPort,
        httpPort: 80,
      },
    },
    dependsOn: [],
    configPath: `services.${service}.route`,
  };
}

interface FakeCaddyOptions {
  /** Runs before each write is checked, as another client writing at the same moment would. */
  beforeWrite?: (caddy: FakeCaddy) => void;
  /** Send the ETag as a header (Caddy 2.7+) instead of leaving it to be computed. */
  etagHeader?: boolean;
}

/**
 * An Exec whose `http` behaves like Caddy 2.6's admin API for GET and POST
 * under /config/, including If-Match. `run` is not used by this provider.
 */
class FakeCaddy implements Exec {
  readonly target = "fake";
  config: Json;
  down = false;
  rejectWith: string | undefined;
  readonly requests: string[] = [];
  writes = 0;
  preconditionFailures = 0;
  readonly #options: FakeCaddyOptions;

  constructor(config: Json, options: FakeCaddyOptions = {}) {
    this.config = config;
    this.#options = options;
  }

  body(): string {
    return `${JSON.stringify(this.config)}\n`;
  }

  async run(): Promise<never> {
    throw new Error("the Caddy provider runs no programs");
  }

  async start(): Promise<never> {
    throw new Error("not used by this test");
  }

  async http(request: HttpRequest): Promise<HttpResponse> {
    this.requests.push(`${request.method} ${request.address}:${request.port}${request.path}`);
    if (this.down || request.port !== ADMIN_PORT) {
      throw new HoltError(
        "HOLT_E_HTTP",
        `${request.method} ${request.path} failed: connection refused.`,
      );
    }
    if (request.method === "GET" && request.path === "/config/") {
      const body = this.body();
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (this.#options.etagHeader === true) headers.etag = caddy26Etag("/config/", body);
      return { status: 200, headers, body };
    }
    if (request.method === "POST") {
      this.#options.beforeWrite?.(this);
      const ifMatch = request.headers?.["if-match"];
      if (ifMatch !== undefined && ifMatch !== caddy26Etag("/config/", this.body())) {
        this.preconditionFailures++;
        return reply(412, '{"error":"If-Match header did not match current config hash"}\n');
      }
      if (this.rejectWith !== undefined)
        return reply(400, JSON.stringify({ error: this.rejectWith }));
      const value = JSON.parse(request.body ?? "null") as Json;
      if (request.path === "/config/") this.config = value;
      else if (request.path === "/config/apps") {
        this.config = { ...((this.config as JsonObject | null) ?? {}), apps: value };
      } else return reply(400, '{"error":"unexpected path"}');
      this.writes++;
      return reply(200, "");
    }
    return reply(405, '{"error":"method not allowed"}');
  }

  async close(): Promise<void> {}
}

function reply(status: number, body: string): HttpResponse {
  return { status, headers: {}, body };
}

const fast = { change: { sleep: async () => {} } };

function ctx(exec: Exec) {
  return { host: "box", exec, lab: LAB };
}

/** A hand-made route, as another client would add it. */
function addHandMade(caddy: FakeCaddy, hostname: string): void {
  const config = (structuredClone(caddy.config) ?? {}) as JsonObject;
  const apps = (config.apps ?? {}) as JsonObject;
  const http = (apps.http ?? {}) as JsonObject;
  const servers = (http.servers ?? {}) as JsonObject;
  servers[`manual-${hostname}`] = {
    listen: [":8443"],
    routes: [{ match: [{ host: [hostname] }], handle: [{ handler: "static_response" }] }],
  };
  caddy.config = { ...config, apps: { ...apps, http: { ...http, servers } } };
}

test("read: one GET for all routes; own routes managed, hand-made ones not, other labs' not owned", async () => {
  const caddy = new FakeCaddy({ admin: { listen: `127.0.0.1:${ADMIN_PORT}` } });
  const provider = createCaddyRouteProvider(fast);
  const other = createCaddyRouteProvider(fast);
  await provider.create(ctx(caddy), route("media.lab.test"));
  await other.create({ ...ctx(caddy), lab: "home:x" }, route("trick.lab.test"));
  addHandMade(caddy, "manual.lab.test");
  caddy.requests.length = 0;

  const desired = [route("media.lab.test"), route("manual.lab.test"), route("new.lab.test")];
  const result = await provider.read(ctx(caddy), desired);
  assert.deepEqual(caddy.requests, [`GET 127.0.0.1:${ADMIN_PORT}/config/`]);
  assert.deepEqual(result.observed.get(routeAddress("box", "media.lab.test")), {
    state: {
      hostname: "media.lab.test",
      upstream: { address: "127.0.0.1", port: 8096 },
      tls: "internal",
    },
    managed: true,
  });
  assert.equal(result.observed.get(routeAddress("box", "manual.lab.test"))?.managed, false);
  assert.equal(result.observed.has(routeAddress("box", "new.lab.test")), false);
  assert.deepEqual(
    result.owned.map((o) => o.address),
    [routeAddress("box", "media.lab.test")],
  );
  assert.equal(result.owned[0]?.observed.info?.caddy, `127.0.0.1:${ADMIN_PORT}`);
  assert.deepEqual(result.problems, []);
});

test("read: a TLS policy someone else wrote for the name, and ports that differ, are plan problems", async () => {
  const caddy = new FakeCaddy({
    apps: {
      http: { http_port: 8080, https_port: 8443 },
      tls: { automation: { policies: [{ subjects: ["media.lab.test"] }] } },
    },
  });
  const result = await createCaddyRouteProvider(fast).read(ctx(caddy), [route("media.lab.test")]);
  assert.deepEqual(
    result.problems.map((p) => p.path),
    ["services.media.route.hostname", "services.media.route.proxy", "services.media.route.proxy"],
  );
  assert.match(
    result.problems[0]?.message ?? "",
    /already has a TLS automation policy for "media\.lab\.test"/,
  );
  assert.match(result.problems[1]?.message ?? "", /https_port 8443, but the lab expects 443/);
});

test("read: Caddy down is HOLT_E_CADDY naming host, address and the docs; with nothing desired it is no routes", async () => {
  const caddy = new FakeCaddy(null);
  caddy.down = true;
  const provider = createCaddyRouteProvider(fast);
  await assert.rejects(provider.read(ctx(caddy), [route("media.lab.test")]), (error: unknown) => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_CADDY");
    assert.match(
      error.message,
      /^Caddy on host "box" \(admin API 127\.0\.0\.1:2999\) does not answer\./,
    );
    assert.match(error.message, /docs\/services\.md#caddy-on-a-host/);
    assert.match(error.details[0] ?? "", /connection refused/);
    return true;
  });
  assert.deepEqual(await provider.read(ctx(caddy), []), {
    observed: new Map(),
    owned: [],
    problems: [],
  });
});

test("writes: only apps are sent, with If-Match; a create that is already done writes nothing", async () => {
  const caddy = new FakeCaddy({
    admin: { listen: `127.0.0.1:${ADMIN_PORT}` },
    logging: { logs: {} },
  });
  const provider = createCaddyRouteProvider(fast);
  await provider.create(ctx(caddy), route("media.lab.test"));
  assert.deepEqual(caddy.requests, [
    `GET 127.0.0.1:${ADMIN_PORT}/config/`,
    `POST 127.0.0.1:${ADMIN_PORT}/config/apps`,
  ]);
  await provider.create(ctx(caddy), route("media.lab.test"));
  await provider.update(ctx(caddy), route("media.lab.test"), {
    state: { hostname: "media.lab.test", upstream: null, tls: null },
    managed: true,
  });
  assert.equal(caddy.writes, 1);
  assert.deepEqual((caddy.config as JsonObject).logging, { logs: {} });
});

test("writes: a concurrent change gets 412, holt reads again and both changes land", async () => {
  let interfered = false;
  const caddy = new FakeCaddy(null, {
    beforeWrite: (c) => {
      if (interfered) return;
      interfered = true;
      addHandMade(c, "manual.lab.test");
    },
  });
  const provider = createCaddyRouteProvider(fast);
  await provider.create(ctx(caddy), route("media.lab.test"));
  assert.equal(caddy.preconditionFailures, 1);
  const result = await provider.read(ctx(caddy), [
    route("media.lab.test"),
    route("manual.lab.test"),
  ]);
  assert.equal(result.observed.get(routeAddress("box", "media.lab.test"))?.managed, true);
  assert.equal(result.observed.get(routeAddress("box", "manual.lab.test"))?.managed, false);
});

test("writes: parallel creates on one host all land", async () => {
  const caddy = new FakeCaddy(null, { etagHeader: true });
  const provider = createCaddyRouteProvider(fast);
  const names = ["a", "b", "c", "d", "e"].map((n) => `${n}.lab.test`);
  await Promise.all(names.map((n) => provider.create(ctx(caddy), route(n))));
  const result = await provider.read(ctx(caddy), []);
  assert.deepEqual(
    result.owned,
    [],
    "nothing desired: looked at the default port, where the fake is not",
  );
  const read = await provider.read(
    ctx(caddy),
    names.map((n) => route(n)),
  );
  assert.equal(read.owned.length, names.length);
  assert.equal(caddy.preconditionFailures, 0, "one provider queues its own writes per host");
});

test("writes: a config that keeps changing fails after the attempts, with HOLT_E_CADDY", async () => {
  let n = 0;
  const caddy = new FakeCaddy(null, { beforeWrite: (c) => addHandMade(c, `m${n++}.lab.test`) });
  const provider = createCaddyRouteProvider({ change: { attempts: 3, sleep: async () => {} } });
  await assert.rejects(provider.create(ctx(caddy), route("media.lab.test")), (error: unknown) => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_CADDY");
    assert.match(error.message, /Could not write route "media\.lab\.test": Caddy on host "box"/);
    assert.match(error.message, /3 attempts; last: 412/);
    return true;
  });
  assert.equal(caddy.preconditionFailures, 3);
});

test("writes: 412 while nothing changed means holt's ETag is wrong: fail at once, clearly", async () => {
  const caddy = new FakeCaddy(null);
  const original = caddy.http.bind(caddy);
  caddy.http = (request) =>
    original(
      request.method === "POST"
        ? { ...request, headers: { ...request.headers, "if-match": '"/config/ 00000000"' } }
        : request,
    );
  await assert.rejects(
    createCaddyRouteProvider(fast).create(ctx(caddy), route("media.lab.test")),
    /refused holt's If-Match although its config did not change/,
  );
  assert.equal(caddy.preconditionFailures, 1);
});

test("writes: Caddy's half-written certificate metadata (Caddy < 2.9) is retried; if it stays, the error says what to do", async () => {
  const metadata =
    "loading new config: http app module: start: finalizing automatic HTTPS: managing certificates for [a.lab.test]: automate: manage [a.lab.test]: a.lab.test: caching certificate: decoding certificate metadata: unexpected end of JSON input";
  const caddy = new FakeCaddy(null);
  const original = caddy.http.bind(caddy);
  let broken = 2;
  caddy.http = (request) =>
    request.method === "POST" && broken-- > 0
      ? Promise.resolve(reply(500, JSON.stringify({ error: metadata })))
      : original(request);
  await createCaddyRouteProvider(fast).create(ctx(caddy), route("a.lab.test"));
  assert.equal(caddy.writes, 1, "landed on the third try");

  const stuck = new FakeCaddy(null);
  stuck.http = (request) =>
    request.method === "POST"
      ? Promise.resolve(reply(500, JSON.stringify({ error: metadata })))
      : new FakeCaddy(null).http(request);
  const provider = createCaddyRouteProvider({ change: { attempts: 3, sleep: async () => {} } });
  await assert.rejects(provider.create(ctx(stuck), route("a.lab.test")), (error: unknown) => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_CADDY");
    assert.match(error.message, /3 attempts; last: HTTP 500: .*decoding certificate metadata/);
    assert.match(error.message, /removed from Caddy's storage, and upgrading Caddy avoids it/);
    return true;
  });
});

test("writes: a config Caddy refuses is HOLT_E_CADDY with Caddy's words and no request body", async () => {
  const caddy = new FakeCaddy(null);
  caddy.rejectWith =
    "loading new config: http app module: start: listening on :443: address already in use";
  await assert.rejects(
    createCaddyRouteProvider(fast).create(ctx(caddy), route("media.lab.test")),
    (error: unknown) => {
      assert.ok(error instanceof HoltError);
      assert.equal(error.code, "HOLT_E_CADDY");
      assert.match(
        error.message,
        /rejected the new config \(HTTP 400\): loading new config: .*address already in use\./,
      );
      assert.doesNotMatch(error.message, /reverse_proxy|upstreams/);
      return true;
    },
  );
});

test("delete and release remove the route and its policy, at the Caddy it was read from", async () => {
  const caddy = new FakeCaddy(null);
  const provider = createCaddyRouteProvider(fast);
  await provider.create(ctx(caddy), route("a.lab.test"));
  await provider.create(ctx(caddy), route("b.lab.test"));
  const { owned } = await provider.read(ctx(caddy), [route("a.lab.test")]);
  const [a, b] = owned;
  assert.ok(a !== undefined && b !== undefined);
  await provider.delete(ctx(caddy), a, { safetySnapshot: "unused" });
  await provider.delete(ctx(caddy), a, { safetySnapshot: "unused" });
  await provider.release(ctx(caddy), b);
  const apps = (caddy.config as JsonObject).apps as JsonObject;
  assert.deepEqual((apps.http as JsonObject).servers, {});
  assert.deepEqual(((apps.tls as JsonObject).automation as JsonObject).policies, []);
});

test("adopt: takes over a hand-made route for the name; refuses one that serves other names too", async () => {
  const caddy = new FakeCaddy(null);
  addHandMade(caddy, "manual.lab.test");
  const provider = createCaddyRouteProvider(fast);
  const [observed] = (
    await provider.read(ctx(caddy), [route("manual.lab.test")])
  ).observed.values();
  assert.ok(observed !== undefined && !observed.managed);
  await provider.adopt(ctx(caddy), route("manual.lab.test"), observed);
  const after = await provider.read(ctx(caddy), [route("manual.lab.test")]);
  assert.equal(after.observed.get(routeAddress("box", "manual.lab.test"))?.managed, true);
  assert.equal(JSON.stringify(caddy.config).includes("static_response"), false);

  const shared = new FakeCaddy({
    apps: {
      http: {
        servers: {
          s: { listen: [":443"], routes: [{ match: [{ host: ["x.lab.test", "y.lab.test"] }] }] },
        },
      },
    },
  });
  await assert.rejects(
    provider.adopt(ctx(shared), route("x.lab.test"), observed),
    (error: unknown) =>
      error instanceof HoltError &&
      error.code === "HOLT_E_ADOPT" &&
      /route 0 of server "s" also serves y\.lab\.test/.test(error.message),
  );
  assert.equal(shared.writes, 0);
});

test("diff and describe: upstream and TLS, in words", () => {
  const provider = createCaddyRouteProvider();
  const desired = route("media.lab.test", 9000);
  assert.deepEqual(provider.describe(desired), [
    { path: "upstream", before: null, after: "127.0.0.1:9000" },
    { path: "tls", before: null, after: "internal (Caddy local CA)" },
  ]);
  assert.deepEqual(
    provider.diff(desired, {
      state: {
        hostname: "media.lab.test",
        upstream: { address: "127.0.0.1", port: 8096 },
        tls: "acme",
      },
      managed: true,
    }),
    [
      { path: "upstream", before: "127.0.0.1:8096", after: "127.0.0.1:9000" },
      { path: "tls", before: "issuers acme", after: "internal (Caddy local CA)" },
    ],
  );
  assert.deepEqual(
    provider.diff(desired, {
      state: {
        hostname: "media.lab.test",
        upstream: { address: "127.0.0.1", port: 9000 },
        tls: "internal",
      },
      managed: true,
    }),
    [],
  );
});
