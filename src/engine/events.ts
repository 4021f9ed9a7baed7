/**
 * One typed event stream for an apply. The terminal renderer, the journal
 * and (later) the dashboard all read these same events.
 */
import type { Action } from "./plan-types.ts";

interface Base {
  /** Increasing within one apply. */
  readonly seq: number;
  /** ISO time. */
  readonly at: string;
}

export type ApplyEvent =
  | (Base & { readonly kind: "apply-start"; readonly steps: number })
  | (Base & { readonly kind: "step-start"; readonly address: string; readonly action: Action })
  | (Base & {
      readonly kind: "step-done";
      readonly address: string;
      readonly action: Action;
      readonly ms: number;
    })
  | (Base & {
      readonly kind: "step-failed";
      readonly address: string;
      readonly action: Action;
      readonly ms: number;
      readonly error: string;
      readonly details: readonly string[];
    })
  | (Base & {
      readonly kind: "step-skipped";
      readonly address: string;
      readonly action: Action;
      readonly reason: string;
    })
  | (Base & {
      readonly kind: "apply-done";
      readonly ok: boolean;
      readonly done: number;
      readonly failed: number;
      readonly skipped: number;
      readonly ms: number;
    });

export type ApplyEventKind = ApplyEvent["kind"];

/** Distributes on an event type so each variant loses seq/at on its own. */
type WithoutStamp<E> = E extends unknown ? Omit<E, "seq" | "at"> : never;
export type ApplyEventInput = WithoutStamp<ApplyEvent>;

export type EventSink = (event: ApplyEvent) => void;
