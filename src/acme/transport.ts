/**
 * HTTPS to one ACME CA, for one issuance: node:https through an agent of its
 * own, which trusts Node's default CAs plus, for a private CA such as Pebble,
 * the one extra CA certificate the caller gives. Nothing is set globally, so
 * two transports (one trusting Pebble, one not) never see each other's trust.
 *
 * acme-client's own HTTP goes through a shared axios instance that retries
 * with long fixed delays and loses the reason of a connection or TLS failure;
 * `client.ts` routes acme-client through this transport instead.
 *
 * A redirect is never followed: node:https does not follow one, and the
 * transport refuses a 3xx answer (reason "EREDIRECT") instead of handing it
 * to acme-client, so a signed request is never sent again elsewhere. RFC
 * 8555 has no redirects; a CA that answers with one is misconfigured or not
 * the CA.
 *
 * The transport remembers the last problem document (RFC 7807) the CA sent,
 * so an error can say what the CA said, with its type, and not only the
 * detail text acme-client keeps.
 */
import { type AcmeProblem, readProblem } from "./problem.ts";

export const ACME_HTTP_TIMEOUT_MS = 30_000;
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const USER_AGENT = "holt (acme-client 5.4.0)";

export interface AcmeResponse {
  readonly status: number;
  /** Lower-case names, as Node gives them; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON when the CA says the body is JSON, else the text (a PEM chain). */
  readonly data: unknown;
}

export type AcmeMethod = "get" | "head" | "post";

export interface AcmeTransport {
  /** POST sends `body` as JSON with `application/jose+json` (a JWS from acme-client). */
  request(url: string, method: AcmeMethod, body?: unknown): Promise<AcmeResponse>;
  /** The last problem document the CA answered with, or null after any success since. */
  lastProblem(): AcmeProblem | null;
  /** Closes kept-alive connections. */
  close(): void;
}

/** Why a request got no HTTP answer at all: no connection, TLS refused, timeout. */
export class AcmeTransportError extends Error {
  readonly url: string;
  /** The system or TLS error code, e.g. "ECONNREFUSED" or "DEPTH_ZERO_SELF_SIGNED_CERT". */
  readonly reason: string;

  constructor(url: string, reason: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "AcmeTransportError";
    this.url = url;
    this.reason = reason;
  }

  /** True when the CA's HTTPS certificate was not trusted. */
  get untrusted(): boolean {
    return /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_CERT_ALTNAME/.test(this.reason);
  }
}

export interface AcmeTransportOptions {
  /** One more CA certificate (PEM) to trust, on top of Node's defaults; null: only those. */
  readonly extraCaPem: string | null;
  /** Per request. @default 30000 */
  readonly timeoutMs?: number;
}

export function createAcmeTransport(options: AcmeTransportOptions): AcmeTransport {
  const timeoutMs = options.timeoutMs ?? ACME_HTTP_TIMEOUT_MS;
  // Loaded here, not imported: only commands that talk to a CA pay for TLS.
  const { Agent, request } = process.getBuiltinModule("node:https");
  const { getCACertificates } = process.getBuiltinModule("node:tls");
  const agent = new Agent({
    keepAlive: true,
    // `ca` replaces the default list, so the defaults are given again to add to them.
    ...(options.extraCaPem === null
      ? {}
      : { ca: [...getCACertificates("default"), options.extraCaPem] }),
  });
  let problem: AcmeProblem | null = null;

  const send = (url: string, method: AcmeMethod, body: unknown): Promise<AcmeResponse> => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { "user-agent": USER_AGENT };
    if (payload !== undefined) {
      headers["content-type"] = "application/jose+json";
      headers["content-length"] = String(payload.length);
    }
    return new Promise((resolve, reject) => {
      const fail = (reason: string, text: string, cause?: unknown): void =>
        reject(new AcmeTransportError(url, reason, text, cause));
      const req = request(url, { method: method.toUpperCase(), headers, agent }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400) {
          res.resume();
          const location = res.headers.location;
          fail(
            "EREDIRECT",
            `${method.toUpperCase()} ${url} answered HTTP ${status} with a redirect${location === undefined ? "" : ` to ${location}`}, which holt does not follow: an ACME CA does not redirect, and the signed request would go elsewhere`,
          );
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY_BYTES) {
            req.destroy();
            fail("EFBIG", `the answer from ${url} is larger than ${MAX_BODY_BYTES} bytes`);
            return;
          }
          chunks.push(chunk);
        });
        res.on("error", (error) => fail(errorCode(error), error.message, error));
        res.on("end", () => {
          const flat: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(", ") : value;
          }
          const text = Buffer.concat(chunks).toString("utf8");
          let data: unknown = text;
          if (/json/i.test(flat["content-type"] ?? "") && text !== "") {
            try {
              data = JSON.parse(text);
            } catch {
              // Not JSON after all: keep the text, which the error will show.
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: flat, data });
        });
      });
      req.setTimeout(timeoutMs, () => {
        req.destroy();
        fail("ETIMEDOUT", `no answer from ${url} within ${timeoutMs} ms`);
      });
      req.on("error", (error) => {
        const code = errorCode(error);
        fail(code, `${method.toUpperCase()} ${url}: ${error.message} (${code})`, error);
      });
      req.end(payload);
    });
  };

  return {
    async request(url, method, body) {
      const response = await send(url, method, body);
      if (response.status >= 400) problem = readProblem(response.data, response.status);
      else problem = null;
      return response;
    },
    lastProblem: () => problem,
    close: () => agent.destroy(),
  };
}

function errorCode(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === "string" ? code : "ERROR";
}
