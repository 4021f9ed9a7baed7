/** A plan: what apply will do, and what was read, so it can be bound and checked. */
import type { FieldChange, Observed, OwnedResource } from "./provider.ts";
import type { Resource } from "./resource.ts";

export type Action = "create" | "update" | "replace" | "delete" | "release";

export const ACTIONS = [
  "create",
  "update",
  "replace",
  "delete",
  "release",
] as const satisfies readonly Action[];

export interface PlannedChange {
  readonly address: string;
  readonly type: string;
  readonly noun: string;
  readonly action: Action;
  readonly host: string;
  readonly service?: string;
  readonly name: string;
  /** Changed fields (update, replace), or every field (create). */
  readonly fields: readonly FieldChange[];
  /** The desired resource, for create, update and replace. */
  readonly resource?: Resource;
  /** What was read, for update, replace, delete and release. */
  readonly observed?: Observed;
  /** The owned resource, for delete and release. */
  readonly owned?: OwnedResource;
  /** Addresses of other changes that must finish first. */
  readonly after: readonly string[];
  /** Set when the change destroys data: bytes used, if known. */
  readonly dataLoss?: { readonly used?: number };
}

/** A declared resource that exists but belongs to nobody (or another lab). */
export interface UnmanagedResource {
  readonly address: string;
  readonly noun: string;
  readonly host: string;
  readonly service?: string;
  readonly name: string;
  readonly configPath: string;
  /** Field differences adoption would apply. */
  readonly fields: readonly FieldChange[];
  readonly resource: Resource;
  readonly observed: Observed;
}

/** Something the plan tells about a host that no change fixes (`ReadResult.warnings`). */
export interface PlanWarning {
  readonly host: string;
  readonly message: string;
}

export interface PlanSummary {
  readonly add: number;
  readonly change: number;
  readonly replace: number;
  readonly destroy: number;
  readonly release: number;
}

export interface HostConnection {
  readonly name: string;
  readonly address: string;
  readonly connect: import("../config/types.ts").ResolvedConnect;
}

export interface Plan {
  readonly formatVersion: "1";
  readonly lab: string;
  readonly createdAt: string;
  readonly configFile: string;
  readonly hosts: readonly HostConnection[];
  readonly changes: readonly PlannedChange[];
  readonly unmanaged: readonly UnmanagedResource[];
  /** Warnings about the hosts, each once; absent when there are none. */
  readonly warnings?: readonly PlanWarning[];
  /** Fingerprint of everything read, per address (null: did not exist). */
  readonly bindings: Readonly<Record<string, string | null>>;
  readonly summary: PlanSummary;
}

export function summarize(changes: readonly { readonly action: Action }[]): PlanSummary {
  const count = (action: Action) => changes.filter((c) => c.action === action).length;
  return {
    add: count("create"),
    change: count("update"),
    replace: count("replace"),
    destroy: count("delete"),
    release: count("release"),
  };
}

export function hasChanges(plan: Plan): boolean {
  return plan.changes.length > 0;
}
