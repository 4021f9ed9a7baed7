/**
 * Which ACME directory a name means: "letsencrypt" and
 * "letsencrypt-staging" are aliases for Let's Encrypt's two directories; any
 * https:// URL is taken as it is (a private CA, Pebble in tests).
 */
import { HoltError } from "../errors.ts";

export const ACME_DIRECTORY_ALIASES = {
  letsencrypt: "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
} as const satisfies Record<string, string>;

export type AcmeDirectoryAlias = keyof typeof ACME_DIRECTORY_ALIASES;

export function isDirectoryAlias(value: string): value is AcmeDirectoryAlias {
  return Object.hasOwn(ACME_DIRECTORY_ALIASES, value);
}

/** The directory URL for an alias or an https:// URL; HOLT_E_ACME for anything else. */
export function resolveDirectoryUrl(directory: string): string {
  if (isDirectoryAlias(directory)) return ACME_DIRECTORY_ALIASES[directory];
  let url: URL | undefined;
  try {
    url = new URL(directory);
  } catch {
    url = undefined;
  }
  if (url?.protocol === "https:" && url.hostname !== "") return directory;
  const aliases = Object.keys(ACME_DIRECTORY_ALIASES)
    .map((alias) => `"${alias}"`)
    .join(" or ");
  throw new HoltError(
    "HOLT_E_ACME",
    `The ACME directory ${JSON.stringify(directory)} is neither ${aliases} nor an https:// URL. Use one of the aliases, or the CA's directory URL, like "https://acme.example.com/directory".`,
  );
}
