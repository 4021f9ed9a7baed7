import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HoltError } from "../../errors.ts";
import { type Command, parseFlags } from "../context.ts";

export const STARTER_CONFIG = `// holt.config.ts: your whole lab in one typed file.
// \`holt validate\` checks it, \`holt plan\` shows what would change, \`holt apply\` does it.
// Reference: docs/configuration.md
import { defineLab } from "holt";

export default defineLab({
  // Your lab's DNS domain; services get hostnames under it.
  domain: "lab.example.com",

  hosts: {
    // One machine, reached locally. For a remote one use:
    //   address: "192.168.1.20", connect: { ssh: { user: "root", identityFile: "~/.ssh/id_ed25519" } }
    odroid: {
      connect: "local",
      // Service datasets go under <stateRoot>/<service>/<name>. Default: "<pool of the first dataset>/holt".
      stateRoot: "tank/holt",
      // Datasets by full ZFS name. Sizes: bytes, or K/M/G/T like "20G".
      datasets: {
        "tank/media": { recordsize: "1M", compression: "on", atime: "off" },
        // "tank/media/photos": { quota: "500G", properties: { "com.example:owner": "you" } },
      },
    },
  },

  services: {
    // Each state entry becomes the dataset tank/holt/jellyfin/<name>.
    jellyfin: {
      host: "odroid",
      state: {
        config: { path: "/config", quota: "20G" },
        cache: { path: "/cache" },
      },
    },
  },
});
`;

export const initCommand: Command = {
  name: "init",
  summary: "Write a commented starter holt.config.ts",
  usage: "holt init [DIR] [--force]",
  flags: [
    "DIR                    where to write it (default: the current folder)",
    "--force                overwrite an existing holt.config.ts",
  ],
  async run(args, ctx) {
    const { values, positionals } = parseFlags("init", args, { force: { type: "boolean" } }, true);
    const dir = positionals[0] === undefined ? ctx.cwd : join(ctx.cwd, positionals[0]);
    const path = join(dir, "holt.config.ts");
    if (existsSync(path) && values.force !== true) {
      throw new HoltError(
        "HOLT_E_USAGE",
        `${path} already exists. Edit it, or pass --force to overwrite it.`,
      );
    }
    try {
      writeFileSync(path, STARTER_CONFIG);
    } catch (error) {
      throw new HoltError("HOLT_E_USAGE", `Cannot write ${path}: ${(error as Error).message}.`, {
        cause: error,
      });
    }
    ctx.output.out(`Wrote ${path}. Edit it, then run \`holt validate\` and \`holt plan\`.`);
    return 0;
  },
};
