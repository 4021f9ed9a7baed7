/**
 * A self-signed ECDSA P-256 certificate and key from openssl, for test
 * servers that speak HTTPS (Pebble, a fake ACME CA) and for parsing tests.
 *
 * Test infrastructure: it runs openssl directly.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

export interface SelfSignedOptions {
  /** Like "/CN=holt test pebble". */
  readonly subject: string;
  /** Like "IP:127.0.0.1,DNS:localhost". */
  readonly san: string;
  /** @default 1 */
  readonly days?: number;
  /** Like "0x0123abcd". @default openssl's random serial */
  readonly serial?: string;
  /** Write cert.pem and key.pem here (kept); default: a temporary folder, removed after. */
  readonly dir?: string;
}

export interface SelfSigned {
  readonly certPem: string;
  readonly keyPem: string;
  /** Where they were written, when `dir` was given. */
  readonly certPath: string | null;
  readonly keyPath: string | null;
}

export function selfSignedCertificate(options: SelfSignedOptions): SelfSigned {
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), "holt-self-signed-"));
  const certPath = path.join(dir, "cert.pem");
  const keyPath = path.join(dir, "key.pem");
  try {
    const r = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        keyPath,
        "-out",
        certPath,
        "-days",
        String(options.days ?? 1),
        "-subj",
        options.subject,
        ...(options.serial === undefined ? [] : ["-set_serial", options.serial]),
        "-addext",
        `subjectAltName=${options.san}`,
      ],
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`openssl could not make a certificate:\n${r.stderr}`);
    return {
      certPem: readFileSync(certPath, "utf8"),
      keyPem: readFileSync(keyPath, "utf8"),
      certPath: options.dir === undefined ? null : certPath,
      keyPath: options.dir === undefined ? null : keyPath,
    };
  } finally {
    if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}
