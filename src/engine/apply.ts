/**
 * Runs a plan: each change once everything in its `after` has finished,
 * independent changes in parallel up to a bound. A failed step skips what
 * depends on it and lets the rest go on. Every step is idempotent against a
 * fresh read, so a rerun after a crash at any point converges.
 */
import { HoltError, isHoltError } from "../errors.ts";
import type { Exec } from "../hosts/exec.ts";
import { formatSize } from "../util/sizes.ts";
import type { ApplyEvent, ApplyEventInput, EventSink } from "./events.ts";
import type { Plan, PlannedChange } from "./plan-types.ts";
import type { OwnedResource, Provider, ProviderStore } from "./provider.ts";
import type { DesiredGraph } from "./resource.ts";

export interface ApplyOptions {
  readonly providers: readonly Provider[];
  readonly execFor: (host: string) => Promise<Exec>;
  readonly allowDataLoss: boolean;
  /** At most this many steps at once. @default 4 */
  readonly parallelism?: number;
  readonly onEvent?: EventSink;
  readonly now?: () => Date;
  /** Secret values for apply steps (ProviderContext.secretValue). */
  readonly secretValue?: (name: string) => string;
  readonly store?: ProviderStore;
  /** The graph's per-host provider settings (`DesiredGraph.hostSettings`). */
  readonly hostSettings?: DesiredGraph["hostSettings"];
  /** Test hook: called after each finished step; may kill the process. */
  readonly afterStep?: (finished: number) => void;
}

export interface ApplyResult {
  readonly ok: boolean;
  readonly done: number;
  readonly failed: readonly { address: string; error: string; details: readonly string[] }[];
  readonly skipped: readonly string[];
}

export async function applyPlan(plan: Plan, options: ApplyOptions): Promise<ApplyResult> {
  assertDataLossAllowed(plan, options.allowDataLoss);
  const now = options.now ?? (() => new Date());
  const providers = new Map(options.providers.map((p) => [p.type, p]));
  let seq = 0;
  const emit = (event: ApplyEventInput): void => {
    options.onEvent?.({ ...event, seq: ++seq, at: now().toISOString() } as ApplyEvent);
  };
  const started = Date.now();
  const safetyLabel = `holt-safety-${now()
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z")}`;
  emit({ kind: "apply-start", steps: plan.changes.length });

  const status = new Map<string, "pending" | "running" | "done" | "failed" | "skipped">();
  for (const change of plan.changes) status.set(change.address, "pending");
  const failed: { address: string; error: string; details: readonly string[] }[] = [];
  const skipped: string[] = [];
  let done = 0;
  const limit = Math.max(1, options.parallelism ?? 4);
  // A change that waits for a removal (one it cannot coexist with, see
  // Provider.conflictsWith) starts before any other ready step, so the time
  // between the old thing going and the new one coming is one step, not a
  // queue of them.
  const removals = new Set(
    plan.changes
      .filter((c) => c.action === "delete" || c.action === "release")
      .map((c) => c.address),
  );
  const followsRemoval = (c: PlannedChange): boolean =>
    !removals.has(c.address) && c.after.some((a) => removals.has(a));
  const scanOrder = [
    ...plan.changes.filter(followsRemoval),
    ...plan.changes.filter((c) => !followsRemoval(c)),
  ];

  await new Promise<void>((resolve) => {
    let running = 0;
    const pump = (): void => {
      let progressed = true;
      while (progressed) {
        progressed = false;
        for (const change of scanOrder) {
          if (status.get(change.address) !== "pending") continue;
          const deps = change.after.map((a) => status.get(a));
          const blocker = change.after.find((a) => {
            const s = status.get(a);
            return s === "failed" || s === "skipped";
          });
          if (blocker !== undefined) {
            status.set(change.address, "skipped");
            skipped.push(change.address);
            emit({
              kind: "step-skipped",
              address: change.address,
              action: change.action,
              reason: `${blocker} did not complete`,
            });
            progressed = true;
            continue;
          }
          if (running >= limit || !deps.every((s) => s === "done" || s === undefined)) continue;
          status.set(change.address, "running");
          running++;
          progressed = true;
          const stepStart = Date.now();
          emit({ kind: "step-start", address: change.address, action: change.action });
          runStep(change, plan.lab, providers, options, safetyLabel).then(
            () => {
              status.set(change.address, "done");
              done++;
              emit({
                kind: "step-done",
                address: change.address,
                action: change.action,
                ms: Date.now() - stepStart,
              });
              options.afterStep?.(done);
              running--;
              pump();
            },
            (error: unknown) => {
              status.set(change.address, "failed");
              const text = error instanceof Error ? error.message : String(error);
              const message = isHoltError(error) ? `[${error.code}] ${text}` : text;
              const details = isHoltError(error) ? error.details : [];
              failed.push({ address: change.address, error: message, details });
              emit({
                kind: "step-failed",
                address: change.address,
                action: change.action,
                ms: Date.now() - stepStart,
                error: message,
                details,
              });
              running--;
              pump();
            },
          );
        }
      }
      if (running === 0) resolve();
    };
    pump();
  });

  const ok = failed.length === 0 && skipped.length === 0;
  emit({
    kind: "apply-done",
    ok,
    done,
    failed: failed.length,
    skipped: skipped.length,
    ms: Date.now() - started,
  });
  return { ok, done, failed, skipped };
}

/** Refuses a plan that destroys data unless --allow-data-loss was given. */
export function assertDataLossAllowed(plan: Plan, allowDataLoss: boolean): void {
  const lossy = plan.changes.filter((c) => c.dataLoss !== undefined);
  if (lossy.length > 0 && !allowDataLoss) {
    throw new HoltError(
      "HOLT_E_DATA_LOSS",
      `This plan destroys data in ${lossy.length} ${lossy.length === 1 ? "resource" : "resources"} and --allow-data-loss was not given. Nothing was changed.`,
      {
        details: lossy.map(
          (c) =>
            `${c.action} ${c.address}${c.dataLoss?.used === undefined ? "" : ` (${formatSize(c.dataLoss.used)} used)`}`,
        ),
      },
    );
  }
}

async function runStep(
  change: PlannedChange,
  lab: string,
  providers: ReadonlyMap<string, Provider>,
  options: ApplyOptions,
  safetyLabel: string,
): Promise<void> {
  const provider = providers.get(change.type);
  if (provider === undefined) throw new Error(`no provider for resource type "${change.type}"`);
  const exec = await options.execFor(change.host);
  const settings = options.hostSettings?.[change.host]?.[change.type];
  const ctx = {
    host: change.host,
    exec,
    lab,
    ...(options.secretValue === undefined ? {} : { secretValue: options.secretValue }),
    ...(options.store === undefined ? {} : { store: options.store }),
    ...(settings === undefined ? {} : { settings }),
  };
  switch (change.action) {
    case "create":
      return provider.create(ctx, required(change.resource, change));
    case "update":
      return provider.update(
        ctx,
        required(change.resource, change),
        required(change.observed, change),
      );
    case "replace": {
      const resource = required(change.resource, change);
      const owned: OwnedResource = {
        address: change.address,
        type: change.type,
        host: change.host,
        ...(change.service === undefined ? {} : { service: change.service }),
        name: change.name,
        dependsOn: [],
        observed: required(change.observed, change),
      };
      await provider.delete(ctx, owned, { safetySnapshot: safetyLabel });
      return provider.create(ctx, resource);
    }
    case "delete":
      return provider.delete(ctx, required(change.owned, change), { safetySnapshot: safetyLabel });
    case "release":
      return provider.release(ctx, required(change.owned, change));
  }
}

function required<T>(value: T | undefined, change: PlannedChange): T {
  if (value === undefined)
    throw new Error(`plan entry ${change.address} (${change.action}) is missing data`);
  return value;
}
