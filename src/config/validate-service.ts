/**
 * The container half of a service: image, hostname, ports, mounts, env,
 * secrets, user, health and limits. Shapes were checked by zod already; this
 * checks meaning and resolves defaults, one problem per bad value, then the
 * rules that span services (a hostname or a host port used twice).
 */
import { SECRET_NAME_PATTERN } from "../util/secret-name.ts";
import { parseSize, SIZE_HINT } from "../util/sizes.ts";
import { formatPath, type Problem, showValue } from "./path.ts";
import { isSecretRef } from "./secret.ts";
import type {
  ResolvedContainer,
  ResolvedHealth,
  ResolvedHost,
  ResolvedMount,
  ResolvedPort,
  ResolvedProxy,
  ResolvedSecretUse,
  ResolvedService,
} from "./types.ts";

type At = (string | number)[];

const HOSTNAME_LABELS =
  /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const USER = /^\d{1,10}(:\d{1,10})?$/;
const PORT_SPEC = /^(?:(\d{1,5}):)?(\d{1,5})(?:\/(tcp|udp))?$/;
// An OCI reference: [registry[:port]/]path[:tag][@digest]. Loose on purpose; Podman has the last word.
const IMAGE =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const DURATION_UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const ADMIN = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/;
/** A request target as it goes on the wire: printable ASCII, no space (RFC 9112 3.2). */
const HTTP_PATH = /^\/[\x21-\x7e]*$/;

/** Fields that only make sense with an image. */
const CONTAINER_FIELDS = [
  "command",
  "hostname",
  "port",
  "hostPort",
  "ports",
  "mounts",
  "env",
  "secrets",
  "user",
  "health",
  "resources",
  "hooks",
] as const;

/**
 * Where each published port of a resolved container was written in the
 * config. Kept beside the container, not in it: the resolved ports are
 * sorted, so their index is not the user's, and the model must not see paths.
 */
interface ClaimPaths {
  /** `services.<name>.hostPort`, or `.port` when hostPort defaults to it. */
  readonly hostPort: string;
  /** One per entry of the resolved (sorted) `ports`: `services.<name>.ports[<index as written>]`. */
  readonly ports: ReadonlyMap<ResolvedPort, string>;
}
const claimPaths = new WeakMap<ResolvedContainer, ClaimPaths>();

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `text` with every character outside printable ASCII, and space, as UTF-8 percent escapes. */
export function percentEncode(text: string): string {
  let out = "";
  for (const char of text) {
    if (/^[\x21-\x7e]$/.test(char)) out += char;
    else
      for (const byte of Buffer.from(char, "utf8"))
        out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** Milliseconds for "30s", "1m", "500ms", "1.5h", "30d"; `null` when not a duration. */
export function parseDuration(text: string): number | null {
  const match = DURATION.exec(text);
  if (match === null) return null;
  const ms = Number(match[1]) * DURATION_UNITS[match[2] as keyof typeof DURATION_UNITS];
  return Number.isFinite(ms) && ms > 0 ? Math.round(ms) : null;
}

/** Caddy's admin address: `host:port` on the loopback, or `unix/<absolute path>` (Caddy's syntax). */
type AdminAddress =
  | { readonly kind: "tcp"; readonly port: number }
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "bad"; readonly message: string };

const ADMIN_EXAMPLES = `like "127.0.0.1:2019", or a Unix socket, like "unix//run/caddy/admin.sock"`;
// sun_path holds 108 bytes, the last one a NUL.
const MAX_SOCKET_PATH_BYTES = 107;

/** Whether an IPv6 address is ::1, in any of its spellings. */
function isIpv6Loopback(address: string): boolean {
  if (!/^[0-9a-fA-F:]+$/.test(address)) return false;
  const halves = address.split("::");
  if (halves.length > 2) return false;
  const groups = (text: string | undefined) =>
    text === undefined || text === "" ? [] : text.split(":");
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return false;
  const all = [...head, ...Array<string>(halves.length === 1 ? 0 : missing).fill("0"), ...tail];
  return all.every(
    (g, i) => /^[0-9a-fA-F]{1,4}$/.test(g) && Number.parseInt(g, 16) === (i === 7 ? 1 : 0),
  );
}

function isLoopback(host: string): boolean {
  if (host.toLowerCase() === "localhost") return true;
  const v4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (v4 !== null) return v4.slice(1).every((octet) => Number(octet) <= 255);
  return host.startsWith("[") && host.endsWith("]") && isIpv6Loopback(host.slice(1, -1));
}

/**
 * Checks Caddy's admin address. The admin API has no authentication, so holt
 * refuses one that the network could reach: only the loopback or a Unix
 * socket, both of which holt reaches through its SSH connection.
 */
export function checkAdminAddress(text: string): AdminAddress {
  const shown = showValue(text);
  if (text.startsWith("unix/")) {
    const path = text.slice("unix/".length);
    if (!path.startsWith("/")) {
      return {
        kind: "bad",
        message: `${shown} names a relative socket path. Write the absolute path after "unix/", with two slashes, like "unix//run/caddy/admin.sock".`,
      };
    }
    if (path.includes("|")) {
      return {
        kind: "bad",
        message: `${shown} has a permission suffix ("|…"), which is Caddy's to apply, not holt's. Write only the socket's path, like "unix//run/caddy/admin.sock".`,
      };
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
    if (/[\u0000-\u001f\u007f]/.test(path) || path.endsWith("/")) {
      return {
        kind: "bad",
        message: `${shown} is not a socket path. Use one like "unix//run/caddy/admin.sock".`,
      };
    }
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
      return {
        kind: "bad",
        message: `${shown} is longer than a Unix socket path may be (${MAX_SOCKET_PATH_BYTES} bytes). Use a shorter path, like "unix//run/caddy/admin.sock".`,
      };
    }
    return { kind: "unix", path };
  }
  const match = ADMIN.exec(text);
  const port = Number(match?.[2]);
  if (match === null || port < 1 || port > 65535) {
    return {
      kind: "bad",
      message: `${shown} is not an address and port, nor a Unix socket. Use Caddy's admin address on the host, ${ADMIN_EXAMPLES}.`,
    };
  }
  if (!isLoopback(match[1] ?? "")) {
    return {
      kind: "bad",
      message: `${shown} is not on the host's loopback. Caddy's admin API has no authentication: whoever reaches it can read Caddy's config (with any keys in it) and change what Caddy serves. Let it listen on the loopback, ${ADMIN_EXAMPLES}; holt reaches either through its SSH connection.`,
    };
  }
  return { kind: "tcp", port };
}

export function resolveProxy(raw: unknown, at: At, problems: Problem[]): ResolvedProxy {
  const proxy = isRecord(raw) ? raw : {};
  let adminAddress = "127.0.0.1:2019";
  let adminPort: number | null = 2019;
  if (typeof proxy.admin === "string") {
    const checked = checkAdminAddress(proxy.admin);
    if (checked.kind === "bad") {
      problems.push({ path: formatPath([...at, "admin"]), message: checked.message });
    } else {
      adminAddress = proxy.admin;
      adminPort = checked.kind === "tcp" ? checked.port : null;
    }
  }
  const httpsPort = typeof proxy.httpsPort === "number" ? proxy.httpsPort : 443;
  const httpPort = typeof proxy.httpPort === "number" ? proxy.httpPort : 80;
  if (httpsPort === httpPort) {
    problems.push({
      path: formatPath([...at, "httpPort"]),
      message: `is the same port as httpsPort (${httpsPort}). Caddy needs one port for HTTPS and another for HTTP.`,
    });
  }
  const clash = adminPort === httpsPort ? "httpsPort" : adminPort === httpPort ? "httpPort" : null;
  if (clash !== null) {
    problems.push({
      path: formatPath([...at, "admin"]),
      message: `uses port ${adminPort}, which is also ${clash}. Give Caddy's admin API a port of its own, like "127.0.0.1:2019".`,
    });
  }
  return { adminAddress, adminPort, httpsPort, httpPort };
}

/** The container of one service, or null when it has no image. */
export function resolveContainer(
  raw: Record<string, unknown>,
  at: At,
  domain: string,
  problems: Problem[],
): ResolvedContainer | null {
  const image = raw.image;
  if (typeof image !== "string") {
    const stray = CONTAINER_FIELDS.filter((field) => raw[field] !== undefined);
    if (stray.length > 0 && image === undefined) {
      problems.push({
        path: formatPath([...at, "image"]),
        message: `is required when a service sets ${stray.map((f) => `"${f}"`).join(", ")}. Add the container image, like image: "docker.io/library/nginx:1.27".`,
      });
    }
    return null;
  }
  const start = problems.length;
  if (image !== "" && !IMAGE.test(image)) {
    problems.push({
      path: formatPath([...at, "image"]),
      message: `${showValue(image)} is not an image reference. Use "registry/name:tag", like "docker.io/jellyfin/jellyfin:10.10.3".`,
    });
  }

  const port = typeof raw.port === "number" ? raw.port : null;
  let hostname: string | null = null;
  if (typeof raw.hostname === "string") {
    if (!HOSTNAME_LABELS.test(raw.hostname) || raw.hostname.endsWith(`.${domain}`)) {
      problems.push({
        path: formatPath([...at, "hostname"]),
        message: raw.hostname.endsWith(`.${domain}`)
          ? `${showValue(raw.hostname)} already ends with the lab's domain. Write only the part before it: "${raw.hostname.slice(0, -domain.length - 1)}".`
          : `${showValue(raw.hostname)} is not a host name. Use lower-case DNS labels, like "media"; it becomes media.${domain || "<domain>"}.`,
      });
    } else if (raw.hostname.length + 1 + domain.length > 253) {
      problems.push({
        path: formatPath([...at, "hostname"]),
        message: `${showValue(raw.hostname)} makes a name longer than 253 characters with the domain "${domain}". Use a shorter hostname.`,
      });
    } else hostname = `${raw.hostname}.${domain}`;
    if (port === null) {
      problems.push({
        path: formatPath([...at, "port"]),
        message:
          "is required with a hostname: the port the app listens on inside the container, like 8096.",
      });
    }
  }
  const hostPort = typeof raw.hostPort === "number" ? raw.hostPort : port;
  if (typeof raw.hostPort === "number" && port === null) {
    problems.push({
      path: formatPath([...at, "hostPort"]),
      message: "needs `port`: hostPort is where the container's `port` is published.",
    });
  }

  const ports: ResolvedPort[] = [];
  const portPaths = new Map<ResolvedPort, string>();
  if (Array.isArray(raw.ports)) {
    raw.ports.forEach((spec, index) => {
      if (typeof spec !== "string") return;
      const match = PORT_SPEC.exec(spec);
      const containerPort = Number(match?.[2]);
      const published = match?.[1] === undefined ? containerPort : Number(match[1]);
      if (
        match === null ||
        !(containerPort >= 1 && containerPort <= 65535) ||
        !(published >= 1 && published <= 65535)
      ) {
        problems.push({
          path: formatPath([...at, "ports", index]),
          message: `${showValue(spec)} is not a port. Use "53/udp", "8883" or "2222:22/tcp" (host:container/protocol, protocol tcp by default).`,
        });
        return;
      }
      const resolved: ResolvedPort = {
        hostPort: published,
        containerPort,
        protocol: (match[3] ?? "tcp") as "tcp" | "udp",
      };
      ports.push(resolved);
      portPaths.set(resolved, formatPath([...at, "ports", index]));
    });
  }

  const mounts: ResolvedMount[] = [];
  for (const [target, rawMount] of Object.entries(isRecord(raw.mounts) ? raw.mounts : {})) {
    if (!target.startsWith("/")) {
      problems.push({
        path: formatPath([...at, "mounts", target]),
        message: `${showValue(target)} is not an absolute path. Use the path inside the container, like "/media".`,
      });
      continue;
    }
    if (!isRecord(rawMount) || typeof rawMount.dataset !== "string") continue;
    mounts.push({ target, dataset: rawMount.dataset, readOnly: rawMount.readOnly === true });
  }

  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(isRecord(raw.env) ? raw.env : {})) {
    if (!ENV_NAME.test(name)) {
      problems.push({
        path: formatPath([...at, "env", name]),
        message: `"${name}" is not an environment variable name. Use letters, digits and "_", not starting with a digit.`,
      });
      continue;
    }
    if (isSecretRef(value)) {
      problems.push({
        path: formatPath([...at, "env", name]),
        message: `secret(${showValue(value.name)}) cannot go in env, whose values are stored in plain text. Move it to secrets: { ${name}: secret(${showValue(value.name)}) }.`,
      });
      continue;
    }
    if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
      env[name] = String(value);
    }
  }

  const secrets: ResolvedSecretUse[] = [];
  for (const [target, ref] of Object.entries(isRecord(raw.secrets) ? raw.secrets : {})) {
    const path = formatPath([...at, "secrets", target]);
    const kind = target.startsWith("/") ? "file" : "env";
    if (kind === "env" && !ENV_NAME.test(target)) {
      problems.push({
        path,
        message: `"${target}" is neither an environment variable name nor an absolute file path. Use a name like "DB_PASSWORD", or a path like "/run/secrets/db".`,
      });
      continue;
    }
    if (kind === "env" && env[target] !== undefined) {
      problems.push({
        path,
        message: `"${target}" is also set in env. Set each variable once: remove it from env or from secrets.`,
      });
      continue;
    }
    if (!isSecretRef(ref)) continue;
    if (!SECRET_NAME_PATTERN.test(ref.name)) {
      problems.push({
        path,
        message: `secret(${showValue(ref.name)}) is not a valid secret name. Use lower-case letters, digits, ".", "_" and "-", like "nextcloud-db".`,
      });
      continue;
    }
    secrets.push({ target, kind, secret: ref.name, configPath: path });
  }

  let user: string | null = null;
  if (typeof raw.user === "string") {
    if (!USER.test(raw.user)) {
      problems.push({
        path: formatPath([...at, "user"]),
        message: `${showValue(raw.user)} is not a numeric user. Use "uid" or "uid:gid", like "1000:1000", so the state datasets can be owned by it.`,
      });
    } else user = raw.user;
  }

  const health = resolveHealth(raw.health, [...at, "health"], hostPort, problems);

  let memory: number | null = null;
  let cpus: number | null = null;
  if (isRecord(raw.resources)) {
    if (typeof raw.resources.memory === "string") {
      memory = parseSize(raw.resources.memory);
      if (memory === null || memory < 4 * 1024 * 1024) {
        problems.push({
          path: formatPath([...at, "resources", "memory"]),
          message: `${showValue(raw.resources.memory)} is not a memory limit of at least 4M. ${SIZE_HINT}`,
        });
        memory = null;
      }
    }
    if (typeof raw.resources.cpus === "number") cpus = raw.resources.cpus;
  }

  if (problems.length > start) return null;
  const container: ResolvedContainer = {
    image,
    command: Array.isArray(raw.command) ? raw.command.filter((c) => typeof c === "string") : null,
    hostname,
    port,
    hostPort,
    ports: ports.sort((a, b) => a.hostPort - b.hostPort || a.protocol.localeCompare(b.protocol)),
    mounts: mounts.sort((a, b) => a.target.localeCompare(b.target)),
    env,
    secrets: secrets.sort((a, b) => a.target.localeCompare(b.target)),
    user,
    health,
    memory,
    cpus,
  };
  claimPaths.set(container, {
    hostPort: formatPath([...at, typeof raw.hostPort === "number" ? "hostPort" : "port"]),
    ports: portPaths,
  });
  return container;
}

function resolveHealth(
  raw: unknown,
  at: At,
  hostPort: number | null,
  problems: Problem[],
): ResolvedHealth | null {
  if (!isRecord(raw) || typeof raw.http !== "string") return null;
  if (!raw.http.startsWith("/")) {
    problems.push({
      path: formatPath([...at, "http"]),
      message: `${showValue(raw.http)} is not a path. Use the HTTP path to probe, like "/health".`,
    });
  } else if (!HTTP_PATH.test(raw.http)) {
    problems.push({
      path: formatPath([...at, "http"]),
      message: `${showValue(raw.http)} has characters that cannot go in an HTTP request line as they are (a space, or a character outside ASCII). Write them percent-encoded: "${percentEncode(raw.http)}".`,
    });
  }
  if (hostPort === null) {
    problems.push({
      path: formatPath([...at, "http"]),
      message: "needs the service's `port`: the HTTP check probes it.",
    });
  }
  const duration = (key: "interval" | "timeout", fallback: number): number => {
    const value = raw[key];
    if (typeof value !== "string") return fallback;
    const ms = parseDuration(value);
    if (ms === null) {
      problems.push({
        path: formatPath([...at, key]),
        message: `${showValue(value)} is not a duration. Use a number with ms, s, m or h, like "30s".`,
      });
      return fallback;
    }
    return ms;
  };
  const intervalMs = duration("interval", 30_000);
  // The default timeout shrinks with a short interval, so `interval: "2s"` alone is valid.
  const timeoutMs = duration("timeout", Math.min(5_000, intervalMs));
  if (timeoutMs > intervalMs) {
    problems.push({
      path: formatPath([...at, "timeout"]),
      message: `is longer than the interval (${timeoutMs} ms > ${intervalMs} ms). A probe must end before the next one starts.`,
    });
  }
  return {
    http: raw.http,
    intervalMs,
    timeoutMs,
    retries: typeof raw.retries === "number" ? raw.retries : 3,
  };
}

/** A port a service takes on its host. */
interface Claim {
  readonly port: number;
  readonly protocol: "tcp" | "udp";
  readonly path: string;
  /** For an entry of `ports`; null for the loopback `hostPort`. */
  readonly containerPort: number | null;
}

/** Which of Caddy's ports a claim would take, if any. Caddy serves HTTP/3 on UDP at the HTTPS port. */
function caddyPort(proxy: ResolvedProxy, claim: Claim): string | undefined {
  if (claim.protocol === "udp") return claim.port === proxy.httpsPort ? "httpsPort" : undefined;
  if (claim.port === proxy.httpsPort) return "httpsPort";
  if (claim.port === proxy.httpPort) return "httpPort";
  if (claim.port === proxy.adminPort) return "admin";
  return undefined;
}

function caddyClash(host: string, field: string, claim: Claim): string {
  const alternative = claim.port === 80 || claim.port === 443 ? 8000 + claim.port : claim.port + 1;
  const what = field === "httpsPort" && claim.protocol === "udp" ? `${field}, for HTTP/3` : field;
  const taken = `${claim.protocol} port ${claim.port} on host "${host}" is Caddy's (hosts.${host}.proxy.${what}).`;
  if (claim.containerPort === null) {
    return `${taken} Publish this service on another loopback port: set hostPort, like hostPort: ${alternative}.`;
  }
  const suffix = claim.protocol === "udp" ? "/udp" : "";
  return `${taken} Publish it on another port of the host, like "${alternative}:${claim.containerPort}${suffix}".`;
}

/**
 * Rules across services: a hostname serves one service; a host port is
 * published once per host, and not on Caddy's ports where Caddy serves a
 * route; mounts name datasets declared on the service's own host.
 */
export function containerConflicts(
  hosts: Readonly<Record<string, ResolvedHost>>,
  services: Readonly<Record<string, ResolvedService>>,
): Problem[] {
  const problems: Problem[] = [];
  const hostnames = new Map<string, string>();
  const hostPorts = new Map<string, string>(); // "host\0proto\0port" → config path
  // Caddy needs its ports only on hosts where it serves a hostname.
  const proxied = new Set(
    Object.values(services)
      .filter((s) => (s.container?.hostname ?? null) !== null)
      .map((s) => s.host),
  );
  for (const name of Object.keys(services).sort()) {
    const service = services[name];
    const container = service?.container;
    if (service === undefined || container === null || container === undefined) continue;
    const at = ["services", name];
    if (container.hostname !== null) {
      const other = hostnames.get(container.hostname);
      if (other !== undefined) {
        problems.push({
          path: formatPath([...at, "hostname"]),
          message: `"${container.hostname}" is already the hostname of service "${other}". Each hostname belongs to one service; pick another.`,
        });
      } else hostnames.set(container.hostname, name);
    }
    const host = hosts[service.host];
    if (host === undefined) continue;
    const paths = claimPaths.get(container);
    const claims: Claim[] = [];
    if (container.hostPort !== null) {
      claims.push({
        port: container.hostPort,
        protocol: "tcp",
        path: paths?.hostPort ?? formatPath([...at, "hostPort"]),
        containerPort: null,
      });
    }
    for (const p of container.ports) {
      claims.push({
        port: p.hostPort,
        protocol: p.protocol,
        path: paths?.ports.get(p) ?? formatPath([...at, "ports"]),
        containerPort: p.containerPort,
      });
    }
    for (const claim of claims) {
      const proxyField = proxied.has(host.name) ? caddyPort(host.proxy, claim) : undefined;
      if (proxyField !== undefined) {
        problems.push({ path: claim.path, message: caddyClash(host.name, proxyField, claim) });
        continue;
      }
      const key = `${host.name}\0${claim.protocol}\0${claim.port}`;
      const other = hostPorts.get(key);
      if (other !== undefined) {
        problems.push({
          path: claim.path,
          message: `${claim.protocol} port ${claim.port} on host "${host.name}" is already published by ${other}. Each port is published once per host: set a different hostPort (or host part of "ports").`,
        });
      } else hostPorts.set(key, claim.path);
    }
    for (const mount of container.mounts) {
      const path = formatPath([...at, "mounts", mount.target, "dataset"]);
      if (!host.datasets.some((d) => d.name === mount.dataset)) {
        const declared = host.datasets.map((d) => `"${d.name}"`).join(", ") || "none";
        problems.push({
          path,
          message: `"${mount.dataset}" is not declared on host "${host.name}" (declared: ${declared}). Declare it under hosts.${host.name}.datasets, or mount one that is.`,
        });
      }
      const clash = service.state.find((s) => s.path === mount.target);
      if (clash !== undefined) {
        problems.push({
          path: formatPath([...at, "mounts", mount.target]),
          message: `"${mount.target}" is also the path of state "${clash.name}". Give each mount its own path.`,
        });
      }
    }
  }
  return problems;
}
