/**
 * Caddy's certificate files on a host, through its Exec (key-files.ts decides
 * where they go and who may read them): find the group Caddy runs as, write
 * a pair, read a certificate back, list and remove files. The key reaches
 * the host on stdin only; no command line or message holds it.
 */
import type { Exec } from "../../hosts/exec.ts";
import { writePrivateHostFile } from "../../hosts/host-file.ts";
import { runChecked } from "../../hosts/run-checked.ts";
import type { AdminEndpoint } from "./admin.ts";
import {
  type CertificateFilePair,
  effectiveGid,
  KEY_FILES_ROOT,
  type KeyAccess,
  keyFolder,
  listenerArgv,
  listenerPid,
  temporaryPath,
} from "./key-files.ts";

/**
 * The effective group of the process that listens on Caddy's admin endpoint,
 * or null when it cannot be told (no `ss`, or no listener found): then only
 * root may read the files, which a Caddy running as root can.
 */
export async function caddyGroup(exec: Exec, endpoint: AdminEndpoint): Promise<number | null> {
  const listed = await exec.run({ argv: listenerArgv(endpoint), timeoutMs: 10_000 });
  const pid = listed.code === 0 ? listenerPid(listed.stdout) : undefined;
  if (pid === undefined) return null;
  const status = await exec.run({ argv: ["cat", `/proc/${pid}/status`], timeoutMs: 10_000 });
  return status.code === 0 ? (effectiveGid(status.stdout) ?? null) : null;
}

/**
 * Writes a certificate and its key into the lab's folder (made first, with
 * `access`), key first: a pair is whole once its certificate is there.
 */
export async function writeCertificatePair(
  exec: Exec,
  lab: string,
  files: CertificateFilePair,
  pems: { readonly chainPem: string; readonly keyPem: string },
  access: KeyAccess,
): Promise<void> {
  await runChecked(exec, {
    argv: [
      "sh",
      "-c",
      'umask 077 && mkdir -p -- "$2" && chmod 0711 -- "$1" && chown -- "$3" "$2" && chmod -- "$4" "$2"',
      "sh",
      KEY_FILES_ROOT,
      keyFolder(lab),
      access.owner,
      access.folderMode,
    ],
  });
  const fileAccess = { mode: access.fileMode, owner: access.owner };
  await writePrivateHostFile(exec, files.key, temporaryPath(files.key), pems.keyPem, fileAccess);
  await writePrivateHostFile(
    exec,
    files.certificate,
    temporaryPath(files.certificate),
    pems.chainPem,
    fileAccess,
  );
}

/** The certificate file's text when both files of the pair are there; null when either is missing. */
export async function readCertificateFile(
  exec: Exec,
  files: CertificateFilePair,
): Promise<string | null> {
  const result = await exec.run({
    argv: [
      "sh",
      "-c",
      '[ -f "$2" ] || exit 3; exec cat -- "$1"',
      "sh",
      files.certificate,
      files.key,
    ],
  });
  return result.code === 0 ? result.stdout : null;
}

/** The names in the lab's folder; none when it does not exist. */
export async function listKeyFolder(exec: Exec, lab: string): Promise<string[]> {
  const result = await runChecked(exec, {
    argv: ["sh", "-c", '[ -d "$1" ] || exit 0; exec ls -A1 -- "$1"', "sh", keyFolder(lab)],
  });
  return result.stdout.split("\n").filter((name) => name !== "");
}

export async function removeHostFiles(exec: Exec, paths: readonly string[]): Promise<void> {
  if (paths.length > 0) await runChecked(exec, { argv: ["rm", "-f", "--", ...paths] });
}
