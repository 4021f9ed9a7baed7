/**
 * Hiding secret values in output holt shows or keeps (a container's log
 * lines on a failed health gate, `holt logs`, a program's stderr in an
 * error). Output is read line by line, so a value is matched per line:
 *
 * - A value is cut into its lines, each trimmed of surrounding white space:
 *   a PEM key is hidden line by line, so a log that shows only some of its
 *   lines, or shows them indented, still shows none of them.
 * - A line of 8 characters or more is hidden wherever it appears.
 * - A line of 4 to 7 characters is hidden where it stands as a word of its
 *   own (no letter or digit right before or after it): a short password in
 *   `password=hunter2` is hidden, the same letters inside a longer word are
 *   not (hiding those would show where, and so what, the value is anyway).
 * - A line of 1 to 3 characters is hidden only when it is a whole log line:
 *   anywhere else it cannot be told from ordinary text, and hiding every "a"
 *   or "42" would leave a log nobody can read. Use longer secrets.
 *
 * Each hidden part reads "(secret)".
 */

export const REDACTED = "(secret)";

const ANYWHERE_MIN = 8;
const WORD_MIN = 4;
/** The longest partial line a stream holds back, waiting for its end. */
const MAX_HELD = 1024 * 1024;

export interface Redactor {
  /** One line (no line break in it) with every secret part replaced. */
  line(line: string): string;
  /** Text of any number of lines, each redacted on its own. */
  text(text: string): string;
  /**
   * For output that arrives in chunks: whole lines go to `write` redacted as
   * they complete, a partial line is held until its end arrives (so a value
   * split between two chunks is still found), and `end()` flushes the rest.
   */
  stream(write: (text: string) => void): { write(chunk: string): void; end(): void };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The parts of the values to look for, longest first, each at most once. */
function piecesOf(values: readonly string[]): string[] {
  const pieces = new Set<string>();
  for (const value of values) {
    for (const line of value.split(/\r\n|\r|\n/)) {
      const piece = line.trim();
      if (piece !== "") pieces.add(piece);
    }
  }
  return [...pieces].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
}

export function createRedactor(values: readonly string[]): Redactor {
  const pieces = piecesOf(values);
  const anywhere = pieces.filter((p) => p.length >= ANYWHERE_MIN);
  const words = pieces.filter((p) => p.length >= WORD_MIN && p.length < ANYWHERE_MIN);
  const whole = new Set(pieces.filter((p) => p.length < WORD_MIN));
  // Words: not next to a letter or digit, in any script.
  const wordPattern =
    words.length === 0
      ? null
      : new RegExp(
          `(?<![\\p{L}\\p{N}])(?:${words.map(escapeRegExp).join("|")})(?![\\p{L}\\p{N}])`,
          "gu",
        );

  const line = (text: string): string => {
    if (pieces.length === 0) return text;
    if (whole.has(text.trim())) return REDACTED;
    let out = text;
    for (const piece of anywhere) if (out.includes(piece)) out = out.split(piece).join(REDACTED);
    if (wordPattern !== null) out = out.replace(wordPattern, REDACTED);
    return out;
  };

  const text = (input: string): string => {
    if (pieces.length === 0) return input;
    // Split keeping the breaks, so the text keeps its shape.
    const parts = input.split(/(\r\n|\r|\n)/);
    return parts.map((part, i) => (i % 2 === 1 ? part : line(part))).join("");
  };

  return {
    line,
    text,
    stream(write) {
      let held = "";
      return {
        write(chunk) {
          if (pieces.length === 0) {
            write(chunk);
            return;
          }
          held += chunk;
          // A "\r" at the very end may be the first half of "\r\n": wait for the next chunk.
          let end = Math.max(held.lastIndexOf("\n"), held.lastIndexOf("\r", held.length - 2));
          if (end < 0 && held.length <= MAX_HELD) return;
          // A line longer than any secret line: no longer worth holding back.
          if (end < 0) end = held.length - 1;
          write(text(held.slice(0, end + 1)));
          held = held.slice(end + 1);
        },
        end() {
          if (held !== "") write(text(held));
          held = "";
        },
      };
    },
  };
}
