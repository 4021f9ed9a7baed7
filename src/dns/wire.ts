/**
 * DNS messages on the wire: queries and their answers through dns-packet,
 * plus what dns-packet lacks: RFC 2136 UPDATE messages (prerequisites and
 * updates with class NONE/ANY and empty rdata), exact byte offsets for the
 * TSIG record, and its rdata. TSIG signing itself is in tsig.ts.
 */
import dnsPacket from "dns-packet";
import { HoltError } from "../errors.ts";
import { formatIpv6, joinTxt, normalizeName, parseIpv4, parseIpv6, splitTxt } from "./records.ts";
import type { RecordType } from "./types.ts";

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  TXT: 16,
  AAAA: 28,
  TSIG: 250,
  ANY: 255,
} as const;

export const CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;

export const OPCODE_UPDATE = 5;

/** Header RCODEs (RFC 1035, 2136) and the TSIG error codes (RFC 8945) that share the space. */
const RCODE_NAMES: Record<number, string> = {
  0: "NOERROR",
  1: "FORMERR",
  2: "SERVFAIL",
  3: "NXDOMAIN",
  4: "NOTIMP",
  5: "REFUSED",
  6: "YXDOMAIN",
  7: "YXRRSET",
  8: "NXRRSET",
  9: "NOTAUTH",
  10: "NOTZONE",
  16: "BADSIG",
  17: "BADKEY",
  18: "BADTIME",
  22: "BADTRUNC",
};

export function rcodeName(code: number): string {
  return RCODE_NAMES[code] ?? `RCODE${code}`;
}

/** The record types holt reads: its own four, and SOA/NS for zone checks and name servers. */
export type QueryType = RecordType | "SOA" | "NS";

/** One record of an answer. `value` is A/AAAA/CNAME/NS normalized, TXT joined, SOA as its text form. */
export interface WireRecord {
  readonly name: string;
  readonly type: string;
  readonly ttl: number;
  readonly value: string;
}

export interface TsigRecord {
  readonly keyName: string;
  readonly algorithm: string;
  /** Seconds since the epoch. */
  readonly timeSigned: number;
  readonly fudge: number;
  readonly mac: Buffer;
  readonly originalId: number;
  readonly error: number;
  readonly otherData: Buffer;
}

export interface DnsMessage {
  readonly id: number;
  readonly response: boolean;
  readonly opcode: number;
  readonly authoritative: boolean;
  readonly truncated: boolean;
  readonly rcode: number;
  readonly questions: readonly { readonly name: string; readonly type: string }[];
  readonly answers: readonly WireRecord[];
  readonly authorities: readonly WireRecord[];
  /** The last additional record when it is a TSIG record. */
  readonly tsig: TsigRecord | null;
  /** Where the TSIG record starts; the message's length when there is none. */
  readonly tsigOffset: number;
}

/** A message that could not be parsed; the transport turns it into a user-facing error. */
export class MalformedMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedMessageError";
  }
}

/** An uncompressed, lower-case wire name (as TSIG's canonical form wants). Throws on a bad name. */
export function encodeName(name: string): Buffer {
  const normal = normalizeName(name);
  if (normal === "" || normal === ".") return Buffer.from([0]);
  const parts: Buffer[] = [];
  for (const label of normal.split(".")) {
    const bytes = Buffer.from(label, "utf8");
    if (bytes.length === 0 || bytes.length > 63) {
      throw new HoltError(
        "HOLT_E_DNS",
        `The DNS name ${JSON.stringify(name)} has an empty label or one longer than 63 bytes. Fix the name in the config.`,
      );
    }
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  if (wire.length > 255) {
    throw new HoltError(
      "HOLT_E_DNS",
      `The DNS name ${JSON.stringify(name)} is longer than 255 bytes. Use a shorter name.`,
    );
  }
  return wire;
}

/** The rdata (without its length) of one record of holt's four types. */
export function encodeRdata(type: RecordType, value: string): Buffer {
  switch (type) {
    case "A": {
      const bytes = parseIpv4(value);
      if (bytes === undefined) throw badValue(type, value);
      return Buffer.from(bytes);
    }
    case "AAAA": {
      const groups = parseIpv6(value);
      if (groups === undefined) throw badValue(type, value);
      const out = Buffer.alloc(16);
      groups.forEach((group, i) => {
        out.writeUInt16BE(group, i * 2);
      });
      return out;
    }
    case "CNAME":
      return encodeName(value);
    case "TXT":
      return Buffer.concat(
        splitTxt(value).flatMap((chunk) => [Buffer.from([chunk.length]), chunk]),
      );
  }
}

function badValue(type: RecordType, value: string): HoltError {
  return new HoltError("HOLT_E_INTERNAL", `${JSON.stringify(value)} is not a valid ${type} value.`);
}

/** One resource record; `rdata` null means empty rdata (class ANY/NONE forms of RFC 2136). */
export function encodeRecord(
  name: string,
  type: number,
  klass: number,
  ttl: number,
  rdata: Buffer | null,
): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(klass, 2);
  fixed.writeUInt32BE(ttl, 4);
  fixed.writeUInt16BE(rdata?.length ?? 0, 8);
  return Buffer.concat([encodeName(name), fixed, rdata ?? Buffer.alloc(0)]);
}

/** A question without the recursion-desired flag: holt only asks authoritative servers. */
export function encodeQuery(id: number, name: string, type: QueryType): Buffer {
  encodeName(name); // validates; dns-packet would write a bad name silently
  return dnsPacket.encode({
    id,
    type: "query",
    flags: 0,
    questions: [{ name: normalizeName(name), type, class: "IN" }],
  });
}

/** RFC 2136 §2.4 prerequisites holt uses. */
export type Prerequisite =
  /** "RRset exists (value dependent)": the set holds exactly these values. */
  | {
      readonly kind: "rrset-equals";
      readonly name: string;
      readonly type: RecordType;
      readonly values: readonly string[];
    }
  /** "RRset does not exist". */
  | { readonly kind: "rrset-absent"; readonly name: string; readonly type: RecordType }
  /** "Name is not in use": no record of any type at the name. */
  | { readonly kind: "name-unused"; readonly name: string };

/** RFC 2136 §2.5 updates. */
export type Update =
  | {
      readonly kind: "add";
      readonly name: string;
      readonly type: RecordType;
      readonly ttl: number;
      readonly value: string;
    }
  | { readonly kind: "delete-rrset"; readonly name: string; readonly type: RecordType }
  | {
      readonly kind: "delete-rr";
      readonly name: string;
      readonly type: RecordType;
      readonly value: string;
    };

function encodePrerequisite(p: Prerequisite): Buffer[] {
  switch (p.kind) {
    case "rrset-equals":
      return p.values.map((value) =>
        encodeRecord(p.name, TYPE[p.type], CLASS.IN, 0, encodeRdata(p.type, value)),
      );
    case "rrset-absent":
      return [encodeRecord(p.name, TYPE[p.type], CLASS.NONE, 0, null)];
    case "name-unused":
      return [encodeRecord(p.name, TYPE.ANY, CLASS.NONE, 0, null)];
  }
}

function encodeUpdateRecord(u: Update): Buffer {
  switch (u.kind) {
    case "add":
      return encodeRecord(u.name, TYPE[u.type], CLASS.IN, u.ttl, encodeRdata(u.type, u.value));
    case "delete-rrset":
      return encodeRecord(u.name, TYPE[u.type], CLASS.ANY, 0, null);
    case "delete-rr":
      return encodeRecord(u.name, TYPE[u.type], CLASS.NONE, 0, encodeRdata(u.type, u.value));
  }
}

/** An unsigned UPDATE message for `zone` (RFC 2136 §2). */
export function encodeUpdate(
  id: number,
  zone: string,
  prerequisites: readonly Prerequisite[],
  updates: readonly Update[],
): Buffer {
  const prereqRecords = prerequisites.flatMap(encodePrerequisite);
  const updateRecords = updates.map(encodeUpdateRecord);
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(OPCODE_UPDATE << 11, 2);
  header.writeUInt16BE(1, 4); // ZOCOUNT
  header.writeUInt16BE(prereqRecords.length, 6); // PRCOUNT
  header.writeUInt16BE(updateRecords.length, 8); // UPCOUNT
  header.writeUInt16BE(0, 10); // ADCOUNT
  const zoneSection = Buffer.concat([encodeName(zone), u16(TYPE.SOA), u16(CLASS.IN)]);
  return Buffer.concat([header, zoneSection, ...prereqRecords, ...updateRecords]);
}

export function u16(value: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(value, 0);
  return out;
}

/** Past a (possibly compressed) name starting at `offset`. */
function skipName(buf: Buffer, offset: number): number {
  let at = offset;
  for (;;) {
    const len = buf[at];
    if (len === undefined)
      throw new MalformedMessageError("a name runs past the end of the message");
    if (len === 0) return at + 1;
    if ((len & 0xc0) === 0xc0) return at + 2;
    if ((len & 0xc0) !== 0) throw new MalformedMessageError("a name has an unknown label type");
    at += 1 + len;
  }
}

/** An uncompressed name in rdata (TSIG's algorithm name must not be compressed). */
function readPlainName(buf: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let at = offset;
  for (;;) {
    const len = buf[at];
    if (len === undefined || len > 63 || at + 1 + len > buf.length) {
      throw new MalformedMessageError("the TSIG algorithm name is not a plain name");
    }
    if (len === 0) return { name: labels.join(".").toLowerCase(), end: at + 1 };
    labels.push(buf.toString("latin1", at + 1, at + 1 + len));
    at += 1 + len;
  }
}

function need(buf: Buffer, end: number): void {
  if (end > buf.length)
    throw new MalformedMessageError("the message ends in the middle of a record");
}

function parseTsigRdata(buf: Buffer, offset: number, length: number, keyName: string): TsigRecord {
  const end = offset + length;
  need(buf, end);
  const algorithm = readPlainName(buf, offset);
  let at = algorithm.end;
  need(buf, at + 10);
  const timeSigned = buf.readUInt16BE(at) * 2 ** 32 + buf.readUInt32BE(at + 2);
  const fudge = buf.readUInt16BE(at + 6);
  const macSize = buf.readUInt16BE(at + 8);
  at += 10;
  need(buf, at + macSize + 6);
  const mac = Buffer.from(buf.subarray(at, at + macSize));
  at += macSize;
  const originalId = buf.readUInt16BE(at);
  const error = buf.readUInt16BE(at + 2);
  const otherLength = buf.readUInt16BE(at + 4);
  at += 6;
  need(buf, at + otherLength);
  const otherData = Buffer.from(buf.subarray(at, at + otherLength));
  if (at + otherLength !== end) throw new MalformedMessageError("the TSIG record has extra bytes");
  return {
    keyName: normalizeName(keyName),
    algorithm: algorithm.name,
    timeSigned,
    fudge,
    mac,
    originalId,
    error,
    otherData,
  };
}

/**
 * Walks every record (so a record cut short is caught, which dns-packet
 * lets through) and returns where the last additional record starts and
 * what its rdata is, or null when there are no additional records.
 */
function locateLastAdditional(
  buf: Buffer,
): { start: number; type: number; rdataOffset: number; rdataLength: number } | null {
  const qd = buf.readUInt16BE(4);
  const records = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  let at = 12;
  for (let i = 0; i < qd; i++) {
    at = skipName(buf, at) + 4;
    need(buf, at);
  }
  let last = null;
  for (let i = 0; i < records; i++) {
    const start = at;
    at = skipName(buf, at);
    need(buf, at + 10);
    const type = buf.readUInt16BE(at);
    const rdataLength = buf.readUInt16BE(at + 8);
    const rdataOffset = at + 10;
    at = rdataOffset + rdataLength;
    need(buf, at);
    last = { start, type, rdataOffset, rdataLength };
  }
  return buf.readUInt16BE(10) === 0 ? null : last;
}

function textOf(answer: dnsPacket.Answer): string | undefined {
  switch (answer.type) {
    case "A":
      return answer.data;
    case "AAAA": {
      const groups = parseIpv6(answer.data);
      return groups === undefined ? answer.data : formatIpv6(groups);
    }
    case "CNAME":
    case "NS":
    case "PTR":
    case "DNAME":
      return normalizeName(answer.data);
    case "TXT": {
      const data = answer.data;
      const chunks = Array.isArray(data) ? data : [data];
      return joinTxt(chunks.map((c) => (typeof c === "string" ? Buffer.from(c) : c)));
    }
    case "SOA": {
      const d = answer.data;
      return [
        normalizeName(d.mname),
        normalizeName(d.rname),
        d.serial,
        d.refresh,
        d.retry,
        d.expire,
        d.minimum,
      ].join(" ");
    }
    default:
      return undefined;
  }
}

function toRecords(answers: readonly dnsPacket.Answer[] | undefined): WireRecord[] {
  const out: WireRecord[] = [];
  for (const answer of answers ?? []) {
    if (answer.type === "OPT") continue;
    const value = textOf(answer);
    if (value === undefined) continue;
    out.push({ name: normalizeName(answer.name), type: answer.type, ttl: answer.ttl ?? 0, value });
  }
  return out;
}

/**
 * A response, decoded. A truncated one (TC) keeps only its header: the rest
 * may be cut anywhere and is asked for again over TCP.
 */
export function parseMessage(buf: Buffer): DnsMessage {
  if (buf.length < 12)
    throw new MalformedMessageError(`${buf.length} bytes is shorter than a header`);
  const flags = buf.readUInt16BE(2);
  const header = {
    id: buf.readUInt16BE(0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    authoritative: (flags & 0x0400) !== 0,
    truncated: (flags & 0x0200) !== 0,
    rcode: flags & 0xf,
  };
  if (header.truncated) {
    return {
      ...header,
      questions: [],
      answers: [],
      authorities: [],
      tsig: null,
      tsigOffset: buf.length,
    };
  }
  let decoded: dnsPacket.DecodedPacket;
  let last: ReturnType<typeof locateLastAdditional>;
  try {
    decoded = dnsPacket.decode(buf);
    last = locateLastAdditional(buf);
  } catch (error) {
    if (error instanceof MalformedMessageError) throw error;
    throw new MalformedMessageError(error instanceof Error ? error.message : String(error));
  }
  let tsig: TsigRecord | null = null;
  let tsigOffset = buf.length;
  const lastAdditional = decoded.additionals?.at(-1);
  if (last !== null && last.type === TYPE.TSIG && lastAdditional !== undefined) {
    tsig = parseTsigRdata(buf, last.rdataOffset, last.rdataLength, lastAdditional.name);
    tsigOffset = last.start;
  }
  return {
    ...header,
    questions: (decoded.questions ?? []).map((q) => ({
      name: normalizeName(q.name),
      type: q.type,
    })),
    answers: toRecords(decoded.answers),
    authorities: toRecords(decoded.authorities),
    tsig,
    tsigOffset,
  };
}
