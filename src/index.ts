/**
 * holt's public API: what holt.config.ts imports, and the programmatic
 * plan/apply that the CLI, the daemon and the tests share.
 */

export type { DatasetProperties } from "./config/dataset-properties.ts";
export { defineLab } from "./config/define.ts";
export type {
  ResolvedLab,
  UserConnect,
  UserDataset,
  UserHost,
  UserLab,
  UserService,
  UserStateEntry,
} from "./config/types.ts";
