/** Reads `acme.trust`: extra CA certificates (PEM) for talking to a private ACME server. */
import { readFile } from "node:fs/promises";
import { HoltError } from "../errors.ts";

export async function readTrustFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new HoltError(
      "HOLT_E_ACME",
      `Cannot read acme.trust (${path}): ${(error as Error).message}. Point acme.trust at the PEM file of the CA that signs your ACME server's HTTPS certificate, relative to holt.config.ts.`,
      { cause: error },
    );
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new HoltError(
      "HOLT_E_ACME",
      `acme.trust (${path}) holds no PEM certificate. It must contain one or more "-----BEGIN CERTIFICATE-----" blocks.`,
    );
  }
  return text;
}
