import assert from "node:assert/strict";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import { HoltError } from "../errors.ts";
import { checkPrivateKey, createAccountKey, createCertificateKey } from "./keys.ts";

test("new keys are ECDSA P-256 in PKCS#8 PEM, each one different", () => {
  const account = createAccountKey();
  const certificate = createCertificateKey();
  assert.match(account, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.notEqual(account, certificate);
  const key = createPrivateKey(account);
  assert.equal(key.asymmetricKeyType, "ec");
  assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1");
});

test("a key that does not parse is named by its role, never shown", () => {
  const garbage = "-----BEGIN PRIVATE KEY-----\nTOPSECRET\n-----END PRIVATE KEY-----\n";
  assert.throws(
    () => checkPrivateKey(garbage, "The ACME account key"),
    (error: unknown) =>
      error instanceof HoltError &&
      error.code === "HOLT_E_ACME" &&
      error.message.startsWith("The ACME account key is not a PEM private key") &&
      !error.message.includes("TOPSECRET"),
  );
});

test("an Ed25519 key is refused: acme-client signs with EC or RSA", () => {
  const { privateKey } = generateKeyPairSync("ed25519");
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  assert.throws(() => checkPrivateKey(pem, "The key"), {
    code: "HOLT_E_ACME",
  });
});
