/**
 * Secret names: lower-case letters, digits, `.`, `_` and `-`, starting with a
 * letter or digit, at most 63 characters. They appear in file names, env var
 * hints and plans, so they stay plain and safe everywhere. The config checks
 * `secret("name")` with it and `holt secrets` checks what it stores.
 */
export const SECRET_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;
