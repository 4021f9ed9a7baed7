/** The ZFS dataset resource as the model emits it. */

export const DATASET_TYPE = "zfs.dataset";

export interface DatasetInputs {
  /** Full ZFS name. */
  readonly name: string;
  /** Native properties (as `zfs get -p` prints them) and user properties. */
  readonly properties: Readonly<Record<string, string>>;
  /**
   * "uid" or "uid:gid" that owns the dataset's mountpoint directory (the
   * service's `user`); absent when holt leaves ownership alone.
   */
  readonly owner?: string;
}

/** The pool a dataset lives in: the first component of its name. */
export function poolOf(dataset: string): string {
  return dataset.split("/")[0] ?? dataset;
}

export function datasetAddress(host: string, name: string): string {
  return `${DATASET_TYPE}:${host}/${name}`;
}

/** The ZFS user property that marks a dataset (or snapshot) as a lab's: its value is the lab name. */
export const DATASET_OWNER_PROPERTY = "holt:managed";
