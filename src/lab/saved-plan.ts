/**
 * `holt plan --out FILE` writes the plan together with the desired graph it
 * came from, so `holt apply FILE` can re-read exactly those resources and
 * refuse if anything changed in between.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { Plan } from "../engine/plan-types.ts";
import type { DesiredGraph } from "../engine/resource.ts";
import { HoltError } from "../errors.ts";

export interface SavedPlan {
  readonly kind: "holt-plan";
  readonly formatVersion: "1";
  readonly allowDataLoss: boolean;
  readonly plan: Plan;
  readonly graph: DesiredGraph;
}

export function writeSavedPlan(
  path: string,
  saved: Omit<SavedPlan, "kind" | "formatVersion">,
): void {
  const body: SavedPlan = { kind: "holt-plan", formatVersion: "1", ...saved };
  try {
    writeFileSync(path, `${JSON.stringify(body)}\n`, { mode: 0o600 });
  } catch (error) {
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `Cannot write the plan to ${path}: ${(error as Error).message}.`,
      { cause: error },
    );
  }
}

export function readSavedPlan(path: string): SavedPlan {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `Cannot read the plan file ${path}: ${(error as Error).message}. Create one with \`holt plan --out ${path}\`.`,
      { cause: error },
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `${path} is not a holt plan (it is not JSON). Create one with \`holt plan --out FILE\`.`,
    );
  }
  const saved = body as Partial<SavedPlan>;
  if (
    saved.kind !== "holt-plan" ||
    typeof saved.plan !== "object" ||
    typeof saved.graph !== "object"
  ) {
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `${path} is not a holt plan. Create one with \`holt plan --out FILE\`.`,
    );
  }
  if (saved.formatVersion !== "1") {
    throw new HoltError(
      "HOLT_E_PLAN_FILE",
      `${path} is a plan in format ${String(saved.formatVersion)}, which this holt cannot read. Plan again with this version.`,
    );
  }
  return saved as SavedPlan;
}
