import { HoltError } from "../../errors.ts";
import { labStatus, type ServiceStatus } from "../../lab/status.ts";
import { defaultProviders } from "../../providers/index.ts";
import { formatSize } from "../../util/sizes.ts";
import {
  CONFIG_FLAG,
  CONFIG_HELP,
  type Command,
  connectionsFor,
  openLab,
  parseFlags,
} from "../context.ts";
import type { Style } from "../output.ts";

export const statusCommand: Command = {
  name: "status",
  summary: "Show each service: where it runs, its state and health, URL, image and datasets",
  usage: "holt status [SERVICE...] [--json]",
  flags: [CONFIG_HELP, "--json                 print JSON on stdout (formatVersion 1)"],
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      "status",
      args,
      { ...CONFIG_FLAG, json: { type: "boolean" } },
      true,
    );
    const names: string[] = [...positionals];
    const lab = await openLab(ctx, values.config);
    const unknown = names.filter((name) => lab.services[name] === undefined);
    if (unknown.length > 0) {
      throw new HoltError(
        "HOLT_E_USAGE",
        `${unknown.map((n) => `"${n}"`).join(", ")} ${unknown.length === 1 ? "is not a service" : "are not services"} of this lab. Services: ${Object.keys(lab.services).sort().join(", ") || "(none)"}.`,
      );
    }
    const connections = connectionsFor(lab);
    try {
      const all = await labStatus(lab, { connections, providers: defaultProviders() });
      const shown = names.length === 0 ? all : all.filter((s) => names.includes(s.service));
      if (values.json === true) {
        ctx.output.out(JSON.stringify({ formatVersion: "1", lab: lab.name, services: shown }));
        return 0;
      }
      if (shown.length === 0) {
        ctx.output.out("This lab has no services yet. Add one under `services` in holt.config.ts.");
        return 0;
      }
      for (const line of renderStatus(shown, ctx.output.style)) ctx.output.out(line);
      return 0;
    } finally {
      await connections.closeAll();
    }
  },
};

function renderStatus(services: readonly ServiceStatus[], style: Style): string[] {
  const lines: string[] = [];
  const width = Math.max(...services.map((s) => s.service.length));
  for (const s of services) {
    const state =
      s.state === "running"
        ? style.green(s.state)
        : s.state === "none"
          ? style.dim("no container")
          : style.red(s.state);
    const health =
      s.health === "passing"
        ? style.green("healthy")
        : s.health === "failing"
          ? style.red("unhealthy")
          : s.health === "none"
            ? ""
            : style.yellow(`health ${s.health}`);
    lines.push(
      `${style.bold(s.service.padEnd(width))}  on ${s.host}  ${state}${health === "" ? "" : `, ${health}`}`,
    );
    if (s.url !== null) {
      lines.push(
        `  url      ${s.url}${s.routed ? "" : style.yellow("  (no route yet: run holt apply)")}`,
      );
    }
    if (s.image !== null) {
      lines.push(
        `  image    ${s.image}${s.imageId === null ? "" : style.dim(`  ${shortId(s.imageId)}`)}`,
      );
    }
    for (const d of s.datasets) {
      const used = d.used === null ? "" : formatSize(d.used);
      const quota = d.quota === null ? "" : ` of ${formatSize(d.quota)}`;
      lines.push(
        `  dataset  ${d.name}  ${d.exists ? style.dim(`${used}${quota}`) : style.yellow("missing")}`,
      );
    }
  }
  return lines;
}

function shortId(id: string): string {
  const bare = id.replace(/^sha256:/, "");
  return bare.length > 12 ? `sha256:${bare.slice(0, 12)}` : id;
}
