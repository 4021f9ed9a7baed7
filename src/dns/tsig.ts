/**
 * RFC 8945 TSIG: signs a request with a shared key and checks the signature
 * on the response. The MAC covers the message (without its TSIG record) and
 * the "TSIG variables"; a response's MAC also covers the request's MAC.
 *
 * The key's secret goes into HMAC and nowhere else.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { HoltError } from "../errors.ts";
import type { TsigAlgorithm, TsigKey } from "./connection.ts";
import { normalizeName } from "./records.ts";
import { CLASS, type DnsMessage, encodeName, TYPE, u16 } from "./wire.ts";

/** The algorithm names on the wire (RFC 8945 §6) and node:crypto's hash names. */
export const TSIG_ALGORITHMS = {
  "hmac-md5": { wireName: "hmac-md5.sig-alg.reg.int", hash: "md5" },
  "hmac-sha1": { wireName: "hmac-sha1", hash: "sha1" },
  "hmac-sha224": { wireName: "hmac-sha224", hash: "sha224" },
  "hmac-sha256": { wireName: "hmac-sha256", hash: "sha256" },
  "hmac-sha384": { wireName: "hmac-sha384", hash: "sha384" },
  "hmac-sha512": { wireName: "hmac-sha512", hash: "sha512" },
} as const satisfies Record<TsigAlgorithm, { wireName: string; hash: string }>;

/** Seconds of clock difference allowed between us and the server (RFC 8945 recommends 300). */
export const TSIG_FUDGE = 300;

export interface SignedRequest {
  readonly message: Buffer;
  /** Needed to check the response's signature. */
  readonly mac: Buffer;
}

function secretBytes(key: TsigKey): Buffer {
  const bytes = Buffer.from(key.secret, "base64");
  if (bytes.length === 0) {
    throw new HoltError(
      "HOLT_E_DNS",
      `The TSIG key ${JSON.stringify(key.name)} has an empty or non-base64 secret. Store the key's base64 secret (as in the server's key file) with \`holt secrets set\`.`,
    );
  }
  return bytes;
}

function time48(seconds: number): Buffer {
  const out = Buffer.alloc(6);
  out.writeUInt16BE(Math.floor(seconds / 2 ** 32), 0);
  out.writeUInt32BE(seconds % 2 ** 32, 2);
  return out;
}

/** The TSIG variables (RFC 8945 §4.3.3), in canonical form. */
function variables(
  keyName: string,
  algorithm: string,
  timeSigned: number,
  fudge: number,
  error: number,
  other: Buffer,
): Buffer {
  const classTtl = Buffer.alloc(6);
  classTtl.writeUInt16BE(CLASS.ANY, 0);
  classTtl.writeUInt32BE(0, 2);
  return Buffer.concat([
    encodeName(keyName),
    classTtl,
    encodeName(algorithm),
    time48(timeSigned),
    u16(fudge),
    u16(error),
    u16(other.length),
    other,
  ]);
}

function hmac(key: TsigKey, parts: readonly Buffer[]): Buffer {
  const h = createHmac(TSIG_ALGORITHMS[key.algorithm].hash, secretBytes(key));
  for (const part of parts) h.update(part);
  return h.digest();
}

/** Appends a TSIG record to `message` (which has none) and bumps ARCOUNT. */
export function signRequest(message: Buffer, key: TsigKey, nowSeconds: number): SignedRequest {
  const algorithm = TSIG_ALGORITHMS[key.algorithm].wireName;
  const timeSigned = Math.floor(nowSeconds);
  const mac = hmac(key, [
    message,
    variables(key.name, algorithm, timeSigned, TSIG_FUDGE, 0, Buffer.alloc(0)),
  ]);
  const rdata = Buffer.concat([
    encodeName(algorithm),
    time48(timeSigned),
    u16(TSIG_FUDGE),
    u16(mac.length),
    mac,
    message.subarray(0, 2), // original ID
    u16(0), // error
    u16(0), // other len
  ]);
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(TYPE.TSIG, 0);
  fixed.writeUInt16BE(CLASS.ANY, 2);
  fixed.writeUInt32BE(0, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  const signed = Buffer.concat([message, encodeName(key.name), fixed, rdata]);
  signed.writeUInt16BE(signed.readUInt16BE(10) + 1, 10);
  return { message: signed, mac };
}

/**
 * What is wrong with a response's signature, or null when it is good.
 * `server-error`: the server refused ours (its TSIG error, e.g. BADKEY).
 */
export type TsigProblem =
  | { readonly kind: "unsigned" }
  | { readonly kind: "server-error"; readonly error: number }
  | { readonly kind: "wrong-key" }
  | { readonly kind: "bad-mac" }
  | { readonly kind: "bad-time"; readonly skewSeconds: number };

export function verifyResponse(
  raw: Buffer,
  parsed: DnsMessage,
  key: TsigKey,
  requestMac: Buffer,
  nowSeconds: number,
): TsigProblem | null {
  const tsig = parsed.tsig;
  if (tsig === null) return { kind: "unsigned" };
  if (tsig.error !== 0) return { kind: "server-error", error: tsig.error };
  const algorithm = TSIG_ALGORITHMS[key.algorithm].wireName;
  if (tsig.keyName !== normalizeName(key.name) || tsig.algorithm !== algorithm) {
    return { kind: "wrong-key" };
  }
  const body = Buffer.from(raw.subarray(0, parsed.tsigOffset));
  body.writeUInt16BE(tsig.originalId, 0);
  body.writeUInt16BE(body.readUInt16BE(10) - 1, 10);
  const expected = hmac(key, [
    u16(requestMac.length),
    requestMac,
    body,
    variables(key.name, algorithm, tsig.timeSigned, tsig.fudge, tsig.error, tsig.otherData),
  ]);
  if (tsig.mac.length !== expected.length || !timingSafeEqual(tsig.mac, expected)) {
    return { kind: "bad-mac" };
  }
  const skew = Math.abs(Math.floor(nowSeconds) - tsig.timeSigned);
  if (skew > tsig.fudge) return { kind: "bad-time", skewSeconds: skew };
  return null;
}
