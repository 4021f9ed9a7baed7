/**
 * The wire format against bytes written out by hand: UPDATE messages with
 * every prerequisite and update form, a TSIG-signed request whose MAC was
 * computed independently (Python's hmac over the RFC 8945 variables), response
 * verification, and responses that are cut short or malformed.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { test } from "node:test";
import type { TsigKey } from "./connection.ts";
import { signRequest, verifyResponse } from "./tsig.ts";
import {
  encodeQuery,
  encodeRdata,
  encodeUpdate,
  MalformedMessageError,
  parseMessage,
  rcodeName,
} from "./wire.ts";

const hex = (text: string): Buffer => Buffer.from(text.replace(/[\s|]/g, ""), "hex");

const LAB_TEST = "03 6c6162 04 74657374 00";
const WWW = `03 777777 ${LAB_TEST}`;

test("an UPDATE carries the zone, each prerequisite form and each update form", () => {
  const message = encodeUpdate(
    0x1234,
    "lab.test",
    [
      { kind: "rrset-equals", name: "www.lab.test", type: "A", values: ["10.0.0.1"] },
      { kind: "rrset-absent", name: "new.lab.test", type: "A" },
      { kind: "name-unused", name: "c.lab.test" },
    ],
    [
      { kind: "delete-rrset", name: "www.lab.test", type: "A" },
      { kind: "add", name: "www.lab.test", type: "A", ttl: 60, value: "10.0.0.2" },
      { kind: "delete-rr", name: "t.lab.test", type: "TXT", value: "hi" },
    ],
  );
  const expected = hex(`
    1234 2800 0001 0003 0003 0000
    ${LAB_TEST} 0006 0001
    ${WWW} 0001 0001 00000000 0004 0a000001
    036e6577 ${LAB_TEST} 0001 00fe 00000000 0000
    0163 ${LAB_TEST} 00ff 00fe 00000000 0000
    ${WWW} 0001 00ff 00000000 0000
    ${WWW} 0001 0001 0000003c 0004 0a000002
    0174 ${LAB_TEST} 0010 00fe 00000000 0003 026869
  `);
  assert.equal(message.toString("hex"), expected.toString("hex"));
});

test("rdata: AAAA is 16 bytes, CNAME a lower-case name, TXT split every 255 bytes", () => {
  assert.equal(
    encodeRdata("AAAA", "2001:db8::1").toString("hex"),
    "20010db8000000000000000000000001",
  );
  assert.equal(
    encodeRdata("CNAME", "Web.Lab.Test.").toString("hex"),
    hex(`03776562 ${LAB_TEST}`).toString("hex"),
  );
  const long = encodeRdata("TXT", "x".repeat(300));
  assert.equal(long.length, 1 + 255 + 1 + 45);
  assert.equal(long[0], 255);
  assert.equal(long[256], 45);
  assert.equal(encodeRdata("TXT", "").toString("hex"), "00");
});

test("a name with a label over 63 bytes is refused", () => {
  assert.throws(
    () =>
      encodeUpdate(
        1,
        "lab.test",
        [],
        [{ kind: "delete-rrset", name: `${"a".repeat(64)}.lab.test`, type: "A" }],
      ),
    {
      code: "HOLT_E_DNS",
    },
  );
});

const KEY: TsigKey = {
  name: "holt",
  algorithm: "hmac-sha256",
  secret: Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString("base64"),
};
const UNSIGNED = hex(`
  abcd 2800 0001 0000 0001 0000
  ${LAB_TEST} 0006 0001
  0474787431 ${LAB_TEST} 0010 0001 00000078 0006 0568656c6c6f
`);
/** HMAC-SHA256 over UNSIGNED + the TSIG variables, computed with Python's hmac module. */
const KNOWN_MAC = "f96586441866b3944bb670fefd6b376c35a32ee74db5880c0068c0007fde6fd0";

test("the UPDATE for the TSIG vector is what encodeUpdate writes", () => {
  const built = encodeUpdate(
    0xabcd,
    "lab.test",
    [],
    [{ kind: "add", name: "txt1.lab.test", type: "TXT", ttl: 120, value: "hello" }],
  );
  assert.equal(built.toString("hex"), UNSIGNED.toString("hex"));
});

test("a signed request ends in the TSIG record RFC 8945 describes, with the known MAC", () => {
  const { message, mac } = signRequest(UNSIGNED, KEY, 1_700_000_000);
  assert.equal(mac.toString("hex"), KNOWN_MAC);
  const tsigRecord = hex(`
    04686f6c7400 00fa 00ff 00000000 003d
    0b686d61632d73686132353600 00006553f100 012c 0020 ${KNOWN_MAC} abcd 0000 0000
  `);
  const expected = Buffer.concat([UNSIGNED, tsigRecord]);
  expected.writeUInt16BE(1, 10); // ARCOUNT
  assert.equal(message.toString("hex"), expected.toString("hex"));
});

test("every algorithm signs with its own hash and wire name", () => {
  for (const [algorithm, wire, length] of [
    ["hmac-md5", "hmac-md5.sig-alg.reg.int", 16],
    ["hmac-sha1", "hmac-sha1", 20],
    ["hmac-sha224", "hmac-sha224", 28],
    ["hmac-sha384", "hmac-sha384", 48],
    ["hmac-sha512", "hmac-sha512", 64],
  ] as const) {
    const signed = signRequest(UNSIGNED, { ...KEY, algorithm }, 1_700_000_000);
    assert.equal(signed.mac.length, length, algorithm);
    const parsed = parseMessage(asResponse(signed.message));
    assert.equal(parsed.tsig?.algorithm, wire);
    assert.equal(parsed.tsig?.mac.toString("hex"), signed.mac.toString("hex"));
  }
});

/** The same bytes with QR set, as if echoed by a server. */
function asResponse(message: Buffer): Buffer {
  const out = Buffer.from(message);
  out[2] = (out[2] ?? 0) | 0x80;
  return out;
}

/** A response signed the way a server signs it: request MAC first, then the message, then the variables. */
function serverResponse(requestMac: Buffer, key: TsigKey, time: number, tsigError = 0): Buffer {
  const body = hex(`abcd a800 0001 0000 0000 0000 ${LAB_TEST} 0006 0001`);
  const variables = hex(`
    04686f6c7400 00ff 00000000 0b686d61632d73686132353600
    ${time.toString(16).padStart(12, "0")} 012c ${tsigError.toString(16).padStart(4, "0")} 0000
  `);
  const mac =
    tsigError === 0
      ? createHmac("sha256", Buffer.from(key.secret, "base64"))
          .update(Buffer.from([requestMac.length >> 8, requestMac.length & 0xff]))
          .update(requestMac)
          .update(body)
          .update(variables)
          .digest()
      : Buffer.alloc(0);
  const rdata = Buffer.concat([
    hex(`0b686d61632d73686132353600 ${time.toString(16).padStart(12, "0")} 012c`),
    Buffer.from([0, mac.length]),
    mac,
    hex(`abcd ${tsigError.toString(16).padStart(4, "0")} 0000`),
  ]);
  const record = Buffer.concat([
    hex("04686f6c7400 00fa 00ff 00000000"),
    Buffer.from([0, rdata.length]),
    rdata,
  ]);
  const out = Buffer.concat([body, record]);
  out.writeUInt16BE(1, 10);
  return out;
}

test("a correctly signed response verifies; a changed byte, another key or a skewed clock does not", () => {
  const { mac } = signRequest(UNSIGNED, KEY, 1_700_000_000);
  const raw = serverResponse(mac, KEY, 1_700_000_001);
  const parsed = parseMessage(raw);
  assert.equal(parsed.tsig?.originalId, 0xabcd);
  assert.equal(verifyResponse(raw, parsed, KEY, mac, 1_700_000_002), null);

  const tampered = Buffer.from(raw);
  tampered[3] = 0x88; // rcode NXRRSET instead of NOERROR
  assert.deepEqual(verifyResponse(tampered, parseMessage(tampered), KEY, mac, 1_700_000_002), {
    kind: "bad-mac",
  });
  const otherSecret = { ...KEY, secret: Buffer.alloc(32, 7).toString("base64") };
  assert.deepEqual(verifyResponse(raw, parsed, otherSecret, mac, 1_700_000_002), {
    kind: "bad-mac",
  });
  assert.deepEqual(verifyResponse(raw, parsed, { ...KEY, name: "other" }, mac, 1_700_000_002), {
    kind: "wrong-key",
  });
  assert.deepEqual(verifyResponse(raw, parsed, KEY, mac, 1_700_001_000), {
    kind: "bad-time",
    skewSeconds: 999,
  });
  // The response MAC covers the request MAC: another request's MAC does not verify.
  assert.deepEqual(verifyResponse(raw, parsed, KEY, Buffer.alloc(32), 1_700_000_002), {
    kind: "bad-mac",
  });
});

test("a server's TSIG error (BADKEY, BADSIG) is reported as such, and a missing TSIG as unsigned", () => {
  const { mac } = signRequest(UNSIGNED, KEY, 1_700_000_000);
  const refused = serverResponse(mac, KEY, 1_700_000_000, 17);
  assert.deepEqual(verifyResponse(refused, parseMessage(refused), KEY, mac, 1_700_000_000), {
    kind: "server-error",
    error: 17,
  });
  assert.equal(rcodeName(17), "BADKEY");
  assert.equal(rcodeName(16), "BADSIG");
  const bare = hex(`abcd a800 0001 0000 0000 0000 ${LAB_TEST} 0006 0001`);
  assert.deepEqual(verifyResponse(bare, parseMessage(bare), KEY, mac, 1_700_000_000), {
    kind: "unsigned",
  });
});

test("an answer's records come out normalized: TXT strings joined, AAAA in RFC 5952 form, names lower case", () => {
  const raw = hex(`
    0007 8400 0001 0004 0000 0000
    ${WWW} 0010 0001
    c00c 0010 0001 0000012c 0007 03616263 02 6465
    c00c 001c 0001 0000012c 0010 20010db8000000000000000000000001
    c00c 0005 0001 0000012c 0006 03574542 c010
    c00c 0006 0001 0000012c 001a 036e7331 c010 0168 c010 00000001 00000e10 00000258 00015180 0000012c
  `);
  const parsed = parseMessage(raw);
  assert.equal(parsed.authoritative, true);
  assert.equal(parsed.truncated, false);
  assert.deepEqual(
    parsed.answers.map((a) => [a.name, a.type, a.ttl, a.value]),
    [
      ["www.lab.test", "TXT", 300, "abcde"],
      ["www.lab.test", "AAAA", 300, "2001:db8::1"],
      ["www.lab.test", "CNAME", 300, "web.lab.test"],
      ["www.lab.test", "SOA", 300, "ns1.lab.test h.lab.test 1 3600 600 86400 300"],
    ],
  );
});

test("a truncated UDP answer (TC) keeps only its header, even when its records are cut", () => {
  const cut = hex(`0007 8600 0001 0005 0000 0000 ${WWW} 0010 0001 c00c 0010 0001 0000`);
  const parsed = parseMessage(cut);
  assert.equal(parsed.truncated, true);
  assert.deepEqual(parsed.answers, []);
});

test("answers cut short, with a bad pointer or shorter than a header are malformed, not crashes", () => {
  assert.throws(() => parseMessage(hex("0007 8400 0001")), MalformedMessageError);
  assert.throws(
    () =>
      parseMessage(
        hex(`0007 8400 0001 0001 0000 0000 ${WWW} 0001 0001 c00c 0001 0001 0000012c 0004 0a00`),
      ),
    MalformedMessageError,
  );
  // A pointer to itself (a loop) and a pointer forward.
  assert.throws(
    () => parseMessage(hex("0007 8400 0001 0000 0000 0000 c00c 0001 0001")),
    MalformedMessageError,
  );
  assert.throws(
    () => parseMessage(hex("0007 8400 0001 0000 0000 0000 c020 0001 0001")),
    MalformedMessageError,
  );
  // A TSIG record whose rdata runs past its length.
  assert.throws(
    () =>
      parseMessage(
        hex(`abcd a800 0000 0000 0000 0001 04686f6c7400 00fa 00ff 00000000 0004 0b686d6163`),
      ),
    MalformedMessageError,
  );
});

test("a query asks without recursion", () => {
  const q = encodeQuery(0x4242, "WWW.lab.test.", "TXT");
  assert.equal(
    q.toString("hex"),
    hex(`4242 0000 0001 0000 0000 0000 ${WWW} 0010 0001`).toString("hex"),
  );
});
