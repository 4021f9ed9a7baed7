/**
 * The ZFS dataset properties a lab can set, with how each is written in
 * holt.config.ts and how it becomes the native ZFS value that `zfs get -p`
 * prints back (sizes in bytes, booleans as on/off).
 */
import { parseSize, SIZE_HINT } from "../util/sizes.ts";

type OnOff = "on" | "off" | boolean;
type Size = string | number;

/** ZFS properties settable on a dataset. Every field is optional; unset means inherited. */
export interface DatasetProperties {
  /** Block size for files; a power of two from 512 to 16M (pools without large_blocks stop at 128K) ("128K" for general use, "1M" for media). */
  recordsize?: Size;
  /** Compression: "on", "off", "lz4", "zstd", "zstd-N", "gzip", "gzip-N", "lzjb", "zle". Pools must support it. */
  compression?: string;
  /** Limit on space used by the dataset and its children ("20G"), or "none". */
  quota?: Size;
  /** Limit on space used by the dataset itself, or "none". */
  refquota?: Size;
  /** Space guaranteed to the dataset and its children, or "none". */
  reservation?: Size;
  /** Space guaranteed to the dataset itself, or "none". */
  refreservation?: Size;
  /** Update access times on read. "off" is common for media. */
  atime?: OnOff;
  /** Where it is mounted: an absolute path, "none" or "legacy". @default inherited from the parent */
  mountpoint?: string;
  /** Whether it can be mounted: "on", "off" or "noauto". */
  canmount?: "on" | "off" | "noauto";
  /** Mount read-only. */
  readonly?: OnOff;
  /** Allow executing files. */
  exec?: OnOff;
  /** Honour setuid bits. */
  setuid?: OnOff;
  /** Allow device files. */
  devices?: OnOff;
  /** Copies of each block: 1, 2 or 3. */
  copies?: 1 | 2 | 3;
  /** Extended attributes: "on", "off" or "sa". */
  xattr?: "on" | "off" | "sa";
  /** Show the .zfs folder: "hidden" or "visible". */
  snapdir?: "hidden" | "visible";
  /** File name matching; set at creation only (changing it means recreating the dataset). */
  casesensitivity?: "sensitive" | "insensitive" | "mixed";
}

type Normalizer = (value: unknown) => { ok: true; value: string } | { ok: false; hint: string };

const onOff: Normalizer = (value) => {
  if (value === true || value === "on") return { ok: true, value: "on" };
  if (value === false || value === "off") return { ok: true, value: "off" };
  return { ok: false, hint: 'Use "on", "off", true or false.' };
};

function oneOf(...choices: string[]): Normalizer {
  return (value) =>
    typeof value === "string" && choices.includes(value)
      ? { ok: true, value }
      : { ok: false, hint: `Use one of ${choices.map((c) => `"${c}"`).join(", ")}.` };
}

const size: Normalizer = (value) => {
  if (value === "none") return { ok: true, value: "0" };
  const bytes = typeof value === "string" || typeof value === "number" ? parseSize(value) : null;
  return bytes === null
    ? { ok: false, hint: `${SIZE_HINT} "none" removes the limit.` }
    : { ok: true, value: String(bytes) };
};

const recordsize: Normalizer = (value) => {
  const bytes = typeof value === "string" || typeof value === "number" ? parseSize(value) : null;
  const isPowerOfTwo = bytes !== null && bytes > 0 && (bytes & (bytes - 1)) === 0;
  if (bytes === null || !isPowerOfTwo || bytes < 512 || bytes > 16 * 1024 * 1024) {
    return { ok: false, hint: 'Use a power of two from "512" to "16M", like "128K" or "1M".' };
  }
  return { ok: true, value: String(bytes) };
};

const COMPRESSION_PATTERN =
  /^(on|off|lzjb|zle|lz4|gzip|gzip-[1-9]|zstd|zstd-(1[0-9]|[1-9])|zstd-fast)$/;

const compression: Normalizer = (value) =>
  typeof value === "string" && COMPRESSION_PATTERN.test(value)
    ? // ZFS prints gzip-6 (the default level) back as "gzip"; compare like it.
      { ok: true, value: value === "gzip-6" ? "gzip" : value }
    : {
        ok: false,
        hint: 'Use "on", "off", "lz4", "zstd", "zstd-1" to "zstd-19", "gzip", "gzip-1" to "gzip-9", "lzjb" or "zle".',
      };

const mountpoint: Normalizer = (value) =>
  typeof value === "string" && (value === "none" || value === "legacy" || /^\/\S*$/.test(value))
    ? { ok: true, value }
    : { ok: false, hint: 'Use an absolute path like "/srv/media", or "none" or "legacy".' };

const copies: Normalizer = (value) =>
  value === 1 || value === 2 || value === 3 || value === "1" || value === "2" || value === "3"
    ? { ok: true, value: String(value) }
    : { ok: false, hint: "Use 1, 2 or 3." };

/** Every native property holt manages, with its normalizer. */
export const DATASET_PROPERTIES = {
  recordsize,
  compression,
  quota: size,
  refquota: size,
  reservation: size,
  refreservation: size,
  atime: onOff,
  mountpoint,
  canmount: oneOf("on", "off", "noauto"),
  readonly: onOff,
  exec: onOff,
  setuid: onOff,
  devices: onOff,
  copies,
  xattr: oneOf("on", "off", "sa"),
  snapdir: oneOf("hidden", "visible"),
  casesensitivity: oneOf("sensitive", "insensitive", "mixed"),
} satisfies Record<keyof DatasetProperties, Normalizer>;

export type NativePropertyName = keyof typeof DATASET_PROPERTIES;

export function isNativeProperty(name: string): name is NativePropertyName {
  return Object.hasOwn(DATASET_PROPERTIES, name);
}

/** ZFS user property names: `module:property`, lower case, as ZFS requires. */
export const USER_PROPERTY_PATTERN = /^[a-z0-9][a-z0-9._-]*:[a-z0-9._:-]+$/;

/** The prefix of the user properties holt writes itself; a lab may not set them. */
export const RESERVED_PROPERTY_PREFIX = "holt:";
