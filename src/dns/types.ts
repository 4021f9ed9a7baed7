/**
 * The one interface every DNS provider (RFC 2136, PowerDNS, Cloudflare)
 * implements. holt changes whole record sets (name + type), never single
 * records, except for ACME challenge TXT values, which are added and removed
 * one value at a time so two challenges at one name (apex + wildcard) can
 * coexist.
 *
 * Names are absolute, lower case, without the trailing dot
 * ("media.lab.example.com"). TXT values are the text itself, unquoted; a
 * value longer than 255 bytes is split into strings by the backend.
 */

export type RecordType = "A" | "AAAA" | "CNAME" | "TXT";

export interface RecordKey {
  readonly name: string;
  readonly type: RecordType;
}

export interface RecordSet extends RecordKey {
  readonly ttl: number;
  /** Sorted, without duplicates. A: dotted quad; AAAA: RFC 5952 form; CNAME: absolute name, no trailing dot. */
  readonly values: readonly string[];
}

export interface ObservedRecordSet extends RecordSet {
  /**
   * The lab named by the provider's own ownership mark (PowerDNS comment,
   * Cloudflare comment/tag), or null when the record set carries none or the
   * provider has no such mark (RFC 2136).
   */
  readonly ownerMark: string | null;
}

/** A record set as holt wants it, with the lab that owns it (written as the provider's mark). */
export interface OwnedRecordSet extends RecordSet {
  readonly owner: string;
  /**
   * Cloudflare only: traffic goes through Cloudflare's proxy (a tunnel's
   * CNAME must be). Other providers ignore it. @default false
   */
  readonly proxied?: boolean;
}

export type DnsProviderKind = "rfc2136" | "powerdns" | "cloudflare";

export interface ZoneBackend {
  readonly kind: DnsProviderKind;
  /** The zone's apex, e.g. "lab.example.com". */
  readonly zone: string;
  /** True when the provider stores an ownership mark beside each record set. */
  readonly marksOwnership: boolean;

  /** The record sets that exist at these keys (missing ones are left out). */
  read(keys: readonly RecordKey[]): Promise<ObservedRecordSet[]>;
  /**
   * Every record set carrying this lab's ownership mark, or null when the
   * provider has no marks (RFC 2136: holt's own state lists what it created).
   */
  listMarked(lab: string): Promise<ObservedRecordSet[] | null>;
  /**
   * Creates or replaces a record set. `expected` is what the caller last
   * read (null: it must not exist); where the protocol allows, the change is
   * made only if that still holds (RFC 2136 prerequisites), else it fails
   * with HOLT_E_DNS_CONFLICT and changes nothing.
   */
  upsert(set: OwnedRecordSet, expected: RecordSet | null): Promise<void>;
  /** Deletes a record set, only if it still holds `expected` where the protocol allows. */
  remove(expected: RecordSet): Promise<void>;
  /** Adds one TXT value at a name, keeping the other values there. */
  addTxt(name: string, value: string, ttl: number): Promise<void>;
  /** Removes one TXT value at a name, keeping the others; absent is fine. */
  removeTxt(name: string, value: string): Promise<void>;
  /**
   * The servers that answer authoritatively for the zone, as "host:port"
   * (IPv6 as "[addr]:port"), used to wait for a change to be served
   * everywhere. From the zone config's `nameservers` when set, else the
   * zone's NS records resolved to addresses, port 53.
   */
  nameservers(): Promise<string[]>;
}
