import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { secret } from "../config/secret.ts";
import type { ResolvedLab } from "../config/types.ts";
import { validateLab } from "../config/validate.ts";
import type { CertificateInputs } from "./certificate.ts";
import { compileLab } from "./compile.ts";
import type { ContainerInputs } from "./container.ts";
import type { DnsRecordInputs } from "./dns-record.ts";
import type { RouteInputs } from "./route.ts";

function lab(input: unknown): ResolvedLab {
  const result = validateLab(input, "/lab/holt.config.ts");
  if (!result.ok) assert.fail(result.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return result.lab;
}

function problemsOf(input: unknown): string[] {
  const result = validateLab(input, "/lab/holt.config.ts");
  return result.ok ? [] : result.problems.map((p) => `${p.path}: ${p.message}`);
}

const TUNNEL_ID = "6ff42ae2-765d-4adf-8112-31c55c1551ef";
const rfc2136 = {
  provider: "rfc2136",
  server: "192.168.1.2",
  tsig: { name: "holt", secret: secret("tsig") },
};

function svc(hostname: string, extra: Record<string, unknown> = {}, port = 8000) {
  return { host: "odroid", image: "docker.io/library/nginx:1.27", hostname, port, ...extra };
}

const BASE = {
  domain: "lab.example.com",
  name: "home",
  hosts: {
    odroid: { address: "192.168.1.10", tailnet: "100.64.0.10", public: "203.0.113.7" },
    nas: { address: "192.168.1.20", connect: { ssh: {} }, public: "auto" },
  },
  dns: {
    zones: { "lab.example.com": { ...rfc2136, ttl: 120 } },
    internal: { "lab.example.com": { provider: "rfc2136", server: "192.168.1.3" } },
  },
};

function records(l: ResolvedLab, options = {}) {
  const { graph, problems } = compileLab(l, {}, options);
  const recs = graph.resources
    .filter((r) => r.type === "dns.record")
    .map((r) => {
      const i = r.inputs as DnsRecordInputs;
      return `${r.address} ${i.values.join(",")} ttl=${i.ttl}${i.proxied ? " proxied" : ""}`;
    });
  return { recs, problems, graph };
}

describe("compileEdge: one record per hostname, where the exposure says", () => {
  test("private: the LAN address in the internal zone (split horizon); tailnet when asked", () => {
    const { recs } = records(
      lab({
        ...BASE,
        services: {
          media: svc("media", {}, 8001),
          vpn: svc("vpn", { privateVia: "tailnet" }, 8002),
        },
      }),
    );
    assert.deepEqual(recs, [
      "dns.record:@edge/internal/media.lab.example.com/A 192.168.1.10 ttl=300",
      "dns.record:@edge/internal/vpn.lab.example.com/A 100.64.0.10 ttl=300",
    ]);
  });

  test("public direct: the public address in the public zone; auto uses the detected one", () => {
    const l = lab({
      ...BASE,
      services: {
        web: svc("www", { expose: "public" }, 8003),
        blog: { ...svc("blog", { expose: "public" }, 8004), host: "nas" },
      },
    });
    assert.deepEqual(records(l, { publicAddresses: { nas: "198.51.100.9" } }).recs, [
      "dns.record:@edge/public/blog.lab.example.com/A 198.51.100.9 ttl=120",
      "dns.record:@edge/public/www.lab.example.com/A 203.0.113.7 ttl=120",
    ]);
    const failed = records(l, { publicAddresses: {}, publicAddressError: "HTTP 503" });
    assert.deepEqual(
      failed.problems.map((p) => `${p.path}: ${p.message}`),
      [
        'services.blog.expose: host "nas" has public: "auto" but its public address could not be detected (HTTP 503). Check dns.publicIpUrl, or set hosts.nas.public to the address.',
      ],
    );
  });

  test("public through the tunnel: a proxied CNAME to the tunnel, ingress and cloudflared", () => {
    const { recs, graph } = records(
      lab({
        domain: "lab.example.com",
        name: "home",
        hosts: { odroid: { address: "192.168.1.10" } },
        dns: { zones: { "lab.example.com": { provider: "cloudflare", apiToken: secret("cf") } } },
        edge: {
          tunnel: {
            provider: "cloudflare",
            accountId: "acc",
            tunnelId: TUNNEL_ID,
            token: secret("tunnel"),
            apiToken: secret("cf"),
            host: "odroid",
          },
        },
        services: { web: svc("www", { expose: "public" }) },
      }),
    );
    assert.deepEqual(recs, [
      `dns.record:@edge/public/www.lab.example.com/CNAME ${TUNNEL_ID}.cfargotunnel.com ttl=300 proxied`,
    ]);
    const tunnel = graph.resources.find((r) => r.type === "cloudflare.tunnel");
    assert.ok(tunnel !== undefined);
    assert.deepEqual((tunnel.inputs as { ingress: unknown }).ingress, [
      { hostname: "www.lab.example.com", service: "http://web:8000" },
    ]);
    const cloudflared = graph.resources.find(
      (r) => r.address === "podman.container:odroid/holt-cloudflared",
    );
    const inputs = cloudflared?.inputs as ContainerInputs;
    assert.deepEqual(
      inputs.secrets.map((s) => [s.target, s.kind, s.secret]),
      [["TUNNEL_TOKEN", "env", "tunnel"]],
    );
    assert.ok(cloudflared?.dependsOn.includes("podman.container:odroid/holt-web"));
  });

  test("internal services get no record; a name in no zone is a problem", () => {
    assert.deepEqual(
      records(
        lab({
          ...BASE,
          services: { db: { host: "odroid", image: "docker.io/library/postgres:16" } },
        }),
      ).recs,
      [],
    );
    assert.deepEqual(
      problemsOf({ ...BASE, domain: "other.example.org", services: { media: svc("media") } }),
      [
        'services.media.hostname: "media.other.example.org" is in no zone of dns.zones or dns.internal. Add the zone it belongs to.',
      ],
    );
  });
});

describe("compileEdge: certificates", () => {
  const ACME = { email: "me@example.com", directory: "letsencrypt-staging" };

  test("one per hostname by default, one wildcard + apex with wildcard: true; routes depend on them", () => {
    const l = lab({
      ...BASE,
      dns: {
        zones: {
          "lab.example.com": rfc2136,
          "wild.lab.example.com": { ...rfc2136, wildcard: true },
        },
      },
      acme: ACME,
      services: {
        media: svc("media", {}, 8001),
        a: svc("a.wild", {}, 8002),
        b: svc("b.wild", { certificate: { path: "/certs" }, user: "1000" }, 8003),
      },
    });
    const { graph } = compileLab(l, {});
    const certs = graph.resources.filter((r) => r.type === "tls.certificate");
    assert.deepEqual(
      certs.map((r) => [r.address, (r.inputs as CertificateInputs).names.join(" ")]).sort(),
      [
        [
          "tls.certificate:odroid/*.wild.lab.example.com",
          "*.wild.lab.example.com wild.lab.example.com",
        ],
        ["tls.certificate:odroid/media.lab.example.com", "media.lab.example.com"],
      ],
    );
    const wildcard = certs.find((r) => r.name === "*.wild.lab.example.com")
      ?.inputs as CertificateInputs;
    assert.equal(
      wildcard.acme.directoryUrl,
      "https://acme-staging-v02.api.letsencrypt.org/directory",
    );
    assert.deepEqual(wildcard.files, {
      dir: "/var/lib/holt/certs/home/wildcard.wild.lab.example.com",
      owner: "1000:1000",
    });
    const route = graph.resources.find(
      (r) => r.address === "caddy.route:odroid/a.wild.lab.example.com",
    );
    assert.ok(route !== undefined);
    assert.deepEqual((route.inputs as RouteInputs).tls, { certificate: "*.wild.lab.example.com" });
    assert.ok(route.dependsOn.includes("tls.certificate:odroid/*.wild.lab.example.com"));
    const b = graph.resources.find((r) => r.address === "podman.container:odroid/holt-b");
    assert.ok(b !== undefined);
    assert.deepEqual((b.inputs as ContainerInputs).certificate, {
      dir: "/var/lib/holt/certs/home/wildcard.wild.lab.example.com",
      target: "/certs",
    });
  });

  test("acme needs a public zone; a certificate mount needs acme and an absolute path of its own", () => {
    assert.deepEqual(problemsOf({ ...BASE, dns: undefined, acme: ACME, services: {} }), [
      "acme: needs dns.zones: holt proves each hostname to the CA with a DNS-01 challenge in the hostname's public zone. Add the zone under dns.zones.",
    ]);
    const problems = problemsOf({
      ...BASE,
      services: { media: svc("media", { certificate: { path: "certs" } }) },
    });
    assert.ok(
      problems.some((p) =>
        p.startsWith('services.media.certificate.path: "certs" is not an absolute path'),
      ),
      problems.join("\n"),
    );
    assert.ok(
      problems.some((p) =>
        p.startsWith("services.media.certificate: needs a hostname and the lab's acme settings"),
      ),
      problems.join("\n"),
    );
  });
});

describe("validate: exposure", () => {
  test("public without a way in, tailnet without an address, internal with a hostname", () => {
    const problems = problemsOf({
      domain: "lab.example.com",
      hosts: { odroid: {} },
      dns: { zones: { "lab.example.com": rfc2136 } },
      services: {
        web: svc("www", { expose: "public" }, 8001),
        vpn: svc("vpn", { privateVia: "tailnet" }, 8002),
        db: svc("db", { expose: "internal" }, 8003),
        tun: svc("tun", { expose: "public", publicVia: "tunnel" }, 8004),
      },
    });
    assert.deepEqual(problems.sort(), [
      'services.db.expose: "internal" services have no hostname. Remove hostname, or use expose: "private" (LAN only) or "public".',
      'services.tun.publicVia: "tun.lab.example.com" is in zone "lab.example.com" (rfc2136), but a Cloudflare Tunnel needs its hostnames in a zone on Cloudflare. Move the zone to Cloudflare or use publicVia: "direct".',
      'services.tun.publicVia: is "tunnel" but edge.tunnel is not set. Configure edge.tunnel, or use publicVia: "direct" with a port forwarded on your router.',
      'services.vpn.privateVia: host "odroid" has no tailnet address. Set hosts.odroid.tailnet, like "100.64.0.10".',
      'services.web.expose: is public and reached directly, but host "odroid" has no public address. Set hosts.odroid.public (an IP, or "auto"), or configure edge.tunnel and use publicVia: "tunnel".',
    ]);
  });

  test("a Cloudflare zone takes a TTL of 1 or 60 to 86400, and says so; other providers take any", () => {
    const zones = (ttl: number) => ({
      "lab.example.com": { provider: "cloudflare", apiToken: secret("cf"), ttl },
      "other.example.com": { ...rfc2136, ttl },
    });
    for (const ttl of [30, 59, 86401, 604800]) {
      const problems = problemsOf({ ...BASE, dns: { zones: zones(ttl) }, services: {} });
      assert.deepEqual(problems, [
        `dns.zones["lab.example.com"].ttl: ${ttl} is not a TTL Cloudflare accepts: it takes 1 (automatic, 300 seconds) or 60 to 86400 seconds. Use ttl: 60 for the shortest, or 1 for automatic.`,
      ]);
    }
    for (const ttl of [1, 60, 300, 86400]) {
      assert.deepEqual(problemsOf({ ...BASE, dns: { zones: zones(ttl) }, services: {} }), []);
    }
  });

  test("on Cloudflare, ttl 1 (automatic) is the 300 s it reads back as", () => {
    const { recs } = records(
      lab({
        ...BASE,
        dns: {
          zones: { "lab.example.com": { provider: "cloudflare", apiToken: secret("cf"), ttl: 1 } },
        },
        services: { media: svc("media") },
      }),
    );
    assert.deepEqual(recs, [
      "dns.record:@edge/public/media.lab.example.com/A 192.168.1.10 ttl=300",
    ]);
  });

  test("zone, server and provider mistakes name the key and the fix", () => {
    const problems = problemsOf({
      domain: "lab.example.com",
      hosts: { odroid: { public: "my-router" } },
      dns: {
        zones: {
          "Lab.Example.com": rfc2136,
          "lab.example.com": {
            provider: "rfc2136",
            server: "[fe80::1",
            nameservers: ["ns1:99999"],
          },
          "x.example.com": { provider: "bind", server: "1.2.3.4" },
        },
      },
    });
    assert.deepEqual(problems.sort(), [
      'dns.zones["Lab.Example.com"]: "Lab.Example.com" is not a zone name. Use the zone\'s apex in lower case, like "lab.example.com".',
      'dns.zones["lab.example.com"].nameservers[0]: "ns1:99999" is not a server address. Use "host" or "host:port".',
      'dns.zones["lab.example.com"].server: "[fe80::1" is not a server address. Use "host" or "host:port", like "192.168.1.2:53".',
      'dns.zones["x.example.com"].provider: "bind" is not a DNS provider. Use provider: "rfc2136", "powerdns", "cloudflare".',
      'hosts.odroid.public: "my-router" is not an IP address. Use the address your router has on the internet, or "auto" to detect it.',
    ]);
  });
});
