/**
 * Health: one probe (used while reading) and the gate every create and update
 * passes before it counts as done. The gate is why `dependsOn` means "up", not
 * just "started": a service's dependents wait for it to answer.
 *
 * Timing, with the defaults:
 * - With a health check: probe every min(interval, 1 s), each with the check's
 *   timeout; pass on the first 2xx or 3xx. Give up after 15 s (start
 *   allowance) + interval × retries (never more than 15 minutes); the last
 *   probe may add up to one timeout to that.
 * - Without one: pass once the container has been seen running for 1 s.
 * - Either way, fail at once if the container exits or Podman restarts it.
 */
import type { ProviderContext } from "../../engine/provider.ts";
import { HoltError, isHoltError } from "../../errors.ts";
import type { Exec } from "../../hosts/exec.ts";
import type { ContainerInputs, HealthCheck } from "../../model/container.ts";
import { createRedactor } from "../../util/redact.ts";
import { type ContainerStatus, parseContainerStatus } from "./podman-json.ts";

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const SYSTEM_CLOCK: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export interface GateOptions {
  /** Time a service gets to start, on top of interval × retries. @default 15000 */
  readonly startAllowanceMs: number;
  /** How long a container without a health check must be seen running. @default 1000 */
  readonly steadyMs: number;
  /** Seconds Podman waits after SIGTERM when the gate stops a crashing container. */
  readonly stopTimeoutSeconds: number;
  readonly clock: Clock;
}

export const DEFAULT_START_ALLOWANCE_MS = 15_000;
export const DEFAULT_STEADY_MS = 1000;
/** No gate waits longer than this, whatever interval × retries says. */
export const MAX_GATE_MS = 15 * 60_000;
const MAX_POLL_MS = 1000;
const STEADY_POLL_MS = 250;
/** How long a container without a health check may take to be seen running at all. */
const NO_HEALTH_START_MS = 30_000;
export const LOG_LINES = 20;

export interface ProbeResult {
  readonly passing: boolean;
  /** "answered 200", "answered 503", "connection refused (…)", for messages. */
  readonly detail: string;
}

/** One GET of the health path on the host's loopback. 2xx and 3xx pass. */
export async function probe(exec: Exec, health: HealthCheck): Promise<ProbeResult> {
  try {
    const response = await exec.http({
      port: health.hostPort,
      method: "GET",
      path: health.http,
      timeoutMs: health.timeoutMs,
    });
    return {
      passing: response.status >= 200 && response.status < 400,
      detail: `answered ${response.status}`,
    };
  } catch (error) {
    if (!isHoltError(error) || error.code !== "HOLT_E_HTTP") throw error;
    // The message is "GET http://… failed: <why>."; the why is what a person needs.
    const why = /failed: (.*?)\.?$/.exec(error.message)?.[1] ?? error.message;
    return { passing: false, detail: why };
  }
}

async function inspect(exec: Exec, name: string): Promise<ContainerStatus | null> {
  const result = await exec.run({ argv: ["podman", "container", "inspect", name] });
  if (result.code !== 0) {
    if (/no such (container|object)/i.test(result.stderr)) return null;
    throw new HoltError(
      "HOLT_E_EXEC",
      `Could not inspect container ${name} on ${exec.target} while waiting for it to start.`,
      { details: result.stderr.split("\n").filter((l) => l.trim() !== "") },
    );
  }
  return parseContainerStatus(result.stdout, exec.target);
}

/**
 * The container's last log lines, stdout and stderr in the order they were
 * written, with the service's secret values hidden (`util/redact.ts`: line by
 * line, so a key of which the log shows only some lines is hidden too).
 */
export async function lastLogLines(
  exec: Exec,
  name: string,
  secrets: readonly string[],
): Promise<string[]> {
  // A shell only to merge the two streams in order; the name is passed as an argument.
  const result = await exec.run({
    argv: ["sh", "-c", 'exec podman logs --tail "$1" "$2" 2>&1', "sh", String(LOG_LINES), name],
    timeoutMs: 30_000,
  });
  const lines = result.stdout.split(/\r?\n/).filter((l) => l.trim() !== "");
  const shown = lines.length === 0 ? ["(the container wrote no log lines)"] : lines;
  const redactor = createRedactor(secrets);
  return shown.slice(-LOG_LINES).map((line) => redactor.line(line));
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}

const STOP_POLL_MS = 250;
/** Longest wait for Podman to settle a container that keeps exiting. */
const STOP_SETTLE_MS = 30_000;
/** After holt stopped it, how long a runtime may leave it "stopped" before "exited". */
const AFTER_STOP_MS = 10_000;

/**
 * Stops a container that keeps exiting, and waits until Podman will not
 * start it again. A container that exits is "stopped" until Podman cleans it
 * up; the cleanup either restarts it (restart policy) or marks it "exited".
 * So "exited" means settled, "running" is stopped by holt (a stop by the
 * user ends the restart policy), and "stopped" means a restart may still
 * come: poll. A stop sent while it is "stopped" is ignored by Podman.
 */
async function stopRestarts(exec: Exec, name: string, options: GateOptions): Promise<void> {
  const { clock } = options;
  const deadline = clock.now() + STOP_SETTLE_MS;
  let stoppedAt: number | null = null;
  for (;;) {
    const status = await inspect(exec, name);
    if (status === null || status.status === "exited") return;
    if (status.running) {
      await exec.run({
        argv: ["podman", "stop", "--ignore", "-t", String(options.stopTimeoutSeconds), name],
      });
      stoppedAt = clock.now();
      continue;
    }
    const now = clock.now();
    if (now >= deadline) return;
    if (stoppedAt !== null && now - stoppedAt >= AFTER_STOP_MS) return;
    await clock.sleep(STOP_POLL_MS);
  }
}

/** How long the gate waits for a health check to pass. */
export function gateBudgetMs(health: HealthCheck, startAllowanceMs: number): number {
  return Math.min(MAX_GATE_MS, startAllowanceMs + health.intervalMs * health.retries);
}

/**
 * Waits until the container is up (see the file comment) or throws
 * HOLT_E_HEALTH with its last log lines as details. A crashing container is
 * stopped so it does not restart forever; an unhealthy one keeps running, so
 * `holt logs` and a look at it are possible. Either way it stays in place and
 * the next plan shows it as needing a (re)start.
 */
export async function healthGate(
  ctx: ProviderContext,
  inputs: ContainerInputs,
  options: GateOptions,
  secrets: readonly string[],
): Promise<void> {
  const { clock } = options;
  const health = inputs.health;
  const budget =
    health === null
      ? options.steadyMs + NO_HEALTH_START_MS
      : gateBudgetMs(health, options.startAllowanceMs);
  const pollMs = health === null ? STEADY_POLL_MS : Math.min(health.intervalMs, MAX_POLL_MS);
  const started = clock.now();
  let runningSince: number | null = null;
  let last = "no probe finished";

  const fail = async (why: string, stop: boolean): Promise<never> => {
    if (stop) await stopRestarts(ctx.exec, inputs.name, options);
    const details = await lastLogLines(ctx.exec, inputs.name, secrets).catch(() => [
      "(its log could not be read)",
    ]);
    throw new HoltError(
      "HOLT_E_HEALTH",
      `Service "${inputs.service}" on host "${ctx.host}" ${why} Its last log lines follow; \`holt logs ${inputs.service}\` shows more. Fix the service or its health check, then run holt apply again.`,
      { details },
    );
  };

  for (;;) {
    const tick = clock.now();
    const [status, answer] = await Promise.all([
      inspect(ctx.exec, inputs.name),
      health === null ? Promise.resolve(null) : probe(ctx.exec, health),
    ]);
    if (status === null) {
      return fail("disappeared while holt waited for it to start (something removed it).", false);
    }
    if (status.restartCount > 0) {
      return fail(
        `exited during its start check and Podman restarted it ${status.restartCount} time(s). holt stopped it so it does not restart forever; it is left in place.`,
        true,
      );
    }
    if (!status.running) {
      return fail(
        `exited with code ${status.exitCode} during its start check (state: ${status.status}). holt stopped it so it does not restart forever; it is left in place.`,
        true,
      );
    }
    const now = clock.now();
    if (answer !== null) {
      if (answer.passing) return;
      last = answer.detail;
    } else {
      runningSince ??= tick;
      if (now - runningSince >= options.steadyMs) return;
    }
    if (now - started >= budget) {
      const what =
        health === null
          ? `was not seen running for ${seconds(options.steadyMs)} within ${seconds(budget)}.`
          : `did not become healthy within ${seconds(budget)} (${seconds(options.startAllowanceMs)} to start + ${health.retries} × ${seconds(health.intervalMs)}): GET ${health.http} on port ${health.hostPort}, last result: ${last}. It is left running.`;
      return fail(what, false);
    }
    await clock.sleep(Math.max(0, pollMs - (clock.now() - tick)));
  }
}
