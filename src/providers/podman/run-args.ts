/**
 * The `podman run` command line for a container, and the names of the Podman
 * secrets it uses. Pure, so tests can check every flag, and that no secret
 * value can ever reach argv: values are not even an input here.
 */
import { HoltError } from "../../errors.ts";
import { type ContainerInputs, type ContainerSecret, LABELS } from "../../model/container.ts";
import { encodeSpec } from "./spec.ts";

/** What `podman run` needs beyond the inputs: facts looked up on the host. */
export interface RunPlan {
  readonly inputs: ContainerInputs;
  readonly lab: string;
  /** Where each mounted dataset is mounted on the host, by dataset name. */
  readonly mountpoints: ReadonlyMap<string, string>;
}

/**
 * The restart policy. With it Podman restarts a container that exits; it also
 * becomes `Restart=always` in a generated systemd unit.
 */
export const RESTART_POLICY = "unless-stopped";

const DIGEST_CHARS = 12;

function clean(text: string): string {
  return text.replace(/[^A-Za-z0-9_.-]/g, "-");
}

/** Prefix of every Podman secret holt makes for a service. */
export function secretPrefix(service: string): string {
  return `holt-${service}-`;
}

/**
 * The Podman secret holding one secret for a service, named after its content
 * (`holt-<service>-<secret>-<digest start>`): a new value gets a new secret, so
 * a running container never sees its secret change under it, and a replace can
 * create the new one before the old container goes.
 */
export function secretName(service: string, secret: ContainerSecret): string {
  const digest = secret.digest.replace(/[^A-Za-z0-9]/g, "").slice(0, DIGEST_CHARS);
  return `${secretPrefix(service)}${clean(secret.secret)}-${digest}`;
}

/** uid and gid from a numeric "uid" or "uid:gid" user; a name cannot be resolved here. */
function owner(user: string | null): string {
  const match = user === null ? null : /^(\d+)(?::(\d+))?$/.exec(user);
  if (match === null) return "";
  return match[2] === undefined ? `,uid=${match[1]}` : `,uid=${match[1]},gid=${match[2]}`;
}

/**
 * The `--secret` value for one use. Files are mode 0400 and, when the
 * container runs as a numeric user, owned by it (else only root could read them).
 */
export function secretFlag(inputs: ContainerInputs, secret: ContainerSecret): string {
  const name = secretName(inputs.service, secret);
  if (secret.kind === "env") return `${name},type=env,target=${secret.target}`;
  return `${name},type=mount,target=${secret.target},mode=0400${owner(inputs.user)}`;
}

/** Why a secret target cannot be passed to Podman, or null when it can. */
export function badSecretTarget(secret: ContainerSecret): string | null {
  // Podman splits --secret on commas and has no way to escape one.
  if (secret.target.includes(",")) return "Podman cannot take a comma in a secret's target";
  if (secret.kind === "file" && !secret.target.startsWith("/")) {
    return "a secret file's target must be an absolute path";
  }
  return null;
}

export function runArgv(plan: RunPlan): string[] {
  const { inputs, lab } = plan;
  const argv = [
    "podman",
    "run",
    "--detach",
    "--name",
    inputs.name,
    "--label",
    `${LABELS.lab}=${lab}`,
    "--label",
    `${LABELS.service}=${inputs.service}`,
    "--label",
    `${LABELS.spec}=${encodeSpec(inputs)}`,
    "--network",
    inputs.network,
  ];
  for (const alias of inputs.aliases) argv.push("--network-alias", alias);
  for (const p of inputs.ports) {
    argv.push("--publish", `${p.hostAddress}:${p.hostPort}:${p.containerPort}/${p.protocol}`);
  }
  for (const m of inputs.mounts) {
    const source = plan.mountpoints.get(m.dataset);
    if (source === undefined) {
      throw new HoltError("HOLT_E_INTERNAL", `No mountpoint was looked up for ${m.dataset}.`);
    }
    argv.push("--volume", `${source}:${m.target}${m.readOnly ? ":ro" : ""}`);
  }
  if (inputs.certificate !== undefined) {
    argv.push("--volume", `${inputs.certificate.dir}:${inputs.certificate.target}:ro`);
  }
  for (const key of Object.keys(inputs.env).sort()) {
    argv.push("--env", `${key}=${inputs.env[key] ?? ""}`);
  }
  for (const secret of inputs.secrets) argv.push("--secret", secretFlag(inputs, secret));
  if (inputs.user !== null) argv.push("--user", inputs.user);
  if (inputs.memory !== null) argv.push("--memory", String(inputs.memory));
  if (inputs.cpus !== null) argv.push("--cpus", String(inputs.cpus));
  // The image was pulled (or found) just before; never let run pull another.
  argv.push("--restart", RESTART_POLICY, "--pull", "never", inputs.image);
  if (inputs.command !== null) argv.push(...inputs.command);
  return argv;
}
