/**
 * Which record sets cannot share a name: a CNAME stands alone (RFC 1034
 * §3.6.2, "If a CNAME RR is present at a node, no other data should be
 * present"). Servers enforce it: Cloudflare refuses a CNAME beside an A,
 * AAAA or CNAME (error 81053) and an A or AAAA beside a CNAME (81054);
 * PowerDNS answers 422 "conflicts with pre-existing RRset"; an RFC 2136
 * server ignores the add (§3.4.2.2), which holt's prerequisites turn into a
 * refusal. So when a name moves between a CNAME and other types, the old
 * set must be gone before the new one is written. Pure.
 */

/** Where a record set lives and what it is. */
export interface RecordPlace {
  readonly view: "public" | "internal";
  readonly zone: string;
  readonly name: string;
  readonly type: string;
}

/** True when `a` and `b` cannot both exist: same zone and name, different types, one a CNAME. */
export function cannotCoexist(a: RecordPlace, b: RecordPlace): boolean {
  return (
    a.view === b.view &&
    a.zone === b.zone &&
    a.name === b.name &&
    a.type !== b.type &&
    (a.type === "CNAME" || b.type === "CNAME")
  );
}
