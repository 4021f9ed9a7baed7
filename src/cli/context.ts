/** What every command gets: parsed flags, output, and how to open the lab. */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { findConfig, loadLab } from "../config/load.ts";
import type { ResolvedLab } from "../config/types.ts";
import type { ProviderStore } from "../engine/provider.ts";
import { HoltError } from "../errors.ts";
import { type Connections, createConnections } from "../hosts/connect.ts";
import { controlRoot } from "../hosts/control-folder.ts";
import { hostConnections } from "../lab/plan.ts";
import { createProviderStore } from "../store/provider-store.ts";
import { labStateDirPath, resolveStateDir } from "../store/state-dir.ts";
import type { Output } from "./output.ts";

export interface CommandContext {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly output: Output;
  /** Reads one line from the user (for confirmations). */
  readonly prompt: (question: string) => Promise<string>;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  /** Flag help lines, already formatted. */
  readonly flags: readonly string[];
  run(args: readonly string[], ctx: CommandContext): Promise<number>;
}

export const CONFIG_FLAG = { config: { type: "string", short: "c" } } as const;
export const STATE_FLAG = { "state-dir": { type: "string" } } as const;
export const CONFIG_HELP = "-c, --config FILE      the lab's config (default: ./holt.config.ts)";
export const STATE_HELP =
  "--state-dir DIR        journal and lock folder (default: $HOLT_STATE_DIR, /var/lib/holt as root)";

/** parseArgs that turns mistakes into HOLT_E_USAGE naming the command's help. */
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  args: readonly string[],
  options: T,
  allowPositionals: boolean,
) {
  try {
    return parseArgs({ args: [...args], options, allowPositionals, strict: true });
  } catch (error) {
    throw new HoltError(
      "HOLT_E_USAGE",
      `${(error as Error).message.replace(/\. To specify a positional.*$/s, "")}. See \`holt ${command} --help\`.`,
    );
  }
}

export async function openLab(
  ctx: CommandContext,
  configFlag: string | undefined,
): Promise<ResolvedLab> {
  return loadLab(findConfig(ctx.cwd, configFlag));
}

/**
 * One connection per host, made when first used. Commands that stream over
 * SSH (backups, restores) pass their context and `--state-dir`, where
 * OpenSSH's control sockets go when `$XDG_RUNTIME_DIR` is not set.
 */
export function connectionsFor(
  lab: ResolvedLab,
  streams?: { readonly ctx: CommandContext; readonly stateDir: string | undefined },
): Connections {
  return createConnections(
    hostConnections(lab),
    streams === undefined
      ? {}
      : { controlRoot: controlRoot(streams.ctx.env, stateDirFor(streams.ctx, streams.stateDir)) },
  );
}

/** The lab's provider files (certificates, DNS ownership) in its state folder. */
export function providerStoreFor(
  ctx: CommandContext,
  flag: string | undefined,
  lab: string,
): ProviderStore {
  // Not created here: a plan that only reads must leave no folder behind.
  return createProviderStore(labStateDirPath(stateDirFor(ctx, flag), lab));
}

export function stateDirFor(ctx: CommandContext, flag: string | undefined): string {
  return resolveStateDir(flag, ctx.env);
}
