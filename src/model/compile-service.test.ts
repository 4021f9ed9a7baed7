import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { secret } from "../config/secret.ts";
import type { ResolvedLab } from "../config/types.ts";
import { validateLab } from "../config/validate.ts";
import type { Resource } from "../engine/resource.ts";
import { compileLab } from "./compile.ts";
import type { ContainerInputs } from "./container.ts";
import type { DatasetInputs } from "./dataset.ts";
import type { RouteInputs } from "./route.ts";

function lab(input: unknown): ResolvedLab {
  const result = validateLab(input, "/lab/holt.config.ts");
  if (!result.ok) assert.fail(result.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return result.lab;
}

const LAB = {
  domain: "lab.example.com",
  name: "home",
  hosts: {
    odroid: {
      stateRoot: "tank/holt",
      datasets: { "tank/media": { recordsize: "1M" } },
      proxy: { httpsPort: 8443, httpPort: 8080 },
    },
  },
  services: {
    jellyfin: {
      host: "odroid",
      image: "docker.io/jellyfin/jellyfin:10.10.3",
      hostname: "media",
      port: 8096,
      state: { config: { path: "/config", quota: "20G" }, cache: { path: "/cache" } },
      mounts: { "/media": { dataset: "tank/media", readOnly: true } },
      env: { TZ: "Europe/Berlin", JELLYFIN_PublishedServerUrl: 1 },
      secrets: { JELLYFIN_API_KEY: secret("jellyfin-api-key") },
      user: "1000:1000",
      health: { http: "/health", interval: "10s" },
      resources: { memory: "1G", cpus: 2 },
      dependsOn: ["postgres"],
      command: ["--nowebclient"],
    },
    postgres: {
      host: "odroid",
      image: "docker.io/library/postgres:16.4",
      port: 5432,
      hostPort: 15432,
      ports: ["5433:5432/tcp"],
      state: { data: { path: "/var/lib/postgresql/data", recordsize: "16K" } },
      secrets: { "/run/secrets/pg": secret("pg-password") },
    },
  },
};

const DIGESTS = new Map([
  ["jellyfin-api-key", "d1"],
  ["pg-password", "d2"],
]);

function byAddress(resources: readonly Resource[], address: string): Resource {
  const found = resources.find((r) => r.address === address);
  if (found === undefined) assert.fail(`no resource ${address}`);
  return found;
}

describe("compileLab: services with containers", () => {
  const { graph, problems } = compileLab(
    lab(LAB),
    { odroid: { pools: ["tank"] } },
    { secrets: DIGESTS },
  );

  test("emits one network per host, a container per service, a route per hostname, the proxy host's kernel setting", () => {
    assert.deepEqual(problems, []);
    const types = graph.resources
      .filter((r) => r.type !== "zfs.dataset")
      .map((r) => r.address)
      .sort();
    assert.deepEqual(types, [
      "caddy.route:odroid/media.lab.example.com",
      "host.sysctl:odroid/net.ipv4.tcp_migrate_req",
      "podman.container:odroid/holt-jellyfin",
      "podman.container:odroid/holt-postgres",
      "podman.network:odroid/holt-home",
    ]);
  });

  test("a container comes after its network, its datasets, its mounts and its dependencies", () => {
    const jellyfin = byAddress(graph.resources, "podman.container:odroid/holt-jellyfin");
    assert.deepEqual([...jellyfin.dependsOn].sort(), [
      "podman.container:odroid/holt-postgres",
      "podman.network:odroid/holt-home",
      "zfs.dataset:odroid/tank/holt/jellyfin/cache",
      "zfs.dataset:odroid/tank/holt/jellyfin/config",
      "zfs.dataset:odroid/tank/media",
    ]);
    const route = byAddress(graph.resources, "caddy.route:odroid/media.lab.example.com");
    assert.deepEqual(route.dependsOn, [
      "podman.container:odroid/holt-jellyfin",
      "host.sysctl:odroid/net.ipv4.tcp_migrate_req",
    ]);
  });

  test("container inputs carry every resolved field, secrets only as name and digest", () => {
    const inputs = byAddress(graph.resources, "podman.container:odroid/holt-jellyfin")
      .inputs as ContainerInputs;
    assert.deepEqual(inputs, {
      name: "holt-jellyfin",
      service: "jellyfin",
      image: "docker.io/jellyfin/jellyfin:10.10.3",
      command: ["--nowebclient"],
      env: { JELLYFIN_PublishedServerUrl: "1", TZ: "Europe/Berlin" },
      secrets: [
        { target: "JELLYFIN_API_KEY", kind: "env", secret: "jellyfin-api-key", digest: "d1" },
      ],
      user: "1000:1000",
      network: "holt-home",
      aliases: ["jellyfin"],
      ports: [{ hostAddress: "127.0.0.1", hostPort: 8096, containerPort: 8096, protocol: "tcp" }],
      mounts: [
        { dataset: "tank/holt/jellyfin/cache", target: "/cache", readOnly: false },
        { dataset: "tank/holt/jellyfin/config", target: "/config", readOnly: false },
        { dataset: "tank/media", target: "/media", readOnly: true },
      ],
      memory: 1024 ** 3,
      cpus: 2,
      health: { http: "/health", hostPort: 8096, intervalMs: 10_000, timeoutMs: 5_000, retries: 3 },
    });
  });

  test("hostPort and raw ports are published where declared", () => {
    const inputs = byAddress(graph.resources, "podman.container:odroid/holt-postgres")
      .inputs as ContainerInputs;
    assert.deepEqual(inputs.ports, [
      { hostAddress: "0.0.0.0", hostPort: 5433, containerPort: 5432, protocol: "tcp" },
      { hostAddress: "127.0.0.1", hostPort: 15432, containerPort: 5432, protocol: "tcp" },
    ]);
    assert.deepEqual(inputs.secrets, [
      { target: "/run/secrets/pg", kind: "file", secret: "pg-password", digest: "d2" },
    ]);
  });

  test("the route proxies the hostname to the loopback port with the host's proxy settings", () => {
    const route = byAddress(graph.resources, "caddy.route:odroid/media.lab.example.com")
      .inputs as RouteInputs;
    assert.deepEqual(route, {
      hostname: "media.lab.example.com",
      service: "jellyfin",
      upstream: { address: "127.0.0.1", port: 8096 },
      tls: "internal",
      proxy: { adminAddress: "127.0.0.1:2019", adminPort: 2019, httpsPort: 8443, httpPort: 8080 },
    });
  });

  test("state datasets belong to the service's user; others are left alone", () => {
    const config = byAddress(graph.resources, "zfs.dataset:odroid/tank/holt/jellyfin/config")
      .inputs as DatasetInputs;
    assert.equal(config.owner, "1000:1000");
    const data = byAddress(graph.resources, "zfs.dataset:odroid/tank/holt/postgres/data")
      .inputs as DatasetInputs;
    assert.equal(data.owner, undefined);
    const media = byAddress(graph.resources, "zfs.dataset:odroid/tank/media")
      .inputs as DatasetInputs;
    assert.equal(media.owner, undefined);
  });

  test("a secret missing from the secrets file is a problem at its config path", () => {
    const result = compileLab(
      lab(LAB),
      { odroid: { pools: ["tank"] } },
      { secrets: new Map([["pg-password", "d2"]]) },
    );
    assert.deepEqual(
      result.problems.map((p) => p.path),
      ["services.jellyfin.secrets.JELLYFIN_API_KEY"],
    );
    assert.match(result.problems[0]?.message ?? "", /holt secrets set jellyfin-api-key/);
  });

  test("without a secrets file to check against, secrets compile with empty digests", () => {
    const result = compileLab(lab(LAB), { odroid: { pools: ["tank"] } });
    assert.deepEqual(result.problems, []);
  });

  test("a service without an image is only datasets, as before", () => {
    const result = compileLab(
      lab({
        domain: "lab.example.com",
        hosts: { odroid: { stateRoot: "tank/holt" } },
        services: { files: { host: "odroid", state: { data: { path: "/data" } } } },
      }),
    );
    assert.deepEqual(
      result.graph.resources.map((r) => r.type),
      ["zfs.dataset", "zfs.dataset", "zfs.dataset"],
    );
  });
});
