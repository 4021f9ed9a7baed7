/**
 * Control characters in a config. holt writes config strings into unit files
 * (a newline there starts a new directive), mount targets, `zfs` and `podman`
 * command lines, ZFS property values (where a tab or newline breaks `zfs get`
 * output) and HTTP request lines, and shows them in plans. None of them has a
 * use for a control character, so one check refuses them everywhere, keys
 * included, rather than each field guarding its own.
 */
import { formatPath, type Problem, showValue } from "./path.ts";

/** C0 controls (tab and newline included), DEL, and the C1 controls. */
function isControl(code: number): boolean {
  return code <= 0x1f || (code >= 0x7f && code <= 0x9f);
}

/** Where the first control character is, or -1. */
function firstControl(text: string): number {
  for (let i = 0; i < text.length; i++) if (isControl(text.charCodeAt(i))) return i;
  return -1;
}

/** Deeper than any config holt reads; a deeper one is refused by its shape anyway. */
const MAX_DEPTH = 32;

const NAMES: ReadonlyMap<number, string> = new Map([
  [0x00, "NUL"],
  [0x09, "a tab"],
  [0x0a, "a newline"],
  [0x0d, "a carriage return"],
  [0x1b, "ESC"],
  [0x7f, "DEL"],
]);

/** `showValue`, with any control character JSON leaves as it is (the C1 ones) escaped too. */
function show(text: string): string {
  let out = "";
  for (const char of showValue(text)) {
    const code = char.charCodeAt(0);
    out += isControl(code) ? `\\u${code.toString(16).padStart(4, "0")}` : char;
  }
  return out;
}

function describe(text: string): string {
  const index = firstControl(text);
  const code = text.codePointAt(index) ?? 0;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
  const name = NAMES.get(code);
  return `${name === undefined ? "a control character" : `${name}`} (${hex}) at character ${index + 1}`;
}

const WHY =
  "holt writes config values into unit files, mount targets and command lines, where a control character would break or change them. Remove it; a value of several lines belongs in a secret file (docs/secrets.md).";

/** Every string (value or key) with a control character, at its config path. */
export function controlCharacterProblems(input: unknown): Problem[] {
  const problems: Problem[] = [];
  const seen = new WeakSet<object>();
  const walk = (value: unknown, at: (string | number)[]): void => {
    if (typeof value === "string") {
      if (firstControl(value) >= 0) {
        problems.push({
          path: formatPath(at),
          message: `${show(value)} has ${describe(value)}. ${WHY}`,
        });
      }
      return;
    }
    if (typeof value !== "object" || value === null || at.length > MAX_DEPTH) return;
    if (seen.has(value)) return;
    seen.add(value);
    if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) walk(item, [...at, index]);
      return;
    }
    for (const [key, item] of Object.entries(value)) {
      if (firstControl(key) >= 0) {
        problems.push({
          path: formatPath([...at, key]),
          message: `the key ${show(key)} has ${describe(key)}. ${WHY}`,
        });
        continue;
      }
      walk(item, [...at, key]);
    }
  };
  walk(input, []);
  return problems;
}

/**
 * Drops the problems a control character explains: those at its path or
 * below it (a key with a newline is also "not a variable name").
 */
export function withoutShadowed(problems: readonly Problem[]): Problem[] {
  const control = new Set(problems.filter((p) => p.message.includes(WHY)).map((p) => p.path));
  if (control.size === 0) return [...problems];
  const shadowed = (path: string): boolean => {
    for (const at of control) {
      if (path === at || path.startsWith(`${at}.`) || path.startsWith(`${at}[`)) return true;
    }
    return false;
  };
  return problems.filter((p) => p.message.includes(WHY) || !shadowed(p.path));
}
