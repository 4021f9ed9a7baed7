/**
 * A certificate's files for the services that mount them
 * (`certificate.path`): `fullchain.pem` and `privkey.pem` in a host folder,
 * the key owned by the service's user.
 */
import type { Exec } from "../../hosts/exec.ts";
import { writePrivateHostFile } from "../../hosts/host-file.ts";
import { runChecked } from "../../hosts/run-checked.ts";
import type { CertificateFiles } from "../../model/certificate.ts";
import type { StoredCertificate } from "./issuance.ts";
import { temporaryPath } from "./key-files.ts";

const CHAIN_FILE = "fullchain.pem";
const KEY_FILE = "privkey.pem";

/** Whether the host's files hold the stored certificate. */
export async function filesState(
  exec: Exec,
  files: CertificateFiles,
  stored: StoredCertificate | null,
): Promise<"current" | "stale" | "missing"> {
  const r = await exec.run({ argv: ["cat", `${files.dir}/${CHAIN_FILE}`] });
  if (r.code !== 0) return "missing";
  return stored !== null && r.stdout === stored.chainPem ? "current" : "stale";
}

/**
 * Writes `fullchain.pem` (0644) and `privkey.pem` (0600, owned by the
 * service's user) into the host folder, each to a temporary name first and
 * renamed, so a container never reads half a file. The key first: a reader
 * that sees the new chain finds the new key already there.
 */
export async function writeFiles(
  exec: Exec,
  files: CertificateFiles,
  stored: StoredCertificate,
): Promise<void> {
  await runChecked(exec, {
    argv: ["sh", "-c", 'umask 077 && mkdir -p -- "$1" && chmod 0755 -- "$1"', "sh", files.dir],
  });
  const owner = files.owner ?? "0:0";
  for (const [name, content, mode] of [
    [KEY_FILE, stored.keyPem, "0600"],
    [CHAIN_FILE, stored.chainPem, "0644"],
  ] as const) {
    const path = `${files.dir}/${name}`;
    await writePrivateHostFile(exec, path, temporaryPath(path), content, { mode, owner });
  }
}
