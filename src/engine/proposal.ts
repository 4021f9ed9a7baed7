/**
 * A saved plan is a proposal: `holt apply FILE` plans afresh from the config
 * and the systems, and runs the fresh plan only when it proposes exactly
 * what the saved one did. This file holds what the two are compared on
 * (`PlanProposal`, which is also what a plan file stores) and the pure
 * comparison, which returns the first difference as a value.
 *
 * What must be equal, and why each part is there:
 * - the lab and the config file it was planned from (a plan for another lab
 *   or from another config file is the wrong file, not a stale one);
 * - how every host is reached (address, user, port, identity file,
 *   known_hosts file) and the providers' per-host settings (where Caddy
 *   listens): the fresh plan reaches hosts as the config says, so a file
 *   that says otherwise was made from another config, or was edited;
 * - the fingerprint of everything read (`bindings`): the systems have not
 *   moved since the plan was reviewed;
 * - every change: action, what it is (type, host, name, service), every
 *   field's before and after, what it waits for, whether it destroys data,
 *   and a fingerprint of the desired inputs it would write (which catches
 *   what fields do not show, such as a secret's new value).
 *
 * Order is not compared where it means nothing: changes are matched by
 * address, fields by path, `after` as a set. The order that matters (what
 * waits for what) is in `after`.
 */
import type { ResolvedConnect } from "../config/types.ts";
import { EDGE_HOST } from "../util/edge-host.ts";
import { fingerprint, stableJson } from "../util/stable-json.ts";
import type { Action, HostConnection, Plan } from "./plan-types.ts";
import type { FieldChange } from "./provider.ts";
import type { DesiredGraph } from "./resource.ts";

export interface ProposedHost {
  readonly name: string;
  readonly address: string;
  readonly connect: ResolvedConnect;
  /** The providers' settings for this host (`DesiredGraph.hostSettings`), by resource type. */
  readonly settings: Readonly<Record<string, unknown>>;
}

export interface ProposedChange {
  readonly address: string;
  readonly type: string;
  readonly noun: string;
  readonly action: Action;
  readonly host: string;
  readonly service: string | null;
  readonly name: string;
  readonly fields: readonly FieldChange[];
  /** Addresses of changes that must finish first. */
  readonly after: readonly string[];
  readonly dataLoss: boolean;
  /** Fingerprint of the desired inputs (create, update, replace); null for removals. */
  readonly desired: string | null;
}

export interface PlanProposal {
  readonly lab: string;
  readonly configFile: string;
  readonly hosts: readonly ProposedHost[];
  readonly changes: readonly ProposedChange[];
  /** Fingerprint of everything read, per address (null: did not exist). */
  readonly bindings: Readonly<Record<string, string | null>>;
}

/** The lab, config file and host connections, known before any host is read. */
export interface PlanSetup {
  readonly lab: string;
  readonly configFile: string;
  readonly hosts: readonly HostConnection[];
}

/** What the messages name a change by. */
export interface ChangeLabel {
  readonly address: string;
  readonly noun: string;
  readonly name: string;
  readonly host: string;
}

export type ConnectionField = "reach" | "identityFile" | "knownHostsFile";

/** Something read for both plans whose state differs. */
export interface BindingDifference {
  readonly kind: "binding";
  readonly address: string;
  /** undefined: not read for that plan. */
  readonly saved: string | null | undefined;
  readonly fresh: string | null | undefined;
}

export type PlanDifference =
  | { readonly kind: "lab"; readonly saved: string; readonly fresh: string }
  | { readonly kind: "config-file"; readonly saved: string; readonly fresh: string }
  | { readonly kind: "host-only-saved"; readonly host: string }
  | { readonly kind: "host-only-fresh"; readonly host: string }
  | {
      readonly kind: "host-connection";
      readonly host: string;
      readonly field: ConnectionField;
      readonly saved: string;
      readonly fresh: string;
    }
  | { readonly kind: "host-settings"; readonly host: string; readonly type: string }
  /**
   * A fresh plan changes nothing: the saved plan was applied already, or its changes were made
   * by hand. `moved` is the first thing read whose state differs, when one does.
   */
  | {
      readonly kind: "nothing-left";
      readonly saved: number;
      readonly moved: BindingDifference | null;
    }
  | BindingDifference
  | { readonly kind: "change-only-saved"; readonly change: ChangeLabel; readonly action: Action }
  | { readonly kind: "change-only-fresh"; readonly change: ChangeLabel; readonly action: Action }
  | {
      readonly kind: "action";
      readonly change: ChangeLabel;
      readonly saved: Action;
      readonly fresh: Action;
    }
  | {
      readonly kind: "label";
      readonly change: ChangeLabel;
      readonly what: "type" | "noun" | "host" | "name" | "service";
      readonly saved: string | null;
      readonly fresh: string | null;
    }
  | {
      readonly kind: "data-loss";
      readonly change: ChangeLabel;
      readonly saved: boolean;
      readonly fresh: boolean;
    }
  | {
      readonly kind: "field";
      readonly change: ChangeLabel;
      readonly path: string;
      /** null: the plan does not change this field. */
      readonly saved: FieldChange | null;
      readonly fresh: FieldChange | null;
    }
  | {
      readonly kind: "after";
      readonly change: ChangeLabel;
      readonly saved: readonly string[];
      readonly fresh: readonly string[];
    }
  | { readonly kind: "desired"; readonly change: ChangeLabel };

/** The proposal a plan makes: what a plan file stores and `comparePlans` compares. */
export function proposalOf(
  plan: Plan,
  hostSettings: DesiredGraph["hostSettings"] = {},
): PlanProposal {
  return {
    lab: plan.lab,
    configFile: plan.configFile,
    hosts: plan.hosts.map((h) => ({
      name: h.name,
      address: h.address,
      connect: h.connect,
      settings: hostSettings[h.name] ?? {},
    })),
    changes: plan.changes.map((c) => ({
      address: c.address,
      type: c.type,
      noun: c.noun,
      action: c.action,
      host: c.host,
      service: c.service ?? null,
      name: c.name,
      fields: c.fields.map((f) => ({
        path: f.path,
        before: f.before,
        after: f.after,
        ...(f.forcesReplace === true ? { forcesReplace: true } : {}),
      })),
      after: c.after,
      dataLoss: c.dataLoss !== undefined,
      desired: c.resource === undefined ? null : fingerprint(c.resource.inputs),
    })),
    bindings: plan.bindings,
  };
}

/**
 * The first difference in what can be checked before any host is read: the
 * lab, the config file, and how each host is reached. Null when they agree.
 */
export function compareSetup(saved: PlanSetup, fresh: PlanSetup): PlanDifference | null {
  if (saved.lab !== fresh.lab) return { kind: "lab", saved: saved.lab, fresh: fresh.lab };
  if (saved.configFile !== fresh.configFile) {
    return { kind: "config-file", saved: saved.configFile, fresh: fresh.configFile };
  }
  const freshHosts = new Map(fresh.hosts.map((h) => [h.name, h]));
  for (const host of saved.hosts) {
    const other = freshHosts.get(host.name);
    if (other === undefined) return { kind: "host-only-saved", host: host.name };
    const difference = compareConnection(host, other);
    if (difference !== null) return difference;
  }
  const savedHosts = new Set(saved.hosts.map((h) => h.name));
  const extra = fresh.hosts.find((h) => !savedHosts.has(h.name));
  return extra === undefined ? null : { kind: "host-only-fresh", host: extra.name };
}

/** The first difference between a saved proposal and a fresh one, or null when they agree. */
export function comparePlans(saved: PlanProposal, fresh: PlanProposal): PlanDifference | null {
  const setup = compareSetup(saved, fresh);
  if (setup !== null) return setup;
  const freshHosts = new Map(fresh.hosts.map((h) => [h.name, h]));
  for (const host of saved.hosts) {
    const other = freshHosts.get(host.name);
    if (other === undefined) continue; // compareSetup has matched every host
    const types = [...new Set([...Object.keys(host.settings), ...Object.keys(other.settings)])];
    const type = types
      .sort()
      .find((t) => stableJson(host.settings[t]) !== stableJson(other.settings[t]));
    if (type !== undefined) return { kind: "host-settings", host: host.name, type };
  }

  // What was read on both sides first: a difference there is the systems moving, the
  // usual reason a plan goes stale, and explains the change differences it causes.
  const addresses = [...new Set([...Object.keys(saved.bindings), ...Object.keys(fresh.bindings)])];
  addresses.sort();
  const bindingOf = (plan: PlanProposal, address: string): string | null | undefined =>
    Object.hasOwn(plan.bindings, address) ? (plan.bindings[address] ?? null) : undefined;
  let moved: BindingDifference | null = null;
  for (const address of addresses) {
    const was = bindingOf(saved, address);
    const now = bindingOf(fresh, address);
    if (was !== undefined && now !== undefined && was !== now) {
      moved = { kind: "binding", address, saved: was, fresh: now };
      break;
    }
  }
  // Said first, as it is what the user needs to know, and what every other difference follows
  // from; with the first thing read that moved, as the evidence (applied, or done by hand).
  if (fresh.changes.length === 0 && saved.changes.length > 0) {
    return { kind: "nothing-left", saved: saved.changes.length, moved };
  }
  if (moved !== null) return moved;

  const freshChanges = new Map(fresh.changes.map((c) => [c.address, c]));
  for (const change of saved.changes) {
    const other = freshChanges.get(change.address);
    if (other === undefined) {
      return { kind: "change-only-saved", change: labelOf(change), action: change.action };
    }
    const difference = compareChange(change, other);
    if (difference !== null) return difference;
  }
  const savedChanges = new Set(saved.changes.map((c) => c.address));
  const extra = fresh.changes.find((c) => !savedChanges.has(c.address));
  if (extra !== undefined) {
    return { kind: "change-only-fresh", change: labelOf(extra), action: extra.action };
  }

  // Read for one plan only: the set of desired or owned resources differs.
  for (const address of addresses) {
    const was = bindingOf(saved, address);
    const now = bindingOf(fresh, address);
    if (was !== now) return { kind: "binding", address, saved: was, fresh: now };
  }
  return null;
}

type SshConnect = Extract<ResolvedConnect, { kind: "ssh" }>;

/**
 * What each SSH setting is reported under. Every setting is compared: one
 * added to `ResolvedConnect` fails to compile here until it is listed.
 */
const SSH_SETTINGS = {
  user: "reach",
  port: "reach",
  identityFile: "identityFile",
  knownHostsFile: "knownHostsFile",
} as const satisfies Record<Exclude<keyof SshConnect, "kind">, ConnectionField>;

function compareConnection(saved: HostConnection, fresh: HostConnection): PlanDifference | null {
  const host = saved.name;
  const reach = (h: HostConnection): string =>
    h.connect.kind === "local"
      ? `the machine holt runs on (address ${h.address})`
      : `${h.connect.user}@${h.address}:${h.connect.port}`;
  const a = saved.connect;
  const b = fresh.connect;
  // Compared setting by setting, not by the words above ("a@b" + "c" and "a" + "b@c" read alike).
  const settings = Object.entries(SSH_SETTINGS) as [keyof typeof SSH_SETTINGS, ConnectionField][];
  const differs = (field: ConnectionField): boolean =>
    a.kind === "ssh" && b.kind === "ssh"
      ? settings.some(([setting, under]) => under === field && a[setting] !== b[setting])
      : false;
  if (saved.address !== fresh.address || a.kind !== b.kind || differs("reach")) {
    return {
      kind: "host-connection",
      host,
      field: "reach",
      saved: reach(saved),
      fresh: reach(fresh),
    };
  }
  if (a.kind === "ssh" && b.kind === "ssh") {
    for (const field of ["identityFile", "knownHostsFile"] as const) {
      if (differs(field))
        return { kind: "host-connection", host, field, saved: a[field], fresh: b[field] };
    }
  }
  return null;
}

function labelOf(change: ProposedChange): ChangeLabel {
  return { address: change.address, noun: change.noun, name: change.name, host: change.host };
}

function compareChange(saved: ProposedChange, fresh: ProposedChange): PlanDifference | null {
  // Named as the fresh plan names it: the saved file's words are not trusted.
  const change = labelOf(fresh);
  if (saved.action !== fresh.action) {
    return { kind: "action", change, saved: saved.action, fresh: fresh.action };
  }
  for (const what of ["type", "noun", "host", "name", "service"] as const) {
    if (saved[what] !== fresh[what]) {
      return { kind: "label", change, what, saved: saved[what], fresh: fresh[what] };
    }
  }
  if (saved.dataLoss !== fresh.dataLoss) {
    return { kind: "data-loss", change, saved: saved.dataLoss, fresh: fresh.dataLoss };
  }
  const freshFields = new Map(fresh.fields.map((f) => [f.path, f]));
  for (const field of saved.fields) {
    const other = freshFields.get(field.path) ?? null;
    if (other === null || !sameField(field, other)) {
      return { kind: "field", change, path: field.path, saved: field, fresh: other };
    }
  }
  const savedPaths = new Set(saved.fields.map((f) => f.path));
  const extra = fresh.fields.find((f) => !savedPaths.has(f.path));
  if (extra !== undefined) {
    return { kind: "field", change, path: extra.path, saved: null, fresh: extra };
  }
  const savedAfter = [...new Set(saved.after)].sort();
  const freshAfter = [...new Set(fresh.after)].sort();
  if (savedAfter.join("\n") !== freshAfter.join("\n")) {
    return { kind: "after", change, saved: savedAfter, fresh: freshAfter };
  }
  if (saved.desired !== fresh.desired) return { kind: "desired", change };
  return null;
}

function sameField(a: FieldChange, b: FieldChange): boolean {
  return (
    a.before === b.before &&
    a.after === b.after &&
    (a.forcesReplace === true) === (b.forcesReplace === true)
  );
}

/** A value from a plan in a message: quoted, so spaces, empties and control characters show. */
function quoted(value: string | null): string {
  return value === null ? "(none)" : JSON.stringify(value);
}

function named(change: ChangeLabel): string {
  const where = change.host === EDGE_HOST ? "at the edge" : `on host ${change.host}`;
  return `${change.noun} ${change.name} ${where}`;
}

function fieldChange(field: FieldChange): string {
  const replace = field.forcesReplace === true ? " (forces a replace)" : "";
  return `${quoted(field.before)} → ${quoted(field.after)}${replace}`;
}

function bindingState(value: string | null | undefined): string {
  if (value === undefined) return "was not read";
  return value === null ? "did not exist" : "existed";
}

function describeConnection(
  host: string,
  field: ConnectionField,
  saved: string,
  fresh: string,
): string {
  switch (field) {
    case "reach":
      return `host ${host}: the saved plan reaches it as ${saved}, the config as ${fresh}`;
    case "identityFile":
      return `host ${host}: the saved plan logs in with the identity file ${quoted(saved)}, the config with ${quoted(fresh)}`;
    case "knownHostsFile":
      return `host ${host}: the saved plan checks its host key against the known_hosts file ${quoted(saved)}, the config against ${quoted(fresh)}`;
  }
}

/**
 * Control characters (and bidirectional overrides) written as `\u` escapes:
 * half of what a message shows comes from a file anyone may have edited,
 * and must not move the terminal's cursor or hide text.
 */
export function printable(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The longest difference shown; a plan file may hold values of any length. */
const MAX_DIFFERENCE_CHARS = 2000;

/** The difference in words, naming what differs and both sides. */
export function describeDifference(difference: PlanDifference): string {
  const text = printable(inWords(difference));
  if (text.length <= MAX_DIFFERENCE_CHARS) return text;
  // Both ends: what differs comes first, the fresh plan's side last.
  const half = MAX_DIFFERENCE_CHARS / 2;
  return `${text.slice(0, half)} … (${text.length - MAX_DIFFERENCE_CHARS} characters left out) … ${text.slice(-half)}`;
}

function inWords(difference: PlanDifference): string {
  switch (difference.kind) {
    case "lab":
      return `the saved plan is for lab ${quoted(difference.saved)}, the config is lab ${quoted(difference.fresh)}`;
    case "config-file":
      return `the saved plan was made from ${difference.saved}, the config is ${difference.fresh}`;
    case "host-only-saved":
      return `host ${difference.host}: the saved plan has it, the config does not`;
    case "host-only-fresh":
      return `host ${difference.host}: the config has it, the saved plan does not`;
    case "host-connection":
      return describeConnection(
        difference.host,
        difference.field,
        difference.saved,
        difference.fresh,
      );
    case "host-settings":
      return `host ${difference.host}: the saved plan's settings for ${difference.type} differ from the config's`;
    case "nothing-left": {
      const moved = difference.moved === null ? "" : ` (${describeBinding(difference.moved)})`;
      return `a fresh plan has no changes, the saved plan has ${difference.saved}: the systems already match the config${moved}. Was this plan applied already, or its changes made by hand?`;
    }
    case "binding":
      return describeBinding(difference);
    case "change-only-saved":
      return `${named(difference.change)}: the saved plan says "${difference.action}", a fresh plan leaves it alone`;
    case "change-only-fresh":
      return `${named(difference.change)}: a fresh plan says "${difference.action}", the saved plan leaves it alone`;
    case "action":
      return `${named(difference.change)}: the saved plan says "${difference.saved}", a fresh plan says "${difference.fresh}"`;
    case "label":
      return `${named(difference.change)}: the saved plan gives its ${difference.what} as ${quoted(difference.saved)}, a fresh plan as ${quoted(difference.fresh)}`;
    case "data-loss":
      return `${named(difference.change)}: the saved plan says it ${difference.saved ? "destroys" : "keeps"} data, a fresh plan says it ${difference.fresh ? "destroys" : "keeps"} it`;
    case "field": {
      const { saved, fresh } = difference;
      const head = `${named(difference.change)}, ${difference.path}`;
      if (saved !== null && fresh !== null) {
        return `${head}: the saved plan says ${fieldChange(saved)}, a fresh plan says ${fieldChange(fresh)}`;
      }
      if (saved !== null) {
        return `${head}: the saved plan changes it ${fieldChange(saved)}, a fresh plan leaves it alone`;
      }
      const change = fresh === null ? "" : ` ${fieldChange(fresh)}`;
      return `${head}: a fresh plan changes it${change}, the saved plan leaves it alone`;
    }
    case "after": {
      const list = (a: readonly string[]) => (a.length === 0 ? "nothing" : a.join(", "));
      return `${named(difference.change)}: the saved plan runs it after ${list(difference.saved)}, a fresh plan after ${list(difference.fresh)}`;
    }
    case "desired":
      return `${named(difference.change)}: a fresh plan would write other settings than the saved plan, in a part the plan does not show (a secret's value, for example)`;
  }
}

function describeBinding(difference: BindingDifference): string {
  const { address, saved, fresh } = difference;
  if (saved === undefined || fresh === undefined) {
    return `${address}: ${saved === undefined ? "a fresh plan reads it, the saved plan did not" : "the saved plan read it, a fresh plan does not"}`;
  }
  const now = fresh === null ? "is gone now" : saved === null ? "exists now" : "is different now";
  return `${address}: ${bindingState(saved)} at plan time, ${now}`;
}
