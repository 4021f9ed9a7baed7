/**
 * Sizes in ZFS notation ("512K", "20G", "1.5T") or plain byte counts.
 * Units are binary (1K = 1024), as in ZFS itself.
 */

const UNITS = {
  "": 1,
  B: 1,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
  P: 1024 ** 5,
} as const;

const SIZE_PATTERN = /^(\d+(?:\.\d+)?)([KMGTP]?)(?:I?B)?$/i;

/** Bytes for a size, or `null` when the text is not a size. */
export function parseSize(value: string | number): number | null {
  if (typeof value === "number") {
    return Number.isSafeInteger(value) && value >= 0 ? value : null;
  }
  const match = SIZE_PATTERN.exec(value.trim());
  if (match === null || value.trim() !== value) return null;
  const unit = (match[2] ?? "").toUpperCase() as keyof typeof UNITS;
  const bytes = Number(match[1]) * UNITS[unit];
  if (!Number.isFinite(bytes)) return null;
  return Math.round(bytes);
}

/** "1073741824" → "1G"; exact where possible, one decimal otherwise. */
export function formatSize(bytes: number): string {
  if (bytes === 0) return "0";
  const units = ["P", "T", "G", "M", "K"] as const;
  for (const unit of units) {
    const size = UNITS[unit];
    if (bytes >= size) {
      const value = bytes / size;
      return Number.isInteger(value) ? `${value}${unit}` : `${value.toFixed(1)}${unit}`;
    }
  }
  return `${bytes}B`;
}

export const SIZE_HINT = 'Use a number of bytes, or a number with K, M, G, T or P, like "20G".';
