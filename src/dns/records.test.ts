/** Value normalization (RFC 5952 for AAAA), TXT splitting at 255 bytes, and server address strings. */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  canonicalValues,
  formatIpv6,
  joinTxt,
  normalizeName,
  normalizeValue,
  parseIpv6,
  splitTxt,
} from "./records.ts";
import { formatServer, parseServer } from "./transport.ts";

test("AAAA values come out in RFC 5952 form", () => {
  const cases: [string, string][] = [
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // first of two equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["::", "::"],
    ["::1", "::1"],
    ["fe80::", "fe80::"],
    ["::ffff:192.0.2.1", "::ffff:c000:201"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
    ["2001:db8:0:0:0:1:0:0", "2001:db8::1:0:0"],
  ];
  for (const [input, want] of cases) assert.equal(normalizeValue("AAAA", input), want, input);
  for (const bad of [
    "1::2::3",
    "12345::",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    ":1::",
    "::g",
    "1.2.3.4",
  ]) {
    assert.equal(parseIpv6(bad), undefined, bad);
  }
  assert.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0, 0]), "::");
});

test("A, CNAME and names normalize; bad values are refused", () => {
  assert.equal(normalizeValue("A", "010.0.0.1"), "10.0.0.1");
  assert.equal(normalizeValue("A", "10.0.0.256"), undefined);
  assert.equal(normalizeValue("A", "10.0.0"), undefined);
  assert.equal(normalizeValue("CNAME", "Web.Lab.Test."), "web.lab.test");
  assert.equal(normalizeName("Lab.Test."), "lab.test");
  assert.deepEqual(canonicalValues("A", ["10.0.0.2", "10.0.0.1", "10.0.0.2"]), [
    "10.0.0.1",
    "10.0.0.2",
  ]);
  assert.throws(() => canonicalValues("A", ["nope"]), { code: "HOLT_E_INTERNAL" });
});

test("TXT values split every 255 bytes (UTF-8 bytes, not characters) and join back", () => {
  assert.deepEqual(
    splitTxt("x".repeat(510)).map((c) => c.length),
    [255, 255],
  );
  assert.deepEqual(
    splitTxt("x".repeat(511)).map((c) => c.length),
    [255, 255, 1],
  );
  assert.deepEqual(
    splitTxt("").map((c) => c.length),
    [0],
  );
  const accents = "é".repeat(200); // 400 bytes: a character is cut between strings
  const chunks = splitTxt(accents);
  assert.deepEqual(
    chunks.map((c) => c.length),
    [255, 145],
  );
  assert.equal(joinTxt(chunks), accents);
});

test("servers are host:port or [v6]:port", () => {
  assert.deepEqual(parseServer("192.0.2.1:53"), { host: "192.0.2.1", port: 53 });
  assert.deepEqual(parseServer("[2001:db8::1]:5353"), { host: "2001:db8::1", port: 5353 });
  assert.deepEqual(parseServer("ns1.example.com:53"), { host: "ns1.example.com", port: 53 });
  for (const bad of ["192.0.2.1", "2001:db8::1:53", "[2001:db8::1]", "host:0", "host:70000", ""]) {
    assert.throws(() => parseServer(bad), { code: "HOLT_E_DNS" }, bad);
  }
  assert.equal(formatServer({ host: "2001:db8::1", port: 53 }), "[2001:db8::1]:53");
  assert.equal(formatServer({ host: "192.0.2.1", port: 53 }), "192.0.2.1:53");
});
