import assert from "node:assert/strict";
import { test } from "node:test";
import type { FieldChange, Observed } from "../../engine/provider.ts";
import type { ContainerInputs } from "../../model/container.ts";
import type { ContainerState } from "./container-state.ts";
import { containerDescribe, containerDiff } from "./fields.ts";

function inputs(overrides: Partial<ContainerInputs> = {}): ContainerInputs {
  return {
    name: "holt-media",
    service: "media",
    image: "docker.io/jellyfin/jellyfin:10.10.3",
    command: null,
    env: { TZ: "Europe/Paris" },
    secrets: [{ target: "DB_PASSWORD", kind: "env", secret: "db", digest: "k1:aaaaaaaaaaaaaaaa" }],
    user: "1000:1000",
    network: "holt-lab",
    aliases: ["media"],
    ports: [{ hostAddress: "127.0.0.1", hostPort: 8096, containerPort: 8096, protocol: "tcp" }],
    mounts: [{ dataset: "tank/holt/media/config", target: "/config", readOnly: false }],
    memory: null,
    cpus: null,
    health: { http: "/health", hostPort: 8096, intervalMs: 5000, timeoutMs: 2000, retries: 3 },
    ...overrides,
  };
}

function observed(
  spec: ContainerInputs | null,
  extra: Partial<ContainerState> = {},
  managed = true,
): Observed<ContainerState> {
  return {
    state: {
      spec,
      owner: managed ? "lab" : null,
      image: spec?.image ?? "docker.io/library/nginx:latest",
      status: "running",
      running: true,
      health: "passing",
      bootUnit: null,
      ...extra,
    },
    managed,
  };
}

const show = (fields: readonly FieldChange[]): string[] =>
  fields.map(
    (f) => `${f.path}: ${f.before ?? "-"} → ${f.after ?? "-"}${f.forcesReplace ? " !" : ""}`,
  );

test("in sync: running, healthy, same spec → no fields", () => {
  assert.deepEqual(containerDiff(inputs(), observed(inputs())), []);
});

test("an image change forces a replace and reads `image: a → b`", () => {
  const fields = containerDiff(
    inputs(),
    observed(inputs({ image: "docker.io/jellyfin/jellyfin:10.9" })),
  );
  assert.deepEqual(show(fields), [
    "image: docker.io/jellyfin/jellyfin:10.9 → docker.io/jellyfin/jellyfin:10.10.3 !",
  ]);
});

test("env: one field per key, added and removed keys show as absent", () => {
  const old = inputs({ env: { TZ: "UTC", OLD: "1" } });
  const now = inputs({ env: { TZ: "Europe/Paris", NEW: "yes" } });
  assert.deepEqual(show(containerDiff(now, observed(old))), [
    "env.NEW: - → yes !",
    "env.OLD: 1 → - !",
    "env.TZ: UTC → Europe/Paris !",
  ]);
});

test("secrets: a new value says changed, never the value or its digest", () => {
  const old = inputs();
  const now = inputs({
    secrets: [{ target: "DB_PASSWORD", kind: "env", secret: "db", digest: "k1:bbbbbbbbbbbbbbbb" }],
  });
  const fields = containerDiff(now, observed(old));
  assert.deepEqual(show(fields), ["secret DB_PASSWORD: (secret) → (secret, changed) !"]);
  const text = JSON.stringify(fields);
  assert.doesNotMatch(text, /aaaa|bbbb|k1:/);
});

test("secrets: added and removed targets", () => {
  const old = inputs();
  const now = inputs({
    secrets: [{ target: "/run/secrets/token", kind: "file", secret: "token", digest: "k1:c" }],
  });
  assert.deepEqual(show(containerDiff(now, observed(old))), [
    "secret /run/secrets/token: - → (secret) !",
    "secret DB_PASSWORD: (secret) → - !",
  ]);
});

test("ports, mounts, command, user, memory, cpus and health read as people write them", () => {
  const old = inputs();
  const now = inputs({
    command: ["--port", "8097", "--name", "my media"],
    user: "0:0",
    ports: [{ hostAddress: "127.0.0.1", hostPort: 8097, containerPort: 8096, protocol: "tcp" }],
    mounts: [
      { dataset: "tank/holt/media/config", target: "/config", readOnly: true },
      { dataset: "tank/media", target: "/media", readOnly: true },
    ],
    memory: 2 * 1024 ** 3,
    cpus: 1.5,
    health: { http: "/", hostPort: 8097, intervalMs: 1500, timeoutMs: 1000, retries: 5 },
  });
  assert.deepEqual(show(containerDiff(now, observed(old))), [
    'command: - → --port 8097 --name "my media" !',
    "user: 1000:1000 → 0:0 !",
    "ports: 127.0.0.1:8096:8096/tcp → 127.0.0.1:8097:8096/tcp !",
    "mount /config: tank/holt/media/config → tank/holt/media/config (read-only) !",
    "mount /media: - → tank/media (read-only) !",
    "memory: - → 2G !",
    "cpus: - → 1.5 !",
    "health: GET /health on port 8096, every 5s, timeout 2s, 3 retries → GET / on port 8097, every 1500ms, timeout 1s, 5 retries !",
  ]);
});

test("a field this code does not know (a newer ContainerInputs) still shows and replaces", () => {
  const now = { ...inputs(), init: true } as unknown as ContainerInputs;
  assert.deepEqual(show(containerDiff(now, observed(inputs()))), ["init: - → true !"]);
});

test("same spec but stopped → update `state: exited → running`", () => {
  const fields = containerDiff(
    inputs(),
    observed(inputs(), { status: "exited", running: false, health: null }),
  );
  assert.deepEqual(show(fields), ["state: exited → running"]);
});

test("running but its health check fails → update `health: failing → passing`", () => {
  assert.deepEqual(show(containerDiff(inputs(), observed(inputs(), { health: "failing" }))), [
    "health: failing → passing",
  ]);
});

test("a missing boot unit on a systemd host is an update", () => {
  assert.deepEqual(show(containerDiff(inputs(), observed(inputs(), { bootUnit: false }))), [
    "boot unit: missing → installed",
  ]);
  assert.deepEqual(containerDiff(inputs(), observed(inputs(), { bootUnit: true })), []);
});

test("a container made by hand shows what adopting would do", () => {
  assert.deepEqual(show(containerDiff(inputs(), observed(null, {}, false))), [
    "container: made outside holt → created by holt !",
    "image: docker.io/library/nginx:latest → docker.io/jellyfin/jellyfin:10.10.3 !",
  ]);
});

test("describe: the fields of a new container, secrets masked", () => {
  assert.deepEqual(show(containerDescribe(inputs())), [
    "image: - → docker.io/jellyfin/jellyfin:10.10.3",
    "user: - → 1000:1000",
    "ports: - → 127.0.0.1:8096:8096/tcp",
    "mount /config: - → tank/holt/media/config",
    "env.TZ: - → Europe/Paris",
    "secret DB_PASSWORD: - → (secret)",
    "health: - → GET /health on port 8096, every 5s, timeout 2s, 3 retries",
  ]);
});
