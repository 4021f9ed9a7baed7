/**
 * What an ACME CA says when it refuses something (a problem document, RFC
 * 8555 section 6.7), and the HOLT_E_ACME error built from it: the directory
 * URL, the names, the step, what the CA said and what to do. Errors never
 * carry a key; the only inputs here are URLs, names and the CA's words.
 */
import { HoltError } from "../errors.ts";

const ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:";

export interface AcmeSubproblem {
  readonly type: string;
  readonly detail: string;
  /** The name it is about, when the CA says. */
  readonly identifier: string | null;
}

export interface AcmeProblem {
  /** e.g. "urn:ietf:params:acme:error:rejectedIdentifier"; "" when the CA sent none. */
  readonly type: string;
  readonly detail: string;
  /** The HTTP status, when the problem came as an HTTP answer. */
  readonly status: number | null;
  /** Per-identifier problems, e.g. one per rejected name. */
  readonly subproblems: readonly AcmeSubproblem[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The problem in an error answer (or in an authorization's or order's
 * `error` field). A body that is no problem document still gives a problem:
 * its text (cut short) as the detail, so the error can show it.
 */
export function readProblem(data: unknown, status: number | null): AcmeProblem {
  if (isRecord(data) && (typeof data.type === "string" || typeof data.detail === "string")) {
    const subproblems = Array.isArray(data.subproblems)
      ? data.subproblems.filter(isRecord).map((sub) => ({
          type: typeof sub.type === "string" ? sub.type : "",
          detail: typeof sub.detail === "string" ? sub.detail : "",
          identifier:
            isRecord(sub.identifier) && typeof sub.identifier.value === "string"
              ? sub.identifier.value
              : null,
        }))
      : [];
    return {
      type: typeof data.type === "string" ? data.type : "",
      detail: typeof data.detail === "string" ? data.detail : "",
      status,
      subproblems,
    };
  }
  const text =
    typeof data === "string" ? data.trim() : data === undefined ? "" : JSON.stringify(data);
  return {
    type: "",
    detail: text.length > 300 ? `${text.slice(0, 300)}…` : text,
    status,
    subproblems: [],
  };
}

/** "rejectedIdentifier" for the ACME namespace, the full type otherwise. */
export function shortProblemType(type: string): string {
  return type.startsWith(ACME_ERROR_PREFIX) ? type.slice(ACME_ERROR_PREFIX.length) : type;
}

/**
 * One line: `rejectedIdentifier: Order includes a blocked name (HTTP 400)`,
 * then each subproblem: `; for x.test: caa: ...`.
 */
export function describeProblem(problem: AcmeProblem): string {
  const one = (type: string, detail: string): string => {
    const short = shortProblemType(type);
    const text = detail === "" ? "no detail given" : detail;
    return short === "" ? text : `${short}: ${text}`;
  };
  const status = problem.status === null ? "" : ` (HTTP ${problem.status})`;
  const subs = problem.subproblems.map(
    (sub) =>
      `; ${sub.identifier === null ? "" : `for ${sub.identifier}: `}${one(sub.type, sub.detail)}`,
  );
  return `${one(problem.type, problem.detail)}${status}${subs.join("")}`;
}

/** What to do about a problem, by its type. */
export function hintFor(problem: AcmeProblem | null, txtNames: readonly string[]): string {
  const first = problem?.subproblems[0];
  const type =
    problem === null
      ? ""
      : shortProblemType(
          problem.type.endsWith(":compound") && first !== undefined ? first.type : problem.type,
        );
  const where = txtNames.length === 0 ? "the challenge name" : txtNames.join(", ");
  switch (type) {
    case "rejectedIdentifier":
      return "The CA will not issue for one of these names: check their spelling, and that they are names the CA accepts (public names for Let's Encrypt).";
    case "malformed":
      return "The CA found the request malformed. When its message names one of the names, fix that name; otherwise report it as a holt bug.";
    case "unauthorized":
    case "incorrectResponse":
    case "dns":
      return `The CA did not find the challenge TXT value at ${where}. Check that the zone's nameservers are the ones the CA asks, that they answer from the internet, and that any _acme-challenge CNAME points at the zone holt writes.`;
    case "caa":
      return "A CAA record on the name or a parent forbids this CA. Add a CAA record that allows it, or remove the restriction.";
    case "rateLimited":
      return "The CA's rate limit was hit. Wait until the time it names, and use the staging directory (letsencrypt-staging) while testing.";
    case "badNonce":
    case "serverInternal":
      return "This looks temporary on the CA's side; run the command again.";
    case "accountDoesNotExist":
    case "unauthorizedAccount":
      return "The CA does not know the account key. Run again to register it, or check that the stored account key belongs to this CA.";
    case "externalAccountRequired":
      return "This CA needs external account binding, which holt does not support yet; use a CA without it.";
    default:
      return "Follow the CA's message; run again once it is fixed.";
  }
}

export interface AcmeErrorContext {
  readonly directoryUrl: string;
  readonly names: readonly string[];
  /** The challenge TXT names in play, for hints about validation. */
  readonly txtNames: readonly string[];
}

/** HOLT_E_ACME: "Could not get a certificate for <names> from <CA> while <step>: <said>. <hint>" */
export function acmeError(
  context: AcmeErrorContext,
  step: string,
  said: string,
  hint: string,
  options: { cause?: unknown; details?: readonly string[] } = {},
): HoltError {
  return new HoltError(
    "HOLT_E_ACME",
    `Could not get a certificate for ${context.names.join(", ")} from ${context.directoryUrl} while ${step}: ${said}. ${hint}`,
    options,
  );
}
