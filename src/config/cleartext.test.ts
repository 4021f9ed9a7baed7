import assert from "node:assert/strict";
import { test } from "node:test";
import { cleartextWarnings, isLoopbackHost } from "./cleartext.ts";
import type { ResolvedDnsZone, ResolvedLab, ResolvedZoneProvider } from "./types.ts";

const LOOPBACK: readonly [string, boolean][] = [
  ["localhost", true],
  ["api.localhost", true],
  ["127.0.0.1", true],
  ["127.8.9.10", true],
  ["[::1]", true],
  ["::1", true],
  ["192.168.1.2", false],
  ["10.0.0.1", false],
  ["[fd00::1]", false],
  ["pdns.lan", false],
  ["localhost.example.com", false],
];

for (const [host, expected] of LOOPBACK) {
  test(`isLoopbackHost(${JSON.stringify(host)}) is ${expected}`, () => {
    assert.equal(isLoopbackHost(host), expected);
  });
}

function lab(providers: Record<string, ResolvedZoneProvider>): ResolvedLab {
  const zones: ResolvedDnsZone[] = Object.entries(providers).map(([zone, provider]) => ({
    zone,
    view: "public",
    provider,
    nameservers: null,
    ttl: 300,
    wildcard: false,
    configPath: `dns.zones["${zone}"]`,
  }));
  return { dns: { zones, publicIpUrl: "https://api.ipify.org" } } as unknown as ResolvedLab;
}

const pdns = (url: string): ResolvedZoneProvider => ({
  kind: "powerdns",
  url,
  apiKeySecret: "pdns",
  serverId: "localhost",
});

test("a PowerDNS API over plain http to another machine gets a warning naming the zone and the fix", () => {
  const warnings = cleartextWarnings(
    lab({
      "lan.example.com": pdns("http://192.168.1.2:8081"),
      "local.example.com": pdns("http://127.0.0.1:8081"),
      "tls.example.com": pdns("https://pdns.lan:8443"),
      "v6.example.com": pdns("http://[::1]:8081"),
      "cf.example.com": { kind: "cloudflare", apiTokenSecret: "cf", zoneId: null },
    }),
  );
  assert.deepEqual(warnings, [
    'dns.zones["lan.example.com"].url is "http://192.168.1.2:8081": plain http to another machine, so the PowerDNS API key travels in clear text on every request. Put TLS in front of the API (a reverse proxy) and use an https:// URL, or reach it over loopback (an SSH tunnel).',
  ]);
});

test("no DNS, no warnings", () => {
  assert.deepEqual(cleartextWarnings({ dns: null } as unknown as ResolvedLab), []);
});
