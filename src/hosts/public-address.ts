/**
 * The address the internet sees this network at, from a service that
 * answers a GET with it in plain text (`dns.publicIpUrl`, e.g. ipify).
 */
import { isIP } from "node:net";
import { HoltError } from "../errors.ts";

const TIMEOUT_MS = 5000;

export async function detectPublicAddress(url: string): Promise<string> {
  let text: string;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    text = (await response.text()).trim();
  } catch (error) {
    throw new HoltError(
      "HOLT_E_HTTP",
      `Could not learn this network's public address from ${url}: ${(error as Error).message}. Check dns.publicIpUrl, or set the host's public address in the config.`,
      { cause: error },
    );
  }
  if (isIP(text) !== 4) {
    throw new HoltError(
      "HOLT_E_HTTP",
      `${url} answered ${JSON.stringify(text.slice(0, 60))}, which is not an IPv4 address. Use a service that answers with the address alone, like https://api.ipify.org.`,
    );
  }
  return text;
}
