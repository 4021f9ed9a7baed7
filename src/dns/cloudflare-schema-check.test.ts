/**
 * Checks requests and answers against the parts of Cloudflare's published
 * OpenAPI schema that holt uses (fixtures/cloudflare-api-v4.openapi.json,
 * whose `x-holt-fixture` says where each part came from). The local
 * stand-in (cloudflare-contract-server.test.ts) runs every request holt's
 * client sends, and every answer it gives, through here, so the client, the
 * stand-in and the schema cannot drift apart unnoticed.
 *
 * A small validator for the OpenAPI 3.0 subset the fixture uses: $ref,
 * allOf, oneOf, anyOf, type, nullable, enum, required, properties,
 * additionalProperties, items, minimum, maximum, minLength, maxLength,
 * pattern, and the formats ipv4, ipv6, date-time, uuid and hostname.
 * Stricter than the schema in one way: a property the schema does not name
 * is an error in a request (Cloudflare would ignore it, so it is a holt
 * bug). Answers may carry more than the schema names (the real API does:
 * `result_info.total_pages`, a new tunnel's token), which holt ignores.
 * `required` skips readOnly properties in requests and writeOnly ones in
 * answers, as OpenAPI 3.0 says.
 *
 * This file holds no tests; the cloudflare*.test.ts files import it.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";

type Schema = Readonly<Record<string, unknown>>;
type Mode = "request" | "response";

interface Parameter {
  readonly in: "path" | "query" | "header";
  readonly name: string;
  readonly required?: boolean;
  readonly schema: Schema;
}

interface Operation {
  readonly operationId: string;
  readonly parameters?: readonly Parameter[];
  readonly requestBody?: { readonly required: boolean; readonly schema: Schema };
  readonly responses: Readonly<Record<string, Schema>>;
}

interface Fixture {
  readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>;
  readonly components: { readonly schemas: Readonly<Record<string, Schema>> };
}

export interface FoundOperation {
  readonly operationId: string;
  readonly template: string;
  readonly operation: Operation;
  readonly pathParams: Readonly<Record<string, string>>;
}

export interface SchemaCheck {
  /** The operation a method and path (below the API base, like "/zones/abc") are, or null. */
  find(method: string, path: string): FoundOperation | null;
  /** What is wrong with a request; empty when it matches the schema. */
  checkRequest(method: string, path: string, query: URLSearchParams, body: unknown): string[];
  /** What is wrong with an answer; empty when it matches the schema. */
  checkResponse(method: string, path: string, status: number, body: unknown): string[];
  /** Check one value against a named component schema (for tests of this checker). */
  checkValue(component: string, value: unknown, mode: Mode): string[];
  /** Every operation in the fixture, as "METHOD /template". */
  readonly operations: readonly string[];
}

export const FIXTURE_PATH = new URL("./fixtures/cloudflare-api-v4.openapi.json", import.meta.url);

const isObject = (v: unknown): v is Readonly<Record<string, unknown>> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HOSTNAME =
  /^(?=.{1,253}\.?$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

function formatOk(format: string, text: string): boolean {
  switch (format) {
    case "ipv4":
      return isIP(text) === 4;
    case "ipv6":
      return isIP(text) === 6;
    case "date-time":
      return DATE_TIME.test(text) && !Number.isNaN(Date.parse(text));
    case "uuid":
      return UUID.test(text);
    case "hostname":
      return HOSTNAME.test(text);
    default:
      return true;
  }
}

interface Result {
  readonly errors: string[];
  /** Property names the schema names for an object value; null when it names none. */
  known: Set<string> | null;
  /** additionalProperties allows anything. */
  open: boolean;
}

export function createSchemaCheck(fixture: Fixture): SchemaCheck {
  const schemas = fixture.components.schemas;

  function resolve(schema: Schema): Schema {
    let s = schema;
    for (let i = 0; typeof s.$ref === "string"; i++) {
      const name = s.$ref.replace("#/components/schemas/", "");
      const next = schemas[name];
      if (next === undefined || i > 20) throw new Error(`the fixture has no schema ${s.$ref}`);
      s = next;
    }
    return s;
  }

  function typeOk(type: unknown, value: unknown): boolean {
    switch (type) {
      case "string":
        return typeof value === "string";
      case "number":
        return typeof value === "number" && Number.isFinite(value);
      case "integer":
        return Number.isInteger(value);
      case "boolean":
        return typeof value === "boolean";
      case "object":
        return isObject(value);
      case "array":
        return Array.isArray(value);
      default:
        return true;
    }
  }

  function merge(into: Result, from: Result): void {
    into.errors.push(...from.errors);
    if (from.known !== null) into.known = new Set([...(into.known ?? []), ...from.known]);
    into.open ||= from.open;
  }

  /** One value against one schema; unknown properties are left to `entry`. */
  function check(raw: Schema, value: unknown, at: string, mode: Mode): Result {
    const s = resolve(raw);
    const result: Result = { errors: [], known: null, open: false };
    if (value === null) {
      const enumNull = Array.isArray(s.enum) && s.enum.includes(null);
      if (s.nullable === true || enumNull) return result;
    }
    if (s.type !== undefined && !typeOk(s.type, value)) {
      result.errors.push(`${at} is ${describe(value)}, not ${String(s.type)}`);
      return result;
    }
    if (Array.isArray(s.enum) && !s.enum.some((e) => e === value)) {
      result.errors.push(`${at} is ${JSON.stringify(value)}, not one of ${JSON.stringify(s.enum)}`);
    }
    if (typeof value === "number") {
      if (typeof s.minimum === "number" && value < s.minimum) {
        result.errors.push(`${at} is ${value}, below the minimum ${s.minimum}`);
      }
      if (typeof s.maximum === "number" && value > s.maximum) {
        result.errors.push(`${at} is ${value}, above the maximum ${s.maximum}`);
      }
    }
    if (typeof value === "string") {
      if (typeof s.maxLength === "number" && value.length > s.maxLength) {
        result.errors.push(`${at} is ${value.length} characters long, over ${s.maxLength}`);
      }
      if (typeof s.minLength === "number" && value.length < s.minLength) {
        result.errors.push(`${at} is ${value.length} characters long, under ${s.minLength}`);
      }
      if (typeof s.pattern === "string" && !new RegExp(s.pattern).test(value)) {
        result.errors.push(`${at} ${JSON.stringify(value)} does not match ${s.pattern}`);
      }
      if (typeof s.format === "string" && !formatOk(s.format, value)) {
        result.errors.push(`${at} ${JSON.stringify(value)} is not a valid ${s.format}`);
      }
    }
    for (const branch of (s.allOf as Schema[] | undefined) ?? []) {
      merge(result, check(branch, value, at, mode));
    }
    for (const key of ["oneOf", "anyOf"] as const) {
      const branches = s[key] as Schema[] | undefined;
      if (branches === undefined) continue;
      const results = branches.map((b) => check(b, value, at, mode));
      const passing = results.filter((r) => r.errors.length === 0);
      if (passing.length === 0) {
        // The closest shape: one whose discriminating enum (a record's type) matched, then fewest errors.
        const score = (r: Result) =>
          (r.errors.some((e) => e.includes(", not one of [")) ? 1000 : 0) + r.errors.length;
        const closest = [...results].sort((a, b) => score(a) - score(b))[0];
        result.errors.push(
          `${at} matches none of the ${results.length} shapes of ${key}${closest === undefined ? "" : `; closest: ${closest.errors.join("; ")}`}`,
        );
      } else if (key === "oneOf" && passing.length > 1) {
        result.errors.push(`${at} matches ${passing.length} shapes of oneOf, not exactly one`);
      } else {
        for (const r of passing) merge(result, { ...r, errors: [] });
      }
    }
    if (isObject(value)) {
      const props = isObject(s.properties) ? (s.properties as Record<string, Schema>) : {};
      const names = Object.keys(props);
      if (names.length > 0) result.known = new Set([...(result.known ?? []), ...names]);
      if (s.additionalProperties === true || isObject(s.additionalProperties)) result.open = true;
      for (const name of (s.required as string[] | undefined) ?? []) {
        const prop = props[name];
        const flags = prop === undefined ? {} : resolve(prop);
        if (mode === "request" && flags.readOnly === true) continue;
        if (mode === "response" && flags.writeOnly === true) continue;
        if (value[name] === undefined) result.errors.push(`${at}.${name} is required`);
      }
      for (const [name, prop] of Object.entries(props)) {
        if (value[name] === undefined) continue;
        if (mode === "request" && resolve(prop).readOnly === true) {
          result.errors.push(`${at}.${name} is read-only: it is not sent`);
        }
        result.errors.push(...entry(prop, value[name], `${at}.${name}`, mode));
      }
    }
    if (Array.isArray(value) && isObject(s.items)) {
      value.forEach((item, i) => {
        result.errors.push(...entry(s.items as Schema, item, `${at}[${i}]`, mode));
      });
    }
    return result;
  }

  /** `check`, then, in a request, properties the schema does not name. */
  function entry(schema: Schema, value: unknown, at: string, mode: Mode): string[] {
    const result = check(schema, value, at, mode);
    if (mode === "request" && isObject(value) && result.known !== null && !result.open) {
      for (const key of Object.keys(value)) {
        if (!result.known.has(key)) result.errors.push(`${at}.${key} is not in the schema`);
      }
    }
    return result.errors;
  }

  const routes = Object.entries(fixture.paths).flatMap(([template, methods]) =>
    Object.entries(methods).map(([method, operation]) => {
      const names: string[] = [];
      const pattern = template.replace(/\{(\w+)\}/g, (_, name: string) => {
        names.push(name);
        return "([^/]+)";
      });
      return {
        method: method.toUpperCase(),
        template,
        operation,
        names,
        regex: new RegExp(`^${pattern}$`),
        literal: !template.includes("{"),
        depth: template.split("/").filter((p) => !p.startsWith("{")).length,
      };
    }),
  );
  // Literal segments win over parameters: /dns_records/batch before /dns_records/{id}.
  routes.sort((a, b) => b.depth - a.depth || Number(b.literal) - Number(a.literal));

  function find(method: string, path: string): FoundOperation | null {
    for (const route of routes) {
      if (route.method !== method.toUpperCase()) continue;
      const match = route.regex.exec(path);
      if (match === null) continue;
      const pathParams: Record<string, string> = {};
      route.names.forEach((name, i) => {
        pathParams[name] = decodeURIComponent(match[i + 1] ?? "");
      });
      return {
        operationId: route.operation.operationId,
        template: route.template,
        operation: route.operation,
        pathParams,
      };
    }
    return null;
  }

  /** A query value as the schema's type wants it. */
  function coerce(schema: Schema, text: string): unknown {
    const s = resolve(schema);
    if (s.type === "number" || s.type === "integer") return text === "" ? text : Number(text);
    if (s.type === "boolean") return text === "true" ? true : text === "false" ? false : text;
    return text;
  }

  return {
    operations: routes.map((r) => `${r.method} ${r.template}`).sort(),

    find,

    checkRequest(method, path, query, body) {
      const found = find(method, path);
      if (found === null) return [`${method} ${path} is not an operation of the schema`];
      const { operation, pathParams } = found;
      const where = `${method} ${found.template}`;
      const errors: string[] = [];
      const params = operation.parameters ?? [];
      for (const p of params) {
        if (p.in === "path") {
          errors.push(...entry(p.schema, pathParams[p.name], `${where} path ${p.name}`, "request"));
        } else if (p.in === "query") {
          const value = query.get(p.name);
          if (value === null) {
            if (p.required === true) errors.push(`${where}: query ${p.name} is required`);
            continue;
          }
          errors.push(
            ...entry(p.schema, coerce(p.schema, value), `${where} ?${p.name}`, "request"),
          );
        }
      }
      for (const name of new Set(query.keys())) {
        if (!params.some((p) => p.in === "query" && p.name === name)) {
          errors.push(`${where}: query ${name} is not in the schema`);
        }
      }
      const requestBody = operation.requestBody;
      if (requestBody === undefined) {
        if (body !== undefined) errors.push(`${where} takes no body`);
      } else if (body === undefined) {
        if (requestBody.required) errors.push(`${where} needs a body`);
      } else {
        errors.push(...entry(requestBody.schema, body, `${where} body`, "request"));
      }
      return errors;
    },

    checkResponse(method, path, status, body) {
      const found = find(method, path);
      if (found === null) return [`${method} ${path} is not an operation of the schema`];
      const where = `${method} ${found.template} → ${status}`;
      const key =
        status >= 200 && status < 300 ? "200" : status >= 400 && status < 500 ? "4XX" : null;
      const schema = key === null ? undefined : found.operation.responses[key];
      if (schema === undefined) return [`${where}: the schema documents no such answer`];
      return entry(schema, body, `${where} body`, "response");
    },

    checkValue(component, value, mode) {
      return entry({ $ref: `#/components/schemas/${component}` }, value, component, mode);
    },
  };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}

let loaded: SchemaCheck | null = null;

/** The checker for the fixture, read once. */
export function cloudflareSchema(): SchemaCheck {
  loaded ??= createSchemaCheck(JSON.parse(readFileSync(FIXTURE_PATH, "utf8")) as Fixture);
  return loaded;
}
