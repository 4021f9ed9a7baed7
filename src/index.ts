/**
 * holt's public API: what holt.config.ts imports, and the programmatic
 * plan/apply that the CLI, the daemon and the tests share.
 */

export type { DatasetProperties } from "./config/dataset-properties.ts";
export { defineLab } from "./config/define.ts";
export { type SecretRef, secret } from "./config/secret.ts";
export type {
  ResolvedLab,
  UserConnect,
  UserDataset,
  UserHealth,
  UserHost,
  UserLab,
  UserMount,
  UserProxy,
  UserResources,
  UserService,
  UserStateEntry,
} from "./config/types.ts";
