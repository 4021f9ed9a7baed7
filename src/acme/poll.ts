/**
 * Polling an ACME object (authorization, order) until the CA has decided,
 * quickly at first (a CA like Pebble decides in milliseconds) and then
 * backing off to a few seconds, up to a deadline.
 */
import { setTimeout as sleep } from "node:timers/promises";

const DELAYS_MS = [100, 200, 400, 800, 1600, 3000] as const;
const LAST_DELAY_MS = 3000;

export class PollTimeout extends Error {
  readonly waitedMs: number;
  constructor(waitedMs: number) {
    super(`no decision within ${Math.round(waitedMs / 1000)} s`);
    this.name = "PollTimeout";
    this.waitedMs = waitedMs;
  }
}

/**
 * Reads until `settled` holds, or throws PollTimeout after `timeoutMs`. An
 * aborted `signal` stops it between reads (with the signal's reason), so
 * sibling polls end when one of them has failed.
 */
export async function pollUntil<T>(
  read: () => Promise<T>,
  settled: (value: T) => boolean,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T> {
  const started = performance.now();
  for (let attempt = 0; ; attempt++) {
    signal?.throwIfAborted();
    const value = await read();
    if (settled(value)) return value;
    const waited = performance.now() - started;
    if (waited >= timeoutMs) throw new PollTimeout(waited);
    const delay = DELAYS_MS[attempt] ?? LAST_DELAY_MS;
    try {
      await sleep(Math.min(delay, Math.max(0, timeoutMs - waited)), undefined, { signal });
    } catch (error) {
      // The timer's AbortError hides the reason; give the reason itself.
      signal?.throwIfAborted();
      throw error;
    }
  }
}
