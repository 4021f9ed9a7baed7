/**
 * The `holt.spec` label: the ContainerInputs a container was created from, as
 * stable JSON. Reading it back is how holt knows what a container runs
 * without parsing Podman's view of it (which differs by version and fills in
 * image defaults). It holds secret names and digests, never values.
 */
import type {
  ContainerInputs,
  ContainerMount,
  ContainerSecret,
  HealthCheck,
  PublishedPort,
} from "../../model/container.ts";
import { stableJson } from "../../util/stable-json.ts";

export function encodeSpec(inputs: ContainerInputs): string {
  return stableJson(inputs);
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json =>
  v !== null && typeof v === "object" && !Array.isArray(v);
const isString = (v: unknown): v is string => typeof v === "string";
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);

function isPort(v: unknown): v is PublishedPort {
  return (
    isObject(v) &&
    isString(v.hostAddress) &&
    isNumber(v.hostPort) &&
    isNumber(v.containerPort) &&
    (v.protocol === "tcp" || v.protocol === "udp")
  );
}

function isMount(v: unknown): v is ContainerMount {
  return (
    isObject(v) && isString(v.dataset) && isString(v.target) && typeof v.readOnly === "boolean"
  );
}

function isSecret(v: unknown): v is ContainerSecret {
  return (
    isObject(v) &&
    isString(v.target) &&
    (v.kind === "env" || v.kind === "file") &&
    isString(v.secret) &&
    isString(v.digest)
  );
}

function isHealth(v: unknown): v is HealthCheck {
  return (
    isObject(v) &&
    isString(v.http) &&
    isNumber(v.hostPort) &&
    isNumber(v.intervalMs) &&
    isNumber(v.timeoutMs) &&
    isNumber(v.retries)
  );
}

/**
 * The spec in a `holt.spec` label, or null when it is missing or not a
 * ContainerInputs (a label from a much older holt, or edited by hand): such a
 * container is replaced rather than guessed at.
 */
export function decodeSpec(label: string | undefined): ContainerInputs | null {
  if (label === undefined) return null;
  let v: unknown;
  try {
    v = JSON.parse(label);
  } catch {
    return null;
  }
  if (!isObject(v)) return null;
  const ok =
    isString(v.name) &&
    isString(v.service) &&
    isString(v.image) &&
    (v.command === null || isStringArray(v.command)) &&
    isObject(v.env) &&
    Object.values(v.env).every(isString) &&
    Array.isArray(v.secrets) &&
    v.secrets.every(isSecret) &&
    (v.user === null || isString(v.user)) &&
    isString(v.network) &&
    isStringArray(v.aliases) &&
    Array.isArray(v.ports) &&
    v.ports.every(isPort) &&
    Array.isArray(v.mounts) &&
    v.mounts.every(isMount) &&
    (v.memory === null || isNumber(v.memory)) &&
    (v.cpus === null || isNumber(v.cpus)) &&
    (v.health === null || isHealth(v.health));
  return ok ? (v as unknown as ContainerInputs) : null;
}
