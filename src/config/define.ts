import type { UserLab } from "./types.ts";

/**
 * Declares a lab. An identity function: it exists so that editors type-check
 * holt.config.ts and complete its keys; a plain object works the same.
 *
 * @example
 * import { defineLab } from "holt";
 * export default defineLab({
 *   domain: "lab.example.com",
 *   hosts: { odroid: { connect: "local", datasets: { "tank/media": { recordsize: "1M" } } } },
 * });
 */
export function defineLab<const T extends UserLab>(lab: T): T {
  return lab;
}
