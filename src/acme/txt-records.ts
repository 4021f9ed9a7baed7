/**
 * The challenge TXT values one issuance adds, so every one of them is
 * removed again whatever happens. A value is remembered before it is added,
 * so an add that fails halfway (applied, answer lost) is still removed;
 * removing an absent value is fine for every backend.
 *
 * Adds and removals run one at a time: some backends change a whole record
 * set (read, add one value, write back), and two at once at one name (apex +
 * wildcard) would lose one.
 */
import { HoltError, isHoltError } from "../errors.ts";
import type { AcmeDnsBackend, TxtWait } from "./types.ts";

interface Placed {
  readonly backend: AcmeDnsBackend;
  readonly name: string;
  readonly value: string;
}

function messageOf(error: unknown): string {
  if (isHoltError(error)) return `[${error.code}] ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function describe(placed: Placed): string {
  return `TXT "${placed.value}" at ${placed.name} (zone ${placed.backend.zone}, ${placed.backend.kind})`;
}

export class ChallengeTxtRecords {
  readonly #ttl: number;
  readonly #placed: Placed[] = [];
  readonly #servers = new Map<AcmeDnsBackend, Promise<string[]>>();

  constructor(ttl: number) {
    this.#ttl = ttl;
  }

  /** The distinct TXT names added so far. */
  get names(): string[] {
    return [...new Set(this.#placed.map((placed) => placed.name))];
  }

  get count(): number {
    return this.#placed.length;
  }

  async add(backend: AcmeDnsBackend, name: string, value: string): Promise<void> {
    const placed = { backend, name, value };
    this.#placed.push(placed);
    try {
      await backend.addTxt(name, value, this.#ttl);
    } catch (error) {
      if (isHoltError(error)) throw error;
      throw new HoltError("HOLT_E_DNS", `Adding ${describe(placed)} failed: ${messageOf(error)}.`, {
        cause: error,
      });
    }
  }

  #serversOf(backend: AcmeDnsBackend): Promise<string[]> {
    let servers = this.#servers.get(backend);
    if (servers === undefined) {
      servers = backend.nameservers();
      this.#servers.set(backend, servers);
    }
    return servers;
  }

  /** Waits, all at once, until every value added is served by every nameserver of its zone. */
  async waitServed(wait: TxtWait): Promise<void> {
    await Promise.all(
      this.#placed.map(async (placed) => {
        try {
          await wait(await this.#serversOf(placed.backend), placed.name, placed.value);
        } catch (error) {
          if (isHoltError(error)) throw error;
          throw new HoltError(
            "HOLT_E_DNS",
            `${describe(placed)} was not served by every nameserver: ${messageOf(error)}. Check that the zone's nameservers answer and pick up changes.`,
            { cause: error },
          );
        }
      }),
    );
  }

  /**
   * Removes every value added, then (if given) waits until each is gone.
   * Never throws: returns one line per value it could not remove or not see gone.
   */
  async removeAll(waitGone?: TxtWait): Promise<string[]> {
    const problems: string[] = [];
    const removed: Placed[] = [];
    for (const placed of this.#placed.splice(0)) {
      try {
        await placed.backend.removeTxt(placed.name, placed.value);
        removed.push(placed);
      } catch (error) {
        problems.push(`Could not remove ${describe(placed)}: ${messageOf(error)}`);
      }
    }
    if (waitGone !== undefined) {
      await Promise.all(
        removed.map(async (placed) => {
          try {
            await waitGone(await this.#serversOf(placed.backend), placed.name, placed.value);
          } catch (error) {
            problems.push(`${describe(placed)} is still served: ${messageOf(error)}`);
          }
        }),
      );
    }
    return problems;
  }
}
