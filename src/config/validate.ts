/**
 * Turns whatever holt.config.ts exported into a ResolvedLab, or into the
 * complete list of problems: every problem names its config path, the bad
 * value and what is accepted, so one run shows everything to fix.
 */
import { dirname } from "node:path";
import type { z } from "zod";
import { controlCharacterProblems, withoutShadowed } from "./control-chars.ts";
import {
  DATASET_PROPERTIES,
  isNativeProperty,
  RESERVED_PROPERTY_PREFIX,
  USER_PROPERTY_PATTERN,
} from "./dataset-properties.ts";
import { formatPath, type Problem, showValue, suggest } from "./path.ts";
import { KNOWN_KEYS, labSchema, ZONE_PROVIDERS } from "./schema.ts";
import { isSecretRef } from "./secret.ts";
import type {
  ResolvedConnect,
  ResolvedDataset,
  ResolvedHost,
  ResolvedLab,
  ResolvedService,
  ResolvedStateEntry,
} from "./types.ts";
import { resolveBackups, resolveEntryBackup, resolveHooks } from "./validate-backup.ts";
import {
  edgeConflicts,
  resolveAcme,
  resolveDns,
  resolveExposure,
  resolveHostAddresses,
  resolveTunnel,
} from "./validate-edge.ts";
import { containerConflicts, resolveContainer, resolveProxy } from "./validate-service.ts";

export type { Problem };

export type ValidationResult =
  | { readonly ok: true; readonly lab: ResolvedLab }
  | { readonly ok: false; readonly problems: readonly Problem[] };

const HOST_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const SERVICE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const STATE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const DATASET_NAME = /^[A-Za-z][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_.:-]+)*$/;
const DNS_NAME =
  /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;
/**
 * A lab name: what the default (the domain) already is, a lower-case DNS name of one or more
 * labels. It goes into ZFS property values, container and secret labels, Caddy @ids
 * (`holt:<lab>:<hostname>`, so no ":"), Podman network names and file names on the hosts and
 * in the state folder (so no "/", no ".." and nothing a shell or a unit file would read).
 */
const LAB_NAME =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const ADDRESS =
  /^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$|^[0-9a-fA-F:]+$/;

type Shape = keyof typeof KNOWN_KEYS;

/** Which object of the schema a path points at, for unknown-key hints. */
function shapeAt(path: readonly PropertyKey[]): Shape | undefined {
  const p = path.map(String);
  if (p.length === 0) return "lab";
  if (p[0] === "hosts" && p.length === 2) return "host";
  if (p[0] === "hosts" && p[2] === "connect" && p[3] === "ssh" && p.length === 4) return "ssh";
  if (p[0] === "hosts" && p[2] === "datasets" && p.length === 4) return "dataset";
  if (p[0] === "services" && p.length === 2) return "service";
  if (p[0] === "services" && p[2] === "state" && p.length === 4) return "stateEntry";
  if (p[0] === "hosts" && p[2] === "proxy" && p.length === 3) return "proxy";
  if (p[0] === "services" && p[2] === "mounts" && p.length === 4) return "mount";
  if (p[0] === "services" && p[2] === "health" && p.length === 3) return "health";
  if (p[0] === "services" && p[2] === "resources" && p.length === 3) return "resources";
  if (p[0] === "dns" && p.length === 1) return "dns";
  if (p[0] === "dns" && (p[1] === "zones" || p[1] === "internal") && p.length === 3) return "zone";
  if (p[0] === "dns" && p[3] === "tsig" && p.length === 4) return "tsig";
  if (p[0] === "acme" && p.length === 1) return "acme";
  if (p[0] === "edge" && p.length === 1) return "edge";
  if (p[0] === "edge" && p[1] === "tunnel" && p.length === 2) return "tunnel";
  if (p[0] === "backups" && p.length === 1) return "backups";
  if (p[0] === "backups" && p[1] === "policies" && p.length === 3) return "policy";
  if (p[0] === "backups" && p[1] === "policies" && p.length === 5) return "keep";
  if (p[0] === "backups" && p[1] === "policies" && p[3] === "snapshots") return "keep";
  if (p[0] === "backups" && p[1] === "repositories" && p.length === 3) return "repository";
  return undefined;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

function structuralProblems(issues: readonly z.core.$ZodIssue[]): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    const segments = issue.path.map((s) => (typeof s === "symbol" ? String(s) : s));
    const path = formatPath(segments);
    const input = (issue as { input?: unknown }).input;
    switch (issue.code) {
      case "unrecognized_keys": {
        const shape = shapeAt(issue.path);
        const known = shape === undefined ? [] : KNOWN_KEYS[shape];
        for (const key of issue.keys) {
          const guess = suggest(key, known);
          const hint = guess !== undefined ? ` Did you mean "${guess}"?` : "";
          problems.push({
            path: formatPath([...segments, key]),
            message: `unknown key "${key}".${hint} Known keys here: ${known.join(", ")}.`,
          });
        }
        break;
      }
      case "invalid_type": {
        if (input === undefined) {
          problems.push({ path, message: `is required (${issue.expected}).` });
        } else {
          const expected = issue.expected === "record" ? "object" : issue.expected;
          problems.push({
            path,
            message: `${showValue(input)} is ${typeName(input)}; expected ${expected === "object" ? "an object" : `a ${expected}`}.`,
          });
        }
        break;
      }
      case "invalid_union":
        // A secret() in env gets its own hint from validate-service.ts.
        if (isSecretRef(input)) break;
        problems.push({
          path,
          message: segments.includes("connect")
            ? `${showValue(input)} is not a way to connect. Use "local" or { ssh: { user: "root", port: 22, identityFile: "~/.ssh/id_ed25519" } }.`
            : segments[0] === "dns"
              ? `${showValue(isRecord(input) ? input.provider : input)} is not a DNS provider. Use provider: ${ZONE_PROVIDERS.map((p) => `"${p}"`).join(", ")}.`
              : `${showValue(input)} is ${typeName(input)}; expected a string, a number or a boolean.`,
        });
        break;
      case "custom":
        problems.push({
          path,
          message: `${showValue(input)} is not a secret reference. Write secret("name") (import { secret } from "holt") and store the value with \`holt secrets set name\`.`,
        });
        break;
      case "invalid_value":
        problems.push({
          path,
          message: `${showValue(input)} is not allowed. Use ${issue.values.map((v) => showValue(v)).join(" or ")}.`,
        });
        break;
      case "too_small":
      case "too_big":
        problems.push({
          path,
          message:
            typeof input === "string"
              ? "must not be empty."
              : `${showValue(input)} is out of range (${issue.code === "too_small" ? "minimum" : "maximum"} ${String((issue as { minimum?: unknown; maximum?: unknown }).minimum ?? (issue as { maximum?: unknown }).maximum)}).`,
        });
        break;
      default:
        problems.push({ path, message: issue.message });
    }
  }
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function entries(value: unknown): [string, unknown][] {
  return isRecord(value) ? Object.entries(value) : [];
}

/** Native and raw properties of a dataset or state entry, normalized; pushes problems. */
function resolveProperties(
  raw: Record<string, unknown>,
  at: (string | number)[],
  problems: Problem[],
): Record<string, string> {
  const properties: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined || !isNativeProperty(name)) continue;
    const result = DATASET_PROPERTIES[name](value);
    if (result.ok) properties[name] = result.value;
    else
      problems.push({
        path: formatPath([...at, name]),
        message: `${showValue(value)} is not a valid ${name}. ${result.hint}`,
      });
  }
  for (const [name, value] of entries(raw.properties)) {
    const path = formatPath([...at, "properties", name]);
    if (typeof value !== "string") continue;
    if (name.startsWith(RESERVED_PROPERTY_PREFIX)) {
      problems.push({
        path,
        message: `"${name}" is reserved: holt writes the "${RESERVED_PROPERTY_PREFIX}" properties itself. Pick another prefix, like "com.example:".`,
      });
    } else if (isNativeProperty(name)) {
      if (properties[name] !== undefined) {
        problems.push({
          path,
          message: `"${name}" is set twice, here and as the "${name}" field. Keep one.`,
        });
        continue;
      }
      const result = DATASET_PROPERTIES[name](value);
      if (result.ok) properties[name] = result.value;
      else
        problems.push({
          path,
          message: `${showValue(value)} is not a valid ${name}. ${result.hint}`,
        });
    } else if (name.includes(":")) {
      if (!USER_PROPERTY_PATTERN.test(name)) {
        problems.push({
          path,
          message: `"${name}" is not a valid ZFS user property name. Use lower case "module:property", like "com.example:owner".`,
        });
      } else properties[name] = value;
    } else {
      const guess = suggest(name, Object.keys(DATASET_PROPERTIES));
      problems.push({
        path,
        message: `"${name}" is not a property holt can set.${guess ? ` Did you mean "${guess}"?` : ""} Use a native property (${Object.keys(DATASET_PROPERTIES).join(", ")}) or a user property with a colon, like "com.example:${name}".`,
      });
    }
  }
  return properties;
}

/** Validates and resolves a lab, collecting every problem. */
export function validateLab(input: unknown, file: string): ValidationResult {
  const problems: Problem[] = [];
  if (!isRecord(input)) {
    return {
      ok: false,
      problems: [
        {
          path: "(default export)",
          message: `${showValue(input)} is not a lab. The file must \`export default defineLab({ domain, hosts, services })\`.`,
        },
      ],
    };
  }
  // jitless: a config is checked once per run, so compiling zod's fast path (new Function) costs
  // more than it saves (13 ms per command here).
  const parsed = labSchema.safeParse(input, { reportInput: true, jitless: true });
  if (!parsed.success) problems.push(...structuralProblems(parsed.error.issues));
  problems.push(...controlCharacterProblems(input));

  const domain = input.domain;
  if (typeof domain === "string" && !DNS_NAME.test(domain)) {
    problems.push({
      path: "domain",
      message: `${showValue(domain)} is not a domain name. Use lower-case DNS labels separated by dots, like "lab.example.com".`,
    });
  }

  const name = input.name;
  if (typeof name === "string" && name !== "" && !LAB_NAME.test(name)) {
    problems.push({ path: "name", message: labNameProblem(name) });
  }

  const hosts: Record<string, ResolvedHost> = {};
  const hostEntries = entries(input.hosts);
  if (isRecord(input.hosts) && hostEntries.length === 0) {
    problems.push({
      path: "hosts",
      message: 'declares no host. Add one, like hosts: { odroid: { connect: "local" } }.',
    });
  }
  const declaredDatasets = new Map<string, string>(); // "host\0name" → config path
  let localHost: string | undefined;
  for (const [hostName, rawHost] of hostEntries) {
    const at = ["hosts", hostName];
    if (!HOST_NAME.test(hostName)) {
      problems.push({
        path: formatPath(at),
        message: `"${hostName}" is not a valid host name. Use lower-case letters, digits and "-", starting with a letter.`,
      });
    }
    if (!isRecord(rawHost)) continue;
    let connect: ResolvedConnect = { kind: "local" };
    const rawConnect = rawHost.connect;
    if (isRecord(rawConnect) && isRecord(rawConnect.ssh)) {
      const ssh = rawConnect.ssh;
      connect = {
        kind: "ssh",
        user: typeof ssh.user === "string" ? ssh.user : "root",
        port: typeof ssh.port === "number" ? ssh.port : 22,
        identityFile: typeof ssh.identityFile === "string" ? ssh.identityFile : "~/.ssh/id_ed25519",
        knownHostsFile:
          typeof ssh.knownHostsFile === "string" ? ssh.knownHostsFile : "~/.ssh/known_hosts",
      };
    }
    if (connect.kind === "local") {
      if (localHost !== undefined) {
        problems.push({
          path: formatPath([...at, "connect"]),
          message: `host "${localHost}" is already the local machine; two hosts cannot both be "local". Reach this one with { ssh: { ... } }.`,
        });
      }
      localHost ??= hostName;
    }
    const address = rawHost.address;
    if (typeof address === "string" && !ADDRESS.test(address)) {
      problems.push({
        path: formatPath([...at, "address"]),
        message: `${showValue(address)} is not an IP address or host name.`,
      });
    }
    if (connect.kind === "ssh" && address === undefined) {
      problems.push({
        path: formatPath([...at, "address"]),
        message:
          "is required for a host reached over SSH. Set it to the host's IP address or DNS name.",
      });
    }
    const stateRoot = rawHost.stateRoot;
    if (
      typeof stateRoot === "string" &&
      (!DATASET_NAME.test(stateRoot) || !stateRoot.includes("/"))
    ) {
      problems.push({
        path: formatPath([...at, "stateRoot"]),
        message: `${showValue(stateRoot)} is not a dataset name. Use "<pool>/<path>", like "tank/holt".`,
      });
    }
    const datasets: ResolvedDataset[] = [];
    for (const [datasetName, rawDataset] of entries(rawHost.datasets)) {
      const dAt = [...at, "datasets", datasetName];
      const path = formatPath(dAt);
      if (!DATASET_NAME.test(datasetName)) {
        problems.push({
          path,
          message: `"${datasetName}" is not a dataset name. Use "<pool>/<path>" with letters, digits, "_", "-", "." and ":", like "tank/media".`,
        });
        continue;
      }
      if (!datasetName.includes("/")) {
        problems.push({
          path,
          message: `"${datasetName}" is a whole pool. Declare datasets inside it, like "${datasetName}/media"; pools are created outside holt.`,
        });
        continue;
      }
      const key = `${hostName}\0${datasetName}`;
      const earlier = declaredDatasets.get(key);
      if (earlier !== undefined) {
        problems.push({
          path,
          message: `dataset "${datasetName}" on host "${hostName}" is already declared at ${earlier}. Declare each dataset once.`,
        });
        continue;
      }
      declaredDatasets.set(key, path);
      const properties = isRecord(rawDataset) ? resolveProperties(rawDataset, dAt, problems) : {};
      datasets.push({ name: datasetName, properties, configPath: path });
    }
    hosts[hostName] = {
      name: hostName,
      address: typeof address === "string" ? address : "127.0.0.1",
      connect,
      proxy: resolveProxy(rawHost.proxy, [...at, "proxy"], problems),
      ...resolveHostAddresses(rawHost, at, problems),
      stateRoot: typeof stateRoot === "string" ? stateRoot : null,
      datasets,
    };
  }

  const backups = resolveBackups(input.backups, hosts, problems);
  const policyNames = Object.keys(backups.policies);
  const services: Record<string, ResolvedService> = {};
  const serviceNames = entries(input.services).map(([name]) => name);
  for (const [serviceName, rawService] of entries(input.services)) {
    const at = ["services", serviceName];
    if (!SERVICE_NAME.test(serviceName)) {
      problems.push({
        path: formatPath(at),
        message: `"${serviceName}" is not a valid service name. Use lower-case letters, digits and "-", starting with a letter.`,
      });
    }
    if (!isRecord(rawService)) continue;
    const host = rawService.host;
    if (typeof host === "string" && hosts[host] === undefined && isRecord(input.hosts)) {
      const known = Object.keys(hosts);
      const guess = suggest(host, known);
      problems.push({
        path: formatPath([...at, "host"]),
        message: `"${host}" is not a host of this lab.${guess ? ` Did you mean "${guess}"?` : ""} Use one of: ${known.map((k) => `"${k}"`).join(", ") || "(no hosts declared)"}.`,
      });
    }
    const state: ResolvedStateEntry[] = [];
    const paths = new Map<string, string>();
    for (const [entryName, rawEntry] of entries(rawService.state)) {
      const eAt = [...at, "state", entryName];
      if (!STATE_NAME.test(entryName)) {
        problems.push({
          path: formatPath(eAt),
          message: `"${entryName}" is not a valid state name; it becomes a dataset name. Use lower-case letters, digits, "_", "-" and ".".`,
        });
        continue;
      }
      if (!isRecord(rawEntry)) continue;
      const mountPath = rawEntry.path;
      if (typeof mountPath === "string") {
        if (!mountPath.startsWith("/")) {
          problems.push({
            path: formatPath([...eAt, "path"]),
            message: `${showValue(mountPath)} is not an absolute path. Use the path inside the container, like "/config".`,
          });
        }
        const other = paths.get(mountPath);
        if (other !== undefined) {
          problems.push({
            path: formatPath([...eAt, "path"]),
            message: `"${mountPath}" is already used by state "${other}" of this service. Give each state entry its own path.`,
          });
        }
        paths.set(mountPath, entryName);
      }
      const properties = resolveProperties(rawEntry, eAt, problems);
      state.push({
        name: entryName,
        path: typeof mountPath === "string" ? mountPath : "",
        properties,
        configPath: formatPath(eAt),
        backup: resolveEntryBackup(rawEntry.backup, eAt, policyNames, problems),
      });
    }
    const dependsOn: string[] = [];
    if (Array.isArray(rawService.dependsOn)) {
      rawService.dependsOn.forEach((dep, index) => {
        if (typeof dep !== "string") return;
        if (dep === serviceName) {
          problems.push({
            path: formatPath([...at, "dependsOn", index]),
            message: `service "${serviceName}" cannot depend on itself.`,
          });
        } else if (!serviceNames.includes(dep)) {
          const guess = suggest(dep, serviceNames);
          problems.push({
            path: formatPath([...at, "dependsOn", index]),
            message: `"${dep}" is not a service of this lab.${guess ? ` Did you mean "${guess}"?` : ""}`,
          });
        } else dependsOn.push(dep);
      });
    }
    const container = resolveContainer(
      rawService,
      at,
      typeof domain === "string" ? domain : "",
      problems,
    );
    services[serviceName] = {
      name: serviceName,
      host: typeof host === "string" ? host : "",
      expose: resolveExposure(
        rawService,
        at,
        typeof rawService.hostname === "string",
        isRecord(input.edge) && isRecord(input.edge.tunnel),
        problems,
      ),
      certificatePath: isRecord(rawService.certificate)
        ? typeof rawService.certificate.path === "string"
          ? rawService.certificate.path
          : null
        : null,
      hooks: resolveHooks(rawService.hooks),
      state,
      dependsOn,
      container,
    };
  }

  problems.push(...dependencyCycles(services));
  problems.push(...stateCollisions(hosts, services));
  problems.push(...containerConflicts(hosts, services));
  const dns = resolveDns(input.dns, problems);
  const acme = resolveAcme(input.acme, dirname(file), problems);
  const tunnel = resolveTunnel(input.edge, hosts, problems);
  problems.push(...edgeConflicts(hosts, services, dns, acme, tunnel));

  if (problems.length > 0) return { ok: false, problems: dedupe(withoutShadowed(problems)) };
  const domainText = typeof domain === "string" ? domain : "";
  return {
    ok: true,
    lab: {
      name: typeof input.name === "string" ? input.name : domainText,
      domain: domainText,
      file,
      hosts,
      services,
      dns,
      acme,
      tunnel,
      backups,
    },
  };
}

function labNameProblem(name: string): string {
  const labels = name
    .toLowerCase()
    .split(".")
    .map((label) =>
      label
        .replace(/[^a-z0-9-]+/g, "-")
        .replace(/^-+|-+$/g, "")
        .slice(0, 63)
        .replace(/-+$/, ""),
    )
    .filter((label) => label !== "");
  const fixed = labels
    .join(".")
    .slice(0, 253)
    .replace(/[.-]+$/, "");
  const like = fixed === "" ? "home" : fixed;
  return `${showValue(name)} is not a valid lab name. Use a DNS label: lower-case letters, digits and "-", 1 to 63 characters, not starting or ending with "-" (several may be joined with dots, as in a domain), like "${like}". holt marks everything it makes with the lab's name: if this lab has run under this one, follow docs/configuration.md#renaming-a-lab before you apply under the new one (until then nothing it made is touched).`;
}

/** Every dependsOn cycle, printed whole: a → b → c → a. */
function dependencyCycles(services: Record<string, ResolvedService>): Problem[] {
  const problems: Problem[] = [];
  const done = new Set<string>();
  const reported = new Set<string>();
  const visit = (name: string, stack: string[]): void => {
    if (done.has(name)) return;
    const at = stack.indexOf(name);
    if (at >= 0) {
      const cycle = [...stack.slice(at), name];
      const key = [...cycle.slice(0, -1)].sort().join(",");
      if (!reported.has(key)) {
        reported.add(key);
        problems.push({
          path: formatPath(["services", name, "dependsOn"]),
          message: `dependency cycle: ${cycle.join(" → ")}. Remove one of these dependsOn entries.`,
        });
      }
      return;
    }
    for (const dep of services[name]?.dependsOn ?? []) visit(dep, [...stack, name]);
    if (stack.length === 0 || !stack.includes(name)) done.add(name);
  };
  for (const name of Object.keys(services)) visit(name, []);
  return problems;
}

/** A service's state datasets must not be declared again under `datasets`. */
function stateCollisions(
  hosts: Record<string, ResolvedHost>,
  services: Record<string, ResolvedService>,
): Problem[] {
  const problems: Problem[] = [];
  for (const service of Object.values(services)) {
    const host = hosts[service.host];
    if (host === undefined || host.stateRoot === null) continue;
    const serviceDataset = `${host.stateRoot}/${service.name}`;
    for (const dataset of host.datasets) {
      if (dataset.name === serviceDataset || dataset.name.startsWith(`${serviceDataset}/`)) {
        problems.push({
          path: dataset.configPath,
          message: `dataset "${dataset.name}" is the state of service "${service.name}" (services.${service.name}.state), so holt already manages it. Declare it once: remove it here, or set its properties in the service's state entry.`,
        });
      }
    }
  }
  return problems;
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\0${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
