/**
 * Where the CLI writes. Machine output goes to stdout; human text and
 * progress to stderr when stdout carries JSON. Colours honour NO_COLOR and
 * only appear on a terminal.
 */

export interface Style {
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  bold(text: string): string;
  dim(text: string): string;
}

export interface Output {
  /** Writes a line to stdout. */
  out(line: string): void;
  /** Writes a line to stderr. */
  err(line: string): void;
  /** Writes text as it is, without adding a newline (streamed output such as logs). */
  write(stream: "stdout" | "stderr", text: string): void;
  /** Rewrites the current stderr line (terminals only; a no-op elsewhere). */
  status(line: string): void;
  readonly style: Style;
  readonly interactive: boolean;
  readonly stdinIsTTY: boolean;
  readonly stdoutIsTTY: boolean;
}

const code = (open: number, close: number) => (text: string) =>
  `\u001b[${open}m${text}\u001b[${close}m`;
const PLAIN: Style = {
  red: (t) => t,
  green: (t) => t,
  yellow: (t) => t,
  cyan: (t) => t,
  bold: (t) => t,
  dim: (t) => t,
};
const COLOR: Style = {
  red: code(31, 39),
  green: code(32, 39),
  yellow: code(33, 39),
  cyan: code(36, 39),
  bold: code(1, 22),
  dim: code(2, 22),
};

export function createOutput(options: { noColor?: boolean; env?: NodeJS.ProcessEnv } = {}): Output {
  const env = options.env ?? process.env;
  const colorAllowed =
    options.noColor !== true && (env.NO_COLOR === undefined || env.NO_COLOR === "");
  const stdoutColor = colorAllowed && process.stdout.isTTY === true;
  const interactive = process.stderr.isTTY === true && env.CI === undefined;
  let statusShown = false;
  const clearStatus = () => {
    if (statusShown) {
      process.stderr.write("\r\u001b[K");
      statusShown = false;
    }
  };
  return {
    out(line) {
      clearStatus();
      process.stdout.write(`${line}\n`);
    },
    err(line) {
      clearStatus();
      process.stderr.write(`${line}\n`);
    },
    write(stream, text) {
      clearStatus();
      (stream === "stdout" ? process.stdout : process.stderr).write(text);
    },
    status(line) {
      if (!interactive) return;
      process.stderr.write(`\r\u001b[K${line}`);
      statusShown = true;
    },
    style: stdoutColor ? COLOR : PLAIN,
    interactive,
    stdinIsTTY: process.stdin.isTTY === true,
    stdoutIsTTY: process.stdout.isTTY === true,
  };
}

/** Strips ANSI colour codes (for tests and for width calculations). */
export function stripAnsi(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching escape codes is the point
  return text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, "");
}
