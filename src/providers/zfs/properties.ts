/** How the ZFS provider treats each native property it manages. */

import { DATASET_OWNER_PROPERTY } from "../../model/dataset.ts";
import { formatSize } from "../../util/sizes.ts";

/** Native properties holt sets; a local value of one that leaves the config is inherited. */
export const MANAGED_NATIVE = [
  "recordsize",
  "compression",
  "quota",
  "refquota",
  "reservation",
  "refreservation",
  "atime",
  "mountpoint",
  "canmount",
  "readonly",
  "exec",
  "setuid",
  "devices",
  "copies",
  "xattr",
  "snapdir",
  "casesensitivity",
] as const;

const MANAGED = new Set<string>(MANAGED_NATIVE);

/** Set once at creation; a different value means recreating the dataset. */
export const CREATE_ONLY = new Set(["casesensitivity"]);

/** Sizes printed in bytes by `zfs get -p`, where 0 means "none". */
export const LIMITS = new Set(["quota", "refquota", "reservation", "refreservation"]);
const SIZES = new Set([...LIMITS, "recordsize"]);

/** holt's own user properties. */
export const OWNER = DATASET_OWNER_PROPERTY;
export const SERVICE = "holt:service";
export const MANAGED_PROPS = "holt:props";

export function isManagedNative(name: string): boolean {
  return MANAGED.has(name);
}

export function isUserProperty(name: string): boolean {
  return name.includes(":");
}

/** A property value as people read it in a plan: sizes in K/M/G. */
export function displayValue(property: string, value: string | null): string | null {
  if (value === null) return null;
  if (SIZES.has(property) && /^\d+$/.test(value)) {
    const bytes = Number(value);
    return LIMITS.has(property) && bytes === 0 ? "none" : formatSize(bytes);
  }
  return value;
}

/** The value to pass to `zfs set`: limits of 0 are written as "none". */
export function setValue(property: string, value: string): string {
  return LIMITS.has(property) && value === "0" ? "none" : value;
}
