/**
 * Record content as PowerDNS' HTTP API writes it (zone-file presentation):
 * CNAME targets with a trailing dot, TXT as quoted strings with `\"`, `\\`
 * and `\DDD` escapes, one string per 255 bytes. And the way back.
 */
import { joinTxt, normalizeName, splitTxt } from "./records.ts";
import type { RecordType } from "./types.ts";

/** One TXT string quoted: printable ASCII as is, `"` and `\` escaped, every other byte as \DDD. */
function quoteChunk(chunk: Uint8Array): string {
  let out = '"';
  for (const byte of chunk) {
    if (byte === 0x22 || byte === 0x5c) out += `\\${String.fromCharCode(byte)}`;
    else if (byte < 0x20 || byte > 0x7e) out += `\\${String(byte).padStart(3, "0")}`;
    else out += String.fromCharCode(byte);
  }
  return `${out}"`;
}

/** `"part1" "part2"`: the TXT value split every 255 bytes, each part quoted. */
export function quoteTxt(value: string): string {
  return splitTxt(value).map(quoteChunk).join(" ");
}

/**
 * The text of a TXT content: its strings (quoted, or bare words) joined,
 * escapes resolved. Byte-exact, so UTF-8 split across strings survives.
 */
export function unquoteTxt(content: string): string {
  const source = Buffer.from(content, "utf8");
  const chunks: Buffer[] = [];
  let i = 0;
  const isSpace = (b: number | undefined): boolean =>
    b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
  while (i < source.length) {
    while (isSpace(source[i])) i++;
    if (i >= source.length) break;
    const quoted = source[i] === 0x22;
    if (quoted) i++;
    const bytes: number[] = [];
    while (i < source.length) {
      const b = source[i] ?? 0;
      if (quoted ? b === 0x22 : isSpace(b)) break;
      if (b === 0x5c) {
        const digits = source.toString("latin1", i + 1, i + 4);
        if (/^\d{3}$/.test(digits)) {
          bytes.push(Number(digits) & 0xff);
          i += 4;
        } else {
          if (i + 1 < source.length) bytes.push(source[i + 1] ?? 0);
          i += 2;
        }
        continue;
      }
      bytes.push(b);
      i++;
    }
    if (quoted) i++; // the closing quote
    chunks.push(Buffer.from(bytes));
  }
  return joinTxt(chunks);
}

/** holt's value → PowerDNS content. */
export function toContent(type: RecordType, value: string): string {
  switch (type) {
    case "A":
    case "AAAA":
      return value;
    case "CNAME":
      return `${normalizeName(value)}.`;
    case "TXT":
      return quoteTxt(value);
  }
}

/** PowerDNS content → holt's value (not yet normalized: see records.ts). */
export function fromContent(type: RecordType, content: string): string {
  switch (type) {
    case "A":
    case "AAAA":
      return content.trim();
    case "CNAME":
      return normalizeName(content.trim());
    case "TXT":
      return unquoteTxt(content);
  }
}
