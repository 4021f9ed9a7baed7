import { HoltError } from "../../errors.ts";
import { openLabSecrets } from "../../lab/secrets.ts";
import { containerName } from "../../model/container.ts";
import { containerLogs } from "../../providers/podman/logs.ts";
import { createRedactor } from "../../util/redact.ts";
import {
  CONFIG_FLAG,
  CONFIG_HELP,
  type Command,
  connectionsFor,
  openLab,
  parseFlags,
} from "../context.ts";
import { serviceWithContainer } from "./restart.ts";

export const logsCommand: Command = {
  name: "logs",
  summary: "Print a service's container logs (-f to follow)",
  usage: "holt logs SERVICE [-f] [--tail N]",
  flags: [
    CONFIG_HELP,
    "-f, --follow           keep printing new lines until Ctrl-C",
    "-n, --tail N           only the last N lines (default: 200; 0 for all)",
  ],
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      "logs",
      args,
      {
        ...CONFIG_FLAG,
        follow: { type: "boolean", short: "f" },
        tail: { type: "string", short: "n" },
      },
      true,
    );
    const names: string[] = [...positionals];
    if (names.length !== 1) {
      throw new HoltError(
        "HOLT_E_USAGE",
        "holt logs takes one service name, like `holt logs jellyfin`.",
      );
    }
    const tail = values.tail === undefined ? 200 : Number(values.tail);
    if (!Number.isInteger(tail) || tail < 0) {
      throw new HoltError(
        "HOLT_E_USAGE",
        `--tail "${values.tail}" is not a whole number (0 for all lines).`,
      );
    }
    const lab = await openLab(ctx, values.config);
    const service = serviceWithContainer(lab, names[0] ?? "");
    // The service's own secrets are what its output may show: hidden line by line, each
    // stream on its own (their chunks interleave).
    const uses = service.container?.secrets ?? [];
    const secrets = uses.length === 0 ? null : await openLabSecrets(lab, ctx.env);
    const hidden = uses.map((s) => secrets?.value(s.secret) ?? "");
    const redacted = {
      stdout: createRedactor(hidden).stream((text) => ctx.output.write("stdout", text)),
      stderr: createRedactor(hidden).stream((text) => ctx.output.write("stderr", text)),
    };
    const connections = connectionsFor(lab);
    try {
      const exec = await connections.execFor(service.host);
      const result = await containerLogs(exec, containerName(service.name), {
        follow: values.follow === true,
        tail: tail === 0 ? null : tail,
        onOutput: (stream, chunk) => redacted[stream].write(chunk),
      });
      redacted.stdout.end();
      redacted.stderr.end();
      if (result.code !== 0) {
        throw new HoltError(
          "HOLT_E_EXEC",
          `Could not read the logs of service "${service.name}" on host "${service.host}" (podman logs exited with ${result.code ?? result.signal}). Does its container exist? \`holt status ${service.name}\` shows it.`,
        );
      }
      return 0;
    } finally {
      await connections.closeAll();
    }
  },
};
