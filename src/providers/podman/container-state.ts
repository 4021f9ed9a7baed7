import type { ContainerInputs } from "../../model/container.ts";

/**
 * A container as read. Stable fields only: the plan fingerprints it, so a
 * saved plan is refused when any of these moved.
 */
export interface ContainerState {
  /** The spec it was created from (its `holt.spec` label); null when made outside holt or unreadable. */
  readonly spec: ContainerInputs | null;
  /** Its `holt.lab` label: the lab that owns it, or null. */
  readonly owner: string | null;
  /** The image reference Podman recorded. */
  readonly image: string;
  /** Podman's state word: "running", "exited", "created", "paused", … */
  readonly status: string;
  readonly running: boolean;
  /**
   * The health probe during this read: null when it was not probed (no health
   * check declared, not running, or not this lab's).
   */
  readonly health: "passing" | "failing" | null;
  /** Whether its systemd unit is installed; null on hosts without systemd. */
  readonly bootUnit: boolean | null;
}
