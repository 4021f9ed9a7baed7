import assert from "node:assert/strict";
import { test } from "node:test";
import type { OwnedResource } from "../../engine/provider.ts";
import type { Resource } from "../../engine/resource.ts";
import {
  DNS_RECORD_TYPE,
  type DnsRecordInputs,
  dnsRecordAddress,
  dnsRecordName,
  EDGE_HOST,
  type ZoneRef,
} from "../../model/dns-record.ts";
import { cannotCoexist, type RecordPlace } from "./conflicts.ts";
import { createDnsRecordProvider, type DnsRecordState } from "./provider.ts";

const at = (
  name: string,
  type: string,
  zone = "lab.example.com",
  view = "public",
): RecordPlace => ({
  view: view as RecordPlace["view"],
  zone,
  name,
  type,
});

const W = "www.lab.example.com";

const CASES: readonly [string, RecordPlace, RecordPlace, boolean][] = [
  ["A then CNAME at one name", at(W, "A"), at(W, "CNAME"), true],
  ["CNAME then A at one name", at(W, "CNAME"), at(W, "A"), true],
  ["AAAA and CNAME", at(W, "AAAA"), at(W, "CNAME"), true],
  ["TXT and CNAME", at(W, "TXT"), at(W, "CNAME"), true],
  ["A and AAAA live together", at(W, "A"), at(W, "AAAA"), false],
  ["A and TXT live together", at(W, "A"), at(W, "TXT"), false],
  ["one type is one set, not a clash", at(W, "CNAME"), at(W, "CNAME"), false],
  ["other names never clash", at(W, "A"), at("api.lab.example.com", "CNAME"), false],
  [
    "an internal zone is another server",
    at(W, "A"),
    at(W, "CNAME", "lab.example.com", "internal"),
    false,
  ],
  ["another zone of the same view", at(W, "A", "example.com"), at(W, "CNAME"), false],
];

for (const [what, a, b, expected] of CASES) {
  test(`cannotCoexist: ${what}`, () => {
    assert.equal(cannotCoexist(a, b), expected);
    assert.equal(cannotCoexist(b, a), expected, "symmetric");
  });
}

test("the dns.record provider names the removed sets a desired one must wait for", () => {
  const provider = createDnsRecordProvider();
  const zone: ZoneRef = {
    zone: "lab.example.com",
    view: "public",
    provider: { kind: "cloudflare", apiTokenSecret: "cf", zoneId: null },
    nameservers: null,
  };
  const desired: Resource<DnsRecordInputs> = {
    address: dnsRecordAddress("public", W, "CNAME"),
    type: DNS_RECORD_TYPE,
    host: EDGE_HOST,
    name: dnsRecordName("public", W, "CNAME"),
    inputs: {
      zone,
      name: W,
      type: "CNAME",
      ttl: 300,
      values: ["t.cfargotunnel.com"],
      proxied: true,
    },
    dependsOn: [],
    configPath: "services.www.hostname",
  };
  const removed = (name: string, type: "A" | "AAAA" | "TXT"): OwnedResource<DnsRecordState> => ({
    address: dnsRecordAddress("public", name, type),
    type: DNS_RECORD_TYPE,
    host: EDGE_HOST,
    name: dnsRecordName("public", name, type),
    dependsOn: [],
    observed: {
      state: { zone: zone.zone, view: "public", name, type, ttl: 300, values: ["10.0.0.1"] },
      managed: true,
    },
  });
  const old = [removed(W, "A"), removed(W, "AAAA"), removed("api.lab.example.com", "A")];
  assert.deepEqual(provider.conflictsWith?.(desired, old), [
    dnsRecordAddress("public", W, "A"),
    dnsRecordAddress("public", W, "AAAA"),
  ]);
});
