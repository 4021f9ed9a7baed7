/**
 * `holt plan --out FILE` files. A saved plan is a proposal, not a program:
 * it holds what a fresh plan must match (`PlanProposal`: the lab, the config
 * file, how each host is reached, every change field by field, and the
 * fingerprints of what was read), never the steps or the desired graph to
 * run. `holt apply FILE` plans again from the config and runs only its own
 * fresh steps, once they equal these (engine/proposal.ts).
 *
 * Format 2 (this one) is pretty-printed JSON, so a person can read it too.
 * Format 1 files carried the graph and the steps to run; they are refused.
 * Reading checks the shape of every field and refuses unknown ones: the file
 * is input from outside, like a flag.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from "node:fs";
import type { Action, PlanSummary } from "../engine/plan-types.ts";
import { ACTIONS, summarize } from "../engine/plan-types.ts";
import type { PlanProposal, ProposedChange, ProposedHost } from "../engine/proposal.ts";
import { printable } from "../engine/proposal.ts";
import type { FieldChange } from "../engine/provider.ts";
import { HoltError } from "../errors.ts";
import { writeFileAtomic } from "../secrets/write-file.ts";

export const SAVED_PLAN_FORMAT = "2";

/** How deep a host's provider settings may nest in a plan file (holt's own nest a few levels). */
const MAX_SETTINGS_DEPTH = 32;

export interface SavedPlan extends PlanProposal {
  readonly kind: "holt-plan";
  readonly formatVersion: typeof SAVED_PLAN_FORMAT;
  readonly createdAt: string;
  readonly summary: PlanSummary;
}

/**
 * Writes the plan file, mode 0600. Refuses a symbolic link at `path`. The
 * file is written under a temporary name in the same folder and renamed
 * over `path`, so an existing file is replaced by a new one (mode 0600,
 * owned by whoever runs holt), never rewritten in place: a process that had
 * the old file open, or the old file's owner, cannot read or change the new
 * plan, and a crash leaves the old file or the new one, never half of one.
 */
export function writeSavedPlan(
  path: string,
  plan: PlanProposal & { readonly createdAt: string },
): void {
  const body: SavedPlan = {
    kind: "holt-plan",
    formatVersion: SAVED_PLAN_FORMAT,
    createdAt: plan.createdAt,
    lab: plan.lab,
    configFile: plan.configFile,
    hosts: plan.hosts,
    changes: plan.changes,
    bindings: plan.bindings,
    summary: summarize(plan.changes),
  };
  let existing: ReturnType<typeof lstatSync> | undefined;
  try {
    existing = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw cannotWrite(path, error);
  }
  if (existing?.isSymbolicLink() === true) {
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `Cannot write the plan to ${path}: it is a symbolic link, and holt does not write a plan through one. Remove the link, or choose another file name.`,
    );
  }
  if (existing !== undefined && !existing.isFile()) {
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `Cannot write the plan to ${path}: it exists and is not a regular file. Choose another file name.`,
    );
  }
  try {
    writeFileAtomic(path, `${JSON.stringify(body, null, 2)}\n`, 0o600, { exactMode: true });
  } catch (error) {
    throw cannotWrite(path, error);
  }
}

function cannotWrite(path: string, error: unknown): HoltError {
  return new HoltError(
    "HOLT_E_PLAN_FILE",
    `Cannot write the plan to ${path}: ${(error as Error).message}.`,
    { cause: error },
  );
}

/**
 * The largest plan file holt reads. A lab of a hundred services plans to well
 * under a megabyte; a file past this is not one holt wrote, and reading it
 * whole would only cost memory.
 */
export const MAX_PLAN_FILE_BYTES = 16 * 1024 * 1024;

export function readSavedPlan(path: string): SavedPlan {
  const text = readPlanText(path);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `${path} is not a holt plan (it is not JSON). Create one with \`holt plan --out FILE\`.`,
    );
  }
  return parseSavedPlan(path, body);
}

/**
 * The file's text, read only from a regular file and only up to
 * `MAX_PLAN_FILE_BYTES`: a FIFO, a device (`/dev/zero`) or a file that keeps
 * growing is refused instead of hanging holt or filling its memory.
 */
function readPlanText(path: string): string {
  let fd: number;
  try {
    // Non-blocking, so opening a FIFO that no one writes to returns (and is refused below).
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `Cannot read the plan file ${path}: ${(error as Error).message}. Create one with \`holt plan --out ${path}\`.`,
      { cause: error },
    );
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new HoltError(
        "HOLT_E_PLAN_FILE",
        `${path} is not a regular file, so it is not a plan \`holt plan --out\` wrote. Pass the file it saved.`,
      );
    }
    const tooLarge = () =>
      new HoltError(
        "HOLT_E_PLAN_FILE",
        `${path} is larger than ${MAX_PLAN_FILE_BYTES / 1024 / 1024} MiB, far more than any plan holt writes, so it was not read. Make the plan again with \`holt plan --out ${path}\`.`,
      );
    if (stat.size > MAX_PLAN_FILE_BYTES) throw tooLarge();
    // Read to the end, still counting: the file may grow while it is read.
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      total += read;
      if (total > MAX_PLAN_FILE_BYTES) throw tooLarge();
      chunks.push(chunk.subarray(0, read));
    }
    return Buffer.concat(chunks, total).toString("utf8");
  } catch (error) {
    if (error instanceof HoltError) throw error;
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `Cannot read the plan file ${path}: ${(error as Error).message}.`,
      { cause: error },
    );
  } finally {
    closeSync(fd);
  }
}

/** Checks every field of a parsed plan file; throws HOLT_E_PLAN_FILE naming the first bad one. */
export function parseSavedPlan(path: string, body: unknown): SavedPlan {
  if (!isRecord(body) || body.kind !== "holt-plan") {
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `${path} is not a holt plan. Create one with \`holt plan --out FILE\`.`,
    );
  }
  if (body.formatVersion === "1") {
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `${path} is a plan in format 1, made by an older holt. This holt applies format ${SAVED_PLAN_FORMAT} only, which it checks against a fresh plan instead of running the steps the file lists. Make the plan again with \`holt plan --out ${path}\`.`,
    );
  }
  if (body.formatVersion !== SAVED_PLAN_FORMAT) {
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `${path} is a plan in format ${printable(shortened(JSON.stringify(body.formatVersion) ?? "(none)"))}, which this holt cannot read (it reads format ${SAVED_PLAN_FORMAT}). Make the plan again with this version: \`holt plan --out ${path}\`.`,
    );
  }
  const shape = new Shape(path);
  const top = shape.object(body, "", {
    kind: true,
    formatVersion: true,
    createdAt: true,
    lab: true,
    configFile: true,
    hosts: true,
    changes: true,
    bindings: true,
    summary: true,
  });
  const createdAt = shape.string(top.createdAt, "createdAt");
  if (Number.isNaN(Date.parse(createdAt))) shape.fail("createdAt", "is not a date and time");
  const hosts = shape.array(top.hosts, "hosts", (h, at) => shape.host(h, at));
  shape.unique(
    hosts.map((h) => h.name),
    "hosts",
    "host",
  );
  const changes = shape.array(top.changes, "changes", (c, at) => shape.change(c, at));
  shape.unique(
    changes.map((c) => c.address),
    "changes",
    "address",
  );
  const bindings = shape.bindings(top.bindings, "bindings");
  const summary = shape.summary(top.summary, "summary");
  const counted = summarize(changes);
  if ((Object.keys(counted) as (keyof PlanSummary)[]).some((k) => counted[k] !== summary[k])) {
    shape.fail("summary", "does not count the changes the file lists");
  }
  return {
    kind: "holt-plan",
    formatVersion: SAVED_PLAN_FORMAT,
    createdAt,
    lab: shape.string(top.lab, "lab"),
    configFile: shape.string(top.configFile, "configFile"),
    hosts,
    changes,
    bindings,
    summary,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The shape checks, each naming the field's place in the file when it fails. */
class Shape {
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  fail(at: string, problem: string): never {
    // The place and the problem may quote the file's keys and values: escaped and cut short.
    const where = at === "" ? "the file" : shortened(at);
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `${this.#path} is not a plan this holt can apply: ${printable(`${where} ${shortened(problem)}`)}. Make the plan again with \`holt plan --out ${this.#path}\`.`,
    );
  }

  /** An object with these keys (true: required, false: optional) and no others. */
  object(
    value: unknown,
    at: string,
    keys: Readonly<Record<string, boolean>>,
  ): Record<string, unknown> {
    if (!isRecord(value)) this.fail(at, "is not an object");
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(keys, key)) this.fail(join(at, key), "is not a field of a plan file");
    }
    for (const [key, required] of Object.entries(keys)) {
      if (required && !Object.hasOwn(value, key)) this.fail(join(at, key), "is missing");
    }
    return value;
  }

  string(value: unknown, at: string): string {
    if (typeof value !== "string") this.fail(at, "is not a string");
    return value;
  }

  nullableString(value: unknown, at: string): string | null {
    return value === null ? null : this.string(value, at);
  }

  boolean(value: unknown, at: string): boolean {
    if (typeof value !== "boolean") this.fail(at, "is not true or false");
    return value;
  }

  count(value: unknown, at: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      this.fail(at, `is not a whole number from ${min} to ${max}`);
    }
    return value;
  }

  array<T>(value: unknown, at: string, item: (value: unknown, at: string) => T): T[] {
    if (!Array.isArray(value)) this.fail(at, "is not a list");
    return value.map((v, i) => item(v, `${at}[${i}]`));
  }

  /**
   * A value nested at most `MAX_SETTINGS_DEPTH` deep. Settings are compared
   * by printing them (stableJson), which recurses: a file nested a million
   * deep would otherwise end holt with a stack overflow instead of a message.
   */
  shallow(value: unknown, at: string, depth = 0): void {
    if (value === null || typeof value !== "object") return;
    if (depth >= MAX_SETTINGS_DEPTH) {
      this.fail(at, `is nested more than ${MAX_SETTINGS_DEPTH} levels deep`);
    }
    for (const item of Object.values(value)) this.shallow(item, at, depth + 1);
  }

  unique(values: readonly string[], at: string, what: string): void {
    const seen = new Set<string>();
    for (const value of values) {
      if (seen.has(value)) this.fail(at, `lists the ${what} ${JSON.stringify(value)} twice`);
      seen.add(value);
    }
  }

  host(value: unknown, at: string): ProposedHost {
    const h = this.object(value, at, { name: true, address: true, connect: true, settings: true });
    const connect = this.object(h.connect, `${at}.connect`, {
      kind: true,
      user: false,
      port: false,
      identityFile: false,
      knownHostsFile: false,
    });
    const settings = h.settings;
    if (!isRecord(settings)) this.fail(`${at}.settings`, "is not an object");
    this.shallow(settings, `${at}.settings`);
    const base = {
      name: this.string(h.name, `${at}.name`),
      address: this.string(h.address, `${at}.address`),
      settings,
    };
    if (connect.kind === "local") {
      this.object(connect, `${at}.connect`, { kind: true });
      return { ...base, connect: { kind: "local" } };
    }
    if (connect.kind !== "ssh") this.fail(`${at}.connect.kind`, 'is not "local" or "ssh"');
    this.object(connect, `${at}.connect`, {
      kind: true,
      user: true,
      port: true,
      identityFile: true,
      knownHostsFile: true,
    });
    return {
      ...base,
      connect: {
        kind: "ssh",
        user: this.string(connect.user, `${at}.connect.user`),
        port: this.count(connect.port, `${at}.connect.port`, 1, 65535),
        identityFile: this.string(connect.identityFile, `${at}.connect.identityFile`),
        knownHostsFile: this.string(connect.knownHostsFile, `${at}.connect.knownHostsFile`),
      },
    };
  }

  change(value: unknown, at: string): ProposedChange {
    const c = this.object(value, at, {
      address: true,
      type: true,
      noun: true,
      action: true,
      host: true,
      service: true,
      name: true,
      fields: true,
      after: true,
      dataLoss: true,
      desired: true,
    });
    if (!(ACTIONS as readonly unknown[]).includes(c.action)) {
      this.fail(`${at}.action`, `is not one of ${ACTIONS.join(", ")}`);
    }
    const fields = this.array(c.fields, `${at}.fields`, (f, fat) => this.field(f, fat));
    this.unique(
      fields.map((f) => f.path),
      `${at}.fields`,
      "path",
    );
    return {
      address: this.string(c.address, `${at}.address`),
      type: this.string(c.type, `${at}.type`),
      noun: this.string(c.noun, `${at}.noun`),
      action: c.action as Action,
      host: this.string(c.host, `${at}.host`),
      service: this.nullableString(c.service, `${at}.service`),
      name: this.string(c.name, `${at}.name`),
      fields,
      after: this.array(c.after, `${at}.after`, (a, aat) => this.string(a, aat)),
      dataLoss: this.boolean(c.dataLoss, `${at}.dataLoss`),
      desired: this.nullableString(c.desired, `${at}.desired`),
    };
  }

  field(value: unknown, at: string): FieldChange {
    const f = this.object(value, at, {
      path: true,
      before: true,
      after: true,
      forcesReplace: false,
    });
    const forcesReplace =
      f.forcesReplace === undefined ? false : this.boolean(f.forcesReplace, `${at}.forcesReplace`);
    return {
      path: this.string(f.path, `${at}.path`),
      before: this.nullableString(f.before, `${at}.before`),
      after: this.nullableString(f.after, `${at}.after`),
      ...(forcesReplace ? { forcesReplace: true } : {}),
    };
  }

  bindings(value: unknown, at: string): Record<string, string | null> {
    if (!isRecord(value)) this.fail(at, "is not an object");
    return Object.fromEntries(
      Object.entries(value).map(([address, fingerprint]) => [
        address,
        this.nullableString(fingerprint, `${at}[${JSON.stringify(address)}]`),
      ]),
    );
  }

  summary(value: unknown, at: string): PlanSummary {
    const s = this.object(value, at, {
      add: true,
      change: true,
      replace: true,
      destroy: true,
      release: true,
    });
    return {
      add: this.count(s.add, `${at}.add`),
      change: this.count(s.change, `${at}.change`),
      replace: this.count(s.replace, `${at}.replace`),
      destroy: this.count(s.destroy, `${at}.destroy`),
      release: this.count(s.release, `${at}.release`),
    };
  }
}

/** At most 200 characters of `text`, for a message that quotes a plan file. */
function shortened(text: string): string {
  return text.length <= 200
    ? text
    : `${text.slice(0, 200)}… (${text.length - 200} more characters)`;
}

function join(at: string, key: string): string {
  return at === "" ? key : `${at}.${key}`;
}
