/**
 * Sends one DNS message to one server and returns the raw answer: over UDP
 * (resent until the deadline, answers with another ID ignored) or over TCP
 * (two-byte length prefix, RFC 1035 §4.2.2). Also parses "host:port" and
 * "[v6addr]:port" server strings.
 */
import { connect, isIP } from "node:net";
import { HoltError } from "../errors.ts";

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

export type TransportProblem = "timeout" | "unreachable" | "malformed";

/** HOLT_E_DNS for one exchange; callers that know the zone catch it and say more. */
export class DnsTransportError extends HoltError {
  readonly reason: TransportProblem;
  constructor(reason: TransportProblem, message: string, cause?: unknown) {
    super("HOLT_E_DNS", message, { cause });
    this.reason = reason;
  }
}

/** "host:port", "[v6]:port"; throws HOLT_E_DNS for anything else. */
export function parseServer(text: string): ServerAddress {
  const match =
    /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (match === null || !(port > 0 && port < 65536)) {
    throw new HoltError(
      "HOLT_E_DNS",
      `${JSON.stringify(text)} is not a DNS server address. Write "host:port", or "[address]:port" for IPv6, like "192.0.2.1:53" or "[2001:db8::1]:53".`,
    );
  }
  return { host: match[1] ?? "", port };
}

/** The inverse of parseServer. */
export function formatServer(server: ServerAddress): string {
  return isIP(server.host) === 6
    ? `[${server.host}]:${server.port}`
    : `${server.host}:${server.port}`;
}

async function resolveHost(host: string): Promise<{ address: string; family: 4 | 6 }> {
  const family = isIP(host);
  if (family === 4 || family === 6) return { address: host, family };
  try {
    const found = await process.getBuiltinModule("node:dns/promises").lookup(host);
    return { address: found.address, family: found.family === 6 ? 6 : 4 };
  } catch (error) {
    throw new DnsTransportError(
      "unreachable",
      `The DNS server name ${JSON.stringify(host)} does not resolve (${(error as NodeJS.ErrnoException).code ?? "lookup failed"}). Check the server's host name, or give its address.`,
      error,
    );
  }
}

function timeoutError(
  server: ServerAddress,
  transport: string,
  timeoutMs: number,
): DnsTransportError {
  return new DnsTransportError(
    "timeout",
    `The DNS server ${formatServer(server)} did not answer over ${transport} within ${timeoutMs} ms. Check its address and port, that it runs, and that no firewall drops ${transport} port ${server.port}.`,
  );
}

function socketError(server: ServerAddress, transport: string, error: unknown): DnsTransportError {
  const code = (error as NodeJS.ErrnoException).code ?? "error";
  const what =
    code === "ECONNREFUSED"
      ? `refused the query over ${transport}: nothing listens on that port`
      : `could not be reached over ${transport} (${code})`;
  return new DnsTransportError(
    "unreachable",
    `The DNS server ${formatServer(server)} ${what}. Check its address and port, and that it runs.`,
    error,
  );
}

export interface ExchangeOptions {
  readonly timeoutMs: number;
  /** UDP only: send again after this long without an answer. @default 1000 */
  readonly resendMs?: number;
}

/** Whether `answer` is a response to `request` (same ID, QR set). */
function answers(request: Buffer, answer: Buffer): boolean {
  return (
    answer.length >= 12 &&
    answer.readUInt16BE(0) === request.readUInt16BE(0) &&
    (answer[2] ?? 0) >= 0x80
  );
}

export async function exchangeUdp(
  server: ServerAddress,
  message: Buffer,
  options: ExchangeOptions,
): Promise<Buffer> {
  const started = Date.now();
  const { address, family } = await resolveHost(server.host);
  const remaining = Math.max(1, options.timeoutMs - (Date.now() - started));
  const resendMs = Math.max(50, options.resendMs ?? 1000);
  // dgram and dns are loaded on first use: only commands that send DNS pay for them.
  const socket = process
    .getBuiltinModule("node:dgram")
    .createSocket(family === 6 ? "udp6" : "udp4");
  return new Promise<Buffer>((resolve, reject) => {
    let resend: NodeJS.Timeout | undefined;
    const finish = (error: Error | null, answer?: Buffer): void => {
      clearTimeout(deadline);
      clearInterval(resend);
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.close();
      if (error !== null) reject(error);
      else if (answer !== undefined) resolve(answer);
    };
    const deadline = setTimeout(
      () => finish(timeoutError(server, "UDP", options.timeoutMs)),
      remaining,
    );
    const send = (): void => {
      socket.send(message, (error) => {
        if (error) finish(socketError(server, "UDP", error));
      });
    };
    socket.on("error", (error) => finish(socketError(server, "UDP", error)));
    socket.on("message", (answer) => {
      if (answers(message, answer)) finish(null, answer);
    });
    socket.connect(server.port, address, (error?: Error) => {
      if (error) {
        finish(socketError(server, "UDP", error));
        return;
      }
      send();
      resend = setInterval(send, resendMs);
    });
  });
}

export async function exchangeTcp(
  server: ServerAddress,
  message: Buffer,
  options: ExchangeOptions,
): Promise<Buffer> {
  const started = Date.now();
  const { address } = await resolveHost(server.host);
  const remaining = Math.max(1, options.timeoutMs - (Date.now() - started));
  return new Promise<Buffer>((resolve, reject) => {
    const socket = connect({ host: address, port: server.port });
    socket.setNoDelay(true);
    const chunks: Buffer[] = [];
    let received = 0;
    const finish = (error: Error | null, answer?: Buffer): void => {
      clearTimeout(deadline);
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.destroy();
      if (error !== null) reject(error);
      else if (answer !== undefined) resolve(answer);
    };
    const deadline = setTimeout(
      () => finish(timeoutError(server, "TCP", options.timeoutMs)),
      remaining,
    );
    socket.on("error", (error) => finish(socketError(server, "TCP", error)));
    socket.on("connect", () => {
      socket.write(Buffer.concat([lengthPrefix(message.length), message]));
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received < 2) return;
      const all = Buffer.concat(chunks);
      const length = all.readUInt16BE(0);
      if (all.length < 2 + length) return;
      const answer = all.subarray(2, 2 + length);
      if (answers(message, answer)) finish(null, answer);
      else {
        finish(
          new DnsTransportError(
            "malformed",
            `The DNS server ${formatServer(server)} sent an answer over TCP that does not match the question. Check that a DNS server listens there.`,
          ),
        );
      }
    });
    socket.on("end", () => {
      finish(
        new DnsTransportError(
          "malformed",
          `The DNS server ${formatServer(server)} closed the TCP connection without a full answer. Check that a DNS server listens there, and its log.`,
        ),
      );
    });
  });
}

function lengthPrefix(length: number): Buffer {
  const out = Buffer.alloc(2);
  out.writeUInt16BE(length, 0);
  return out;
}
