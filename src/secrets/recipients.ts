/**
 * `secrets.recipients`: the public keys secrets.age is encrypted to, one age
 * recipient (`age1…`) per line, with blank lines and `#` comment lines, as
 * `age -R` reads them. It is meant to be committed.
 */
import { readFileSync } from "node:fs";
import { HoltError } from "../errors.ts";
import { isRecipient } from "./age.ts";
import { writeFileAtomic } from "./write-file.ts";

export interface RecipientsFile {
  readonly path: string;
  /** The recipients, in file order, without duplicates. */
  readonly recipients: readonly string[];
  /** The file's text as read (empty when it does not exist). */
  readonly text: string;
}

/** Reads and checks the recipients file; a missing file has no recipients. */
export async function readRecipients(path: string): Promise<RecipientsFile> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      return { path, recipients: [], text: "" };
    }
    throw new HoltError(
      "HOLT_E_SECRETS",
      `Cannot read ${path}: ${(error as Error).message}. Check its permissions.`,
    );
  }
  const recipients: string[] = [];
  const problems: string[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (line.toUpperCase().startsWith("AGE-SECRET-KEY-")) {
      // Never echo it. The file is meant to be committed, so say so loudly.
      problems.push(
        `line ${index + 1}: this is a PRIVATE key, not a recipient. Remove it now; if the file was committed or shared, treat that key as exposed.`,
      );
      continue;
    }
    if (!(await isRecipient(line))) {
      const hint = line.startsWith("ssh-")
        ? "SSH keys are not supported as recipients; use an age key (`holt secrets init`)"
        : "expected an age recipient like age1…";
      problems.push(`line ${index + 1}: ${JSON.stringify(shorten(line))}: ${hint}`);
      continue;
    }
    if (!recipients.includes(line)) recipients.push(line);
  }
  if (problems.length > 0) {
    throw new HoltError(
      "HOLT_E_SECRETS",
      `${path} has ${problems.length === 1 ? "a line that is not" : `${problems.length} lines that are not`} an age recipient. Fix or remove ${problems.length === 1 ? "it" : "them"}; comment lines start with #.`,
      { details: problems },
    );
  }
  return { path, recipients, text };
}

function shorten(line: string): string {
  return line.length > 80 ? `${line.slice(0, 77)}...` : line;
}

/** Appends a recipient with a comment line; does nothing when it is already listed. */
export async function addRecipient(
  path: string,
  recipient: string,
  comment: string,
): Promise<boolean> {
  const current = await readRecipients(path);
  if (current.recipients.includes(recipient)) return false;
  const header =
    current.text === ""
      ? "# Public age keys that secrets.age is encrypted to, one per line.\n# After changing this file, run `holt secrets rekey`. See docs/secrets.md.\n"
      : current.text.endsWith("\n")
        ? current.text
        : `${current.text}\n`;
  writeFileAtomic(path, `${header}# ${comment}\n${recipient}\n`, 0o644);
  return true;
}
