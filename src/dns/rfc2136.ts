/**
 * The RFC 2136 backend (Knot, BIND, any server taking dynamic updates):
 * reads with plain queries to the primary, writes with TSIG-signed UPDATE
 * messages over TCP whose prerequisites make the change happen only if the
 * record set still holds what holt read. TCP, because a UDP update resent
 * after a lost answer would fail its own prerequisite.
 *
 * RFC 2136 has no place for an ownership mark: holt's state lists what it made.
 */
import { randomInt } from "node:crypto";
import { HoltError } from "../errors.ts";
import type { Rfc2136Connection } from "./connection.ts";
import { resolveNameservers, serverLookup } from "./propagation.ts";
import { queryServer } from "./query.ts";
import {
  assertSameKey,
  canonicalValues,
  describeKey,
  isInZone,
  normalizeName,
  readInBatches,
  valuesFromServer,
  zonePath,
} from "./records.ts";
import { DnsTransportError, exchangeTcp, formatServer, type ServerAddress } from "./transport.ts";
import { signRequest, type TsigProblem, verifyResponse } from "./tsig.ts";
import type { ObservedRecordSet, RecordKey, RecordSet, ZoneBackend } from "./types.ts";
import {
  encodeUpdate,
  MalformedMessageError,
  type Prerequisite,
  parseMessage,
  rcodeName,
  type Update,
} from "./wire.ts";

const DEFAULT_TIMEOUT_MS = 5000;
/** Reads at once; a zone's records are few and the primary is one server. */
const READ_CONCURRENCY = 8;

export function createRfc2136Backend(conn: Rfc2136Connection): ZoneBackend {
  const zone = normalizeName(conn.zone);
  const timeoutMs = conn.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const server: ServerAddress = conn.server;
  const serverText = formatServer(server);
  const where = `DNS zone "${zone}" (rfc2136, server ${serverText})`;
  const path = zonePath(zone);

  const checkName = (name: string): void => {
    if (!isInZone(name, zone)) {
      throw new HoltError(
        "HOLT_E_DNS",
        `The record name "${name}" is not inside ${where}. Use a name ending in ".${zone}", or add a zone for it under dns.zones.`,
      );
    }
  };

  const transportFailure = (action: string, error: unknown): unknown => {
    if (!(error instanceof DnsTransportError)) return error;
    return new HoltError(
      "HOLT_E_DNS",
      `Could not ${action} in ${where}: ${error.message} The server comes from ${path}.server.`,
      { cause: error },
    );
  };

  async function readOne(key: RecordKey): Promise<ObservedRecordSet | null> {
    checkName(key.name);
    let r: Awaited<ReturnType<typeof queryServer>>;
    try {
      r = await queryServer(server, key.name, key.type, { timeoutMs });
    } catch (error) {
      throw transportFailure(`read ${describeKey(key)}`, error);
    }
    if (r.rcode !== "NOERROR" && r.rcode !== "NXDOMAIN") {
      throw new HoltError(
        "HOLT_E_DNS",
        `Could not read ${describeKey(key)} in ${where}: the server answered ${r.rcode}${r.rcode === "REFUSED" ? ": it does not serve this zone, or does not answer this machine" : ""}. Check that ${path}.server is the zone's primary, and that it allows queries from this machine.`,
      );
    }
    if (!r.authoritative) {
      throw new HoltError(
        "HOLT_E_DNS",
        `Could not read ${describeKey(key)} in ${where}: the server does not serve the zone (its answer is not authoritative). Set ${path}.server to the zone's primary.`,
      );
    }
    const matching = r.answers.filter((a) => a.name === key.name && a.type === key.type);
    if (matching.length === 0) return null;
    return {
      name: key.name,
      type: key.type,
      ttl: Math.min(...matching.map((a) => a.ttl)),
      values: valuesFromServer(
        key.type,
        matching.map((a) => a.value),
      ),
      ownerMark: null,
    };
  }

  async function update(
    action: string,
    prerequisites: readonly Prerequisite[],
    updates: readonly Update[],
  ): Promise<void> {
    const unsigned = encodeUpdate(randomInt(0, 0x10000), zone, prerequisites, updates);
    const signed = conn.tsig === null ? null : signRequest(unsigned, conn.tsig, Date.now() / 1000);
    let raw: Buffer;
    try {
      raw = await exchangeTcp(server, signed?.message ?? unsigned, { timeoutMs });
    } catch (error) {
      throw transportFailure(action, error);
    }
    let answer: ReturnType<typeof parseMessage>;
    try {
      answer = parseMessage(raw);
    } catch (error) {
      if (!(error instanceof MalformedMessageError)) throw error;
      throw new HoltError(
        "HOLT_E_DNS",
        `Could not ${action} in ${where}: its answer could not be read (${error.message}). Check that ${path}.server is a DNS server.`,
        { cause: error },
      );
    }
    const problem =
      conn.tsig === null || signed === null
        ? null
        : verifyResponse(raw, answer, conn.tsig, signed.mac, Date.now() / 1000);
    const rcode = rcodeName(answer.rcode);
    if (problem?.kind === "server-error") throw tsigRefused(action, problem.error);
    if (rcode === "NOERROR") {
      if (problem !== null) throw unverified(action, problem);
      return;
    }
    throw refused(action, rcode);
  }

  const keyName = conn.tsig === null ? "" : JSON.stringify(conn.tsig.name);

  function tsigRefused(action: string, error: number): HoltError {
    const code = rcodeName(error);
    const fix =
      code === "BADKEY"
        ? `the server does not know the TSIG key ${keyName} with this algorithm (BADKEY). Check ${path}.tsig: its name and algorithm must match a key in the server's config`
        : code === "BADSIG"
          ? `the TSIG key ${keyName} was not accepted: the signature did not verify (BADSIG). Check ${path}.tsig: its secret (\`holt secrets set\`) and algorithm must match the server's key`
          : code === "BADTIME"
            ? `the server rejected the TSIG signature's time (BADTIME). This machine's clock and the server's differ by more than 5 minutes: fix the clocks (NTP)`
            : `the server rejected the TSIG key ${keyName} (${code}). Check ${path}.tsig against the server's key`;
    return new HoltError(
      "HOLT_E_DNS",
      `Could not ${action} in ${where}: ${fix}. Nothing was changed.`,
    );
  }

  function unverified(action: string, problem: TsigProblem): HoltError {
    const why =
      problem.kind === "unsigned"
        ? "its answer was not signed"
        : problem.kind === "bad-time"
          ? `its answer was signed ${problem.skewSeconds} s away from this machine's clock`
          : "its answer's TSIG signature did not verify";
    return new HoltError(
      "HOLT_E_DNS",
      `The server reported success for "${action}" in ${where}, but ${why}, so holt cannot trust it. Check ${path}.tsig against the server's key, then run \`holt plan\` to see what the zone holds.`,
    );
  }

  function refused(action: string, rcode: string): HoltError {
    switch (rcode) {
      case "NXRRSET":
      case "YXRRSET":
      case "YXDOMAIN":
      case "NXDOMAIN":
        return new HoltError(
          "HOLT_E_DNS_CONFLICT",
          `Could not ${action} in ${where}: the record set changed since holt read it, or a record of another type at that name stands in the way (a CNAME cannot share its name) (the server answered ${rcode}). Nothing was changed. Run \`holt plan\` again to see what the zone holds now.`,
        );
      case "REFUSED":
        return new HoltError(
          "HOLT_E_DNS",
          `Could not ${action} in ${where}: the server refused the update (REFUSED). Allow ${conn.tsig === null ? "this machine's address" : `the TSIG key ${keyName}`} to update the zone in the server's config (BIND: allow-update or update-policy; Knot: an acl with action: update), or set ${path}.tsig.`,
        );
      case "NOTAUTH":
        return new HoltError(
          "HOLT_E_DNS",
          conn.tsig === null
            ? `Could not ${action} in ${where}: the server did not accept an unsigned update (NOTAUTH). It probably wants a TSIG key: set ${path}.tsig. Also check that ${path}.server is the zone's primary.`
            : `Could not ${action} in ${where}: the server is not authoritative for the zone (NOTAUTH). Check that ${path}.server is the zone's primary.`,
        );
      case "NOTZONE":
        return new HoltError(
          "HOLT_E_DNS",
          `Could not ${action} in ${where}: the server says the name is not in the zone (NOTZONE). Check the zone's name in ${path}.`,
        );
      case "NOTIMP":
      case "FORMERR":
        return new HoltError(
          "HOLT_E_DNS",
          `Could not ${action} in ${where}: the server does not take RFC 2136 updates (${rcode}). Check that ${path}.server is the zone's primary and has dynamic updates enabled.`,
        );
      default:
        return new HoltError(
          "HOLT_E_DNS",
          `Could not ${action} in ${where}: the server answered ${rcode}. Its log says why; check the zone there.`,
        );
    }
  }

  return {
    kind: "rfc2136",
    zone,
    marksOwnership: false,

    read: (keys) => readInBatches(keys, readOne, READ_CONCURRENCY),

    async listMarked() {
      return null;
    },

    async upsert(set, expected) {
      assertSameKey(set, expected);
      checkName(set.name);
      const values = canonicalValues(set.type, set.values);
      if (values.length === 0) {
        throw new HoltError(
          "HOLT_E_INTERNAL",
          `upsert of ${describeKey(set)} with no values; use remove.`,
        );
      }
      const prerequisites = expectedPrerequisites(set, expected);
      const updates: Update[] = [
        ...(expected === null
          ? []
          : [{ kind: "delete-rrset", name: set.name, type: set.type } as const]),
        ...values.map((value) => ({
          kind: "add" as const,
          name: set.name,
          type: set.type,
          ttl: set.ttl,
          value,
        })),
      ];
      await update(`set ${describeKey(set)}`, prerequisites, updates);
    },

    async remove(expected) {
      checkName(expected.name);
      await update(`delete ${describeKey(expected)}`, expectedPrerequisites(expected, expected), [
        { kind: "delete-rrset", name: expected.name, type: expected.type },
      ]);
    },

    async addTxt(name, value, ttl) {
      checkName(name);
      await update(
        `add a TXT value at ${name}`,
        [],
        [{ kind: "add", name, type: "TXT", ttl, value }],
      );
    },

    async removeTxt(name, value) {
      checkName(name);
      await update(
        `remove a TXT value at ${name}`,
        [],
        [{ kind: "delete-rr", name, type: "TXT", value }],
      );
    },

    nameservers() {
      return resolveNameservers(conn, { zoneLookup: serverLookup(serverText, timeoutMs) });
    },
  };
}

/**
 * What must hold for a change: the set still has exactly the expected
 * values, or (expected null) does not exist. A new CNAME also needs its name
 * unused, and a new set of another type needs no CNAME there: servers
 * silently ignore such adds (RFC 2136 §3.4.2.2), which would look like success.
 */
function expectedPrerequisites(set: RecordSet, expected: RecordSet | null): Prerequisite[] {
  if (expected !== null && expected.values.length > 0) {
    return [
      {
        kind: "rrset-equals",
        name: set.name,
        type: set.type,
        values: canonicalValues(expected.type, expected.values),
      },
    ];
  }
  if (set.type === "CNAME") return [{ kind: "name-unused", name: set.name }];
  return [
    { kind: "rrset-absent", name: set.name, type: set.type },
    { kind: "rrset-absent", name: set.name, type: "CNAME" },
  ];
}
