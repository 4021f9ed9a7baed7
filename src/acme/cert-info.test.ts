import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { test } from "node:test";
import { selfSignedCertificate } from "../../test/peers/self-signed.ts";
import { HoltError } from "../errors.ts";
import { dnsNamesOf, readCertificateInfo, splitPemChain } from "./cert-info.ts";

/** A self-signed certificate from openssl, valid one day. */
function opensslCertificate(san: string, serial: string): string {
  return selfSignedCertificate({ subject: "/O=Holt Test/CN=Test CA", san, serial }).certPem;
}

test("a certificate's names, validity, issuer, serial and fingerprint", () => {
  const pem = opensslCertificate("DNS:lab.test,DNS:*.lab.test,IP:127.0.0.1", "0x0123abcd");
  const info = readCertificateInfo(pem);
  assert.deepEqual(info.names, ["lab.test", "*.lab.test"]);
  assert.equal(info.notAfter.getTime() - info.notBefore.getTime(), 86_400_000);
  assert.equal(info.issuer, "CN=Test CA, O=Holt Test");
  assert.equal(info.serial, "0123abcd");
  const der = new X509Certificate(pem).raw;
  assert.equal(info.sha256, createHash("sha256").update(der).digest("hex"));
});

test("a chain is split into its certificates; the info is the first one's", () => {
  const leaf = opensslCertificate("DNS:leaf.test", "0x01");
  const other = opensslCertificate("DNS:other.test", "0x02");
  const chain = `${leaf}\n${other}`;
  assert.deepEqual(splitPemChain(chain), [leaf, other]);
  assert.deepEqual(readCertificateInfo(chain).names, ["leaf.test"]);
});

test("subjectAltName as Node prints it, quoted names included", () => {
  assert.deepEqual(dnsNamesOf('DNS:a.test, IP Address:1.2.3.4, DNS:"b,c.test", DNS:d.test'), [
    "a.test",
    "b,c.test",
    "d.test",
  ]);
  assert.deepEqual(dnsNamesOf(undefined), []);
});

test("a PEM without a certificate is HOLT_E_ACME, and the text is not repeated", () => {
  const pem = "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n";
  assert.throws(
    () => readCertificateInfo(pem),
    (error: unknown) =>
      error instanceof HoltError &&
      error.code === "HOLT_E_ACME" &&
      !error.message.includes("secret"),
  );
});
