/**
 * Where Caddy's copies of holt's certificates live on a host, what they are
 * called, and who may read them. Pure: the commands that act on these values
 * are in host-keys.ts.
 *
 * Each certificate is a pair of files in `/var/lib/holt-caddy/<lab>/`, named
 * after the certificate and the first 16 hex digits of its SHA-256:
 * `media.lab.example.com.3fa9c2d1e0b4a5f6.crt` and `….key`. A renewal writes
 * a new pair beside the old one, so Caddy's config changes with it (Caddy
 * 2.6 skips a reload whose config is unchanged, and only a reload reads the
 * files), and the old pair stays until the config no longer names it.
 */
import type { CaddyUser } from "./caddy-user.ts";

/** The folder of every lab's files: mode 0711, so Caddy can pass through but not list it. */
export const KEY_FILES_ROOT = "/var/lib/holt-caddy";

const SHA_DIGITS = 16;
const TEMPORARY_SUFFIX = ".holt-new";

/**
 * The lab's folder. A lab name is a DNS name (validate checks it); should
 * another reach this, it still cannot name a folder outside the root ("..")
 * or the root itself (".").
 */
export function keyFolder(lab: string, root: string = KEY_FILES_ROOT): string {
  return `${root}/${lab.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.|^$/, "_")}`;
}

/**
 * Makes the lab's folder (and the root of every lab's folders) root's, with
 * `access`'s owner and mode, refusing a symbolic link in their place: holt
 * runs as root, and a link would have it write keys, or change the owner
 * and mode, wherever the link points. The root is made root's first, so
 * nobody else can replace the lab's folder after it is checked.
 */
export function keyFolderArgv(
  lab: string,
  access: KeyAccess,
  root: string = KEY_FILES_ROOT,
): string[] {
  const script = [
    "umask 077",
    'for f in "$1" "$2"; do',
    '  if [ -L "$f" ]; then echo "$f is a symbolic link: holt keeps keys only in a folder of its own; remove the link" >&2; exit 1; fi',
    '  mkdir -p -- "$f" || exit 1',
    '  if [ "$f" = "$1" ]; then chown -h 0:0 -- "$f" && chmod 0711 -- "$f" || exit 1; fi',
    "done",
    'chown -h -- "$3" "$2" && chmod -- "$4" "$2"',
  ].join("\n");
  return ["sh", "-c", script, "sh", root, keyFolder(lab, root), access.owner, access.folderMode];
}

/**
 * A certificate's name in file names: "*.lab.example.com" is
 * "_wildcard.lab.example.com" (no hostname holds an underscore, so it cannot
 * clash with a host called "wildcard").
 */
function stemOf(certName: string): string {
  return certName.startsWith("*.") ? `_wildcard.${certName.slice(2)}` : certName;
}

function certNameOf(stem: string): string {
  return stem.startsWith("_wildcard.") ? `*.${stem.slice("_wildcard.".length)}` : stem;
}

export interface CertificateFilePair {
  /** The chain, leaf first. */
  readonly certificate: string;
  readonly key: string;
}

export function certificateFiles(
  lab: string,
  certName: string,
  sha256: string,
): CertificateFilePair {
  const base = `${keyFolder(lab)}/${stemOf(certName)}.${sha256.slice(0, SHA_DIGITS).toLowerCase()}`;
  return { certificate: `${base}.crt`, key: `${base}.key` };
}

/** Where a file of `pair` is written first, in the same folder, so a rename puts it in place. */
export function temporaryPath(path: string): string {
  const slash = path.lastIndexOf("/");
  return `${path.slice(0, slash)}/.${path.slice(slash + 1)}${TEMPORARY_SUFFIX}`;
}

const FILE_NAME = /^(.+)\.([0-9a-f]{16})\.(crt|key)$/;
// What a certificate's name may hold (lower-case DNS labels, "_wildcard." first).
const STEM = /^(_wildcard\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;

/** A file in a lab's folder: one holt wrote (or was writing when it was cut off), by certificate. */
export interface FolderFile {
  readonly name: string;
  readonly certName: string;
  readonly temporary: boolean;
}

/** Reads a file name of the folder; undefined for a name holt never writes, which holt leaves alone. */
export function parseFileName(name: string): FolderFile | undefined {
  const temporary = name.startsWith(".") && name.endsWith(TEMPORARY_SUFFIX);
  const inner = temporary ? name.slice(1, -TEMPORARY_SUFFIX.length) : name;
  const match = FILE_NAME.exec(inner);
  const stem = match?.[1];
  if (stem === undefined || !STEM.test(stem)) return undefined;
  return { name, certName: certNameOf(stem), temporary };
}

/**
 * Whether a pair found in Caddy's config is one holt wrote for `certName` in
 * this lab's folder. Anything else (a path elsewhere, another name) is not
 * read from the host: holt replaces it.
 */
export function isOwnPair(lab: string, certName: string, pair: CertificateFilePair): boolean {
  const folder = `${keyFolder(lab)}/`;
  const parse = (path: string) =>
    path.startsWith(folder) ? parseFileName(path.slice(folder.length)) : undefined;
  const cert = parse(pair.certificate);
  const key = parse(pair.key);
  return (
    cert !== undefined &&
    key !== undefined &&
    !cert.temporary &&
    !key.temporary &&
    cert.certName === certName &&
    key.certName === certName &&
    pair.certificate.endsWith(".crt") &&
    pair.key === `${pair.certificate.slice(0, -".crt".length)}.key`
  );
}

/**
 * The files of a lab's folder that nothing in Caddy's config names, by
 * certificate: left by a step that was cut off after writing them, or after
 * Caddy let go of them. Names holt never writes are not counted.
 */
export function leftoverFiles(
  lab: string,
  names: readonly string[],
  referenced: ReadonlySet<string>,
): Map<string, string[]> {
  const folder = keyFolder(lab);
  const found = new Map<string, string[]>();
  for (const name of names) {
    const file = parseFileName(name);
    const path = `${folder}/${name}`;
    if (file === undefined || referenced.has(path)) continue;
    found.set(file.certName, [...(found.get(file.certName) ?? []), path]);
  }
  return found;
}

/**
 * One command that lists a lab's folder and prints the certificate file of
 * each pair, each after a NUL: "ok\n" and the text, or "missing\n" when a
 * file of the pair is not there. One command per host, however many
 * certificates, since a read runs at every plan.
 */
export function folderReadArgv(folder: string, pairs: readonly CertificateFilePair[]): string[] {
  const script = [
    'd=$1; shift; if [ -d "$d" ]; then ls -A1 -- "$d" || exit 1; fi',
    "while [ $# -gt 1 ]; do printf '\\000'",
    '  if [ -f "$1" ] && [ -f "$2" ]; then printf \'ok\\n\'; cat -- "$1" || exit 1; else printf \'missing\\n\'; fi',
    "  shift 2; done",
  ].join("\n");
  return [
    "sh",
    "-c",
    script,
    "sh",
    folder,
    ...pairs.flatMap((pair) => [pair.certificate, pair.key]),
  ];
}

/** What `folderReadArgv` printed: the folder's names, and each pair's certificate text (null: missing). */
export function parseFolderRead(
  stdout: string,
  count: number,
): { names: string[]; certificates: (string | null)[] } | undefined {
  const [listing = "", ...parts] = stdout.split("\0");
  if (parts.length !== count) return undefined;
  const certificates: (string | null)[] = [];
  for (const part of parts) {
    if (part.startsWith("ok\n")) certificates.push(part.slice(3));
    else if (part === "missing\n") certificates.push(null);
    else return undefined;
  }
  return { names: listing.split("\n").filter((name) => name !== ""), certificates };
}

/** Owner and modes of the folder and files: root's, readable by Caddy's group only. */
export interface KeyAccess {
  /** "0:<gid>" for chown. */
  readonly owner: string;
  readonly fileMode: string;
  readonly folderMode: string;
}

/**
 * Caddy running as root needs no group, and a Caddy holt cannot tell or
 * trust (caddy-user.ts) gets none: the files are root's alone (0600).
 * Otherwise root owns them and Caddy's group may read them (0640), so Caddy
 * can load them and cannot change them.
 */
export function keyAccess(user: CaddyUser): KeyAccess {
  return user.kind === "group"
    ? { owner: `0:${user.gid}`, fileMode: "0640", folderMode: "0750" }
    : { owner: "0:0", fileMode: "0600", folderMode: "0700" };
}
