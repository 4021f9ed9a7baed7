/**
 * Quoting argv for a POSIX shell. sshd hands the remote command line to the
 * user's login shell, so argv must survive one round of shell parsing intact.
 */

// Words made only of these characters mean the same to the shell quoted or
// not; leaving them bare keeps command lines in error messages readable.
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

// As the first word these would be parsed as syntax, not as a program name.
const RESERVED_WORDS = new Set([
  "!",
  "{",
  "}",
  "case",
  "do",
  "done",
  "elif",
  "else",
  "esac",
  "fi",
  "for",
  "function",
  "if",
  "in",
  "select",
  "then",
  "time",
  "until",
  "while",
  "[[",
  "]]",
]);

/** Quote one word so the shell reads it back as exactly `word`. */
export function quoteWord(word: string, position = 1): string {
  // A bare NAME=value first word would be taken as a variable assignment.
  const safe =
    SAFE_WORD.test(word) && !(position === 0 && (word.includes("=") || RESERVED_WORDS.has(word)));
  if (safe) return word;
  // Inside single quotes nothing is special except the closing quote, which
  // is spliced in as an escaped quote between two quoted runs.
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Join argv into one command line that a POSIX shell splits back into argv. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((word, index) => quoteWord(word, index)).join(" ");
}
