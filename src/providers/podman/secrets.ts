/**
 * Podman secrets for a service's containers. Values travel only on stdin of
 * `podman secret create`; names are content-addressed (see `secretName`), and
 * each secret carries `holt.lab` and `holt.service` labels so holt removes
 * only its own.
 */

import type { ProviderContext } from "../../engine/provider.ts";
import { HoltError } from "../../errors.ts";
import type { Exec } from "../../hosts/exec.ts";
import { runChecked } from "../../hosts/run-checked.ts";
import { type ContainerInputs, LABELS } from "../../model/container.ts";
import { createRedactor } from "../../util/redact.ts";
import { parseSecrets } from "./podman-json.ts";
import { secretName, secretPrefix } from "./run-args.ts";

async function secretNames(exec: Exec): Promise<Set<string>> {
  const out = await runChecked(exec, { argv: ["podman", "secret", "ls", "--format", "{{.Name}}"] });
  return new Set(out.stdout.split("\n").filter((n) => n !== ""));
}

/**
 * `podman secret create NAME -` with the value on stdin. Podman 4.3 reads
 * stdin only when it is a pipe, and Node (locally) and sshd hand programs a
 * socket instead, so `cat` turns it into one. The value never reaches argv;
 * the labels and name travel as arguments of the shell, not inside its script.
 */
export function createArgv(lab: string, service: string, name: string): string[] {
  return [
    "sh",
    "-c",
    'cat | podman secret create --label "$1" --label "$2" "$3" -',
    "sh",
    `${LABELS.lab}=${lab}`,
    `${LABELS.service}=${service}`,
    name,
  ];
}

/**
 * Creates the Podman secrets the container needs that do not exist yet.
 * Returns the values it used, so callers can keep them out of log excerpts.
 */
export async function ensureSecrets(
  ctx: ProviderContext,
  inputs: ContainerInputs,
): Promise<{ names: Set<string>; values: string[] }> {
  const names = new Set<string>();
  const values: string[] = [];
  if (inputs.secrets.length === 0) return { names, values };
  const secretValue = ctx.secretValue;
  if (secretValue === undefined) {
    throw new HoltError(
      "HOLT_E_INTERNAL",
      `Service "${inputs.service}" needs secrets, but this step was not given the lab's secret values.`,
    );
  }
  const existing = await secretNames(ctx.exec);
  for (const secret of inputs.secrets) {
    const name = secretName(inputs.service, secret);
    const value = secretValue(secret.secret);
    values.push(value);
    if (names.has(name)) continue;
    names.add(name);
    if (existing.has(name)) continue;
    const result = await ctx.exec.run({
      argv: createArgv(ctx.lab, inputs.service, name),
      stdin: value,
    });
    // Content-addressed: if it appeared meanwhile it holds the same value.
    if (result.code !== 0 && !/in use|already exists/i.test(result.stderr)) {
      throw new HoltError(
        "HOLT_E_EXEC",
        `Could not create Podman secret "${name}" for service "${inputs.service}" on ${ctx.exec.target}.`,
        {
          details: createRedactor([value])
            .text(result.stderr)
            .split("\n")
            .filter((l) => l.trim() !== ""),
        },
      );
    }
  }
  return { names, values };
}

/** Removes this lab's Podman secrets of a service, except those in `keep`. */
export async function removeServiceSecrets(
  exec: Exec,
  lab: string,
  service: string,
  keep: ReadonlySet<string> = new Set(),
): Promise<void> {
  const prefix = secretPrefix(service);
  const candidates = [...(await secretNames(exec))].filter(
    (name) => name.startsWith(prefix) && !keep.has(name),
  );
  if (candidates.length === 0) return;
  const inspected = await runChecked(exec, {
    argv: ["podman", "secret", "inspect", ...candidates],
  });
  // The prefix alone would also match service "web-db" when cleaning "web": the labels decide.
  const ours = parseSecrets(inspected.stdout, exec.target)
    .filter((s) => s.labels[LABELS.lab] === lab && s.labels[LABELS.service] === service)
    .map((s) => s.name);
  if (ours.length === 0) return;
  await runChecked(exec, { argv: ["podman", "secret", "rm", ...ours] });
}
