/**
 * holt's certificates in Caddy's config: entries of
 * `apps.tls.certificates.load_files` tagged `holt:<lab>:cert:<name>`, each
 * naming a certificate file and a key file on the host (key-files.ts).
 * Caddy's config, which anyone on the host can read through the admin API,
 * holds only the paths.
 *
 * holt used to put the PEM text itself, key included, in `load_pem`. Such
 * entries are still read as loaded, and the next change of that
 * certificate replaces them by files.
 */
import { arrayAt, childArray, childObject, isObject, type Json, objectAt } from "./caddy-json.ts";
import type { CertificateFilePair } from "./key-files.ts";

export function certificateTag(lab: string, certName: string): string {
  return `holt:${lab}:cert:${certName}`;
}

/** How Caddy holds one of the lab's certificates. */
export type LoadedCertificate =
  | { readonly kind: "files"; readonly files: CertificateFilePair }
  /** The old way: the PEMs in the config, key included. */
  | { readonly kind: "pem"; readonly certificatePem: string };

function certificatesOf(config: Json) {
  return objectAt(objectAt(objectAt(objectAt(config)?.apps)?.tls)?.certificates);
}

/**
 * This lab's certificates in a Caddy config, by name. A name with an entry in
 * `load_pem` is reported as that, even beside a file entry: its key is still
 * in the config, which the next change must fix.
 */
export function loadedCertificates(config: Json, lab: string): Map<string, LoadedCertificate> {
  const prefix = `holt:${lab}:cert:`;
  const found = new Map<string, LoadedCertificate>();
  const certificates = certificatesOf(config);
  const nameOf = (entry: Json): string | undefined => {
    const tag = arrayAt(objectAt(entry)?.tags).find(
      (t): t is string => typeof t === "string" && t.startsWith(prefix),
    );
    return tag?.slice(prefix.length);
  };
  for (const entry of arrayAt(certificates?.load_files)) {
    const name = nameOf(entry);
    const e = objectAt(entry);
    if (name === undefined || typeof e?.certificate !== "string" || typeof e.key !== "string") {
      continue;
    }
    found.set(name, { kind: "files", files: { certificate: e.certificate, key: e.key } });
  }
  for (const entry of arrayAt(certificates?.load_pem)) {
    const name = nameOf(entry);
    const pem = objectAt(entry)?.certificate;
    if (name !== undefined && typeof pem === "string") {
      found.set(name, { kind: "pem", certificatePem: pem });
    }
  }
  return found;
}

/** Every file any `load_files` entry names, holt's or not: what Caddy needs on disk. */
export function referencedFiles(config: Json): Set<string> {
  const paths = new Set<string>();
  for (const entry of arrayAt(certificatesOf(config)?.load_files)) {
    for (const value of [objectAt(entry)?.certificate, objectAt(entry)?.key]) {
      if (typeof value === "string") paths.add(value);
    }
  }
  return paths;
}

/** The config without any entry tagged `tag`, in `load_files` or `load_pem`. */
export function withoutCertificate(config: Json, tag: string): Json {
  if (!isObject(config)) return config;
  const root = structuredClone(config);
  const certs = certificatesOf(root);
  if (certs === undefined) return root;
  for (const loader of ["load_files", "load_pem"] as const) {
    const list = certs[loader];
    if (!Array.isArray(list)) continue;
    const kept = list.filter((e) => !arrayAt(objectAt(e)?.tags).includes(tag));
    if (kept.length === 0) delete certs[loader];
    else certs[loader] = kept;
  }
  return root;
}

/** The config with the certificate tagged `tag` loaded from `files`, and nothing else under that tag. */
export function withCertificateFiles(config: Json, tag: string, files: CertificateFilePair): Json {
  const root = withoutCertificate(config, tag);
  const object = isObject(root) ? root : {};
  const certs = childObject(childObject(childObject(object, "apps"), "tls"), "certificates");
  childArray(certs, "load_files").push({
    certificate: files.certificate,
    key: files.key,
    tags: [tag],
  });
  return object;
}
