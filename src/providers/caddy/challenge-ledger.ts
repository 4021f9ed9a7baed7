/**
 * The challenge TXT values an issuance has added and not yet removed, kept in
 * the state folder (`acme/pending-txt.json`). The ACME layer removes its TXT
 * values in a `finally`, which a killed process never reaches: the next
 * issuance of the lab first removes whatever this list still holds, so a
 * crash leaves no challenge record behind for long.
 *
 * A value is listed before it is added and unlisted after it is removed.
 * Writes are queued one at a time (issuances for different names run in
 * parallel); other processes are kept out by the lab lock.
 */
import type { AcmeDnsBackend } from "../../acme/types.ts";
import type { ZoneBackend } from "../../dns/types.ts";
import type { ProviderStore } from "../../engine/provider.ts";

const PATH = "acme/pending-txt.json";

export interface PendingTxt {
  /** The zone the value was written to, and its view. */
  readonly zone: string;
  readonly view: string;
  readonly name: string;
  readonly value: string;
}

export class ChallengeLedger {
  private tail: Promise<unknown> = Promise.resolve();
  private cleaned: Promise<void> | undefined;

  private readonly store: ProviderStore;

  constructor(store: ProviderStore) {
    this.store = store;
  }

  private async read(): Promise<PendingTxt[]> {
    const text = await this.store.read(PATH);
    if (text === null) return [];
    try {
      const parsed = JSON.parse(text) as { pending?: PendingTxt[] };
      return Array.isArray(parsed.pending) ? parsed.pending : [];
    } catch {
      return [];
    }
  }

  private change(edit: (pending: PendingTxt[]) => PendingTxt[]): Promise<void> {
    const run = this.tail.then(async () => {
      const next = edit(await this.read());
      await this.store.write(PATH, `${JSON.stringify({ pending: next }, null, 2)}\n`);
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** The backend for one zone, listing each TXT value while it exists. */
  recorded(backend: ZoneBackend, view: string): AcmeDnsBackend {
    const entry = (name: string, value: string): PendingTxt => ({
      zone: backend.zone,
      view,
      name,
      value,
    });
    const same = (a: PendingTxt, b: PendingTxt) =>
      a.zone === b.zone && a.view === b.view && a.name === b.name && a.value === b.value;
    return {
      kind: backend.kind,
      zone: backend.zone,
      nameservers: () => backend.nameservers(),
      addTxt: async (name, value, ttl) => {
        const e = entry(name, value);
        await this.change((p) => [...p.filter((x) => !same(x, e)), e]);
        await backend.addTxt(name, value, ttl);
      },
      removeTxt: async (name, value) => {
        const e = entry(name, value);
        await backend.removeTxt(name, value);
        await this.change((p) => p.filter((x) => !same(x, e)));
      },
    };
  }

  /**
   * Removes the values a killed run left behind, once per process and before
   * this process adds any. `backendFor` opens the zone, or returns undefined
   * when the lab no longer has it (the entry is then kept).
   */
  cleanLeftovers(
    backendFor: (zone: string, view: string) => ZoneBackend | undefined,
  ): Promise<void> {
    this.cleaned ??= (async () => {
      for (const left of await this.read()) {
        const backend = backendFor(left.zone, left.view);
        if (backend === undefined) continue;
        await backend.removeTxt(left.name, left.value);
        await this.change((p) =>
          p.filter(
            (x) =>
              !(
                x.zone === left.zone &&
                x.view === left.view &&
                x.name === left.name &&
                x.value === left.value
              ),
          ),
        );
      }
    })();
    return this.cleaned;
  }
}
