import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ResolvedLab } from "../config/types.ts";
import { validateLab } from "../config/validate.ts";
import { stableJson } from "../util/stable-json.ts";
import { compileLab, resolveStateRoot } from "./compile.ts";

function lab(input: unknown): ResolvedLab {
  const result = validateLab(input, "/lab/holt.config.ts");
  if (!result.ok) assert.fail(result.problems.map((p) => `${p.path}: ${p.message}`).join("\n"));
  return result.lab;
}

const addr = (host: string, name: string) => `zfs.dataset:${host}/${name}`;

describe("compileLab", () => {
  test("is deterministic: same output twice, whatever the key order of the input", () => {
    const a = lab({
      domain: "lab.example.com",
      hosts: {
        odroid: {
          stateRoot: "tank/holt",
          datasets: {
            "tank/media": { recordsize: "1M", compression: "on", atime: "off" },
            "tank/media/photos": { quota: "500G" },
          },
        },
        nas: { address: "10.0.0.2", connect: { ssh: {} }, datasets: { "big/backup": {} } },
      },
      services: {
        jellyfin: {
          host: "odroid",
          state: { config: { path: "/config", quota: "20G" }, cache: { path: "/cache" } },
          dependsOn: ["db"],
        },
        db: { host: "nas", state: { data: { path: "/var/lib/db" } } },
      },
    });
    const b = lab({
      services: {
        db: { state: { data: { path: "/var/lib/db" } }, host: "nas" },
        jellyfin: {
          dependsOn: ["db"],
          state: { cache: { path: "/cache" }, config: { quota: "20G", path: "/config" } },
          host: "odroid",
        },
      },
      hosts: {
        nas: { connect: { ssh: {} }, datasets: { "big/backup": {} }, address: "10.0.0.2" },
        odroid: {
          datasets: {
            "tank/media/photos": { quota: "500G" },
            "tank/media": { atime: "off", compression: "on", recordsize: "1M" },
          },
          stateRoot: "tank/holt",
        },
      },
      domain: "lab.example.com",
    });
    const facts = { odroid: { pools: ["tank"] }, nas: { pools: ["big"] } };
    const first = compileLab(a, facts);
    assert.deepEqual(first.problems, []);
    assert.deepEqual(compileLab(a, facts), first);
    assert.deepEqual(compileLab(b, facts), first);
    assert.equal(stableJson(compileLab(b, facts)), stableJson(first));
    assert.deepEqual(
      first.graph.resources.map((r) => r.address),
      [
        addr("nas", "big/backup"),
        addr("nas", "big/holt"),
        addr("nas", "big/holt/db"),
        addr("nas", "big/holt/db/data"),
        addr("odroid", "tank/holt"),
        addr("odroid", "tank/holt/jellyfin"),
        addr("odroid", "tank/holt/jellyfin/cache"),
        addr("odroid", "tank/holt/jellyfin/config"),
        addr("odroid", "tank/media"),
        addr("odroid", "tank/media/photos"),
      ],
    );
  });

  test("a child dataset depends on its nearest declared ancestor", () => {
    const { graph, problems } = compileLab(
      lab({
        domain: "lab.example.com",
        hosts: {
          a: {
            datasets: {
              "tank/a/b/c": { atime: false },
              "tank/a": {},
              "tank/a/b/c/d": {},
              "tank/other": {},
            },
          },
        },
      }),
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(graph, {
      lab: "lab.example.com",
      resources: [
        {
          address: addr("a", "tank/a"),
          type: "zfs.dataset",
          host: "a",
          name: "tank/a",
          inputs: { name: "tank/a", properties: {} },
          dependsOn: [],
          configPath: 'hosts.a.datasets["tank/a"]',
        },
        {
          address: addr("a", "tank/a/b/c"),
          type: "zfs.dataset",
          host: "a",
          name: "tank/a/b/c",
          inputs: { name: "tank/a/b/c", properties: { atime: "off" } },
          dependsOn: [addr("a", "tank/a")],
          configPath: 'hosts.a.datasets["tank/a/b/c"]',
        },
        {
          address: addr("a", "tank/a/b/c/d"),
          type: "zfs.dataset",
          host: "a",
          name: "tank/a/b/c/d",
          inputs: { name: "tank/a/b/c/d", properties: {} },
          dependsOn: [addr("a", "tank/a/b/c")],
          configPath: 'hosts.a.datasets["tank/a/b/c/d"]',
        },
        {
          address: addr("a", "tank/other"),
          type: "zfs.dataset",
          host: "a",
          name: "tank/other",
          inputs: { name: "tank/other", properties: {} },
          dependsOn: [],
          configPath: 'hosts.a.datasets["tank/other"]',
        },
      ],
    });
  });

  test("service state becomes <stateRoot>/<service>/<entry>, tagged with the service", () => {
    const { graph, problems } = compileLab(
      lab({
        domain: "lab.example.com",
        name: "home",
        hosts: { odroid: { stateRoot: "tank/apps" } },
        services: {
          jellyfin: {
            host: "odroid",
            state: {
              config: { path: "/config", quota: "20G", properties: { "com.example:x": "y" } },
            },
          },
          stateless: { host: "odroid" },
        },
      }),
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(graph, {
      lab: "home",
      resources: [
        {
          address: addr("odroid", "tank/apps"),
          type: "zfs.dataset",
          host: "odroid",
          name: "tank/apps",
          inputs: { name: "tank/apps", properties: {} },
          dependsOn: [],
          configPath: "hosts.odroid.stateRoot",
        },
        {
          address: addr("odroid", "tank/apps/jellyfin"),
          type: "zfs.dataset",
          host: "odroid",
          service: "jellyfin",
          name: "tank/apps/jellyfin",
          inputs: { name: "tank/apps/jellyfin", properties: {} },
          dependsOn: [addr("odroid", "tank/apps")],
          configPath: "services.jellyfin",
        },
        {
          address: addr("odroid", "tank/apps/jellyfin/config"),
          type: "zfs.dataset",
          host: "odroid",
          service: "jellyfin",
          name: "tank/apps/jellyfin/config",
          inputs: {
            name: "tank/apps/jellyfin/config",
            properties: { quota: "21474836480", "com.example:x": "y" },
          },
          dependsOn: [addr("odroid", "tank/apps/jellyfin")],
          configPath: "services.jellyfin.state.config",
        },
      ],
    });
  });

  test("a state root that is also a declared dataset is emitted once, with its properties", () => {
    const { graph, problems } = compileLab(
      lab({
        domain: "lab.example.com",
        hosts: { a: { stateRoot: "tank/holt", datasets: { "tank/holt": { compression: "on" } } } },
        services: { app: { host: "a", state: { data: { path: "/data" } } } },
      }),
    );
    assert.deepEqual(problems, []);
    const root = graph.resources.filter((r) => r.name === "tank/holt");
    assert.equal(root.length, 1);
    assert.deepEqual(root[0]?.inputs, { name: "tank/holt", properties: { compression: "on" } });
    assert.equal(root[0]?.configPath, 'hosts.a.datasets["tank/holt"]');
  });

  test("the state root defaults to <pool of the first declared dataset>/holt", () => {
    const resolved = lab({
      domain: "lab.example.com",
      hosts: { a: { datasets: { "fast/db": {}, "tank/media": {} } } },
      services: { app: { host: "a", state: { data: { path: "/data" } } } },
    });
    const host = resolved.hosts.a;
    assert.ok(host);
    // The first declared dataset wins over the first pool in the facts.
    assert.equal(resolveStateRoot(host, { pools: ["tank", "fast"] }), "fast/holt");
    const { graph, problems } = compileLab(resolved, { a: { pools: ["tank", "fast"] } });
    assert.deepEqual(problems, []);
    assert.deepEqual(
      graph.resources.map((r) => [r.name, r.configPath, r.dependsOn]),
      [
        ["fast/db", 'hosts.a.datasets["fast/db"]', []],
        ["fast/holt", "hosts.a.stateRoot", []],
        ["fast/holt/app", "services.app", [addr("a", "fast/holt")]],
        ["fast/holt/app/data", "services.app.state.data", [addr("a", "fast/holt/app")]],
        ["tank/media", 'hosts.a.datasets["tank/media"]', []],
      ],
    );
  });

  test("without declared datasets the state root defaults to the first pool in the facts", () => {
    const resolved = lab({
      domain: "lab.example.com",
      hosts: { a: {} },
      services: { app: { host: "a", state: { data: { path: "/data" } } } },
    });
    const host = resolved.hosts.a;
    assert.ok(host);
    assert.equal(resolveStateRoot(host, { pools: ["slow", "tank"] }), "slow/holt");
    assert.equal(resolveStateRoot(host, undefined), null);
    assert.equal(resolveStateRoot(host, { pools: [] }), null);
    const { graph, problems } = compileLab(resolved, { a: { pools: ["slow", "tank"] } });
    assert.deepEqual(problems, []);
    assert.deepEqual(
      graph.resources.map((r) => r.address),
      [addr("a", "slow/holt"), addr("a", "slow/holt/app"), addr("a", "slow/holt/app/data")],
    );
  });

  test("without facts, a state root that defaults to a pool is not a problem yet", () => {
    // `holt validate` compiles without contacting hosts: the root is only known at plan time.
    const { graph, problems } = compileLab(
      lab({
        domain: "lab.example.com",
        hosts: { a: {} },
        services: { app: { host: "a", state: { data: { path: "/data" } } } },
      }),
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(graph.resources, []);
  });

  test("dependsOn between services orders their service datasets, across hosts too", () => {
    const { graph, problems } = compileLab(
      lab({
        domain: "lab.example.com",
        hosts: {
          a: { stateRoot: "tank/holt" },
          b: { address: "10.0.0.2", connect: { ssh: {} }, stateRoot: "big/st" },
        },
        services: {
          web: { host: "a", state: { www: { path: "/www" } }, dependsOn: ["db", "cache", "auth"] },
          db: { host: "b", state: { data: { path: "/data" } } },
          auth: { host: "a", state: { keys: { path: "/keys" } } },
          cache: { host: "a" }, // stateless: nothing to order against
        },
      }),
    );
    assert.deepEqual(problems, []);
    const dependsOn = Object.fromEntries(graph.resources.map((r) => [r.address, r.dependsOn]));
    assert.deepEqual(dependsOn[addr("a", "tank/holt/web")], [
      addr("a", "tank/holt"),
      addr("b", "big/st/db"),
      addr("a", "tank/holt/auth"),
    ]);
    assert.deepEqual(dependsOn[addr("a", "tank/holt/auth")], [addr("a", "tank/holt")]);
    assert.deepEqual(dependsOn[addr("b", "big/st/db")], [addr("b", "big/st")]);
    // Entries hang off their own service dataset only.
    assert.deepEqual(dependsOn[addr("a", "tank/holt/web/www")], [addr("a", "tank/holt/web")]);
  });

  test("facts: datasets and a state root outside the host's pools are problems", () => {
    const { problems } = compileLab(
      lab({
        domain: "lab.example.com",
        hosts: {
          a: { stateRoot: "gone/holt", datasets: { "tank/ok": {}, "nopool/media": {} } },
        },
        services: { app: { host: "a", state: { data: { path: "/data" } } } },
      }),
      { a: { pools: ["tank", "zt"] } },
    );
    // The state root is reported once; its service datasets are not reported again.
    assert.deepEqual(problems, [
      {
        path: 'hosts.a.datasets["nopool/media"]',
        message:
          'dataset "nopool/media" is outside any pool host "a" has (pools: "tank", "zt"). Create pool "nopool" on the host first, or use one of its pools.',
      },
      {
        path: "hosts.a.stateRoot",
        message:
          'dataset "gone/holt" is outside any pool host "a" has (pools: "tank", "zt"). Create pool "gone" on the host first, or use one of its pools.',
      },
    ]);
  });

  test("facts: a host with stateful services and no pool has no state root", () => {
    const resolved = lab({
      domain: "lab.example.com",
      hosts: { a: {}, b: { address: "10.0.0.2", connect: { ssh: {} } } },
      services: {
        app: { host: "a", state: { data: { path: "/data" } } },
        tool: { host: "b" },
      },
    });
    const { graph, problems } = compileLab(resolved, { a: { pools: [] }, b: { pools: [] } });
    assert.deepEqual(problems, [
      {
        path: "hosts.a.stateRoot",
        message:
          'host "a" has services with state but no pool to keep it in. Create a ZFS pool on the host, or set stateRoot to a dataset like "tank/holt".',
      },
    ]);
    assert.deepEqual(graph.resources, []);
  });

  test("facts: a host without pools is fine when nothing needs one", () => {
    const { graph, problems } = compileLab(
      lab({ domain: "lab.example.com", hosts: { a: {} }, services: { tool: { host: "a" } } }),
      { a: { pools: [] } },
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(graph, { lab: "lab.example.com", resources: [] });
  });

  test("a declared dataset inside a defaulted state root's service dataset is a problem", () => {
    // validate.ts cannot see this: the state root defaults to "tank/holt" from the first dataset.
    const { problems } = compileLab(
      lab({
        domain: "lab.example.com",
        hosts: { a: { datasets: { "tank/holt/app/data": {} } } },
        services: { app: { host: "a", state: { data: { path: "/data" } } } },
      }),
    );
    assert.equal(problems.length, 1);
    assert.equal(problems[0]?.path, 'hosts.a.datasets["tank/holt/app/data"]');
    assert.match(problems[0]?.message ?? "", /is the state of service "app"/);
  });
});
