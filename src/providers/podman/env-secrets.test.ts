import assert from "node:assert/strict";
import { test } from "node:test";
import type { ContainerSecret } from "../../model/container.ts";
import { envSecretWarning } from "./env-secrets.ts";

const env = (target: string): ContainerSecret => ({
  target,
  kind: "env",
  secret: "s",
  digest: "d",
});
const file = (target: string): ContainerSecret => ({
  target,
  kind: "file",
  secret: "s",
  digest: "d",
});

const containers = [
  { service: "web", secrets: [env("DB_PASSWORD"), file("/run/secrets/token")] },
  { service: "api", secrets: [env("API_TOKEN")] },
  { service: "files", secrets: [file("/run/secrets/key")] },
];

test("envSecretWarning: Podman before 5.3 with environment secrets, all named in one warning", () => {
  for (const version of [
    { major: 4, minor: 3, patch: 1 },
    { major: 5, minor: 2, patch: 5 },
  ]) {
    assert.equal(
      envSecretWarning("nas", version, containers),
      `Podman ${version.major}.${version.minor}.${version.patch} on host "nas" shows the values of secrets given as environment variables in \`podman inspect\` (Podman 5.3 and later hide them): api: API_TOKEN, web: DB_PASSWORD. Give them as files instead (a secrets key starting with "/", read by the app from that path), or upgrade Podman. See docs/secrets.md.`,
    );
  }
});

test("envSecretWarning: none from Podman 5.3 on, or without environment secrets", () => {
  for (const version of [
    { major: 5, minor: 3, patch: 0 },
    { major: 6, minor: 0, patch: 0 },
  ]) {
    assert.equal(envSecretWarning("nas", version, containers), null);
  }
  assert.equal(
    envSecretWarning("nas", { major: 4, minor: 3, patch: 1 }, [containers[2] as never]),
    null,
  );
  assert.equal(envSecretWarning("nas", { major: 4, minor: 3, patch: 1 }, []), null);
});
