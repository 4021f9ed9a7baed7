/**
 * The rules Cloudflare applies to DNS records beyond the shape of a request,
 * for the local stand-in (cloudflare-contract-server.test.ts). Each rule
 * names where it comes from; where the real error code is not published,
 * the comment says the stand-in picked one.
 *
 * - Content per type: an A record holds an IPv4 address (error 9005,
 *   "Content for A record must be a valid IPv4 address.",
 *   timothymiller/cloudflare-ddns#104), AAAA an IPv6 address (9006,
 *   wherelse/cloudflare-ddns-script#15), a CNAME a hostname that is not the
 *   record's own name (the schema's CNAME content description; code 9007
 *   picked).
 * - TXT: each record is at most 4,096 bytes on the wire, and the records of
 *   one name and type together at most 8,192 characters of content (docs
 *   "DNS record types"; code picked). Strings over 255 bytes are split by
 *   Cloudflare, not refused (the schema's TXT content description).
 * - A CNAME stands alone among A, AAAA and CNAME records: adding a CNAME
 *   where one of them exists is 81053 "An A, AAAA, or CNAME record with that
 *   host already exists." (terraform-provider-cloudflare#1247,
 *   HermanMartinus/bearblog#105), adding an A or AAAA where a CNAME exists is
 *   81054 "A CNAME record with that host already exists."
 *   (favonia/cloudflare-ddns#990, whose message also links the docs page
 *   "Records with the same name"). The docs page and the API reference
 *   ("A/AAAA records cannot exist on the same name as CNAME records") name
 *   only these types; other types beside a CNAME are not refused here.
 * - The same name, type and content twice is 81058 "An identical record
 *   already exists." (certbot/certbot#10725).
 * - TTL: 1 or 60 to 86400 outside Enterprise (9021 "Invalid TTL", inside
 *   1004 "DNS Validation Error", ZE3kr/Cloudflare-CNAME-Setup#16).
 * - Only A, AAAA and CNAME records can be proxied (9041 "Invalid proxied
 *   mode. Record cannot be proxied", jordantrizz/cloudflare-cli#8).
 * - A batch holds at most 200 record changes on the Free plan, 3,500 on the
 *   others (docs "Batch record changes"; code picked).
 *
 * This file holds no tests; the stand-in imports it.
 */
import { isIP } from "node:net";

export interface RecordLike {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  readonly content: string;
}

export interface Refused {
  readonly code: number;
  readonly message: string;
}

export const FREE_PLAN_BATCH_LIMIT = 200;
export const MAX_TXT_RECORD_BYTES = 4096;
export const MAX_TXT_SET_CHARS = 8192;

const HOSTNAME =
  /^(?=.{1,253}\.?$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)+\.?$/i;

/** What is wrong with a record's content for its type, or null. */
export function contentProblem(type: string, name: string, content: string): Refused | null {
  switch (type) {
    case "A":
      return isIP(content) === 4
        ? null
        : { code: 9005, message: "Content for A record must be a valid IPv4 address." };
    case "AAAA":
      return isIP(content) === 6
        ? null
        : { code: 9006, message: "Content for AAAA record must be a valid IPv6 address." };
    case "CNAME": {
      const target = content.toLowerCase().replace(/\.$/, "");
      if (!HOSTNAME.test(content) || isIP(content) !== 0) {
        return { code: 9007, message: "Content for CNAME record is invalid." };
      }
      return target === name.toLowerCase()
        ? { code: 9007, message: "Content for CNAME record must not match the record's name." }
        : null;
    }
    case "TXT":
      return Buffer.byteLength(content) > MAX_TXT_RECORD_BYTES
        ? { code: 9100, message: "TXT record content is too long (4096 bytes at most)." }
        : null;
    default:
      return { code: 9000, message: `DNS record type "${type}" is not handled by this stand-in.` };
  }
}

/**
 * What refuses `record` beside the zone's other records (`others` never
 * holds `record` itself), or null.
 */
export function neighbourProblem(
  record: RecordLike,
  others: readonly RecordLike[],
): Refused | null {
  const here = others.filter((r) => r.name === record.name);
  const addressOrAlias = (t: string) => t === "A" || t === "AAAA" || t === "CNAME";
  if (record.type === "CNAME" && here.some((r) => addressOrAlias(r.type))) {
    return { code: 81053, message: "An A, AAAA, or CNAME record with that host already exists." };
  }
  if ((record.type === "A" || record.type === "AAAA") && here.some((r) => r.type === "CNAME")) {
    return { code: 81054, message: "A CNAME record with that host already exists." };
  }
  if (here.some((r) => r.type === record.type && r.content === record.content)) {
    return { code: 81058, message: "An identical record already exists." };
  }
  if (record.type === "TXT") {
    const total = [...here.filter((r) => r.type === "TXT"), record].reduce(
      (sum, r) => sum + r.content.length,
      0,
    );
    if (total > MAX_TXT_SET_CHARS) {
      return {
        code: 9101,
        message: "The TXT records of this name together exceed 8192 characters of content.",
      };
    }
  }
  return null;
}

/** True for the TTLs a zone outside Enterprise takes. */
export function ttlAllowed(ttl: unknown): boolean {
  return (
    typeof ttl === "number" && (ttl === 1 || (Number.isInteger(ttl) && ttl >= 60 && ttl <= 86400))
  );
}
