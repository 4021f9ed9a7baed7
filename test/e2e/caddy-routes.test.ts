/**
 * The Caddy route provider against a real Caddy (test/peers/caddy.ts), with
 * real HTTPS from Caddy's local CA checked by curl, and real upstreams.
 * The tests share one Caddy and run in order; each says what it relies on.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type Server } from "node:http";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import type { ProviderContext } from "../../src/engine/provider.ts";
import type { Resource } from "../../src/engine/resource.ts";
import { HoltError } from "../../src/errors.ts";
import type { Exec, HttpRequest } from "../../src/hosts/exec.ts";
import { createLocalExec } from "../../src/hosts/local-exec.ts";
import { ROUTE_TYPE, type RouteInputs, routeAddress } from "../../src/model/route.ts";
import { createCaddyRouteProvider } from "../../src/providers/caddy/provider.ts";
import { type CaddyPeer, startCaddy } from "../peers/caddy.ts";

const execFileAsync = promisify(execFile);
const LAB = "home";
const HOST = "local";

let caddy: CaddyPeer;
let exec: Exec;
const upstreams: { a: number; b: number } = { a: 0, b: 0 };
const servers: Server[] = [];

async function startUpstream(name: string): Promise<number> {
  const server = createServer((req, res) => {
    res.end(`upstream ${name} for ${req.headers.host}${req.url}`);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

before(async () => {
  caddy = await startCaddy();
  exec = createLocalExec();
  upstreams.a = await startUpstream("A");
  upstreams.b = await startUpstream("B");
});

after(async () => {
  await exec?.close();
  await caddy?.stop();
  for (const server of servers) server.close();
});

function route(hostname: string, port: number, adminPort = caddy.adminPort): Resource<RouteInputs> {
  const service = hostname.split(".")[0] ?? "svc";
  return {
    address: routeAddress(HOST, hostname),
    type: ROUTE_TYPE,
    host: HOST,
    service,
    name: hostname,
    inputs: {
      hostname,
      service,
      upstream: { address: "127.0.0.1", port },
      tls: "internal",
      proxy: {
        adminAddress: `127.0.0.1:${adminPort}`,
        adminPort,
        httpsPort: caddy.httpsPort,
        httpPort: caddy.httpPort,
      },
    },
    dependsOn: [],
    configPath: `services.${service}.route`,
  };
}

function ctx(lab = LAB, on: Exec = exec): ProviderContext {
  return { host: HOST, exec: on, lab };
}

/** The admin API directly, as a user (or another tool) would use it. */
async function admin(method: HttpRequest["method"], path: string, body?: unknown) {
  const response = await exec.http({
    port: caddy.adminPort,
    method,
    path,
    headers: { "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  assert.ok(response.status < 300, `${method} ${path}: ${response.status} ${response.body}`);
  return response.body === "" ? undefined : (JSON.parse(response.body) as unknown);
}

/** GET over real HTTPS with curl, trusting only the test Caddy's local CA. Retries while the certificate is issued. */
async function https(hostname: string): Promise<string> {
  const url = `https://${hostname}:${caddy.httpsPort}/`;
  const args = ["-sS", "--max-time", "5", "--cacert", caddy.caCertPath];
  args.push("--resolve", `${hostname}:${caddy.httpsPort}:127.0.0.1`, url);
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      return (await execFileAsync("curl", args, { encoding: "utf8" })).stdout;
    } catch (error) {
      last = error;
      await sleep(100);
    }
  }
  throw new Error(`curl ${url} kept failing: ${(last as { stderr?: string }).stderr ?? last}`);
}

const provider = createCaddyRouteProvider();

/** What an upstream answers; the Host header Caddy passes on carries the port. */
function served(upstream: "A" | "B", hostname: string): string {
  return `upstream ${upstream} for ${hostname}:${caddy.httpsPort}/`;
}

test("create: a route answers over real HTTPS from Caddy's local CA, with the upstream's content", async () => {
  const media = route("media.lab.example.com", upstreams.a);
  const before = await provider.read(ctx(), [media]);
  assert.equal(before.observed.size, 0);
  await provider.create(ctx(), media);

  assert.equal(await https("media.lab.example.com"), served("A", "media.lab.example.com"));
  const { observed, owned, problems } = await provider.read(ctx(), [media]);
  const seen = observed.get(media.address);
  assert.deepEqual(seen, {
    state: {
      hostname: "media.lab.example.com",
      upstream: { address: "127.0.0.1", port: upstreams.a },
      tls: "internal",
    },
    managed: true,
  });
  assert.ok(seen !== undefined);
  assert.deepEqual(provider.diff(media, seen), []);
  assert.deepEqual(
    owned.map((o) => o.address),
    [media.address],
  );
  assert.deepEqual(problems, []);

  const apps = (await admin("GET", "/config/apps")) as {
    http: { http_port: number; https_port: number; servers: Record<string, { listen: string[] }> };
    pki: { certificate_authorities: { local: { install_trust: boolean } } };
  };
  assert.equal(apps.http.http_port, caddy.httpPort);
  assert.equal(apps.http.https_port, caddy.httpsPort);
  assert.deepEqual(apps.http.servers.holt?.listen, [`:${caddy.httpsPort}`]);
  assert.equal(apps.pki.certificate_authorities.local.install_trust, false);
  // holt never adds a policy without subjects: that would change every other site's certificates.
  const policies = (await admin("GET", "/config/apps/tls/automation/policies")) as {
    subjects?: string[];
  }[];
  assert.ok(policies.every((p) => (p.subjects ?? []).length > 0));
  // Addressable by id, as Caddy's docs show.
  const byId = (await admin("GET", "/id/holt:home:media.lab.example.com:tls")) as object;
  assert.deepEqual(byId, {
    "@id": "holt:home:media.lab.example.com:tls",
    issuers: [{ module: "internal" }],
    subjects: ["media.lab.example.com"],
  });
});

test("HTTP redirects to HTTPS for holt's hostname", async () => {
  const { stdout } = await execFileAsync("curl", [
    "-sS",
    "-o",
    "/dev/null",
    "-w",
    "%{http_code} %{redirect_url}",
    "--resolve",
    `media.lab.example.com:${caddy.httpPort}:127.0.0.1`,
    `http://media.lab.example.com:${caddy.httpPort}/some/path`,
  ]);
  const [status, location] = stdout.split(" ");
  assert.equal(status, "308");
  // Caddy 2.6 leaves the port out when it equals apps.http.https_port.
  assert.match(
    location ?? "",
    new RegExp(`^https://media\\.lab\\.example\\.com(:${caddy.httpsPort})?/some/path$`),
  );
});

test("create again changes nothing; update moves the upstream in place", async () => {
  const text = await caddyConfigText();
  await provider.create(ctx(), route("media.lab.example.com", upstreams.a));
  assert.equal(await caddyConfigText(), text, "an identical create writes nothing");

  const moved = route("media.lab.example.com", upstreams.b);
  const { observed } = await provider.read(ctx(), [moved]);
  const seen = observed.get(moved.address);
  assert.ok(seen !== undefined);
  assert.deepEqual(provider.diff(moved, seen), [
    {
      path: "upstream",
      before: `127.0.0.1:${upstreams.a}`,
      after: `127.0.0.1:${upstreams.b}`,
    },
  ]);
  await provider.update(ctx(), moved, seen);
  assert.equal(await https("media.lab.example.com"), served("B", "media.lab.example.com"));
  const again = await provider.read(ctx(), [moved]);
  const now = again.observed.get(moved.address);
  assert.ok(now !== undefined);
  assert.deepEqual(provider.diff(moved, now), []);
});

async function caddyConfigText(): Promise<string> {
  const response = await exec.http({ port: caddy.adminPort, method: "GET", path: "/config/" });
  return response.body;
}

test("parallel creates all land: through one provider, and from separate connections racing (412 → retry)", async (t) => {
  const names = ["a", "b", "c", "d"].map((n) => `${n}.lab.example.com`);
  await Promise.all(names.map((n) => provider.create(ctx(), route(n, upstreams.a))));
  // Separate providers and connections do not queue behind each other: they
  // race, and If-Match turns every lost race into a retry.
  const racing = ["e", "f", "g", "h"].map((n) => `${n}.lab.example.com`);
  const statuses: number[] = [];
  const execs = racing.map((): Exec => {
    const own = createLocalExec();
    return {
      ...own,
      async http(request) {
        const response = await own.http(request);
        if (request.method === "POST") statuses.push(response.status);
        return response;
      },
    };
  });
  await Promise.all(
    racing.map((n, i) =>
      createCaddyRouteProvider().create(ctx(LAB, execs[i] ?? exec), route(n, upstreams.a)),
    ),
  );
  assert.equal(statuses.filter((s) => s === 200).length, racing.length);
  assert.deepEqual(
    statuses.filter((s) => s !== 200 && s !== 412),
    [],
  );
  t.diagnostic(`racing writes answered ${statuses.join(" ")}`);
  const all = [...names, ...racing];
  const { observed } = await provider.read(
    ctx(),
    all.map((n) => route(n, upstreams.a)),
  );
  assert.deepEqual(
    all.filter((n) => observed.get(routeAddress(HOST, n))?.managed !== true),
    [],
  );
  assert.equal(await https("h.lab.example.com"), served("A", "h.lab.example.com"));
});

test("a change by someone else between holt's read and write: 412, holt reads again, both land", async () => {
  let posts = 0;
  const statuses: number[] = [];
  const meddling: Exec = {
    target: "local",
    run: (request) => exec.run(request),
    start: (request) => exec.start(request),
    close: async () => {},
    async http(request) {
      if (request.method === "POST" && posts++ === 0) {
        await admin("POST", "/config/apps/http/servers/holt/routes", {
          match: [{ host: ["meddler.localhost"] }],
          handle: [{ handler: "static_response", body: "meddler" }],
        });
      }
      const response = await exec.http(request);
      if (request.method === "POST") statuses.push(response.status);
      return response;
    },
  };
  await createCaddyRouteProvider().create(
    ctx(LAB, meddling),
    route("late.lab.example.com", upstreams.a),
  );
  assert.deepEqual(statuses, [412, 200]);
  assert.equal(await https("late.lab.example.com"), served("A", "late.lab.example.com"));
  assert.equal(await https("meddler.localhost"), "meddler");
});

test("hand-made routes and other labs' routes are never touched; a hand-made one shows as not managed", async () => {
  const handMade = {
    match: [{ host: ["manual.localhost"] }],
    handle: [{ handler: "static_response", body: "by hand" }],
  };
  await admin("POST", "/config/apps/http/servers/holt/routes", handMade);
  await createCaddyRouteProvider().create(
    ctx("other"),
    route("other.lab.example.com", upstreams.b),
  );
  await createCaddyRouteProvider().create(
    ctx("home:x"),
    route("trick.lab.example.com", upstreams.b),
  );
  const foreignBefore = await foreignObjects();

  const manual = route("manual.localhost", upstreams.a);
  const { observed, owned } = await provider.read(ctx(), [manual]);
  assert.equal(observed.get(manual.address)?.managed, false);
  assert.deepEqual(provider.diff(manual, observed.get(manual.address) ?? assert.fail()), [
    { path: "upstream", before: "not a plain reverse proxy", after: `127.0.0.1:${upstreams.a}` },
    { path: "tls", before: "Caddy's default issuers", after: "internal (Caddy local CA)" },
  ]);
  assert.ok(
    !owned.some((o) => o.name === "other.lab.example.com" || o.name === "trick.lab.example.com"),
  );

  // Remove everything this lab owns: the others' objects stay exactly as they were.
  for (const o of owned) await provider.delete(ctx(), o, { safetySnapshot: "unused" });
  assert.deepEqual(await foreignObjects(), foreignBefore);
  assert.equal(await https("manual.localhost"), "by hand");
  assert.equal(await https("other.lab.example.com"), served("B", "other.lab.example.com"));
  const left = await provider.read(ctx(), [route("media.lab.example.com", upstreams.b)]);
  assert.deepEqual(left.owned, []);
  assert.equal(left.observed.size, 0);
});

/** Every `@id` in Caddy's config. */
async function idsInConfig(): Promise<string[]> {
  return [...(await caddyConfigText()).matchAll(/"@id":"([^"]+)"/g)].map((m) => m[1] ?? "");
}

/** Every route and TLS policy that is not lab "home"'s, as JSON. */
async function foreignObjects(): Promise<string[]> {
  const apps = (await admin("GET", "/config/apps")) as {
    http: { servers: Record<string, { routes?: { "@id"?: string }[] }> };
    tls: { automation: { policies: { "@id"?: string }[] } };
  };
  const mine = (id: string | undefined) => id !== undefined && /^holt:home:[^:]+(:tls)?$/.test(id);
  const routes = Object.values(apps.http.servers).flatMap((s) => s.routes ?? []);
  return [...routes, ...apps.tls.automation.policies]
    .filter((o) => !mine(o["@id"]))
    .map((o) => JSON.stringify(o))
    .sort();
}

test("adopt replaces the hand-made route with holt's", async () => {
  const manual = route("manual.localhost", upstreams.a);
  const { observed } = await provider.read(ctx(), [manual]);
  const seen = observed.get(manual.address);
  assert.ok(seen !== undefined && !seen.managed);
  await provider.adopt(ctx(), manual, seen);
  assert.equal(await https("manual.localhost"), served("A", "manual.localhost"));
  const after = await provider.read(ctx(), [manual]);
  assert.equal(after.observed.get(manual.address)?.managed, true);
  assert.equal((await caddyConfigText()).includes("by hand"), false);
});

test("routes survive a Caddy restart (--resume)", async () => {
  const manual = route("manual.localhost", upstreams.a);
  await caddy.restart();
  const { observed } = await provider.read(ctx(), [manual]);
  assert.equal(observed.get(manual.address)?.managed, true);
  assert.equal(await https("manual.localhost"), served("A", "manual.localhost"));
});

test("delete removes the route and its TLS policy; deleting again is fine", async () => {
  const manual = route("manual.localhost", upstreams.a);
  const [owned] = (await provider.read(ctx(), [manual])).owned;
  assert.ok(owned !== undefined);
  await provider.delete(ctx(), owned, { safetySnapshot: "unused" });
  await provider.delete(ctx(), owned, { safetySnapshot: "unused" });
  const everything = await idsInConfig();
  assert.deepEqual(
    everything.filter((id) => /^holt:home:[^:]+(:tls)?$/.test(id)),
    [],
  );
  assert.ok(everything.includes("holt:other:other.lab.example.com"));
  assert.ok(everything.includes("holt:other:other.lab.example.com:tls"));
});

test("read when Caddy is down: HOLT_E_CADDY naming the host, the admin address and what to do", async () => {
  await caddy.stop();
  await assert.rejects(
    provider.read(ctx(), [route("media.lab.example.com", upstreams.a)]),
    (error: unknown) => {
      assert.ok(error instanceof HoltError);
      assert.equal(error.code, "HOLT_E_CADDY");
      assert.equal(
        error.message,
        `Caddy on host "local" (admin API 127.0.0.1:${caddy.adminPort}) does not answer. Start Caddy there with its admin API on 127.0.0.1:${caddy.adminPort} and --resume (Debian: systemctl enable --now caddy-api), or correct the admin address in the lab's config. See docs/services.md#caddy-on-a-host.`,
      );
      return true;
    },
  );
});
