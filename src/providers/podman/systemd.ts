/**
 * Boot units: on hosts where systemd is init, each container gets a unit so
 * it comes back after a reboot. Podman 4.5 and later get a Quadlet
 * `.container` file (the generator turns it into a service); older Podman gets
 * `podman generate systemd --new`, which re-creates the container from the
 * command line it was created with. Either way the unit is checked by the
 * host's own tools before it is installed, and it is enabled but not started:
 * the container holt just started keeps running.
 */
import { HoltError } from "../../errors.ts";
import type { Exec } from "../../hosts/exec.ts";
import { writeHostFile } from "../../hosts/host-file.ts";
import { runChecked } from "../../hosts/run-checked.ts";
import { LABELS } from "../../model/container.ts";
import { atLeast, type PodmanVersion } from "./host.ts";
import { type RunPlan, secretFlag } from "./run-args.ts";
import { encodeSpec } from "./spec.ts";

export const SERVICE_DIR = "/etc/systemd/system";
export const QUADLET_DIR = "/etc/containers/systemd";
/** Where Podman installs its Quadlet generator; used for a dry run before installing. */
const QUADLET_BINARY = "/usr/libexec/podman/quadlet";

export interface BootUnit {
  readonly kind: "service" | "quadlet";
  /** `holt-web.service` or `holt-web.container`. */
  readonly fileName: string;
  readonly dir: string;
  readonly content: string;
}

/** Quadlet's `PodmanArgs` and `Secret` keys arrived in Podman 4.5; 4.4's Quadlet lacks them. */
export function usesQuadlet(version: PodmanVersion): boolean {
  return atLeast(version, 4, 5);
}

/** The systemd service a container's unit is (for Quadlet: the one the generator makes). */
export function serviceName(container: string): string {
  return `${container}.service`;
}

// Quadlet splits these keys into words, unquoting like systemd; `%` starts a specifier.
function word(value: string): string {
  const escaped = value.replaceAll("%", "%%");
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  const inner = escaped
    .replaceAll("\\", "\\\\")
    .replaceAll('"', '\\"')
    .replaceAll("\n", "\\n")
    .replaceAll("\t", "\\t");
  return `"${inner}"`;
}

// Keys Quadlet takes whole (no word splitting): only specifiers need escaping.
function whole(value: string): string {
  return value.replaceAll("%", "%%");
}

/** A Quadlet `.container` file for the container `runArgv(plan)` would create. */
export function renderQuadlet(plan: RunPlan): string {
  const { inputs, lab } = plan;
  const lines = [
    "# Written by holt. Changes are overwritten: edit holt.config.ts instead.",
    "[Unit]",
    `Description=holt service ${inputs.service} (lab ${lab})`,
    "Wants=network-online.target",
    "After=network-online.target",
    "",
    "[Container]",
    `ContainerName=${whole(inputs.name)}`,
    `Image=${whole(inputs.image)}`,
    `Label=${word(`${LABELS.lab}=${lab}`)}`,
    `Label=${word(`${LABELS.service}=${inputs.service}`)}`,
    `Label=${word(`${LABELS.spec}=${encodeSpec(inputs)}`)}`,
    `Network=${whole(inputs.network)}`,
  ];
  for (const p of inputs.ports) {
    lines.push(`PublishPort=${p.hostAddress}:${p.hostPort}:${p.containerPort}/${p.protocol}`);
  }
  for (const m of inputs.mounts) {
    const source = plan.mountpoints.get(m.dataset) ?? m.dataset;
    lines.push(`Volume=${whole(`${source}:${m.target}${m.readOnly ? ":ro" : ""}`)}`);
  }
  if (inputs.certificate !== undefined) {
    const { dir, target } = inputs.certificate;
    lines.push(`Volume=${whole(`${dir}:${target}:ro`)}`);
  }
  for (const key of Object.keys(inputs.env).sort()) {
    lines.push(`Environment=${word(`${key}=${inputs.env[key] ?? ""}`)}`);
  }
  for (const secret of inputs.secrets) lines.push(`Secret=${whole(secretFlag(inputs, secret))}`);
  const args = inputs.aliases.map((a) => `--network-alias=${a}`);
  if (inputs.user !== null) args.push(`--user=${inputs.user}`);
  if (inputs.memory !== null) args.push(`--memory=${inputs.memory}`);
  if (inputs.cpus !== null) args.push(`--cpus=${inputs.cpus}`);
  args.push("--pull=never");
  lines.push(`PodmanArgs=${args.map(word).join(" ")}`);
  if (inputs.command !== null) lines.push(`Exec=${inputs.command.map(word).join(" ")}`);
  lines.push(
    "",
    "[Service]",
    "Restart=always",
    "",
    "[Install]",
    "WantedBy=multi-user.target default.target",
    "",
  );
  return lines.join("\n");
}

/**
 * The boot unit for a container that exists: Quadlet from the plan, or what
 * `podman generate systemd --new` makes of the container's create command.
 */
export async function renderBootUnit(
  exec: Exec,
  plan: RunPlan,
  version: PodmanVersion,
): Promise<BootUnit> {
  const name = plan.inputs.name;
  if (usesQuadlet(version)) {
    return {
      kind: "quadlet",
      fileName: `${name}.container`,
      dir: QUADLET_DIR,
      content: renderQuadlet(plan),
    };
  }
  const generated = await runChecked(exec, {
    argv: ["podman", "generate", "systemd", "--new", "--name", name],
  });
  return {
    kind: "service",
    fileName: serviceName(name),
    dir: SERVICE_DIR,
    content: generated.stdout,
  };
}

function unitProblem(container: string, why: string, details: readonly string[]): HoltError {
  return new HoltError(
    "HOLT_E_EXEC",
    `The systemd unit holt generated for container ${container} ${why}, so it was not installed. The container runs, but will not come back after a reboot. Please report this with the lines below.`,
    { details },
  );
}

/**
 * Checks a unit with the host's own tools, in a temporary folder there:
 * `systemd-analyze verify` for a service (any warning about the file counts,
 * since it exits 0 for keys it ignores), Quadlet's dry run for a `.container`.
 */
export async function verifyBootUnit(exec: Exec, unit: BootUnit): Promise<void> {
  const made = await runChecked(exec, { argv: ["mktemp", "-d", "/tmp/holt-unit.XXXXXX"] });
  const dir = made.stdout.trim();
  const path = `${dir}/${unit.fileName}`;
  const container = unit.fileName.replace(/\.(service|container)$/, "");
  try {
    await writeHostFile(exec, path, unit.content);
    if (unit.kind === "service") {
      const result = await exec.run({ argv: ["systemd-analyze", "verify", "--man=false", path] });
      const lines = result.stderr.split("\n").filter((l) => l.trim() !== "");
      const aboutIt = lines.filter((l) => l.includes(unit.fileName));
      if (result.code === 127) return; // no systemd-analyze: nothing to check with
      if (result.code !== 0 || aboutIt.length > 0) {
        throw unitProblem(container, "did not pass `systemd-analyze verify`", lines);
      }
      return;
    }
    const result = await exec.run({
      argv: ["env", `QUADLET_UNIT_DIRS=${dir}`, QUADLET_BINARY, "-dryrun"],
    });
    if (result.code === 127) return;
    if (result.code !== 0 || /error|unsupported/i.test(result.stderr)) {
      throw unitProblem(
        container,
        "was refused by Quadlet's dry run",
        result.stderr.split("\n").filter((l) => l.trim() !== ""),
      );
    }
  } finally {
    await exec.run({ argv: ["rm", "-rf", dir] });
  }
}

/** Verifies, writes and enables a container's boot unit, replacing any older one. */
export async function installBootUnit(exec: Exec, unit: BootUnit): Promise<void> {
  await verifyBootUnit(exec, unit);
  await writeHostFile(exec, `${unit.dir}/${unit.fileName}`, unit.content);
  await runChecked(exec, { argv: ["systemctl", "daemon-reload"] });
  // A Quadlet service is generated: its [Install] section is applied by the generator.
  if (unit.kind === "service") {
    await runChecked(exec, { argv: ["systemctl", "enable", unit.fileName] });
  }
}

/**
 * Stops, disables and removes a container's boot unit, whichever kind it is.
 * Stopping first matters: a unit that runs the container would otherwise
 * start it again when holt removes it.
 */
export async function removeBootUnit(exec: Exec, container: string): Promise<void> {
  const service = serviceName(container);
  // Both may fail harmlessly: the unit may not exist or not be loaded.
  await exec.run({ argv: ["systemctl", "stop", service] });
  await exec.run({ argv: ["systemctl", "disable", service] });
  await runChecked(exec, {
    argv: ["rm", "-f", `${SERVICE_DIR}/${service}`, `${QUADLET_DIR}/${container}.container`],
  });
  await runChecked(exec, { argv: ["systemctl", "daemon-reload"] });
}

/** Containers whose boot unit is installed: `holt-*` files in either folder. */
export async function installedBootUnits(exec: Exec): Promise<Set<string>> {
  // find reports a missing folder on stderr and exits 1, yet lists the other.
  const result = await exec.run({
    argv: ["find", SERVICE_DIR, QUADLET_DIR, "-maxdepth", "1", "-name", "holt-*"],
  });
  const names = new Set<string>();
  for (const line of result.stdout.split("\n")) {
    const match = /\/(holt-[^/]+)\.(service|container)$/.exec(line.trim());
    if (match?.[1] !== undefined) names.add(match[1]);
  }
  return names;
}
