/**
 * The environment variable that may hold the lab's age private key itself
 * (`secrets/identity.ts` reads it). Named once here because `hosts/` keeps
 * it out of every program holt starts, and `hosts/` may not import `secrets/`.
 */
export const AGE_KEY_ENV = "HOLT_AGE_KEY";
