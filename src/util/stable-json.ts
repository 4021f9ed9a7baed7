import { createHash } from "node:crypto";

/** JSON with object keys sorted, so equal values always print the same. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}

/** Short content hash of a value, used to bind saved plans to what was read. */
export function fingerprint(value: unknown): string {
  return createHash("sha256").update(stableJson(value)).digest("base64url").slice(0, 22);
}
