/**
 * An acme-client Client whose HTTP goes through holt's transport
 * (transport.ts) rather than acme-client's shared axios instance: extra CA
 * trust stays with this client, connection and TLS failures keep their
 * reason, and nothing retries behind the caller's back (acme-client still
 * retries a badNonce answer itself, which is all RFC 8555 asks).
 *
 * acme-client 5.4.0 (pinned) sends every request through
 * `client.http.request(url, method, { data })` and reads `status`, `headers`
 * and `data` of the answer; that is the seam used here. It is checked when
 * the client is made, so an upgrade that moves it fails loudly.
 */
import { Client } from "acme-client";
import { HoltError } from "../errors.ts";
import type { AcmeMethod, AcmeResponse, AcmeTransport } from "./transport.ts";

interface HttpSeam {
  request: (url: string, method: string, opts?: { data?: unknown }) => Promise<AcmeResponse>;
}

function hasHttpSeam(value: unknown): value is HttpSeam {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { request?: unknown }).request === "function"
  );
}

const METHODS: readonly AcmeMethod[] = ["get", "head", "post"];

export function createAcmeClient(
  directoryUrl: string,
  accountKeyPem: string,
  transport: AcmeTransport,
): Client {
  const client = new Client({ directoryUrl, accountKey: accountKeyPem });
  const http: unknown = Reflect.get(client, "http");
  if (!hasHttpSeam(http)) {
    throw new HoltError(
      "HOLT_E_INTERNAL",
      "acme-client no longer has `client.http.request`; holt's ACME transport cannot be attached. Pin acme-client to 5.4.0.",
    );
  }
  http.request = (url, method, opts) => {
    const verb = METHODS.find((known) => known === method.toLowerCase());
    if (verb === undefined) throw new Error(`acme-client asked for HTTP ${method}`);
    return transport.request(url, verb, opts?.data);
  };
  return client;
}
