/**
 * Keys for ACME: the account key (the caller stores it and passes it to
 * every issuance, so the CA sees one account) and a certificate key (fresh
 * per issuance unless the caller gives one). Both ECDSA P-256, PKCS#8 PEM.
 *
 * Key material never goes into an error message: a key that does not parse
 * is reported by its role only.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { HoltError } from "../errors.ts";

function createP256Key(): string {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** A new ACME account key (ECDSA P-256, PKCS#8 PEM). Store it as a secret. */
export function createAccountKey(): string {
  return createP256Key();
}

/** A new certificate key (ECDSA P-256, PKCS#8 PEM). */
export function createCertificateKey(): string {
  return createP256Key();
}

/**
 * Checks that a PEM is a private key acme-client can sign with (EC or RSA);
 * `role` names it in the error ("The ACME account key").
 */
export function checkPrivateKey(pem: string, role: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new HoltError(
      "HOLT_E_ACME",
      `${role} is not a PEM private key that holt can read. Give a PKCS#8 or SEC1 (EC) or PKCS#1 (RSA) PEM, or let holt create a new one.`,
    );
  }
  if (key.asymmetricKeyType !== "ec" && key.asymmetricKeyType !== "rsa") {
    throw new HoltError(
      "HOLT_E_ACME",
      `${role} is a ${key.asymmetricKeyType ?? "unknown"} key; ACME needs an EC (P-256, P-384) or RSA key. Let holt create a new one.`,
    );
  }
  return key;
}
