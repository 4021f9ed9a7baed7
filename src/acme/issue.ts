/**
 * One certificate from an ACME CA over DNS-01: register (or find) the
 * account, order every name at once, put each challenge's TXT value in DNS,
 * wait until every value is served, ask the CA to validate them all, wait
 * for its decision, finalize with a CSR and download the chain.
 *
 * Every TXT value added is removed again, after success and after any
 * failure; a failed removal is reported (in the result, or in the error's
 * details) and never replaces the error that ended the issuance.
 */
import type { Authorization, Client, Order } from "acme-client";
import { crypto as acmeCrypto } from "acme-client";
import { HoltError, isHoltError } from "../errors.ts";
import { readCertificateInfo, splitPemChain } from "./cert-info.ts";
import { createAcmeClient } from "./client.ts";
import { resolveDirectoryUrl } from "./directory.ts";
import { checkPrivateKey, createCertificateKey } from "./keys.ts";
import { PollTimeout, pollUntil } from "./poll.ts";
import {
  type AcmeErrorContext,
  type AcmeProblem,
  acmeError,
  describeProblem,
  hintFor,
  readProblem,
} from "./problem.ts";
import { type AcmeTransport, AcmeTransportError, createAcmeTransport } from "./transport.ts";
import { ChallengeTxtRecords } from "./txt-records.ts";
import type { ChallengeTarget, IssuedCertificate, IssueRequest } from "./types.ts";

const DEFAULT_TXT_TTL = 60;
const DEFAULT_CA_TIMEOUT_MS = 120_000;
/** Longer common names do not fit the CN field; the names are all in the SAN anyway. */
const MAX_COMMON_NAME = 64;

type Challenge = Authorization["challenges"][number];

interface PendingChallenge {
  readonly name: string;
  readonly authorization: Authorization;
  readonly challenge: Challenge;
  readonly target: ChallengeTarget;
  readonly value: string;
}

/** Turns what an ACME step threw into HOLT_E_ACME, with what the CA said when it said something. */
function toAcmeError(
  context: AcmeErrorContext,
  step: string,
  error: unknown,
  problem: AcmeProblem | null,
): HoltError {
  if (isHoltError(error)) return error;
  if (error instanceof AcmeTransportError) {
    const hint = error.untrusted
      ? "The CA's HTTPS certificate is not trusted. For a private CA, give its CA certificate as the extra trusted CA."
      : "Check the directory URL, and that this machine can reach the CA.";
    return acmeError(context, step, error.message, hint, { cause: error });
  }
  if (error instanceof PollTimeout) {
    return acmeError(
      context,
      step,
      `the CA made ${error.message}`,
      "The CA is slow or stuck; run again later.",
    );
  }
  if (problem !== null) {
    return acmeError(
      context,
      step,
      `the CA said ${describeProblem(problem)}`,
      hintFor(problem, context.txtNames),
      { cause: error },
    );
  }
  const said = error instanceof Error ? error.message : String(error);
  return acmeError(context, step, said, hintFor(null, context.txtNames), { cause: error });
}

/** The error that ended the issuance, with the TXT values left behind added to its details. */
function withCleanupProblems(error: unknown, problems: readonly string[]): unknown {
  if (problems.length === 0) return error;
  const lines = ["The challenge TXT values were not all removed:", ...problems];
  if (isHoltError(error)) {
    return new HoltError(error.code, error.message, {
      details: [...error.details, ...lines],
      cause: error,
      exitCode: error.exitCode,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new HoltError("HOLT_E_INTERNAL", `Issuing a certificate failed: ${message}`, {
    details: lines,
    cause: error,
  });
}

function checkRequest(request: IssueRequest): void {
  const problems: string[] = [];
  if (request.names.length === 0) problems.push("no names");
  const seen = new Set<string>();
  for (const name of request.names) {
    if (name !== name.toLowerCase()) problems.push(`"${name}" is not lower case`);
    if (seen.has(name)) problems.push(`"${name}" is given twice`);
    seen.add(name);
    if (!Object.hasOwn(request.challenges, name))
      problems.push(`"${name}" has no challenge target`);
  }
  if (problems.length > 0) {
    throw new HoltError(
      "HOLT_E_INTERNAL",
      `issueCertificate was called wrongly: ${problems.join("; ")}.`,
    );
  }
}

export async function issueCertificate(request: IssueRequest): Promise<IssuedCertificate> {
  const started = performance.now();
  checkRequest(request);
  const directoryUrl = resolveDirectoryUrl(request.directory);
  checkPrivateKey(request.accountKeyPem, "The ACME account key");
  const keyPem = request.certificateKeyPem ?? createCertificateKey();
  checkPrivateKey(keyPem, "The certificate key");

  const names = [...request.names];
  const context: AcmeErrorContext = {
    directoryUrl,
    names,
    txtNames: [...new Set(names.map((name) => request.challenges[name]?.txtName ?? ""))],
  };
  const transport = createAcmeTransport({ extraCaPem: request.extraCaPem });
  const records = new ChallengeTxtRecords(request.txtTtl ?? DEFAULT_TXT_TTL);
  const run = new Issuance(request, context, transport, records);

  let issued: Omit<IssuedCertificate, "cleanupProblems" | "timings"> | undefined;
  let failure: unknown;
  try {
    issued = await run.issue(directoryUrl, names, keyPem);
  } catch (error) {
    failure = error;
  }
  const cleanupStarted = performance.now();
  const cleanupProblems = await records.removeAll(request.waitUntilGone);
  const cleanupMs = performance.now() - cleanupStarted;
  transport.close();
  if (issued === undefined) throw withCleanupProblems(failure, cleanupProblems);
  return {
    ...issued,
    cleanupProblems,
    timings: {
      totalMs: performance.now() - started,
      dnsWaitMs: run.dnsWaitMs,
      validationMs: run.validationMs,
      finalizeMs: run.finalizeMs,
      cleanupMs,
    },
  };
}

/** The steps of one issuance, sharing its client, error context and TXT records. */
class Issuance {
  dnsWaitMs = 0;
  validationMs = 0;
  finalizeMs = 0;
  readonly #request: IssueRequest;
  readonly #context: AcmeErrorContext;
  readonly #transport: AcmeTransport;
  readonly #records: ChallengeTxtRecords;
  readonly #timeoutMs: number;

  constructor(
    request: IssueRequest,
    context: AcmeErrorContext,
    transport: AcmeTransport,
    records: ChallengeTxtRecords,
  ) {
    this.#request = request;
    this.#context = context;
    this.#transport = transport;
    this.#records = records;
    this.#timeoutMs = request.caTimeoutMs ?? DEFAULT_CA_TIMEOUT_MS;
  }

  async #step<T>(what: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      throw toAcmeError(this.#context, what, error, this.#transport.lastProblem());
    }
  }

  async issue(
    directoryUrl: string,
    names: string[],
    keyPem: string,
  ): Promise<Omit<IssuedCertificate, "cleanupProblems" | "timings">> {
    const client = createAcmeClient(directoryUrl, this.#request.accountKeyPem, this.#transport);
    await this.#step("registering the account", () => this.#account(client));
    const accountUrl = client.getAccountUrl();
    const order = await this.#step("creating the order", () =>
      client.createOrder({ identifiers: names.map((value) => ({ type: "dns", value })) }),
    );
    const authorizations = await this.#step("reading the order's authorizations", () =>
      client.getAuthorizations(order),
    );
    const pending = await this.#challenges(client, authorizations);

    // Every value first (apex and wildcard share a name), then one wait for all.
    for (const { target, value } of pending) {
      await this.#records.add(target.backend, target.txtName, value);
    }
    const dnsStarted = performance.now();
    await this.#records.waitServed(this.#request.waitUntilServed);
    this.dnsWaitMs = performance.now() - dnsStarted;

    const validationStarted = performance.now();
    for (const { name, challenge } of pending) {
      await this.#step(`asking the CA to validate ${name}`, () =>
        client.completeChallenge(challenge),
      );
    }
    // The first failure ends the issuance; the other polls stop with it.
    const polls = new AbortController();
    try {
      await Promise.all(pending.map((one) => this.#validated(client, order, one, polls.signal)));
    } finally {
      polls.abort(new Error("issuance ended"));
    }
    this.validationMs = performance.now() - validationStarted;

    const finalizeStarted = performance.now();
    const chainPem = await this.#finalize(client, order, names, keyPem);
    this.finalizeMs = performance.now() - finalizeStarted;
    const [certificatePem = ""] = splitPemChain(chainPem);
    const info = readCertificateInfo(chainPem);
    const got = [...info.names].sort().join(", ");
    if (got !== [...names].sort().join(", ")) {
      throw acmeError(
        this.#context,
        "checking the certificate",
        `it names ${got}`,
        "The CA issued for other names than ordered; report this to the CA.",
      );
    }
    return { certificatePem, chainPem, keyPem, accountUrl, info };
  }

  /**
   * Finds the account of this key, or creates it (agreeing to the terms).
   * Finding first: acme-client answers an existing account by sending the
   * creation fields again as an update, which Pebble refuses when they hold
   * no contact. A changed email is updated.
   */
  async #account(client: Client): Promise<void> {
    const email = this.#request.email;
    const contact = email === null ? [] : [`mailto:${email}`];
    let existing: { contact?: string[] };
    try {
      existing = await client.createAccount({ onlyReturnExisting: true });
    } catch (error) {
      if (!this.#transport.lastProblem()?.type.endsWith(":accountDoesNotExist")) throw error;
      await client.createAccount({ termsOfServiceAgreed: true, contact });
      return;
    }
    const known = existing.contact ?? [];
    if (contact.length > 0 && !contact.every((one) => known.includes(one))) {
      await client.updateAccount({ contact });
    }
  }

  /** The dns-01 challenge and its TXT value for each authorization not already valid. */
  async #challenges(client: Client, authorizations: Authorization[]): Promise<PendingChallenge[]> {
    const pending: PendingChallenge[] = [];
    for (const authorization of authorizations) {
      const base = authorization.identifier.value.toLowerCase();
      const name = authorization.wildcard === true ? `*.${base}` : base;
      // Reused from an earlier order of this account: nothing to prove.
      if (authorization.status === "valid") continue;
      const target = this.#request.challenges[name];
      if (target === undefined) {
        throw acmeError(
          this.#context,
          "reading the order's authorizations",
          `the CA asks to prove ${name}, which was not ordered`,
          "Report this to the CA.",
        );
      }
      if (authorization.status !== "pending") {
        throw acmeError(
          this.#context,
          `reading the authorization for ${name}`,
          `it is ${authorization.status}`,
          "Run again for a new order.",
        );
      }
      const challenge = authorization.challenges.find((one) => one.type === "dns-01");
      if (challenge === undefined) {
        const offered = authorization.challenges.map((one) => one.type).join(", ") || "none";
        throw acmeError(
          this.#context,
          `reading the authorization for ${name}`,
          `the CA offers no dns-01 challenge (offered: ${offered})`,
          "holt proves names over DNS-01 only; use a CA that offers it.",
        );
      }
      const value = await client.getChallengeKeyAuthorization(challenge);
      pending.push({ name, authorization, challenge, target, value });
    }
    return pending;
  }

  /** Waits until the CA has validated one authorization; HOLT_E_ACME with its reason if not. */
  async #validated(
    client: Client,
    order: Order,
    one: PendingChallenge,
    signal: AbortSignal,
  ): Promise<void> {
    const step = `waiting for the CA to validate ${one.name} (TXT at ${one.target.txtName})`;
    const read = async (): Promise<Authorization> => {
      const [fresh] = await client.getAuthorizations({
        ...order,
        authorizations: [one.authorization.url],
      });
      if (fresh === undefined) throw new Error("the CA returned no authorization");
      return fresh;
    };
    const final = await this.#step(step, () =>
      pollUntil(read, (authz) => authz.status !== "pending", this.#timeoutMs, signal),
    );
    if (final.status === "valid") return;
    const failed = final.challenges.find((challenge) => challenge.type === "dns-01");
    const problem =
      failed?.error === undefined
        ? readProblem({ detail: `the authorization is ${final.status}` }, null)
        : readProblem(failed.error, null);
    throw acmeError(
      this.#context,
      step,
      `the CA said ${describeProblem(problem)}`,
      hintFor(problem, [one.target.txtName]),
    );
  }

  /** Sends the CSR, waits until the certificate is issued and downloads the chain. */
  async #finalize(client: Client, order: Order, names: string[], keyPem: string): Promise<string> {
    const [first = ""] = names;
    const [, csr] = await this.#step("making the certificate request", () =>
      acmeCrypto.createCsr(
        {
          ...(first.length <= MAX_COMMON_NAME ? { commonName: first } : {}),
          altNames: [...names],
        },
        keyPem,
      ),
    );
    const finalized = await this.#step("finalizing the order", () =>
      client.finalizeOrder(order, csr),
    );
    const done = await this.#step("waiting for the CA to issue", () =>
      pollUntil(
        () => client.getOrder(finalized),
        (state) => state.status === "valid" || state.status === "invalid",
        this.#timeoutMs,
      ),
    );
    if (done.status === "invalid") {
      const problem = readProblem(done.error ?? { detail: "the order is invalid" }, null);
      throw acmeError(
        this.#context,
        "waiting for the CA to issue",
        `the CA said ${describeProblem(problem)}`,
        hintFor(problem, this.#context.txtNames),
      );
    }
    return this.#step("downloading the certificate", () => client.getCertificate(done));
  }
}
