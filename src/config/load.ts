/**
 * Finds and imports holt.config.ts. Node runs the TypeScript directly (type
 * stripping). The config says `import { defineLab } from "holt"`; a resolve
 * hook points that specifier at this very copy of holt, so it works whether
 * holt is installed in the lab folder, globally, via npx, or from a checkout.
 */
import { existsSync, statSync } from "node:fs";
import { registerHooks } from "node:module";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { HoltError } from "../errors.ts";
import type { ResolvedLab } from "./types.ts";
import { validateLab } from "./validate.ts";

export const CONFIG_FILE_NAMES = [
  "holt.config.ts",
  "holt.config.mts",
  "holt.config.js",
  "holt.config.mjs",
];

const SELF_ENTRY = new URL(
  import.meta.url.endsWith(".ts") ? "../index.ts" : "../index.js",
  import.meta.url,
).href;

const SELF_FORMAT = SELF_ENTRY.endsWith(".ts") ? "module-typescript" : "module";

let hooksRegistered = false;

function registerSelfResolution(): void {
  if (hooksRegistered) return;
  hooksRegistered = true;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier === "holt") return { url: SELF_ENTRY, shortCircuit: true, format: SELF_FORMAT };
      const resolved = nextResolve(specifier, context);
      // A lab folder usually has no package.json saying "type": "module";
      // holt.config.ts is ESM by definition, and so are the files it imports.
      if (
        /\.m?ts(\?|$)/.test(resolved.url) &&
        !resolved.url.includes("/node_modules/") &&
        resolved.format !== "module-typescript"
      ) {
        return { ...resolved, format: "module-typescript" };
      }
      return resolved;
    },
  });
}

/** The config file to use: the given path, or the first default name in `cwd`. */
export function findConfig(cwd: string, explicit?: string): string {
  if (explicit !== undefined) {
    const path = resolve(cwd, explicit);
    if (!existsSync(path) || !statSync(path).isFile()) {
      throw new HoltError(
        "HOLT_E_CONFIG_NOT_FOUND",
        `Config file "${explicit}" does not exist. Check the --config path, or run \`holt init\` to write a starter config.`,
      );
    }
    return path;
  }
  for (const name of CONFIG_FILE_NAMES) {
    const path = join(cwd, name);
    if (existsSync(path)) return path;
  }
  throw new HoltError(
    "HOLT_E_CONFIG_NOT_FOUND",
    `No holt.config.ts in ${cwd}. Run \`holt init\` to write a starter config, or pass --config FILE.`,
  );
}

let loadCounter = 0;

/** Imports the config file and returns its default export, unvalidated. */
export async function importConfig(path: string): Promise<unknown> {
  registerSelfResolution();
  // A query string makes every load fresh, so a long-lived process sees edits.
  const url = `${pathToFileURL(path).href}?load=${++loadCounter}`;
  let module: { default?: unknown };
  try {
    module = (await import(url)) as { default?: unknown };
  } catch (error) {
    const err = error as Error & { code?: string };
    const hint =
      err.code === "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX"
        ? " holt.config.ts may only use TypeScript that Node can strip: type annotations, not enums or namespaces."
        : "";
    throw new HoltError(
      "HOLT_E_CONFIG_LOAD",
      `Could not load ${displayPath(path)}: ${sentence(err.message.split("\n")[0] ?? "")}${hint}`,
      {
        cause: error,
        details: (err.stack ?? "")
          .split("\n")
          .filter((line) => line.includes(url))
          // "file:///lab/holt.config.ts?load=1:3" → "at holt.config.ts:3"
          .map((line) => `at ${line.trim().replace(/^at /, "").replace(url, displayPath(path))}`)
          .slice(0, 3),
      },
    );
  }
  if (!("default" in module)) {
    throw new HoltError(
      "HOLT_E_CONFIG_LOAD",
      `${displayPath(path)} has no default export. End it with \`export default defineLab({ ... })\`.`,
    );
  }
  return module.default;
}

/** Ends a message with a full stop, so a hint after it reads as its own sentence. */
function sentence(text: string): string {
  const trimmed = text.trimEnd();
  return /[.!?]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/** Loads, validates and resolves a lab; throws HOLT_E_CONFIG_INVALID with every problem. */
export async function loadLab(path: string): Promise<ResolvedLab> {
  const raw = await importConfig(path);
  const result = validateLab(raw, path);
  if (!result.ok) throw configInvalid(path, result.problems);
  return result.lab;
}

export function configInvalid(
  path: string,
  problems: readonly { path: string; message: string }[],
): HoltError {
  const file = displayPath(path);
  const count = problems.length === 1 ? "1 problem" : `${problems.length} problems`;
  return new HoltError("HOLT_E_CONFIG_INVALID", `${file} has ${count}:`, {
    details: problems.map((p) => `${file}: ${p.path}: ${p.message}`),
  });
}

/** A path relative to the working directory when that is shorter. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== "" && !rel.startsWith("..") && rel.length < path.length ? rel : path;
}
