/** Kept in step with package.json by scripts/build.ts and a unit test. */
export const VERSION = "0.1.0";
