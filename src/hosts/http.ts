/**
 * One HTTP/1.1 request over a socket the caller opens: a TCP connection or
 * Unix socket on this machine, or an SSH channel to the remote host's
 * loopback (`direct-tcpip`) or Unix socket (`direct-streamlocal`). Both execs
 * share this so their behaviour cannot drift apart.
 */
import type { ClientRequest } from "node:http";
import type { Duplex } from "node:stream";
import { HoltError } from "../errors.ts";
import type { HttpRequest, HttpResponse, HttpTarget } from "./exec.ts";

export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;
const MAX_BODY_BYTES = 32 * 1024 * 1024;

/** Opens the socket for one request; `undefined` lets Node connect by itself. */
export type OpenSocket = (to: HttpTarget) => Promise<Duplex> | undefined;

/** Where a request goes, for messages: `http://127.0.0.1:2019/config/` or `/config/ on Unix socket /run/caddy/admin.sock`. */
export function describeHttpTarget(to: HttpTarget, path: string): string {
  if (to.socketPath !== undefined) return `${path} on Unix socket ${to.socketPath}`;
  const address = to.address ?? "127.0.0.1";
  const host = address.includes(":") ? `[${address}]` : address;
  return `http://${host}:${to.port}${path}`;
}

export function sendHttp(
  target: string,
  request: HttpRequest,
  open: OpenSocket,
): Promise<HttpResponse> {
  const timeoutMs = request.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const where = `${describeHttpTarget(request, request.path)} on ${target}`;
  const fail = (why: string, cause?: unknown): HoltError =>
    new HoltError("HOLT_E_HTTP", `${request.method} ${where} failed: ${why}.`, { cause });

  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome: HttpResponse | HoltError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (outcome instanceof HoltError) reject(outcome);
      else resolve(outcome);
    };
    const timer = setTimeout(() => {
      settle(fail(`no answer within ${timeoutMs} ms`));
      req?.destroy();
    }, timeoutMs);

    const socketPath = request.socketPath;
    const headers: Record<string, string> = { ...request.headers, connection: "close" };
    // RFC 9112 3.2: a target without a host name gets an empty Host header (Caddy's admin API
    // on a Unix socket accepts only that). Node would send "localhost" by itself.
    if (socketPath !== undefined) headers.host ??= "";
    if (request.body !== undefined) {
      headers["content-length"] = String(Buffer.byteLength(request.body));
    }
    let req: ClientRequest | undefined;
    // Node throws, rather than emits, when it refuses the request (a path with a space, a bad
    // header); run from a promise's callback that would be an unhandled rejection.
    const start = (socket: Duplex | undefined): void => {
      try {
        send(socket);
      } catch (error) {
        socket?.destroy();
        settle(
          fail(
            `the request could not be sent: ${describe(error, socketPath !== undefined)}`,
            error,
          ),
        );
      }
    };
    const send = (socket: Duplex | undefined): void => {
      if (settled) {
        socket?.destroy();
        return;
      }
      // Loaded on first use: an ESM import of node:http costs every command ~80 ms (Node
      // builds its module facade, which loads undici for http's WebSocket getters).
      const target =
        socketPath !== undefined
          ? { socketPath, setHost: false }
          : { host: request.address ?? "127.0.0.1", port: request.port };
      req = process.getBuiltinModule("node:http").request(
        {
          ...target,
          method: request.method,
          path: request.path,
          headers,
          // `agent: false` would make Node ignore createConnection and dial locally.
          ...(socket === undefined
            ? { agent: false }
            : { createConnection: () => socket as never }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
              res.destroy();
              settle(fail(`the answer is larger than ${MAX_BODY_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on("error", (error) => settle(fail(error.message, error)));
          res.on("end", () => {
            const flat: Record<string, string> = {};
            for (const [name, value] of Object.entries(res.headers)) {
              if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(", ") : value;
            }
            // Some servers send headers after the body (Caddy 2.6 sends its ETag so).
            for (const [name, value] of Object.entries(res.trailers)) {
              if (value !== undefined && !(name in flat)) flat[name] = value;
            }
            settle({
              status: res.statusCode ?? 0,
              headers: flat,
              body: Buffer.concat(chunks).toString("utf8"),
            });
          });
        },
      );
      req.on("error", (error: NodeJS.ErrnoException) =>
        settle(fail(describe(error, socketPath !== undefined), error)),
      );
      req.end(request.body);
    };

    const opening = open(request);
    if (opening === undefined) start(undefined);
    else
      opening.then(start, (error: unknown) =>
        settle(fail(describe(error, socketPath !== undefined), error)),
      );
  });
}

function describe(error: unknown, socket: boolean): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (socket && code === "ENOENT") return "no such socket (nothing listens there)";
  if (socket && code === "EACCES") return "permission denied on the socket";
  if (socket && code === "ECONNREFUSED")
    return "connection refused (the socket is there but nothing listens on it)";
  if (code === "ECONNREFUSED") return "connection refused (nothing listens on that port)";
  if (code === "ECONNRESET") return "the connection was reset";
  const message = error instanceof Error ? error.message : String(error);
  // ssh2 reports a refused forward as "(SSH) Channel open failure: Connection refused", and
  // sshd refuses one to a Unix socket it cannot connect to with "open failed".
  if (socket && /open failed|connection refused|no such file/i.test(message))
    return `the host's sshd could not connect to the socket (${message}): check that it exists, that something listens on it, and that sshd allows stream-local forwarding (AllowStreamLocalForwarding)`;
  if (/connection refused/i.test(message))
    return "connection refused (nothing listens on that port)";
  return message;
}
