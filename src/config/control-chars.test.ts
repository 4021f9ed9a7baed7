import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatPath } from "./path.ts";
import { secret } from "./secret.ts";
import { validateLab } from "./validate.ts";

const FILE = "/lab/holt.config.ts";

/** A valid lab that sets every field holding free text: hosts, services, DNS, ACME, tunnel, backups. */
function fullLab(): Record<string, unknown> {
  return {
    domain: "lab.example.com",
    name: "home",
    hosts: {
      odroid: {
        address: "192.168.1.10",
        tailnet: "100.64.0.10",
        public: "203.0.113.7",
        stateRoot: "tank/holt",
        proxy: { admin: "127.0.0.1:2019", httpsPort: 443, httpPort: 80 },
        datasets: {
          "tank/media": {
            recordsize: "1M",
            quota: "2T",
            compression: "lz4",
            mountpoint: "/srv/media",
            properties: { "com.example:owner": "ciaran" },
          },
        },
      },
      nas: {
        address: "nas.lan",
        connect: {
          ssh: {
            user: "root",
            port: 2222,
            identityFile: "~/.ssh/id_ed25519",
            knownHostsFile: "~/.ssh/known_hosts",
          },
        },
        public: "198.51.100.9",
        datasets: { "vault/replicas": {} },
      },
    },
    services: {
      web: {
        host: "odroid",
        image: "docker.io/library/nginx:1.27",
        command: ["nginx", "-g", "daemon off;"],
        hostname: "www",
        port: 8080,
        hostPort: 18080,
        ports: ["2222:22/tcp"],
        state: {
          data: {
            path: "/data",
            quota: "10G",
            properties: { "com.example:note": "web data" },
            backup: "important",
          },
        },
        mounts: { "/media": { dataset: "tank/media", readOnly: true } },
        env: { GREETING: "hello world", TZ: "Europe/Amsterdam" },
        secrets: { DB_PASSWORD: secret("web-db"), "/run/secrets/token": secret("web-token") },
        user: "1000:1000",
        health: { http: "/health?full=1", interval: "30s", timeout: "5s", retries: 3 },
        resources: { memory: "512M", cpus: 1.5 },
        expose: "public",
        publicVia: "tunnel",
        certificate: { path: "/certs" },
        hooks: {
          preSnapshot: ["sh", "-c", "sync"],
          postSnapshot: ["true"],
          verify: ["test", "-f", "/data/ok"],
        },
      },
      db: {
        host: "odroid",
        image: "docker.io/library/postgres:16",
        hostname: "db",
        port: 5432,
        expose: "private",
        privateVia: "tailnet",
      },
      app: {
        host: "nas",
        image: "docker.io/library/busybox:1",
        hostname: "app",
        port: 8081,
        expose: "public",
        publicVia: "direct",
        dependsOn: ["db"],
      },
    },
    dns: {
      zones: {
        "lab.example.com": { provider: "cloudflare", apiToken: secret("cf"), zoneId: "zone1" },
      },
      internal: {
        "lab.example.com": {
          provider: "rfc2136",
          server: "192.168.1.3",
          tsig: { name: "holt-key", algorithm: "hmac-sha256", secret: secret("tsig") },
          nameservers: ["ns1.lab.example.com"],
        },
      },
      publicIpUrl: "https://ip.example.com/",
    },
    acme: {
      email: "admin@example.com",
      directory: "https://acme.example.com/directory",
      renewBefore: "30d",
    },
    edge: {
      tunnel: {
        provider: "cloudflare",
        accountId: "account",
        tunnelId: "6ff42ae2-765d-4adf-8112-31c55c1551ef",
        token: secret("tunnel"),
        apiToken: secret("cf"),
        host: "odroid",
        image: "docker.io/cloudflare/cloudflared:2025.1.0",
      },
    },
    backups: {
      policies: {
        important: {
          snapshots: { hourly: 24, daily: 7 },
          replica: { to: "nas:vault/replicas", keep: { daily: 30 } },
          offsite: { repository: "b2", keep: { daily: 30 } },
        },
      },
      repositories: {
        b2: {
          restic: "s3:https://s3.example.com/bucket/lab",
          password: secret("restic"),
          env: { AWS_ACCESS_KEY_ID: secret("b2-id"), AWS_DEFAULT_REGION: "eu-central-1" },
        },
      },
    },
  };
}

type Segment = string | number;

/** Every string in the config, and every key, with its path (secret() names included). */
function places(
  value: unknown,
  at: Segment[] = [],
): { at: Segment[]; key: boolean; text: string }[] {
  if (typeof value === "string") return [{ at, key: false, text: value }];
  if (Array.isArray(value)) return value.flatMap((item, i) => places(item, [...at, i]));
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([key, item]) => [
    { at: [...at, key], key: true, text: key },
    ...places(item, [...at, key]),
  ]);
}

/** A copy of `lab` with the string (or key) at `at` replaced by `text`. */
function withText(lab: unknown, at: Segment[], key: boolean, text: string): unknown {
  const copy = structuredClone(lab) as Record<Segment, unknown>;
  let parent: Record<Segment, unknown> = copy;
  for (const segment of at.slice(0, -1)) parent = parent[segment] as Record<Segment, unknown>;
  const last = at.at(-1) as Segment;
  if (!key) parent[last] = text;
  else if (!Array.isArray(parent)) {
    // Rebuilt in order, so only the key changes.
    const entries = Object.entries(parent).map(([k, v]) => [k === last ? text : k, v] as const);
    for (const k of Object.keys(parent)) delete parent[k];
    for (const [k, v] of entries) parent[k] = v;
  }
  return copy;
}

describe("control characters", () => {
  test("the full lab the cases start from is valid", () => {
    const result = validateLab(fullLab(), FILE);
    assert.ok(
      result.ok,
      result.ok ? "" : result.problems.map((p) => `${p.path}: ${p.message}`).join("\n"),
    );
  });

  // secret() objects are frozen; structuredClone makes plain copies that still read as refs.
  const all = places(fullLab()).filter((p) => !(p.key === false && p.at.at(-1) === "kind"));

  test("the walk covers the fields that reach unit files, mounts and command lines", () => {
    const paths = new Set(all.map((p) => formatPath(p.at)));
    for (const path of [
      "services.web.env.GREETING",
      "services.web.image",
      "services.web.user",
      "services.web.command[2]",
      "services.web.state.data.path",
      'services.web.mounts["/media"]',
      'services.web.mounts["/media"].dataset',
      "services.web.health.http",
      "services.web.hooks.preSnapshot[2]",
      "services.web.hostname",
      'services.web.secrets["/run/secrets/token"]',
      "hosts.nas.address",
      "hosts.nas.connect.ssh.identityFile",
      "hosts.nas.connect.ssh.knownHostsFile",
      'hosts.odroid.datasets["tank/media"].mountpoint',
      'hosts.odroid.datasets["tank/media"].properties["com.example:owner"]',
      "backups.repositories.b2.restic",
      "backups.repositories.b2.env.AWS_DEFAULT_REGION",
      "edge.tunnel.image",
      "name",
      "domain",
    ]) {
      assert.ok(paths.has(path), `the lab sets ${path}`);
    }
    assert.ok(all.length > 100, `${all.length} places`);
  });

  for (const [label, char] of [
    ["a newline", "\n"],
    ["NUL", "\u0000"],
    ["a tab", "\t"],
    ["ESC", "\u001b"],
    ["DEL", "\u007f"],
    ["a C1 control (CSI)", "\u009b"],
  ] as const) {
    test(`${label} is refused in every string and key, at its path, with nothing else said about it`, () => {
      for (const place of all) {
        const text = `${place.text.slice(0, 1)}${char}${place.text.slice(1)}`;
        const result = validateLab(withText(fullLab(), place.at, place.key, text), FILE);
        const path = formatPath(place.key ? [...place.at.slice(0, -1), text] : place.at);
        assert.ok(!result.ok, `accepted ${JSON.stringify(text)} at ${path}`);
        const here = result.problems.filter((p) => p.path === path);
        assert.equal(
          here.length,
          1,
          `${path}:\n${result.problems.map((p) => `${p.path}: ${p.message}`).join("\n")}`,
        );
        assert.match(
          here[0]?.message ?? "",
          /has (a |an |)[\w ()]*\(U\+00[0-9A-F]{2}\) at character 2\. holt writes config values into unit files/,
        );
        // The message shows the value escaped: no raw control character reaches a terminal.
        assert.ok(
          [...(here[0]?.message ?? "")].every((c) => c >= " " && (c < "\u007f" || c > "\u009f")),
          here[0]?.message,
        );
        // Nothing else is said about the same field (a changed key or value may still leave
        // other fields without what they refer to: a broken domain has no zone for hostnames).
        assert.deepEqual(
          result.problems.filter(
            (p) =>
              !/holt writes config values/.test(p.message) &&
              (p.path === path || p.path.startsWith(`${path}.`) || p.path.startsWith(`${path}[`)),
          ),
          [],
          path,
        );
      }
    });
  }

  test("the message names the character and what to do", () => {
    const lab = withText(fullLab(), ["services", "web", "env", "GREETING"], false, "a\nb");
    const result = validateLab(lab, FILE);
    assert.ok(!result.ok);
    assert.deepEqual(result.problems, [
      {
        path: "services.web.env.GREETING",
        message:
          '"a\\nb" has a newline (U+000A) at character 2. holt writes config values into unit files, mount targets and command lines, where a control character would break or change them. Remove it; a value of several lines belongs in a secret file (docs/secrets.md).',
      },
    ]);
  });
});
