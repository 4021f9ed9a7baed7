/**
 * What an issuance takes and gives back. The caller (the certificate
 * provider) owns storage: it passes the account key in and stores the
 * certificate, key and account URL that come out.
 */
import type { ZoneBackend } from "../dns/types.ts";
import type { CertificateInfo } from "./cert-info.ts";

/** The part of a zone's DNS backend that DNS-01 needs. */
export type AcmeDnsBackend = Pick<
  ZoneBackend,
  "addTxt" | "removeTxt" | "nameservers" | "zone" | "kind"
>;

/**
 * Resolves once `value` is (or, for waitUntilGone, is no longer) among the
 * TXT values at `name` on every server ("host:port"); rejects on timeout.
 */
export type TxtWait = (servers: readonly string[], name: string, value: string) => Promise<void>;

/** Where one name's challenge TXT goes. */
export interface ChallengeTarget {
  /**
   * The TXT record's name, after following an `_acme-challenge` CNAME
   * delegation: "_acme-challenge.media.lab.test", or the CNAME's target.
   */
  readonly txtName: string;
  readonly backend: AcmeDnsBackend;
}

export interface IssueRequest {
  /** "letsencrypt", "letsencrypt-staging" or the CA's https:// directory URL. */
  readonly directory: string;
  /** One more CA (PEM) to trust for the CA's own HTTPS (a private CA, Pebble); null: Node's defaults. */
  readonly extraCaPem: string | null;
  /** The account key (PEM). Same key, same account: the CA returns the existing one. See createAccountKey(). */
  readonly accountKeyPem: string;
  /** Contact for the account, without "mailto:"; null: none. */
  readonly email: string | null;
  /** The names, lower case: ["media.lab.test"] or ["lab.test", "*.lab.test"]. */
  readonly names: readonly string[];
  /** The certificate's key (PEM). @default a fresh ECDSA P-256 key */
  readonly certificateKeyPem?: string;
  /** For each name in `names` (a wildcard by its "*." name), where its TXT goes. */
  readonly challenges: Readonly<Record<string, ChallengeTarget>>;
  readonly waitUntilServed: TxtWait;
  /** Called after each TXT value is removed; its failure is reported like a failed removal. */
  readonly waitUntilGone?: TxtWait;
  /** TTL of the challenge TXT records. @default 60 */
  readonly txtTtl?: number;
  /** How long to wait for the CA to validate, and again to issue, each. @default 120000 */
  readonly caTimeoutMs?: number;
}

export interface IssueTimings {
  readonly totalMs: number;
  /** Waiting for the TXT values to be served (waitUntilServed). */
  readonly dnsWaitMs: number;
  /** From telling the CA to validate until every authorization is valid. */
  readonly validationMs: number;
  /** From sending the CSR until the chain is downloaded. */
  readonly finalizeMs: number;
  /** Removing the TXT values (and waitUntilGone). */
  readonly cleanupMs: number;
}

export interface IssuedCertificate {
  /** The leaf certificate (PEM). */
  readonly certificatePem: string;
  /** Leaf then intermediates, as the CA sent them (PEM). Serve this. */
  readonly chainPem: string;
  /** The certificate's private key (PEM): the one given, or the fresh one. */
  readonly keyPem: string;
  /** The ACME account's URL at the CA. */
  readonly accountUrl: string;
  readonly info: CertificateInfo;
  /** TXT values that could not be removed (or were not seen gone); the certificate is fine. */
  readonly cleanupProblems: readonly string[];
  readonly timings: IssueTimings;
}
