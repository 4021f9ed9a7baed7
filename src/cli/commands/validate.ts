import { cleartextWarnings } from "../../config/cleartext.ts";
import { configInvalid, displayPath, findConfig, loadLab } from "../../config/load.ts";
import { compileLab } from "../../model/compile.ts";
import { CONFIG_FLAG, CONFIG_HELP, type Command, parseFlags } from "../context.ts";

export const validateCommand: Command = {
  name: "validate",
  summary: "Check the config without contacting any host",
  usage: "holt validate [--config FILE]",
  flags: [CONFIG_HELP],
  async run(args, ctx) {
    const { values } = parseFlags("validate", args, { ...CONFIG_FLAG }, false);
    const path = findConfig(ctx.cwd, values.config);
    const lab = await loadLab(path);
    const { graph, problems } = compileLab(lab);
    if (problems.length > 0) throw configInvalid(path, problems);
    const hosts = Object.keys(lab.hosts).length;
    const services = Object.keys(lab.services).length;
    ctx.output.out(
      `${displayPath(path)} is valid: lab ${lab.name}, ${hosts} ${hosts === 1 ? "host" : "hosts"}, ${services} ${services === 1 ? "service" : "services"}, ${graph.resources.length} resources.`,
    );
    for (const warning of cleartextWarnings(lab)) {
      ctx.output.err(ctx.output.style.yellow(`Warning: ${warning}`));
    }
    return 0;
  },
};
