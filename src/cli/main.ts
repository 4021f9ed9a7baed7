/**
 * The command line: picks a command, runs it, and turns errors into a
 * message and an exit code (0 ok, 1 error, 2 changes with --detailed-exitcode).
 */
import { createInterface } from "node:readline/promises";
import { DOCS_ERRORS_URL, HoltError, isHoltError } from "../errors.ts";
import { adoptCommand } from "./commands/adopt.ts";
import { applyCommand } from "./commands/apply.ts";
import { backupCommand } from "./commands/backup.ts";
import { certsCommand } from "./commands/certs.ts";
import { dnsCommand } from "./commands/dns.ts";
import { historyCommand } from "./commands/history.ts";
import { initCommand } from "./commands/init.ts";
import { logsCommand } from "./commands/logs.ts";
import { planCommand } from "./commands/plan.ts";
import { restartCommand } from "./commands/restart.ts";
import { restoreCommand } from "./commands/restore.ts";
import { secretsCommand } from "./commands/secrets.ts";
import { statusCommand } from "./commands/status.ts";
import { validateCommand } from "./commands/validate.ts";
import type { Command, CommandContext } from "./context.ts";
import { createOutput, type Output } from "./output.ts";
import { VERSION } from "./version.ts";

export const COMMANDS: readonly Command[] = [
  initCommand,
  validateCommand,
  planCommand,
  applyCommand,
  statusCommand,
  dnsCommand,
  certsCommand,
  backupCommand,
  restoreCommand,
  logsCommand,
  restartCommand,
  adoptCommand,
  historyCommand,
  secretsCommand,
];

export function helpText(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "holt: a declarative control plane for your homelab.",
    "",
    "Usage: holt <command> [flags]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Flags for every command:",
    "  -h, --help     help for the command",
    "  --no-color     plain output (also: NO_COLOR=1)",
    "  -v, --version  print the version",
    "",
    "Run `holt <command> --help` for its flags. Docs: docs/getting-started.md",
  ].join("\n");
}

export function commandHelp(command: Command): string {
  return [
    `${command.summary}.`,
    "",
    `Usage: ${command.usage}`,
    "",
    "Flags:",
    ...command.flags.map((f) => `  ${f}`),
    "  -h, --help             show this help",
  ].join("\n");
}

function prompt(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  return rl.question(question).finally(() => rl.close());
}

export function reportError(error: unknown, output: Output): number {
  const { style } = output;
  if (isHoltError(error)) {
    output.err(`${style.red("Error")} ${style.dim(`[${error.code}]`)} ${error.message}`);
    for (const line of error.details) output.err(`  ${line}`);
    output.err(
      style.dim(`  How to fix ${error.code}: ${DOCS_ERRORS_URL}#${error.code.toLowerCase()}`),
    );
    return error.exitCode;
  }
  const err = error instanceof Error ? error : new Error(String(error));
  output.err(`${style.red("Error")} [HOLT_E_INTERNAL] ${err.message}`);
  output.err("  This is a bug in holt. Please report it with the command you ran and this output:");
  for (const line of (err.stack ?? "").split("\n").slice(1, 6)) output.err(`  ${line.trim()}`);
  return 1;
}

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const noColor = argv.includes("--no-color");
  const args = argv.filter((a) => a !== "--no-color");
  const output = createOutput({ noColor, env });
  const [name, ...rest] = args;
  if (name === "--version" || name === "-v" || name === "version") {
    output.out(VERSION);
    return 0;
  }
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const topic = name === "help" ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    output.out(topic === undefined ? helpText() : commandHelp(topic));
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    return reportError(
      new HoltError(
        "HOLT_E_USAGE",
        `Unknown command "${name}". Commands: ${COMMANDS.map((c) => c.name).join(", ")}. Run \`holt --help\`.`,
      ),
      output,
    );
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    output.out(commandHelp(command));
    return 0;
  }
  const ctx: CommandContext = { cwd: process.cwd(), env, output, prompt };
  try {
    return await command.run(rest, ctx);
  } catch (error) {
    return reportError(error, output);
  }
}
