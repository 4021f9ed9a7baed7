/**
 * What holt needs to know about an issued certificate, read with
 * node:crypto's X509Certificate: its DNS names, validity, issuer, serial and
 * SHA-256 fingerprint. Also splits a PEM chain into its certificates.
 */
import { X509Certificate } from "node:crypto";
import { HoltError } from "../errors.ts";

export interface CertificateInfo {
  /** DNS names from subjectAltName, in the certificate's order ("*.lab.test" for a wildcard). */
  readonly names: readonly string[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The issuer's distinguished name, e.g. "CN=Pebble Intermediate CA 4c19cd". */
  readonly issuer: string;
  /** Lower-case hex. */
  readonly serial: string;
  /** SHA-256 of the DER, lower-case hex without colons. */
  readonly sha256: string;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Each certificate of a PEM chain, in order, each ending in a newline. */
export function splitPemChain(pem: string): string[] {
  return [...pem.matchAll(PEM_BLOCK)].map((match) => `${match[0]}\n`);
}

/** The first certificate of a PEM (a chain's leaf) as an X509Certificate. */
export function parseLeaf(pem: string): X509Certificate {
  const [leaf] = splitPemChain(pem);
  try {
    if (leaf === undefined) throw new Error("no certificate block");
    return new X509Certificate(leaf);
  } catch (error) {
    throw new HoltError(
      "HOLT_E_ACME",
      "The stored certificate is not a PEM certificate holt can read. Delete it so holt issues a new one.",
      { cause: error },
    );
  }
}

/**
 * The DNS names of a subjectAltName as Node prints it:
 * `DNS:a.test, DNS:*.a.test`, with a name that holds a comma or quote
 * written as a JSON string (`DNS:"a,b"`).
 */
export function dnsNamesOf(subjectAltName: string | undefined): string[] {
  const names: string[] = [];
  const entry = /(?:^|, )DNS:("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (const match of (subjectAltName ?? "").matchAll(entry)) {
    const raw = match[1] ?? "";
    names.push(raw.startsWith('"') ? (JSON.parse(raw) as string) : raw);
  }
  return names;
}

export function readCertificateInfo(pem: string): CertificateInfo {
  const cert = parseLeaf(pem);
  return {
    names: dnsNamesOf(cert.subjectAltName),
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
    issuer: cert.issuer.split("\n").reverse().join(", "),
    serial: cert.serialNumber.toLowerCase(),
    sha256: cert.fingerprint256.replaceAll(":", "").toLowerCase(),
  };
}
