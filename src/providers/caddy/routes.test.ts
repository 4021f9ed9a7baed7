import assert from "node:assert/strict";
import { test } from "node:test";
import type { RouteInputs } from "../../model/route.ts";
import {
  caddy26Etag,
  type Json,
  type JsonObject,
  listensOnPort,
  splitHostPort,
} from "./caddy-json.ts";
import {
  desiredPolicy,
  desiredRoute,
  inspect,
  ownPolicyHostname,
  ownRouteHostname,
  sameConfig,
  withAdoptedRoute,
  withoutRoute,
  withRoute,
} from "./routes.ts";

const LAB = "home";

function inputs(hostname: string, port = 8096, httpsPort = 443): RouteInputs {
  return {
    hostname,
    service: hostname.split(".")[0] ?? "svc",
    upstream: { address: "127.0.0.1", port },
    tls: "internal",
    proxy: { adminAddress: "127.0.0.1:2019", adminPort: 2019, httpsPort, httpPort: 80 },
  };
}

/** A config as a user might have written it: one site on :443, a catch-all, an ACME policy. */
function userConfig(): JsonObject {
  return {
    admin: { listen: "127.0.0.1:2019" },
    apps: {
      http: {
        servers: {
          srv0: {
            listen: [":443"],
            routes: [
              {
                match: [{ host: ["blog.example.com"] }],
                handle: [
                  {
                    handler: "subroute",
                    routes: [
                      {
                        handle: [
                          { handler: "reverse_proxy", upstreams: [{ dial: "10.0.0.5:80" }] },
                        ],
                      },
                    ],
                  },
                ],
                terminal: true,
              },
              { handle: [{ handler: "static_response", body: "hello" }] },
            ],
          },
        },
      },
      tls: {
        automation: {
          policies: [{ subjects: ["blog.example.com"], issuers: [{ module: "acme" }] }],
        },
      },
      pki: { certificate_authorities: { local: { install_trust: true } } },
    },
  };
}

function at(value: Json | undefined, ...path: (string | number)[]): Json | undefined {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = Array.isArray(current) ? current[key as number] : current[key as string];
  }
  return current;
}

test("ids: this lab's routes and policies only, never a lab whose name extends this one", () => {
  assert.equal(ownRouteHostname(LAB, "holt:home:media.example.com"), "media.example.com");
  assert.equal(ownRouteHostname(LAB, "holt:other:media.example.com"), undefined);
  assert.equal(ownRouteHostname(LAB, "holt:home:x:media.example.com"), undefined);
  assert.equal(ownRouteHostname(LAB, "holt:home:media.example.com:tls"), undefined);
  assert.equal(ownRouteHostname(LAB, "media"), undefined);
  assert.equal(ownRouteHostname(LAB, undefined), undefined);
  assert.equal(ownPolicyHostname(LAB, "holt:home:media.example.com:tls"), "media.example.com");
  assert.equal(ownPolicyHostname(LAB, "holt:home:media.example.com"), undefined);
  assert.equal(ownPolicyHostname(LAB, "holt:home:x:media.example.com:tls"), undefined);
});

test("listener addresses: which include a port", () => {
  assert.ok(listensOnPort(":443", 443));
  assert.ok(listensOnPort("0.0.0.0:443", 443));
  assert.ok(listensOnPort("[::]:443", 443));
  assert.ok(listensOnPort("tcp/:443", 443));
  assert.ok(listensOnPort(":440-445", 443));
  assert.ok(!listensOnPort(":8443", 443));
  assert.ok(!listensOnPort("udp/:443", 443));
  assert.ok(!listensOnPort("unix//run/caddy.sock", 443));
  assert.deepEqual(splitHostPort("[::1]:8096"), { address: "::1", port: 8096 });
  assert.deepEqual(splitHostPort("127.0.0.1:8096"), { address: "127.0.0.1", port: 8096 });
  assert.equal(splitHostPort("127.0.0.1"), undefined);
});

test("Caddy 2.6 ETag: FNV-1a of the body, as Caddy 2.6.2 computes it", () => {
  // Value observed from `caddy run` 2.6.2 for exactly this body.
  assert.equal(
    caddy26Etag("/config/", '{"admin":{"listen":"127.0.0.1:22019"}}\n'),
    '"/config/ 3a3eca20"',
  );
});

test("withRoute on an empty Caddy: a holt server, a TLS policy for the name, ports and install_trust", () => {
  const config = withRoute(null, LAB, inputs("media.example.com"));
  assert.deepEqual(config, {
    apps: {
      http: {
        http_port: 80,
        https_port: 443,
        servers: {
          holt: {
            listen: [":443"],
            routes: [desiredRoute(LAB, "media.example.com", { address: "127.0.0.1", port: 8096 })],
          },
        },
      },
      tls: { automation: { policies: [desiredPolicy(LAB, "media.example.com")] } },
      pki: { certificate_authorities: { local: { install_trust: false } } },
    },
  });
  assert.equal(
    at(config, "apps", "http", "servers", "holt", "routes", 0, "@id"),
    "holt:home:media.example.com",
  );
  assert.equal(
    at(config, "apps", "tls", "automation", "policies", 0, "@id"),
    "holt:home:media.example.com:tls",
  );
});

test("withRoute in a user's config: joins the server on the HTTPS port, first, and changes nothing else of theirs", () => {
  const before = userConfig();
  const after = withRoute(before, LAB, inputs("media.example.com"));
  assert.deepEqual(before, userConfig(), "the input is not modified");
  const routes = at(after, "apps", "http", "servers", "srv0", "routes") as Json[];
  assert.equal(routes.length, 3);
  assert.equal(at(routes, 0, "@id"), "holt:home:media.example.com");
  assert.deepEqual(routes.slice(1), at(userConfig(), "apps", "http", "servers", "srv0", "routes"));
  assert.equal(at(after, "apps", "http", "servers", "holt"), undefined);
  const policies = at(after, "apps", "tls", "automation", "policies") as Json[];
  assert.equal(at(policies, 0, "@id"), "holt:home:media.example.com:tls");
  assert.deepEqual(policies[1], { subjects: ["blog.example.com"], issuers: [{ module: "acme" }] });
  assert.equal(at(after, "apps", "pki", "certificate_authorities", "local", "install_trust"), true);
  assert.equal(at(after, "apps", "http", "https_port"), 443);
  assert.deepEqual(at(after, "admin"), { listen: "127.0.0.1:2019" });
});

test("withRoute keeps ports the user set, even when they differ", () => {
  const user = userConfig();
  const http = at(user, "apps", "http") as JsonObject;
  http.http_port = 8080;
  http.https_port = 8443;
  const after = withRoute(user, LAB, inputs("media.example.com", 8096, 8443));
  assert.equal(at(after, "apps", "http", "http_port"), 8080);
  assert.equal(at(after, "apps", "http", "https_port"), 8443);
  // No server listens on 8443, so holt adds its own.
  assert.deepEqual(at(after, "apps", "http", "servers", "holt", "listen"), [":8443"]);
});

test("withRoute is idempotent and updates in place", () => {
  const once = withRoute(userConfig(), LAB, inputs("a.example.com"));
  const twice = withRoute(once, LAB, inputs("b.example.com"));
  assert.ok(sameConfig(withRoute(twice, LAB, inputs("b.example.com")), twice));
  assert.ok(sameConfig(withRoute(twice, LAB, inputs("a.example.com")), twice));
  const moved = withRoute(twice, LAB, inputs("a.example.com", 9000));
  const routes = at(moved, "apps", "http", "servers", "srv0", "routes") as Json[];
  assert.deepEqual(
    routes.map((r) => at(r, "@id") ?? null),
    ["holt:home:b.example.com", "holt:home:a.example.com", null, null],
  );
  assert.equal(at(routes, 1, "handle", 0, "upstreams", 0, "dial"), "127.0.0.1:9000");
  assert.equal((at(moved, "apps", "tls", "automation", "policies") as Json[]).length, 3);
});

test("withoutRoute removes the route and its policy, and holt's server once empty; nothing else", () => {
  let config: Json = withRoute(null, LAB, inputs("a.example.com"));
  config = withRoute(config, "other", inputs("o.example.com"));
  config = withRoute(config, LAB, inputs("b.example.com"));
  const withoutA = withoutRoute(config, LAB, "a.example.com");
  const ids = (at(withoutA, "apps", "http", "servers", "holt", "routes") as Json[]).map((r) =>
    at(r, "@id"),
  );
  assert.deepEqual(ids, ["holt:home:b.example.com", "holt:other:o.example.com"]);
  const policyIds = (at(withoutA, "apps", "tls", "automation", "policies") as Json[]).map((p) =>
    at(p, "@id"),
  );
  assert.deepEqual(policyIds, ["holt:home:b.example.com:tls", "holt:other:o.example.com:tls"]);
  assert.ok(
    sameConfig(withoutRoute(withoutA, LAB, "a.example.com"), withoutA),
    "deleting twice is fine",
  );

  const onlyOwn = withoutRoute(withRoute(null, LAB, inputs("a.example.com")), LAB, "a.example.com");
  assert.deepEqual(at(onlyOwn, "apps", "http", "servers"), {});
  // The user's server stays even when holt's route was its last one.
  const user = withoutRoute(
    withRoute(
      { apps: { http: { servers: { web: { listen: [":443"], routes: [] } } } } },
      LAB,
      inputs("a.example.com"),
    ),
    LAB,
    "a.example.com",
  );
  assert.deepEqual(at(user, "apps", "http", "servers", "web"), { listen: [":443"], routes: [] });
});

test("inspect: own routes, strictly; hand-made and other labs' routes as foreign; TLS as Caddy applies it", () => {
  let config: Json = withRoute(userConfig(), LAB, inputs("media.example.com"));
  config = withRoute(config, "other", inputs("other.example.com"));
  const seen = inspect(config, LAB);
  assert.deepEqual([...seen.own.keys()], ["media.example.com"]);
  assert.deepEqual(seen.own.get("media.example.com"), {
    hostname: "media.example.com",
    upstream: { address: "127.0.0.1", port: 8096 },
    tls: "internal",
  });
  assert.deepEqual(seen.foreign.get("blog.example.com"), {
    state: {
      hostname: "blog.example.com",
      upstream: { address: "10.0.0.5", port: 80 },
      tls: "acme",
    },
  });
  assert.equal(seen.foreign.get("other.example.com")?.otherLab, "holt:other:other.example.com");
  assert.ok(seen.foreignPolicySubjects.has("blog.example.com"));
  assert.ok(!seen.foreignPolicySubjects.has("media.example.com"));
  assert.equal(seen.httpsPort, 443);

  // Someone edited holt's route by hand: it no longer counts as in sync.
  const edited = structuredClone(config) as JsonObject;
  const handler = at(
    edited,
    "apps",
    "http",
    "servers",
    "srv0",
    "routes",
    1,
    "handle",
    0,
  ) as JsonObject;
  assert.equal(
    at(edited, "apps", "http", "servers", "srv0", "routes", 1, "@id"),
    "holt:home:media.example.com",
  );
  handler.headers = { request: { set: { "X-Test": ["1"] } } };
  assert.equal(inspect(edited, LAB).own.get("media.example.com")?.upstream, null);
});

test("inspect: TLS comes from the first policy that covers the name, wildcards and catch-alls included", () => {
  const route = (host: string): Json => ({ match: [{ host: [host] }], handle: [] });
  const config: Json = {
    apps: {
      http: {
        servers: {
          s: {
            listen: [":443"],
            routes: [route("a.lab.test"), route("b.other.test"), route("c.x.test")],
          },
        },
      },
      tls: {
        automation: {
          policies: [
            { subjects: ["*.lab.test"], issuers: [{ module: "internal" }] },
            { subjects: ["b.other.test"] },
            { issuers: [{ module: "acme" }, { module: "zerossl" }] },
          ],
        },
      },
    },
  };
  const seen = inspect(config, LAB);
  assert.equal(seen.foreign.get("a.lab.test")?.state.tls, "internal");
  assert.equal(seen.foreign.get("b.other.test")?.state.tls, null);
  assert.equal(seen.foreign.get("c.x.test")?.state.tls, "acme+zerossl");
});

test("adopt: replaces a hand-made route and policy for exactly this name", () => {
  const config: Json = {
    apps: {
      http: {
        servers: {
          srv0: {
            listen: [":443"],
            routes: [
              {
                match: [{ host: ["media.example.com"] }],
                handle: [{ handler: "static_response" }],
              },
              { match: [{ host: ["blog.example.com"] }], handle: [] },
            ],
          },
        },
      },
      tls: {
        automation: {
          policies: [{ subjects: ["media.example.com"], issuers: [{ module: "internal" }] }],
        },
      },
    },
  };
  const result = withAdoptedRoute(config, LAB, inputs("media.example.com"));
  assert.ok("config" in result);
  const routes = at(result.config, "apps", "http", "servers", "srv0", "routes") as Json[];
  assert.deepEqual(
    routes.map((r) => at(r, "@id") ?? at(r, "match", 0, "host", 0)),
    ["holt:home:media.example.com", "blog.example.com"],
  );
  assert.deepEqual(at(result.config, "apps", "tls", "automation", "policies"), [
    desiredPolicy(LAB, "media.example.com"),
  ]);
});

test("adopt: refuses routes and policies shared with other names, and other labs' routes", () => {
  const shared: Json = {
    apps: {
      http: {
        servers: {
          s: {
            listen: [":443"],
            routes: [{ match: [{ host: ["media.example.com", "x.example.com"] }] }],
          },
        },
      },
    },
  };
  const a = withAdoptedRoute(shared, LAB, inputs("media.example.com"));
  assert.ok("conflict" in a && /also serves x\.example\.com/.test(a.conflict));

  const otherLab = withRoute(null, "other", inputs("media.example.com"));
  const b = withAdoptedRoute(otherLab, LAB, inputs("media.example.com"));
  assert.ok("conflict" in b && /another holt lab/.test(b.conflict));

  const policy: Json = {
    apps: {
      tls: { automation: { policies: [{ subjects: ["media.example.com", "y.example.com"] }] } },
    },
  };
  const c = withAdoptedRoute(policy, LAB, inputs("media.example.com"));
  assert.ok("conflict" in c && /also covers y\.example\.com/.test(c.conflict));
});
