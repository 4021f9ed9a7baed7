/**
 * `holt secrets`: the lab's age-encrypted secrets (docs/secrets.md).
 * Values are read from a hidden prompt, a pipe or a file, and printed only
 * by `get`, and only into a pipe unless --reveal says otherwise.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { findConfig } from "../../config/load.ts";
import { HoltError } from "../../errors.ts";
import { checkSecretName } from "../../secrets/names.ts";
import {
  initSecrets,
  openSecrets,
  rekeySecrets,
  removeSecret,
  type SecretsOptions,
  setSecret,
} from "../../secrets/store.ts";
import {
  CONFIG_FLAG,
  CONFIG_HELP,
  type Command,
  type CommandContext,
  parseFlags,
} from "../context.ts";
import type { Output } from "../output.ts";

const SUBCOMMANDS = ["init", "set", "get", "list", "rm", "rekey"] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

const FLAGS = {
  ...CONFIG_FLAG,
  "from-file": { type: "string" },
  json: { type: "boolean" },
  reveal: { type: "boolean" },
} as const;

type Values = ReturnType<typeof parseFlags<typeof FLAGS>>["values"];

export const secretsCommand: Command = {
  name: "secrets",
  summary: "Manage the lab's encrypted secrets (secrets.age)",
  usage: "holt secrets <init | set NAME | get NAME | list | rm NAME | rekey> [flags]",
  flags: [
    "init                   create your age key if needed, list it in secrets.recipients, create secrets.age",
    "set NAME               store a value: typed at a hidden prompt, or piped in (one final newline dropped)",
    "get NAME               print a value, only into a pipe or file unless --reveal",
    "list                   the names of the secrets, never their values",
    "rm NAME                remove a secret",
    "rekey                  re-encrypt secrets.age to everyone in secrets.recipients",
    "--from-file PATH       set: the value is this file's content, exactly",
    "--reveal               get: print even to a terminal",
    "--json                 list: print JSON on stdout",
    CONFIG_HELP,
  ],
  async run(args, ctx) {
    const { values, positionals } = parseFlags("secrets", args, FLAGS, true);
    const [sub, name, ...extra] = positionals;
    if (sub === undefined || !isSubcommand(sub)) {
      const what = sub === undefined ? "Missing subcommand" : `Unknown subcommand "${sub}"`;
      throw usage(`${what}. Use one of: ${SUBCOMMANDS.join(", ")}.`);
    }
    const needsName = sub === "set" || sub === "get" || sub === "rm";
    if (needsName && name === undefined) throw usage(`\`holt secrets ${sub}\` needs a NAME.`);
    if (sub === "set" && extra.length > 0) {
      // Not echoed: it is most likely the value, which must not be on a command line.
      throw usage(
        "`holt secrets set NAME` takes the value from a prompt, a pipe or --from-file, never as an argument (it would stay in your shell history).",
      );
    }
    const surplus = needsName ? extra : positionals.slice(1);
    if (surplus.length > 0) throw usage(`Unexpected argument "${surplus[0]}".`);
    checkFlagsFit(sub, values);
    const options: SecretsOptions = {
      labDir: dirname(findConfig(ctx.cwd, values.config)),
      env: ctx.env,
    };
    switch (sub) {
      case "init":
        return init(options, ctx);
      case "set":
        return set(options, name ?? "", values["from-file"], ctx);
      case "get":
        return get(options, name ?? "", values.reveal === true, ctx.output);
      case "list":
        return list(options, values.json === true, ctx);
      case "rm":
        await removeSecret({ ...options, name: name ?? "" });
        ctx.output.out(`Removed secret "${name}".`);
        return 0;
      case "rekey": {
        const { recipients } = await rekeySecrets(options);
        ctx.output.out(`Re-encrypted secrets.age to ${plural(recipients.length, "recipient")}.`);
        return 0;
      }
    }
  },
};

function isSubcommand(value: string): value is Subcommand {
  return (SUBCOMMANDS as readonly string[]).includes(value);
}

function usage(message: string): HoltError {
  return new HoltError("HOLT_E_USAGE", `${message} See \`holt secrets --help\`.`);
}

function checkFlagsFit(sub: Subcommand, values: Values): void {
  const only: Record<"from-file" | "reveal" | "json", Subcommand> = {
    "from-file": "set",
    reveal: "get",
    json: "list",
  };
  for (const [flag, owner] of Object.entries(only)) {
    if (values[flag as keyof typeof only] !== undefined && owner !== sub) {
      throw usage(`--${flag} only goes with \`holt secrets ${owner}\`.`);
    }
  }
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

async function init(options: SecretsOptions, ctx: CommandContext): Promise<number> {
  const r = await initSecrets(options);
  const out = ctx.output.out;
  out(
    r.keyCreated
      ? `Created a new age key in ${r.keySource} (keep it safe, back it up).`
      : `Using the age key from ${r.keySource}.`,
  );
  out(`Your recipient (public key): ${r.recipient}`);
  out(
    r.recipientAdded ? `Added it to ${r.recipientsFile}.` : `It is already in ${r.recipientsFile}.`,
  );
  if (r.secretsCreated) out(`Created an empty ${r.secretsFile}.`);
  else if (r.canDecrypt) out(`${r.secretsFile} exists and your key can read it.`);
  else {
    out(`${r.secretsFile} exists but is not encrypted to your key yet.`);
    out(
      `Share ${r.recipientsFile} (commit it), and ask someone who can read the secrets to run \`holt secrets rekey\`.`,
    );
  }
  if (r.secretsCreated || r.recipientAdded) {
    out("Commit secrets.age and secrets.recipients; never commit the key.");
  }
  return 0;
}

async function set(
  options: SecretsOptions,
  name: string,
  fromFile: string | undefined,
  ctx: CommandContext,
): Promise<number> {
  checkSecretName(name); // before asking for a value that would then be thrown away
  let value: string;
  if (fromFile !== undefined) {
    value = readValueFile(resolve(ctx.cwd, fromFile), name);
  } else if (ctx.output.stdinIsTTY) {
    value = await promptHidden(`Value for ${name}: `);
    if (value === "") throw new HoltError("HOLT_E_ABORTED", "No value typed; nothing was stored.");
    const again = await promptHidden(`Again, to confirm: `);
    if (again !== value) {
      throw new HoltError(
        "HOLT_E_SECRETS",
        `The two values typed for "${name}" differ; nothing was stored. Run the command again.`,
      );
    }
  } else {
    value = stripOneNewline(decodeText(await readAll(process.stdin), `stdin for "${name}"`));
  }
  const { replaced } = await setSecret({ ...options, name, value });
  ctx.output.out(`${replaced ? "Updated" : "Added"} secret "${name}".`);
  return 0;
}

async function get(
  options: SecretsOptions,
  name: string,
  reveal: boolean,
  output: Output,
): Promise<number> {
  const toTerminal = output.stdoutIsTTY;
  if (toTerminal && !reveal) {
    throw usage(
      `Not printing secret "${name}" to a terminal. Pipe it (\`holt secrets get ${name} | …\`), or pass --reveal.`,
    );
  }
  const value = (await openSecrets(options)).value(name);
  // Exactly the value into a pipe, so `> file` keeps it byte for byte.
  output.write("stdout", toTerminal ? `${value}\n` : value);
  return 0;
}

async function list(options: SecretsOptions, json: boolean, ctx: CommandContext): Promise<number> {
  const store = await openSecrets(options);
  const names = store.names();
  if (json) {
    ctx.output.out(JSON.stringify({ formatVersion: "1", file: store.file, names }));
  } else if (names.length === 0) {
    ctx.output.out(`No secrets in ${store.file}. Add one with \`holt secrets set NAME\`.`);
  } else {
    for (const n of names) ctx.output.out(n);
  }
  return 0;
}

function stripOneNewline(text: string): string {
  if (text.endsWith("\r\n")) return text.slice(0, -2);
  if (text.endsWith("\n")) return text.slice(0, -1);
  return text;
}

function decodeText(bytes: Uint8Array, where: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HoltError(
      "HOLT_E_SECRETS",
      `The value from ${where} is not UTF-8 text. Secret values are text; store binary data base64-encoded.`,
    );
  }
}

function readValueFile(path: string, name: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new HoltError(
      "HOLT_E_USAGE",
      `Cannot read ${path} for --from-file: ${(error as NodeJS.ErrnoException).code ?? "error"}.`,
    );
  }
  return decodeText(bytes, `${path} for "${name}"`);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * Reads one line from the terminal without echoing it. Backspace edits,
 * Enter ends, Ctrl-C cancels, Ctrl-D on an empty line gives "".
 */
function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding("utf8");
  stdin.resume();
  return new Promise((done, fail) => {
    let value = "";
    const finish = () => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n" || (ch === "\u0004" && value === "")) {
          finish();
          done(value);
          return;
        }
        if (ch === "\u0003") {
          finish();
          fail(new HoltError("HOLT_E_ABORTED", "Cancelled; nothing was stored."));
          return;
        }
        if (ch === "\u007f" || ch === "\b") value = [...value].slice(0, -1).join("");
        else if (ch >= " ") value += ch;
      }
    };
    stdin.on("data", onData);
  });
}
