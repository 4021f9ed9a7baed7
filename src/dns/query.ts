/**
 * Asks one server one question, the way holt checks authoritative servers:
 * no recursion wanted, UDP first and TCP when the answer was truncated, one
 * deadline for both. Reads records for the RFC 2136 backend and checks
 * propagation; it never goes through the system's resolver.
 */
import { randomInt } from "node:crypto";
import { normalizeName } from "./records.ts";
import {
  DnsTransportError,
  exchangeTcp,
  exchangeUdp,
  formatServer,
  parseServer,
  type ServerAddress,
} from "./transport.ts";
import {
  type DnsMessage,
  encodeQuery,
  MalformedMessageError,
  parseMessage,
  type QueryType,
  rcodeName,
  type WireRecord,
} from "./wire.ts";

export interface QueryOptions {
  /** For the whole query, a TCP retry included. */
  readonly timeoutMs: number;
  /** Skip UDP. @default false */
  readonly tcp?: boolean;
}

export interface QueryResult {
  /** "NOERROR", "NXDOMAIN", "REFUSED", ... */
  readonly rcode: string;
  /** The AA flag: the server answered from a zone it serves. */
  readonly authoritative: boolean;
  /** Every record of the answer section (a CNAME chain included), names normalized. */
  readonly answers: readonly WireRecord[];
  readonly transport: "udp" | "tcp";
}

/** Parses and checks that the answer is for this question; throws DnsTransportError otherwise. */
function checkedAnswer(
  server: ServerAddress,
  raw: Buffer,
  name: string,
  type: QueryType,
): DnsMessage {
  let message: DnsMessage;
  try {
    message = parseMessage(raw);
  } catch (error) {
    if (!(error instanceof MalformedMessageError)) throw error;
    throw new DnsTransportError(
      "malformed",
      `The DNS server ${formatServer(server)} sent an answer to "${name} ${type}" that could not be read (${error.message}). Check that a DNS server listens there.`,
      error,
    );
  }
  const question = message.questions[0];
  if (
    !message.truncated &&
    question !== undefined &&
    (question.name !== name || question.type !== type)
  ) {
    throw new DnsTransportError(
      "malformed",
      `The DNS server ${formatServer(server)} answered another question (${question.name} ${question.type}) than "${name} ${type}".`,
    );
  }
  return message;
}

/** `server` is "host:port" / "[v6]:port", or already parsed. `name` is normalized (lower case, no dot). */
export async function queryServer(
  server: string | ServerAddress,
  name: string,
  type: QueryType,
  options: QueryOptions,
): Promise<QueryResult> {
  const address = typeof server === "string" ? parseServer(server) : server;
  const started = Date.now();
  const qname = normalizeName(name);
  const request = encodeQuery(randomInt(0, 0x10000), qname, type);
  if (options.tcp !== true) {
    const raw = await exchangeUdp(address, request, {
      timeoutMs: options.timeoutMs,
      resendMs: Math.min(1000, Math.max(100, options.timeoutMs / 4)),
    });
    const message = checkedAnswer(address, raw, qname, type);
    if (!message.truncated) return result(message, "udp");
  }
  const remaining = Math.max(1, options.timeoutMs - (Date.now() - started));
  const raw = await exchangeTcp(address, request, { timeoutMs: remaining });
  return result(checkedAnswer(address, raw, qname, type), "tcp");
}

function result(message: DnsMessage, transport: "udp" | "tcp"): QueryResult {
  return {
    rcode: rcodeName(message.rcode),
    authoritative: message.authoritative,
    answers: message.answers,
    transport,
  };
}
