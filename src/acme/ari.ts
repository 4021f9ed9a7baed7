/**
 * ACME Renewal Information (RFC 9773): the CA's suggested renewal window for
 * one certificate. Read from `<renewalInfo>/<certificate id>` when the
 * directory offers `renewalInfo`; null when it does not (Pebble 2.4 does not)
 * or when the CA does not know the certificate (404).
 *
 * acme-client 5.4 has no ARI, so this is a plain GET through the same
 * transport, with the same extra CA trust, as an issuance.
 */
import { HoltError } from "../errors.ts";
import { parseLeaf } from "./cert-info.ts";
import { readAriFields } from "./der.ts";
import { resolveDirectoryUrl } from "./directory.ts";
import { describeProblem, readProblem } from "./problem.ts";
import type { RenewalWindow } from "./renewal.ts";
import { AcmeTransportError, createAcmeTransport } from "./transport.ts";

/** `base64url(AKI keyIdentifier).base64url(serial)`, or null without an AKI. */
export function ariCertificateId(certificatePem: string): string | null {
  const { serial, authorityKeyId } = readAriFields(parseLeaf(certificatePem).raw);
  if (authorityKeyId === null) return null;
  const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");
  return `${b64(authorityKeyId)}.${b64(serial)}`;
}

export interface RenewalInfoRequest {
  /** Alias ("letsencrypt") or https:// URL. */
  readonly directory: string;
  readonly extraCaPem: string | null;
  /** The certificate (a chain is fine: its first certificate is used). */
  readonly certificatePem: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseDate(value: unknown): Date | null {
  if (typeof value !== "string") return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

export async function fetchRenewalWindow(
  request: RenewalInfoRequest,
): Promise<RenewalWindow | null> {
  const directoryUrl = resolveDirectoryUrl(request.directory);
  const fail = (why: string, cause?: unknown): HoltError =>
    new HoltError(
      "HOLT_E_ACME",
      `Could not read renewal information (ARI) from ${directoryUrl}: ${why}. holt falls back to renewing when a third of the certificate's lifetime is left; check the CA's status if this persists.`,
      { cause },
    );
  const id = ariCertificateId(request.certificatePem);
  if (id === null) return null;
  const transport = createAcmeTransport({ extraCaPem: request.extraCaPem });
  try {
    const directory = await transport.request(directoryUrl, "get");
    if (directory.status !== 200 || !isRecord(directory.data)) {
      throw fail(
        `the directory answered ${describeProblem(readProblem(directory.data, directory.status))}`,
      );
    }
    const base = directory.data.renewalInfo;
    if (typeof base !== "string") return null;
    const url = `${base.replace(/\/+$/, "")}/${id}`;
    const answer = await transport.request(url, "get");
    if (answer.status === 404) return null;
    if (answer.status !== 200) {
      throw fail(`${url} answered ${describeProblem(readProblem(answer.data, answer.status))}`);
    }
    const window = isRecord(answer.data) ? answer.data.suggestedWindow : undefined;
    const start = isRecord(window) ? parseDate(window.start) : null;
    const end = isRecord(window) ? parseDate(window.end) : null;
    if (start === null || end === null || end < start) {
      throw fail(`${url} gave no valid suggestedWindow`);
    }
    return { start, end };
  } catch (error) {
    if (error instanceof AcmeTransportError) throw fail(error.message, error);
    throw error;
  } finally {
    transport.close();
  }
}
