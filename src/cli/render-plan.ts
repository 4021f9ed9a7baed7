/** Plan as people read it, and as the versioned JSON that scripts read. */
import type { Action, Plan, PlannedChange } from "../engine/plan-types.ts";
import type { FieldChange } from "../engine/provider.ts";
import { EDGE_HOST } from "../util/edge-host.ts";
import { formatSize } from "../util/sizes.ts";
import type { Style } from "./output.ts";

export const MARKS = {
  create: "+",
  update: "~",
  replace: "-/+",
  delete: "-",
  release: "<",
} as const satisfies Record<Action, string>;

const LEGEND = {
  create: "create",
  update: "update in place",
  replace: "destroy and create again",
  delete: "destroy",
  release: "release (stop managing, keep the data)",
} as const satisfies Record<Action, string>;

const NO_SERVICE = "(lab)";

function showValue(value: string | null, inherited: string): string {
  return value === null ? inherited : value;
}

function colorFor(action: Action, style: Style): (text: string) => string {
  switch (action) {
    case "create":
      return style.green;
    case "update":
      return style.yellow;
    case "replace":
    case "delete":
      return style.red;
    case "release":
      return style.cyan;
  }
}

function inlineFields(fields: readonly FieldChange[]): string {
  return fields.map((f) => `${f.path}=${f.after ?? ""}`).join(" ");
}

function changeLines(change: PlannedChange, style: Style, detailed: boolean): string[] {
  const color = colorFor(change.action, style);
  const mark = MARKS[change.action];
  let head = `${color(mark.padStart(3))} ${change.noun} ${style.bold(change.name)}`;
  const lines: string[] = [];
  switch (change.action) {
    case "create": {
      const inline = inlineFields(change.fields);
      if (!detailed && inline.length > 0 && inline.length <= 60) head += `  ${style.dim(inline)}`;
      else if (inline.length > 0) {
        for (const f of change.fields) lines.push(`        ${f.path}: ${f.after ?? ""}`);
      }
      break;
    }
    case "update":
    case "replace":
      for (const f of change.fields) {
        const arrow = `${showValue(f.before, "(inherited)")} → ${showValue(f.after, "(inherit)")}`;
        const why = f.forcesReplace === true ? style.red("  # forces replacement") : "";
        lines.push(`        ${f.path}: ${arrow}${why}`);
      }
      break;
    case "delete":
    case "release":
      break;
  }
  const used =
    change.dataLoss?.used ??
    (typeof change.observed?.info?.used === "number" ? change.observed.info.used : undefined);
  if (
    (change.action === "delete" || change.action === "replace") &&
    change.dataLoss !== undefined
  ) {
    head += `  ${style.red(`DESTROYS DATA${used === undefined ? "" : `: ${formatSize(used)} used`}; safety snapshot first`)}`;
  } else if (change.action === "replace") {
    head += `  ${style.dim("recreated; its data stays in its datasets")}`;
  } else if (change.action === "release") {
    head += `  ${style.dim(`stop managing, keep the data${used === undefined ? "" : ` (${formatSize(used)} used)`}`)}`;
  }
  return [head, ...lines];
}

/** The readable plan: grouped by host, then service. */
export function renderPlan(
  plan: Plan,
  style: Style,
  options: { detailed?: boolean } = {},
): string[] {
  const lines: string[] = [];
  const detailed = options.detailed === true;
  if (plan.changes.length > 0) {
    const used = new Set(plan.changes.map((c) => c.action));
    const legend = (Object.keys(LEGEND) as Action[])
      .filter((a) => used.has(a))
      .map((a) => `${colorFor(a, style)(MARKS[a])} ${LEGEND[a]}`)
      .join(", ");
    lines.push(
      `Holt will make these changes to lab ${style.bold(plan.lab)}.`,
      style.dim(`Marks: ${legend}.`),
      "",
    );
  }
  const hosts = [...new Set(plan.changes.map((c) => c.host))].sort();
  for (const host of hosts) {
    lines.push(
      style.bold(
        host === EDGE_HOST ? "edge (DNS and tunnel, changed from this machine)" : `host ${host}`,
      ),
    );
    const onHost = plan.changes.filter((c) => c.host === host);
    const services = [...new Set(onHost.map((c) => c.service ?? NO_SERVICE))].sort((a, b) =>
      a === NO_SERVICE ? -1 : b === NO_SERVICE ? 1 : a.localeCompare(b),
    );
    for (const service of services) {
      const group = onHost.filter((c) => (c.service ?? NO_SERVICE) === service);
      const shared = group.every((c) => c.noun === "dataset") ? "lab datasets" : "shared";
      lines.push(
        `  ${service === NO_SERVICE ? style.dim(shared) : `service ${style.bold(service)}`}`,
      );
      for (const change of group) {
        lines.push(...changeLines(change, style, detailed).map((l) => `  ${l}`));
      }
    }
    lines.push("");
  }
  if (plan.unmanaged.length > 0) {
    lines.push(style.yellow("Declared but not managed by holt (left untouched):"));
    for (const u of plan.unmanaged) {
      const differs =
        u.fields.length === 0
          ? "already matches the config"
          : `adopting would change ${u.fields.map((f) => f.path).join(", ")}`;
      lines.push(
        `  ! ${u.noun} ${style.bold(u.name)} on ${u.host} exists and is not holt's (${differs}).`,
      );
      lines.push(`    To manage it: holt adopt ${u.address}`);
    }
    lines.push("");
  }
  lines.push(...warningLines(plan, style));
  lines.push(summaryLine(plan));
  return lines;
}

/** What the hosts' providers warn about, each once, before the summary. */
export function warningLines(plan: Plan, style: Style): string[] {
  const warnings = plan.warnings ?? [];
  if (warnings.length === 0) return [];
  return [style.yellow("Warnings:"), ...warnings.map((w) => `  ! ${w.message}`), ""];
}

export function summaryLine(plan: Plan): string {
  if (plan.changes.length === 0) return "No changes. The lab matches the config.";
  const s = plan.summary;
  return `Plan: ${s.add} to add, ${s.change} to change, ${s.replace} to replace, ${s.destroy} to destroy, ${s.release} to release.`;
}

/** The versioned machine format (formatVersion "1"); documented in docs/plan-and-apply.md. */
export function planJson(plan: Plan): unknown {
  return {
    formatVersion: "1",
    lab: plan.lab,
    createdAt: plan.createdAt,
    changes: plan.changes.map((c) => ({
      address: c.address,
      type: c.type,
      action: c.action,
      host: c.host,
      service: c.service ?? null,
      name: c.name,
      fields: c.fields.map((f) => ({ path: f.path, before: f.before, after: f.after })),
      ...(c.dataLoss === undefined ? {} : { dataLoss: { used: c.dataLoss.used ?? null } }),
    })),
    unmanaged: plan.unmanaged.map((u) => ({
      address: u.address,
      host: u.host,
      name: u.name,
      fields: u.fields.map((f) => ({ path: f.path, before: f.before, after: f.after })),
    })),
    warnings: (plan.warnings ?? []).map((w) => ({ host: w.host, message: w.message })),
    summary: plan.summary,
  };
}
