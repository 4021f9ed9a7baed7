/**
 * Parsers for what the podman CLI prints as JSON (`ps -a --format json`,
 * `network ls --format json`, `container inspect`, `secret inspect`). They
 * check the shape field by field: Podman's JSON has changed between major
 * versions, and a silent misread would make holt replace containers.
 */
import { HoltError } from "../../errors.ts";

/** One container as `podman ps -a --format json` lists it. */
export interface PsContainer {
  readonly id: string;
  readonly name: string;
  /** The image reference Podman recorded, e.g. "docker.io/library/nginx:1.27". */
  readonly image: string;
  readonly imageId: string;
  /** "running", "exited", "created", "paused", "stopped", … */
  readonly state: string;
  /** The container's labels, including those inherited from its image. */
  readonly labels: Readonly<Record<string, string>>;
  /** Unix seconds, or null when Podman did not say. */
  readonly created: number | null;
}

export interface PodmanNetwork {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly dnsEnabled: boolean;
}

/** What the health gate needs from `podman container inspect`. */
export interface ContainerStatus {
  readonly status: string;
  readonly running: boolean;
  readonly exitCode: number;
  /** Restarts by Podman's restart policy since the container was last started. */
  readonly restartCount: number;
  readonly labels: Readonly<Record<string, string>>;
}

export interface PodmanSecret {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

type Json = Record<string, unknown>;

function bad(what: string, target: string, why: string): HoltError {
  return new HoltError(
    "HOLT_E_EXEC",
    `Could not understand the output of \`${what}\` on ${target}: ${why}. Is this Podman 4.3 or later? Run \`podman --version\` there.`,
  );
}

function parseArray(text: string, what: string, target: string): Json[] {
  // Some Podman versions print nothing at all for an empty list.
  if (text.trim() === "") return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw bad(what, target, "it is not JSON");
  }
  // Podman 4.x prints `null` for an empty list in a few commands.
  if (value === null) return [];
  if (!Array.isArray(value)) throw bad(what, target, "expected a JSON list");
  for (const entry of value) {
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw bad(what, target, "expected a list of objects");
    }
  }
  return value as Json[];
}

function labelsOf(value: unknown): Record<string, string> {
  if (value === null || value === undefined || typeof value !== "object") return {};
  const labels: Record<string, string> = {};
  for (const [key, v] of Object.entries(value as Json)) {
    if (typeof v === "string") labels[key] = v;
  }
  return labels;
}

function text(entry: Json, key: string): string | undefined {
  const value = entry[key];
  return typeof value === "string" ? value : undefined;
}

/** `podman ps -a --format json`. */
export function parsePs(output: string, target: string): PsContainer[] {
  const what = "podman ps -a --format json";
  return parseArray(output, what, target).map((entry) => {
    const names = entry.Names;
    const name = Array.isArray(names) && typeof names[0] === "string" ? names[0] : undefined;
    const id = text(entry, "Id");
    const state = text(entry, "State");
    if (name === undefined || id === undefined || state === undefined) {
      throw bad(what, target, "a container lacks Names, Id or State");
    }
    const created = entry.Created;
    return {
      id,
      name,
      image: text(entry, "Image") ?? "",
      imageId: text(entry, "ImageID") ?? "",
      state,
      labels: labelsOf(entry.Labels),
      created: typeof created === "number" && created > 0 ? created : null,
    };
  });
}

/** `podman network ls --format json`. */
export function parseNetworks(output: string, target: string): PodmanNetwork[] {
  const what = "podman network ls --format json";
  return parseArray(output, what, target).map((entry) => {
    const name = text(entry, "name");
    if (name === undefined) throw bad(what, target, "a network has no name");
    return { name, labels: labelsOf(entry.labels), dnsEnabled: entry.dns_enabled === true };
  });
}

/** `podman container inspect NAME`: null when the container does not exist. */
export function parseContainerStatus(output: string, target: string): ContainerStatus | null {
  const what = "podman container inspect";
  const [entry] = parseArray(output, what, target);
  if (entry === undefined) return null;
  const state = entry.State;
  if (state === null || typeof state !== "object") throw bad(what, target, "no State");
  const s = state as Json;
  const status = text(s, "Status");
  if (status === undefined) throw bad(what, target, "no State.Status");
  const restarts = entry.RestartCount;
  const config = entry.Config;
  return {
    labels: config !== null && typeof config === "object" ? labelsOf((config as Json).Labels) : {},
    status,
    running: s.Running === true,
    exitCode: typeof s.ExitCode === "number" ? s.ExitCode : 0,
    restartCount: typeof restarts === "number" ? restarts : 0,
  };
}

/** `podman secret inspect NAME...`. */
export function parseSecrets(output: string, target: string): PodmanSecret[] {
  const what = "podman secret inspect";
  return parseArray(output, what, target).map((entry) => {
    const spec = entry.Spec;
    const name = spec !== null && typeof spec === "object" ? text(spec as Json, "Name") : undefined;
    if (name === undefined) throw bad(what, target, "a secret has no Spec.Name");
    return { name, labels: labelsOf((spec as Json).Labels) };
  });
}

/** `zfs list -H -o name,mountpoint,mounted`: name → where it is mounted, or null if it is not. */
export function parseZfsMounts(output: string): Map<string, string | null> {
  const mounts = new Map<string, string | null>();
  for (const line of output.split("\n")) {
    const [name, mountpoint, mounted] = line.split("\t");
    if (name === undefined || name === "" || mountpoint === undefined) continue;
    const usable = mounted === "yes" && mountpoint.startsWith("/");
    mounts.set(name, usable ? mountpoint : null);
  }
  return mounts;
}
