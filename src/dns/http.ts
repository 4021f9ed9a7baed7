/**
 * What the DNS layer's HTTP clients (PowerDNS, Cloudflare) share. Both send
 * a credential in a header on every request, so neither follows a redirect:
 * fetch would send the header again to wherever the answer points.
 * `redirect: "error"` makes fetch fail instead, with "unexpected redirect"
 * as the cause (undici, Node's fetch).
 */

/** Spread into every RequestInit of a client that sends credentials. */
export const NO_REDIRECTS = { redirect: "error" } as const satisfies RequestInit;

/** True when fetch failed because the server answered with a redirect. */
export function isRefusedRedirect(error: unknown): boolean {
  return (
    error instanceof Error &&
    error.cause instanceof Error &&
    /unexpected redirect|redirect mode is set to error/i.test(error.cause.message)
  );
}
