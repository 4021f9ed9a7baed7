/**
 * Enforces the layering in docs/architecture.md: which part of src/ may import which,
 * which imports must be type-only, who may use zod, ssh2, node:sqlite and
 * node:child_process, and that there are no import cycles. Test files are not checked.
 *
 * When this fails, either move the code to the layer it belongs in, or (if the design
 * changed) update the tables below and docs/architecture.md together.
 */
import assert from "node:assert/strict";
import { globSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import ts from "typescript";

const root = path.resolve(import.meta.dirname, "..");
const src = path.join(root, "src");

type Layer =
  | "util"
  | "errors"
  | "config"
  | "hosts"
  | "engine"
  | "model"
  | "providers"
  | "store"
  | "secrets"
  | "dns"
  | "acme"
  | "backup"
  | "lab"
  | "cli"
  | "index";

/** What each layer may import: `value` for any import, `types` for `import type` only. */
const ALLOWED: Record<Layer, { value: readonly Layer[]; types: readonly Layer[] }> = {
  util: { value: [], types: [] },
  errors: { value: [], types: [] },
  config: { value: ["util", "errors"], types: [] },
  hosts: { value: ["util", "errors"], types: ["config"] },
  engine: { value: ["util", "errors"], types: ["hosts", "config"] },
  model: { value: ["util", "errors"], types: ["config", "engine", "hosts", "dns"] },
  dns: { value: ["util", "errors"], types: [] },
  acme: { value: ["util", "errors"], types: ["dns"] },
  backup: { value: ["util", "errors", "config", "model", "hosts", "lab"], types: ["engine"] },
  providers: { value: ["util", "errors", "hosts", "model", "dns", "acme"], types: ["engine"] },
  store: { value: ["util", "errors"], types: ["engine"] },
  secrets: { value: ["util", "errors"], types: [] },
  lab: {
    value: ["util", "errors", "config", "model", "engine", "hosts", "store", "secrets"],
    types: [],
  },
  cli: {
    value: [
      "util",
      "errors",
      "config",
      "model",
      "engine",
      "hosts",
      "providers",
      "lab",
      "store",
      "secrets",
      "backup",
    ],
    types: [],
  },
  index: {
    value: [
      "util",
      "errors",
      "config",
      "model",
      "engine",
      "hosts",
      "providers",
      "lab",
      "store",
      "secrets",
    ],
    types: [],
  },
};

/** Packages (and node: modules with side effects on the world) and the only layers that may use them. */
const PACKAGES: Record<string, readonly Layer[]> = {
  zod: ["config"],
  ssh2: ["hosts"],
  "node:sqlite": ["store"],
  "node:child_process": ["hosts"],
  "age-encryption": ["secrets"],
  "acme-client": ["acme"],
  "dns-packet": ["dns"],
  "node:dgram": ["dns"],
};

/**
 * Built-ins that cost every command that imports them (an ESM import of node:http alone took
 * about 80 ms: Node reads all its exports, and http's WebSocket getters load undici). Code takes
 * them with process.getBuiltinModule() where it uses them; type imports are fine.
 */
const LOAD_ON_USE = [
  "node:http",
  "node:https",
  "node:tls",
  "node:dgram",
  "node:dns",
  "node:dns/promises",
  "node:zlib",
];

/** Layers that do no I/O of their own: no node: modules at all. */
const PURE: readonly Layer[] = ["engine", "model", "providers"];

interface Import {
  /** The specifier as written. */
  readonly specifier: string;
  /** Path relative to src/ for a relative import, else null. */
  readonly target: string | null;
  /** Erased at runtime: `import type`, `export type ... from`, or `import("x").T` in a type. */
  readonly typeOnly: boolean;
  /** `process.getBuiltinModule("node:x")`: loaded where it is used, not with the module. */
  readonly onUse: boolean;
}

function layerOf(file: string): Layer | undefined {
  const [first, second] = file.split("/");
  if (second === undefined) {
    if (first === "errors.ts") return "errors";
    if (first === "index.ts") return "index";
    return undefined;
  }
  return first !== undefined && Object.hasOwn(ALLOWED, first) ? (first as Layer) : undefined;
}

function importsOf(file: string): Import[] {
  const text = readFileSync(path.join(src, file), "utf8");
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: Import[] = [];
  const add = (specifier: string, typeOnly: boolean, onUse = false): void => {
    let target: string | null = null;
    if (specifier.startsWith(".")) {
      const absolute = path.resolve(path.dirname(path.join(src, file)), specifier);
      target = path.relative(src, absolute).split(path.sep).join("/");
    }
    found.push({ specifier, target, typeOnly, onUse });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      // `import { type A }` still loads the module at runtime; only `import type` does not.
      add(node.moduleSpecifier.text, node.importClause?.isTypeOnly === true);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      add(node.argument.literal.text, true);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      add(node.arguments[0].text, false);
    } else if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      node.expression.name.text === "getBuiltinModule" &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      // Still a use of that module: the PACKAGES rules apply to it as to an import.
      add(node.arguments[0].text, false, true);
    } else if (ts.isImportEqualsDeclaration(node)) {
      const ref = node.moduleReference;
      if (ts.isExternalModuleReference(ref) && ts.isStringLiteral(ref.expression)) {
        add(ref.expression.text, node.isTypeOnly);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const files = globSync("**/*.ts", { cwd: src })
  .map((file) => file.split(path.sep).join("/"))
  .filter((file) => !file.endsWith(".test.ts"))
  .sort();
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const dependencies = Object.keys(
  (
    JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    }
  ).dependencies ?? {},
);

test("the import parser sees every kind of import", () => {
  // Guards the checks below against a parser that silently finds nothing.
  const kinds = (file: string) => graph.get(file) ?? [];
  assert.ok(
    kinds("hosts/connect.ts").some((i) => i.target === "hosts/ssh-exec.ts" && !i.typeOnly),
    "dynamic import() in hosts/connect.ts",
  );
  assert.ok(
    kinds("engine/plan-types.ts").some((i) => i.target === "config/types.ts" && i.typeOnly),
    'import("...") type in engine/plan-types.ts',
  );
  assert.ok(
    kinds("index.ts").some((i) => i.target === "config/types.ts" && i.typeOnly),
    "export type ... from in index.ts",
  );
  assert.ok(
    !kinds("cli/commands/init.ts").some((i) => i.specifier === "holt"),
    "an import inside a template string is not an import",
  );
  assert.ok(
    kinds("dns/transport.ts").some((i) => i.specifier === "node:dgram" && i.onUse),
    'process.getBuiltinModule("node:dgram") in dns/transport.ts',
  );
});

test("every file in src/ belongs to a known layer", () => {
  const unknown = files.filter((file) => layerOf(file) === undefined);
  assert.deepEqual(
    unknown,
    [],
    "add the new folder to ALLOWED here and to the table in docs/architecture.md",
  );
});

test("each layer imports only what docs/architecture.md allows", () => {
  const violations: string[] = [];
  for (const [file, imports] of graph) {
    const from = layerOf(file);
    if (from === undefined) continue;
    for (const imp of imports) {
      if (imp.target === null) continue;
      if (imp.target.startsWith("../")) {
        violations.push(`${file} imports ${imp.specifier}, outside src/`);
        continue;
      }
      const to = layerOf(imp.target);
      if (to === undefined || to === from) continue;
      const rule = ALLOWED[from];
      if (rule.value.includes(to)) continue;
      if (imp.typeOnly && rule.types.includes(to)) continue;
      const how = rule.types.includes(to) ? " (allowed with `import type` only)" : "";
      violations.push(`${file} (${from}) imports ${imp.target} (${to})${how}`);
    }
  }
  assert.deepEqual(violations, []);
});

test("providers import no other provider and not the model compiler", () => {
  const violations: string[] = [];
  for (const [file, imports] of graph) {
    if (layerOf(file) !== "providers") continue;
    const own = file.split("/")[1];
    for (const imp of imports) {
      if (imp.target === null) continue;
      if (imp.target === "model/compile.ts") violations.push(`${file} imports model/compile.ts`);
      const [layer, folder] = imp.target.split("/");
      // providers/index.ts lists the providers; inside providers/<x>/ only <x> is visible.
      if (layer === "providers" && file !== "providers/index.ts" && folder !== own) {
        violations.push(`${file} imports ${imp.target}, another provider`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

test("packages and I/O modules are used only where allowed", () => {
  const violations: string[] = [];
  for (const [file, imports] of graph) {
    const from = layerOf(file);
    if (from === undefined) continue;
    for (const { specifier, target, typeOnly } of imports) {
      if (target !== null) continue;
      const packageName = specifier.startsWith("@")
        ? specifier.split("/").slice(0, 2).join("/")
        : (specifier.split("/")[0] ?? specifier);
      const only = PACKAGES[specifier] ?? PACKAGES[packageName];
      if (only !== undefined && !only.includes(from)) {
        violations.push(`${file} (${from}) imports ${specifier}; only ${only.join(", ")} may`);
      }
      if (specifier.startsWith("node:")) {
        if (PURE.includes(from) && !typeOnly) {
          violations.push(`${file} (${from}) imports ${specifier}; ${from} does no I/O`);
        }
      } else if (!dependencies.includes(packageName)) {
        violations.push(`${file} imports ${specifier}, which is not in package.json dependencies`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

test("heavy built-in modules are taken where used, never imported", () => {
  const violations: string[] = [];
  for (const [file, imports] of graph) {
    for (const { specifier, typeOnly, onUse } of imports) {
      if (LOAD_ON_USE.includes(specifier) && !typeOnly && !onUse) {
        violations.push(`${file} imports ${specifier}: take it with process.getBuiltinModule()`);
      }
    }
  }
  assert.deepEqual(violations, []);
});

test("there are no import cycles", () => {
  const state = new Map<string, "visiting" | "done">();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (file: string): void => {
    const mark = state.get(file);
    if (mark === "done") return;
    if (mark === "visiting") {
      cycles.push([...stack.slice(stack.indexOf(file)), file].join(" → "));
      return;
    }
    state.set(file, "visiting");
    stack.push(file);
    for (const imp of graph.get(file) ?? []) {
      if (imp.target !== null && graph.has(imp.target)) visit(imp.target);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of files) visit(file);
  assert.deepEqual(cycles, []);
});
