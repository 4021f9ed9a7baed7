/**
 * Caddy's certificate files on a host, through its Exec (key-files.ts decides
 * where they go, caddy-user.ts who may read them): find who Caddy runs as, write
 * a pair, read a certificate back, list and remove files. The key reaches
 * the host on stdin only; no command line or message holds it.
 */
import type { Exec } from "../../hosts/exec.ts";
import { writePrivateHostFile } from "../../hosts/host-file.ts";
import { runChecked } from "../../hosts/run-checked.ts";
import type { AdminEndpoint } from "./admin.ts";
import { adminListener, type CaddyUser, caddyUser, listenerArgv } from "./caddy-user.ts";
import {
  type CertificateFilePair,
  folderReadArgv,
  type KeyAccess,
  keyFolder,
  keyFolderArgv,
  parseFolderRead,
  temporaryPath,
} from "./key-files.ts";

/**
 * Who the process listening on Caddy's admin endpoint runs as, and so who
 * may read the files besides root (caddy-user.ts decides; this runs `ss`
 * and reads `/proc`).
 */
export async function findCaddyUser(exec: Exec, endpoint: AdminEndpoint): Promise<CaddyUser> {
  const listed = await exec.run({ argv: listenerArgv(endpoint), timeoutMs: 10_000 });
  if (listed.code !== 0) {
    return {
      kind: "unknown",
      why: `\`${listenerArgv(endpoint).join(" ")}\` failed on the host (is iproute2 installed?)`,
    };
  }
  const listener = adminListener(listed.stdout, endpoint);
  if ("why" in listener) return { kind: "unknown", why: listener.why };
  const status = await exec.run({
    argv: ["cat", `/proc/${listener.pid}/status`],
    timeoutMs: 10_000,
  });
  if (status.code !== 0) {
    return { kind: "unknown", why: `process ${listener.pid} ended before holt could read its ids` };
  }
  return caddyUser(listener.pid, status.stdout);
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
  await runChecked(exec, { argv: keyFolderArgv(lab, access) });
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

/**
 * The names in the lab's folder (none when it does not exist), and the
 * certificate file's text of each pair: null when a file of the pair is
 * missing, "" when what came back cannot be told apart (a file with a NUL
 * in it), which reads as no certificate.
 */
export async function readKeyFolder(
  exec: Exec,
  lab: string,
  pairs: readonly CertificateFilePair[],
): Promise<{ names: string[]; certificates: (string | null)[] }> {
  const result = await runChecked(exec, { argv: folderReadArgv(keyFolder(lab), pairs) });
  return (
    parseFolderRead(result.stdout, pairs.length) ?? {
      names: [],
      certificates: pairs.map(() => ""),
    }
  );
}

export async function removeHostFiles(exec: Exec, paths: readonly string[]): Promise<void> {
  if (paths.length > 0) await runChecked(exec, { argv: ["rm", "-f", "--", ...paths] });
}
