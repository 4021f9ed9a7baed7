import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { secret } from "./secret.ts";
import type { ResolvedContainer, ResolvedLab } from "./types.ts";
import { type Problem, validateLab } from "./validate.ts";

const FILE = "/lab/holt.config.ts";
const DOMAIN = "lab.example.com";

/** A lab with a local host "odroid" (one dataset, tank/media) and an SSH host "pi" (none). */
function labWith(
  services: Record<string, unknown>,
  hosts: Record<string, Record<string, unknown>> = {},
): unknown {
  return {
    domain: DOMAIN,
    hosts: {
      odroid: { stateRoot: "tank/holt", datasets: { "tank/media": {} }, ...hosts.odroid },
      pi: { address: "10.0.0.2", connect: { ssh: {} }, ...hosts.pi },
    },
    services,
  };
}

function resolved(input: unknown): ResolvedLab {
  const result = validateLab(input, FILE);
  if (!result.ok) {
    assert.fail(
      `expected a valid lab, got:\n${result.problems.map((p) => `${p.path}: ${p.message}`).join("\n")}`,
    );
  }
  return result.lab;
}

function container(input: unknown, service: string): ResolvedContainer {
  const found = resolved(input).services[service]?.container;
  assert.ok(found, `service ${service} has a container`);
  return found;
}

function problems(input: unknown): readonly Problem[] {
  const result = validateLab(input, FILE);
  if (result.ok) assert.fail("expected problems, the lab was accepted");
  return result.problems;
}

/** The only problem of a lab: its path, and a message matching every pattern. */
function oneProblem(input: unknown, path: string, ...patterns: RegExp[]): string {
  const found = problems(input);
  assert.deepEqual(
    found.map((p) => p.path),
    [path],
    found.map((p) => `${p.path}: ${p.message}`).join("\n"),
  );
  const message = found[0]?.message ?? "";
  for (const pattern of patterns) assert.match(message, pattern);
  return message;
}

const web = (extra: Record<string, unknown> = {}) => ({
  host: "odroid",
  image: "docker.io/library/nginx:1.27",
  ...extra,
});

describe("validate-service: what resolves", () => {
  test("a service without an image has no container", () => {
    const lab = resolved(labWith({ db: { host: "odroid", state: { data: { path: "/data" } } } }));
    assert.equal(lab.services.db?.container, null);
  });

  test("an image alone resolves with every default", () => {
    assert.deepEqual(container(labWith({ web: web() }), "web"), {
      image: "docker.io/library/nginx:1.27",
      command: null,
      hostname: null,
      port: null,
      hostPort: null,
      ports: [],
      mounts: [],
      env: {},
      secrets: [],
      user: null,
      health: null,
      memory: null,
      cpus: null,
    });
  });

  test("hostname becomes a name under the domain; hostPort defaults to port; health to 30s/5s/3", () => {
    const c = container(
      labWith({ web: web({ hostname: "media", port: 8096, health: { http: "/health" } }) }),
      "web",
    );
    assert.equal(c.hostname, `media.${DOMAIN}`);
    assert.equal(c.port, 8096);
    assert.equal(c.hostPort, 8096);
    assert.deepEqual(c.health, {
      http: "/health",
      intervalMs: 30_000,
      timeoutMs: 5_000,
      retries: 3,
    });
  });

  test("every field resolves: ports, mounts and secrets sorted, env as strings, sizes and durations parsed", () => {
    const c = container(
      labWith({
        web: web({
          command: ["--verbose", "serve"],
          hostname: "a.b",
          port: 80,
          hostPort: 8080,
          ports: ["8883", "53/udp", "2222:22/tcp", "53/tcp"],
          state: { config: { path: "/config" } },
          mounts: {
            "/srv/media": { dataset: "tank/media", readOnly: true },
            "/incoming": { dataset: "tank/media" },
          },
          env: { TZ: "Europe/Amsterdam", WORKERS: 4, DEBUG: false },
          secrets: {
            "/run/secrets/token": secret("web-token"),
            DB_PASSWORD: secret("web-db"),
          },
          user: "1000:1000",
          health: { http: "/ready", interval: "1m", timeout: "500ms", retries: 5 },
          resources: { memory: "1G", cpus: 0.5 },
        }),
      }),
      "web",
    );
    assert.deepEqual(c, {
      image: "docker.io/library/nginx:1.27",
      command: ["--verbose", "serve"],
      hostname: `a.b.${DOMAIN}`,
      port: 80,
      hostPort: 8080,
      ports: [
        { hostPort: 53, containerPort: 53, protocol: "tcp" },
        { hostPort: 53, containerPort: 53, protocol: "udp" },
        { hostPort: 2222, containerPort: 22, protocol: "tcp" },
        { hostPort: 8883, containerPort: 8883, protocol: "tcp" },
      ],
      mounts: [
        { target: "/incoming", dataset: "tank/media", readOnly: false },
        { target: "/srv/media", dataset: "tank/media", readOnly: true },
      ],
      env: { TZ: "Europe/Amsterdam", WORKERS: "4", DEBUG: "false" },
      secrets: [
        {
          target: "/run/secrets/token",
          kind: "file",
          secret: "web-token",
          configPath: 'services.web.secrets["/run/secrets/token"]',
        },
        {
          target: "DB_PASSWORD",
          kind: "env",
          secret: "web-db",
          configPath: "services.web.secrets.DB_PASSWORD",
        },
      ],
      user: "1000:1000",
      health: { http: "/ready", intervalMs: 60_000, timeoutMs: 500, retries: 5 },
      memory: 1024 ** 3,
      cpus: 0.5,
    });
  });

  test("a uid alone is a user; image references with a registry port and a digest are images", () => {
    const digest = `sha256:${"ab".repeat(32)}`;
    const lab = resolved(
      labWith({
        a: web({ user: "65534" }),
        b: { host: "odroid", image: "registry.local:5000/team/app:v1.2.3-rc.1" },
        c: { host: "odroid", image: `ghcr.io/acme/tool@${digest}` },
        d: { host: "odroid", image: "nginx" },
      }),
    );
    assert.equal(lab.services.a?.container?.user, "65534");
    assert.equal(lab.services.b?.container?.image, "registry.local:5000/team/app:v1.2.3-rc.1");
    assert.equal(lab.services.c?.container?.image, `ghcr.io/acme/tool@${digest}`);
    assert.equal(lab.services.d?.container?.image, "nginx");
  });

  test("the proxy defaults to Caddy on 127.0.0.1:2019 serving 443 and 80, and takes other ports", () => {
    const lab = resolved(
      labWith({}, { pi: { proxy: { admin: "[::1]:2020", httpsPort: 8443, httpPort: 8080 } } }),
    );
    assert.deepEqual(lab.hosts.odroid?.proxy, {
      adminAddress: "127.0.0.1:2019",
      adminPort: 2019,
      httpsPort: 443,
      httpPort: 80,
    });
    assert.deepEqual(lab.hosts.pi?.proxy, {
      adminAddress: "[::1]:2020",
      adminPort: 2020,
      httpsPort: 8443,
      httpPort: 8080,
    });
  });
});

describe("validate-service: image, hostname and ports", () => {
  test("container fields without an image ask for the image", () => {
    oneProblem(
      labWith({ web: { host: "odroid", hostname: "media", port: 8096, env: { A: "b" } } }),
      "services.web.image",
      /^is required when a service sets "hostname", "port", "env"\. Add the container image, like image: "docker\.io\/library\/nginx:1\.27"\.$/,
    );
  });

  test("an image that is not a reference", () => {
    for (const image of ["Docker.io/Nginx", "nginx:", "nginx latest", "-nginx"]) {
      oneProblem(
        labWith({ web: { host: "odroid", image } }),
        "services.web.image",
        /is not an image reference\. Use "registry\/name:tag", like "docker\.io\/jellyfin\/jellyfin:10\.10\.3"\./,
      );
    }
  });

  test("an empty image is one problem", () => {
    oneProblem(labWith({ web: { host: "odroid", image: "" } }), "services.web.image", /empty/);
  });

  test("a hostname that already ends with the domain says what to write", () => {
    oneProblem(
      labWith({ web: web({ hostname: `media.${DOMAIN}`, port: 8096 }) }),
      "services.web.hostname",
      /^"media\.lab\.example\.com" already ends with the lab's domain\. Write only the part before it: "media"\.$/,
    );
  });

  test("a hostname that is not DNS labels", () => {
    for (const hostname of ["Media", "media_1", "-media", "media.", "a..b"]) {
      oneProblem(
        labWith({ web: web({ hostname, port: 8096 }) }),
        "services.web.hostname",
        /is not a host name\. Use lower-case DNS labels, like "media"; it becomes media\.lab\.example\.com\./,
      );
    }
  });

  test("a hostname too long for DNS with the domain", () => {
    const hostname = Array.from({ length: 4 }, () => "a".repeat(60)).join(".");
    oneProblem(
      labWith({ web: web({ hostname, port: 8096 }) }),
      "services.web.hostname",
      /makes a name longer than 253 characters with the domain "lab\.example\.com"/,
    );
  });

  test("a hostname needs the port the app listens on", () => {
    oneProblem(
      labWith({ web: web({ hostname: "media" }) }),
      "services.web.port",
      /^is required with a hostname: the port the app listens on inside the container, like 8096\.$/,
    );
  });

  test("hostPort needs port", () => {
    oneProblem(labWith({ web: web({ hostPort: 8080 }) }), "services.web.hostPort", /needs `port`/);
  });

  test("two services with one hostname", () => {
    oneProblem(
      labWith({
        a: web({ hostname: "media", port: 8096 }),
        b: web({ hostname: "media", port: 8097 }),
      }),
      "services.b.hostname",
      /^"media\.lab\.example\.com" is already the hostname of service "a"\. Each hostname belongs to one service; pick another\.$/,
    );
  });

  test("the same hostname on two hosts is still one hostname", () => {
    oneProblem(
      labWith({
        a: web({ hostname: "media", port: 8096 }),
        b: { host: "pi", image: "nginx", hostname: "media", port: 8096 },
      }),
      "services.b.hostname",
      /already the hostname of service "a"/,
    );
  });

  test("two services on one host publishing one port", () => {
    oneProblem(
      labWith({ a: web({ port: 8080 }), b: web({ port: 80, hostPort: 8080 }) }),
      "services.b.hostPort",
      /^tcp port 8080 on host "odroid" is already published by services\.a\.port\. Each port is published once per host/,
    );
  });

  test("a hostPort and a ports entry collide on the host", () => {
    oneProblem(
      labWith({ a: web({ port: 2222 }), b: web({ ports: ["2222:22"] }) }),
      "services.b.ports[0]",
      /tcp port 2222 on host "odroid" is already published by services\.a\.port\./,
    );
  });

  test("a clash names the ports entry as written, not as sorted", () => {
    oneProblem(
      labWith({ a: web({ port: 8096 }), b: web({ ports: ["9000", "53/udp", "8096"] }) }),
      "services.b.ports[2]",
      /tcp port 8096 on host "odroid" is already published by services\.a\.port\./,
    );
  });

  test("the same port on two hosts, or as tcp and udp, is fine", () => {
    const lab = resolved(
      labWith({
        a: web({ port: 8080, ports: ["53/tcp", "53/udp"] }),
        b: { host: "pi", image: "nginx", port: 8080, ports: ["53/tcp"] },
      }),
    );
    assert.equal(lab.services.b?.container?.hostPort, 8080);
  });

  test("port 80 on a host whose Caddy serves routes asks for a hostPort", () => {
    oneProblem(
      labWith({ web: web({ hostname: "www", port: 80 }) }),
      "services.web.port",
      /^tcp port 80 on host "odroid" is Caddy's \(hosts\.odroid\.proxy\.httpPort\)\. Publish this service on another loopback port: set hostPort, like hostPort: 8080\.$/,
    );
    // The fix the message gives works.
    resolved(labWith({ web: web({ hostname: "www", port: 80, hostPort: 8080 }) }));
  });

  test("Caddy's HTTPS port (tcp, and udp for HTTP/3) and admin port are taken too", () => {
    const found = problems(
      labWith({
        site: web({ hostname: "www", port: 8000 }),
        a: web({ ports: ["443"] }),
        b: web({ ports: ["443/udp"] }),
        c: web({ port: 2019 }),
      }),
    );
    assert.deepEqual(
      found.map((p) => [p.path, p.message]),
      [
        [
          "services.a.ports[0]",
          'tcp port 443 on host "odroid" is Caddy\'s (hosts.odroid.proxy.httpsPort). Publish it on another port of the host, like "8443:443".',
        ],
        [
          "services.b.ports[0]",
          'udp port 443 on host "odroid" is Caddy\'s (hosts.odroid.proxy.httpsPort, for HTTP/3). Publish it on another port of the host, like "8443:443/udp".',
        ],
        [
          "services.c.port",
          'tcp port 2019 on host "odroid" is Caddy\'s (hosts.odroid.proxy.admin). Publish this service on another loopback port: set hostPort, like hostPort: 2020.',
        ],
      ],
    );
  });

  test("Caddy's ports follow the host's proxy settings", () => {
    const proxy = {
      odroid: { proxy: { httpPort: 8080, httpsPort: 8443, admin: "127.0.0.1:9019" } },
    };
    resolved(labWith({ site: web({ hostname: "www", port: 80, ports: ["443"] }) }, proxy));
    oneProblem(
      labWith({ site: web({ hostname: "www", port: 8080 }) }, proxy),
      "services.site.port",
      /tcp port 8080 on host "odroid" is Caddy's \(hosts\.odroid\.proxy\.httpPort\)/,
    );
  });

  test("a host that serves no hostname leaves Caddy's ports free", () => {
    const lab = resolved(
      labWith({
        site: web({ hostname: "www", port: 8000 }),
        dns: { host: "pi", image: "nginx", port: 80, ports: ["443", "53/udp"] },
      }),
    );
    assert.equal(lab.services.dns?.container?.hostPort, 80);
  });

  test("ports that are not port specs, each at its index", () => {
    const bad = ["53/sctp", "0", "70000:80", "http", "1:2:3", "8080:", ":80"];
    const found = problems(labWith({ web: web({ ports: ["8883", ...bad] }) }));
    assert.deepEqual(
      found.map((p) => p.path),
      bad.map((_, i) => `services.web.ports[${i + 1}]`),
    );
    for (const p of found) {
      assert.match(
        p.message,
        /is not a port\. Use "53\/udp", "8883" or "2222:22\/tcp" \(host:container\/protocol, protocol tcp by default\)\.$/,
      );
    }
  });
});

describe("validate-service: mounts, env, secrets and user", () => {
  test("a mount of a dataset the host does not declare lists the ones it does", () => {
    oneProblem(
      labWith({ web: web({ mounts: { "/media": { dataset: "tank/film" } } }) }),
      'services.web.mounts["/media"].dataset',
      /^"tank\/film" is not declared on host "odroid" \(declared: "tank\/media"\)\. Declare it under hosts\.odroid\.datasets, or mount one that is\.$/,
    );
  });

  test("a mount names a dataset of its own host, not another's", () => {
    oneProblem(
      labWith({
        web: { host: "pi", image: "nginx", mounts: { "/media": { dataset: "tank/media" } } },
      }),
      'services.web.mounts["/media"].dataset',
      /"tank\/media" is not declared on host "pi" \(declared: none\)/,
    );
  });

  test("a mount path must be absolute", () => {
    oneProblem(
      labWith({ web: web({ mounts: { media: { dataset: "tank/media" } } }) }),
      "services.web.mounts.media",
      /^"media" is not an absolute path\. Use the path inside the container, like "\/media"\.$/,
    );
  });

  test("a mount on the path of a state entry", () => {
    oneProblem(
      labWith({
        web: web({
          state: { config: { path: "/config" } },
          mounts: { "/config": { dataset: "tank/media" } },
        }),
      }),
      'services.web.mounts["/config"]',
      /^"\/config" is also the path of state "config"\. Give each mount its own path\.$/,
    );
  });

  test("environment variable names", () => {
    const found = problems(
      labWith({ web: web({ env: { "1ST": "a", "MY-VAR": "b", OK_1: "c" } }) }),
    );
    assert.deepEqual(
      found.map((p) => p.path),
      ['services.web.env["1ST"]', "services.web.env.MY-VAR"],
    );
    assert.match(
      found[1]?.message ?? "",
      /^"MY-VAR" is not an environment variable name\. Use letters, digits and "_", not starting with a digit\.$/,
    );
  });

  test("a secret written in env is sent to secrets", () => {
    const found = problems(labWith({ web: web({ env: { DB_PASSWORD: secret("web-db") } }) }));
    assert.ok(
      found.every((p) => p.path === "services.web.env.DB_PASSWORD"),
      String(found),
    );
    assert.ok(
      found.some(
        (p) =>
          p.message ===
          'secret("web-db") cannot go in env, whose values are stored in plain text. Move it to secrets: { DB_PASSWORD: secret("web-db") }.',
      ),
      found.map((p) => p.message).join("\n"),
    );
  });

  test("a secrets key that is neither a variable name nor an absolute path", () => {
    oneProblem(
      labWith({ web: web({ secrets: { "db-password": secret("web-db") } }) }),
      "services.web.secrets.db-password",
      /^"db-password" is neither an environment variable name nor an absolute file path\. Use a name like "DB_PASSWORD", or a path like "\/run\/secrets\/db"\.$/,
    );
  });

  test("a variable set both in env and in secrets", () => {
    oneProblem(
      labWith({ web: web({ env: { TOKEN: "x" }, secrets: { TOKEN: secret("web-token") } }) }),
      "services.web.secrets.TOKEN",
      /^"TOKEN" is also set in env\. Set each variable once: remove it from env or from secrets\.$/,
    );
  });

  test("a secret that is not secret(...) says how to write one", () => {
    for (const value of ["hunter2", { name: "web-db" }, 42]) {
      oneProblem(
        labWith({ web: web({ secrets: { DB_PASSWORD: value } }) }),
        "services.web.secrets.DB_PASSWORD",
        /is not a secret reference\. Write secret\("name"\) \(import \{ secret \} from "holt"\) and store the value with `holt secrets set name`\.$/,
      );
    }
  });

  test("secret names the secrets file cannot hold", () => {
    for (const name of ["DB Pass", "", "-db", "a".repeat(64), "db/password"]) {
      oneProblem(
        labWith({ web: web({ secrets: { DB_PASSWORD: secret(name) } }) }),
        "services.web.secrets.DB_PASSWORD",
        /is not a valid secret name\. Use lower-case letters, digits, "\.", "_" and "-", like "nextcloud-db"\.$/,
      );
    }
  });

  test("a user that is not numeric", () => {
    for (const user of ["jellyfin", "1000:abc", "1000:", ":1000", "-1"]) {
      oneProblem(
        labWith({ web: web({ user }) }),
        "services.web.user",
        /is not a numeric user\. Use "uid" or "uid:gid", like "1000:1000", so the state datasets can be owned by it\.$/,
      );
    }
  });
});

describe("validate-service: health and resources", () => {
  test("a health path must start with /", () => {
    oneProblem(
      labWith({ web: web({ port: 80, hostPort: 8080, health: { http: "health" } }) }),
      "services.web.health.http",
      /^"health" is not a path\. Use the HTTP path to probe, like "\/health"\.$/,
    );
  });

  test("a health path with a space or a character outside ASCII is refused, with its encoded form", () => {
    for (const [http, encoded] of [
      ["/health check", "/health%20check"],
      ["/santé", "/sant%C3%A9"],
      ["/ok?name=José Ñ", "/ok?name=Jos%C3%A9%20%C3%91"],
    ] as const) {
      const message = oneProblem(
        labWith({ web: web({ port: 80, hostPort: 8080, health: { http } }) }),
        "services.web.health.http",
        /cannot go in an HTTP request line as they are/,
      );
      assert.ok(message.endsWith(`Write them percent-encoded: "${encoded}".`), message);
    }
    const c = container(
      labWith({ web: web({ port: 8080, health: { http: "/h%20c?x=1&y=%C3%A9" } }) }),
      "web",
    );
    assert.equal(c.health?.http, "/h%20c?x=1&y=%C3%A9");
  });

  test("durations take ms, s, m or h", () => {
    const found = problems(
      labWith({
        web: web({ port: 8080, health: { http: "/", interval: "30 seconds", timeout: "0s" } }),
      }),
    );
    assert.deepEqual(
      found.map((p) => p.path),
      ["services.web.health.interval", "services.web.health.timeout"],
    );
    assert.match(
      found[0]?.message ?? "",
      /^"30 seconds" is not a duration\. Use a number with ms, s, m or h, like "30s"\.$/,
    );
  });

  test("without a timeout, a short interval shortens it", () => {
    const c = container(
      labWith({ web: web({ port: 8080, health: { http: "/", interval: "2s" } }) }),
      "web",
    );
    assert.deepEqual(c.health, { http: "/", intervalMs: 2_000, timeoutMs: 2_000, retries: 3 });
  });

  test("a timeout longer than the interval", () => {
    oneProblem(
      labWith({ web: web({ port: 8080, health: { http: "/", interval: "5s", timeout: "10s" } }) }),
      "services.web.health.timeout",
      /^is longer than the interval \(10000 ms > 5000 ms\)\. A probe must end before the next one starts\.$/,
    );
  });

  test("a health check needs a port to probe", () => {
    oneProblem(
      labWith({ web: web({ health: { http: "/health" } }) }),
      "services.web.health.http",
      /^needs the service's `port`: the HTTP check probes it\.$/,
    );
  });

  test("retries from 1 to 100", () => {
    oneProblem(
      labWith({ web: web({ port: 8080, health: { http: "/", retries: 0 } }) }),
      "services.web.health.retries",
      /0 is out of range \(minimum 1\)/,
    );
  });

  test("a memory limit is a size of at least 4M", () => {
    for (const memory of ["1M", "lots", "512"]) {
      oneProblem(
        labWith({ web: web({ resources: { memory } }) }),
        "services.web.resources.memory",
        /is not a memory limit of at least 4M\. /,
      );
    }
    assert.equal(
      container(labWith({ web: web({ resources: { memory: "4M" } }) }), "web").memory,
      4 * 1024 ** 2,
    );
  });

  test("cpus must be positive", () => {
    oneProblem(
      labWith({ web: web({ resources: { cpus: 0 } }) }),
      "services.web.resources.cpus",
      /out of range/,
    );
  });
});

describe("validate-service: the proxy and typos", () => {
  test("an admin address that is not host:port", () => {
    for (const admin of ["localhost", "127.0.0.1:99999", "http://127.0.0.1:2019", ":2019"]) {
      oneProblem(
        labWith({}, { odroid: { proxy: { admin } } }),
        "hosts.odroid.proxy.admin",
        /is not an address and port, nor a Unix socket\. Use Caddy's admin address on the host, like "127\.0\.0\.1:2019", or a Unix socket, like "unix\/\/run\/caddy\/admin\.sock"\.$/,
      );
    }
  });

  test("an admin address the network could reach is refused, saying why and what to write", () => {
    for (const admin of [
      "0.0.0.0:2019",
      "192.168.1.5:2019",
      "128.0.0.1:2019",
      "127.0.0.256:2019",
      "caddy.lan:2019",
      "[::]:2019",
      "[fe80::1]:2019",
      "[::2]:2019",
    ]) {
      const message = oneProblem(
        labWith({}, { odroid: { proxy: { admin } } }),
        "hosts.odroid.proxy.admin",
        /is not on the host's loopback\. Caddy's admin API has no authentication: whoever reaches it can read Caddy's config/,
        /Let it listen on the loopback, like "127\.0\.0\.1:2019", or a Unix socket, like "unix\/\/run\/caddy\/admin\.sock"; holt reaches either through its SSH connection\.$/,
      );
      assert.ok(message.startsWith(JSON.stringify(admin)), message);
    }
  });

  test("the loopback in any spelling, and a Unix socket, are Caddy's admin address", () => {
    const accepted: [string, number | null][] = [
      ["127.0.0.1:2019", 2019],
      ["127.1.2.3:2020", 2020],
      ["localhost:2021", 2021],
      ["[::1]:2022", 2022],
      ["[0:0:0:0:0:0:0:1]:2023", 2023],
      ["[::0:1]:2024", 2024],
      ["unix//run/caddy/admin.sock", null],
    ];
    for (const [admin, port] of accepted) {
      const lab = resolved(labWith({}, { odroid: { proxy: { admin } } }));
      assert.deepEqual(lab.hosts.odroid?.proxy, {
        adminAddress: admin,
        adminPort: port,
        httpsPort: 443,
        httpPort: 80,
      });
    }
  });

  test("a Unix socket must be an absolute path Caddy can listen on", () => {
    const cases: [string, RegExp][] = [
      [
        "unix/run/caddy/admin.sock",
        /names a relative socket path\. Write the absolute path after "unix\/", with two slashes/,
      ],
      [
        "unix//run/caddy/admin.sock|0660",
        /has a permission suffix \("\|…"\), which is Caddy's to apply, not holt's/,
      ],
      ["unix//run/caddy/\nadmin.sock", /has a newline \(U\+000A\) at character 17\./],
      ["unix//run/caddy/", /is not a socket path\./],
      [`unix//${"a".repeat(110)}`, /is longer than a Unix socket path may be \(107 bytes\)/],
    ];
    for (const [admin, pattern] of cases) {
      oneProblem(
        labWith({}, { odroid: { proxy: { admin } } }),
        "hosts.odroid.proxy.admin",
        pattern,
      );
    }
  });

  test("Caddy needs three different ports", () => {
    oneProblem(
      labWith({}, { odroid: { proxy: { httpsPort: 8443, httpPort: 8443 } } }),
      "hosts.odroid.proxy.httpPort",
      /^is the same port as httpsPort \(8443\)\./,
    );
    oneProblem(
      labWith({}, { odroid: { proxy: { admin: "127.0.0.1:443" } } }),
      "hosts.odroid.proxy.admin",
      /^uses port 443, which is also httpsPort\. Give Caddy's admin API a port of its own/,
    );
  });

  test("typos in the new objects get a suggestion", () => {
    const found = problems(
      labWith(
        {
          web: web({
            port: 8080,
            healht: {},
            mounts: { "/m": { dataset: "tank/media", readonly: true } },
            resources: { memroy: "1G" },
          }),
          api: web({ port: 8081, health: { http: "/", inteval: "5s" } }),
        },
        { odroid: { proxy: { admn: "127.0.0.1:2019" } } },
      ),
    );
    const at = (path: string) => found.find((p) => p.path === path)?.message ?? "(none)";
    assert.match(at("hosts.odroid.proxy.admn"), /Did you mean "admin"\?/);
    assert.match(at("services.web.healht"), /Did you mean "health"\?/);
    assert.match(at('services.web.mounts["/m"].readonly'), /Did you mean "readOnly"\?/);
    assert.match(at("services.web.resources.memroy"), /Did you mean "memory"\?/);
    assert.match(at("services.api.health.inteval"), /Did you mean "interval"\?/);
  });

  test("every problem of a service is reported in one run", () => {
    const found = problems(
      labWith({
        web: web({
          image: "Nginx",
          hostname: "Media",
          ports: ["53/sctp"],
          user: "www-data",
          health: { http: "/", timeout: "1h" },
          resources: { memory: "1K" },
        }),
      }),
    );
    assert.deepEqual(
      found.map((p) => p.path),
      [
        "services.web.image",
        "services.web.hostname",
        "services.web.port",
        "services.web.ports[0]",
        "services.web.user",
        "services.web.health.http",
        "services.web.health.timeout",
        "services.web.resources.memory",
      ],
    );
  });
});
