/**
 * Just enough DER to read the two fields ARI needs from a certificate that
 * node:crypto does not expose: the serial number's content bytes and the
 * Authority Key Identifier's keyIdentifier. Single-byte tags only, which is
 * all an X.509 certificate uses at these levels.
 */

interface Tlv {
  readonly tag: number;
  /** Where the content starts and ends (exclusive). */
  readonly start: number;
  readonly end: number;
}

function malformed(what: string): Error {
  return new Error(`malformed DER: ${what}`);
}

function readTlv(der: Uint8Array, offset: number, limit: number): Tlv {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined) throw malformed("truncated header");
  let length = first;
  let start = offset + 2;
  if (first & 0x80) {
    const count = first & 0x7f;
    if (count === 0 || count > 4) throw malformed("unsupported length");
    length = 0;
    for (let i = 0; i < count; i++) {
      const byte = der[start + i];
      if (byte === undefined) throw malformed("truncated length");
      length = length * 256 + byte;
    }
    start += count;
  }
  const end = start + length;
  if (end > limit) throw malformed("content runs past its container");
  return { tag, start, end };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const found: Tlv[] = [];
  for (let offset = parent.start; offset < parent.end; ) {
    const child = readTlv(der, offset, parent.end);
    found.push(child);
    offset = child.end;
  }
  return found;
}

const TAG_SEQUENCE = 0x30;
const TAG_INTEGER = 0x02;
const TAG_OID = 0x06;
const TAG_OCTET_STRING = 0x04;
const TAG_VERSION = 0xa0;
const TAG_EXTENSIONS = 0xa3;
const TAG_KEY_IDENTIFIER = 0x80;
/** 2.5.29.35, id-ce-authorityKeyIdentifier. */
const OID_AKI = [0x55, 0x1d, 0x23];

export interface AriFields {
  /** The serial number's DER content bytes (with a leading 0x00 when its top bit is set). */
  readonly serial: Uint8Array;
  /** The AKI keyIdentifier, or null when the certificate has none. */
  readonly authorityKeyId: Uint8Array | null;
}

/** Reads the serial and AKI keyIdentifier from a DER certificate; throws on malformed DER. */
export function readAriFields(der: Uint8Array): AriFields {
  const certificate = readTlv(der, 0, der.length);
  const [tbs] = children(der, certificate);
  if (certificate.tag !== TAG_SEQUENCE || tbs?.tag !== TAG_SEQUENCE) {
    throw malformed("not a certificate");
  }
  const fields = children(der, tbs);
  const serial = fields[fields[0]?.tag === TAG_VERSION ? 1 : 0];
  if (serial?.tag !== TAG_INTEGER) throw malformed("no serial number");

  let authorityKeyId: Uint8Array | null = null;
  const extensions = fields.find((field) => field.tag === TAG_EXTENSIONS);
  const [list] = extensions === undefined ? [] : children(der, extensions);
  for (const extension of list === undefined ? [] : children(der, list)) {
    const parts = children(der, extension);
    const oid = parts[0];
    const value = parts.at(-1);
    if (oid?.tag !== TAG_OID || value?.tag !== TAG_OCTET_STRING) continue;
    const oidBytes = der.subarray(oid.start, oid.end);
    if (oidBytes.length !== OID_AKI.length || !OID_AKI.every((b, i) => oidBytes[i] === b)) {
      continue;
    }
    const aki = readTlv(der, value.start, value.end);
    const keyId = children(der, aki).find((part) => part.tag === TAG_KEY_IDENTIFIER);
    if (keyId !== undefined) authorityKeyId = der.subarray(keyId.start, keyId.end);
  }
  return { serial: der.subarray(serial.start, serial.end), authorityKeyId };
}
