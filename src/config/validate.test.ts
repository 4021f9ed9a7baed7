import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ResolvedLab } from "./types.ts";
import { type Problem, validateLab } from "./validate.ts";

const FILE = "/lab/holt.config.ts";

function resolved(input: unknown): ResolvedLab {
  const result = validateLab(input, FILE);
  if (!result.ok) {
    assert.fail(`expected a valid lab, got: ${result.problems.map((p) => p.path).join("; ")}`);
  }
  return result.lab;
}

function problems(input: unknown): readonly Problem[] {
  const result = validateLab(input, FILE);
  if (result.ok) assert.fail("expected problems, the lab was accepted");
  return result.problems;
}

describe("validateLab: a valid lab", () => {
  test("resolves with every default filled in", () => {
    const lab = resolved({
      domain: "lab.example.com",
      hosts: {
        odroid: {
          datasets: {
            "tank/media": { recordsize: "1M", quota: "20G", atime: true, compression: "lz4" },
            "tank/media/photos": { reservation: 1024, readonly: false, copies: 2 },
          },
        },
      },
      services: {
        jellyfin: { host: "odroid", state: { config: { path: "/config", refquota: "512K" } } },
      },
    });
    assert.deepEqual(lab, {
      name: "lab.example.com",
      domain: "lab.example.com",
      file: FILE,
      hosts: {
        odroid: {
          name: "odroid",
          address: "127.0.0.1",
          connect: { kind: "local" },
          proxy: { adminAddress: "127.0.0.1:2019", adminPort: 2019, httpsPort: 443, httpPort: 80 },
          tailnet: null,
          public: null,
          stateRoot: null,
          datasets: [
            {
              name: "tank/media",
              properties: {
                recordsize: "1048576",
                quota: "21474836480",
                atime: "on",
                compression: "lz4",
              },
              configPath: 'hosts.odroid.datasets["tank/media"]',
            },
            {
              name: "tank/media/photos",
              properties: { reservation: "1024", readonly: "off", copies: "2" },
              configPath: 'hosts.odroid.datasets["tank/media/photos"]',
            },
          ],
        },
      },
      services: {
        jellyfin: {
          name: "jellyfin",
          host: "odroid",
          expose: { kind: "internal" },
          certificatePath: null,
          hooks: { preSnapshot: null, postSnapshot: null, verify: null },
          state: [
            {
              name: "config",
              path: "/config",
              properties: { refquota: "524288" },
              configPath: "services.jellyfin.state.config",
              backup: "default",
            },
          ],
          dependsOn: [],
          container: null,
        },
      },
      dns: null,
      acme: null,
      tunnel: null,
      backups: {
        policies: {
          default: {
            name: "default",
            snapshots: { last: 0, hourly: 24, daily: 30, weekly: 8, monthly: 12, yearly: 0 },
            replica: null,
            offsite: null,
          },
        },
        repositories: {},
      },
    });
  });

  test("services default to none, and an explicit name wins over the domain", () => {
    const lab = resolved({ domain: "home.arpa.example", name: "home", hosts: { a: {} } });
    assert.equal(lab.name, "home");
    assert.equal(lab.domain, "home.arpa.example");
    assert.deepEqual(lab.services, {});
    assert.deepEqual(lab.hosts.a?.datasets, []);
  });

  test("ssh hosts get the ssh defaults and keep their address", () => {
    const lab = resolved({
      domain: "lab.example.com",
      hosts: {
        here: { connect: "local" },
        nas: { address: "192.168.1.20", connect: { ssh: { port: 2222 } } },
      },
    });
    assert.deepEqual(lab.hosts.nas, {
      name: "nas",
      address: "192.168.1.20",
      connect: {
        kind: "ssh",
        user: "root",
        port: 2222,
        identityFile: "~/.ssh/id_ed25519",
        knownHostsFile: "~/.ssh/known_hosts",
      },
      proxy: { adminAddress: "127.0.0.1:2019", adminPort: 2019, httpsPort: 443, httpPort: 80 },
      tailnet: null,
      public: null,
      stateRoot: null,
      datasets: [],
    });
    assert.deepEqual(lab.hosts.here?.connect, { kind: "local" });
  });

  test('"none" limits, raw native and user properties normalize like fields', () => {
    const lab = resolved({
      domain: "lab.example.com",
      hosts: {
        a: {
          stateRoot: "tank/state",
          datasets: {
            "tank/x": {
              quota: "none",
              properties: { atime: "off", recordsize: "64K", "com.example:owner": "ciaran" },
            },
          },
        },
      },
    });
    assert.equal(lab.hosts.a?.stateRoot, "tank/state");
    assert.deepEqual(lab.hosts.a?.datasets[0]?.properties, {
      quota: "0",
      atime: "off",
      recordsize: "65536",
      "com.example:owner": "ciaran",
    });
  });

  test("dependsOn keeps the declared order", () => {
    const lab = resolved({
      domain: "lab.example.com",
      hosts: { a: {} },
      services: {
        app: { host: "a", dependsOn: ["db", "cache"] },
        db: { host: "a" },
        cache: { host: "a" },
      },
    });
    assert.deepEqual(lab.services.app?.dependsOn, ["db", "cache"]);
  });
});

describe("validateLab: problems", () => {
  test("five different mistakes are reported together, each at its path", () => {
    const found = problems({
      domain: "Not A Domain",
      nmae: "home",
      hosts: { odroid: { datasets: { "tank/media": { quota: "20 GB" } } } },
      services: {
        web: { host: "odriod", state: { config: { path: "config" } } },
      },
    });
    assert.deepEqual(
      found.map((p) => p.path),
      [
        "nmae",
        "domain",
        'hosts.odroid.datasets["tank/media"].quota',
        "services.web.host",
        "services.web.state.config.path",
      ],
    );
    const at = (path: string) => found.find((p) => p.path === path)?.message ?? "";
    assert.match(at("nmae"), /unknown key "nmae"\. Did you mean "name"\?/);
    assert.match(at("domain"), /"Not A Domain" is not a domain name/);
    assert.match(at('hosts.odroid.datasets["tank/media"].quota'), /"20 GB" is not a valid quota/);
    assert.match(
      at("services.web.host"),
      /"odriod" is not a host of this lab\. Did you mean "odroid"\?/,
    );
    assert.match(at("services.web.state.config.path"), /"config" is not an absolute path/);
  });

  test("a lab name is a lower-case DNS label (or several, joined by dots, like the default)", () => {
    for (const name of ["home", "lab-2", "0lab", "home.lab", "a".repeat(63), "lab.example.com"]) {
      assert.equal(resolved({ domain: "lab.example.com", name, hosts: { a: {} } }).name, name);
    }
    for (const [name, like] of [
      ["My Lab", "my-lab"],
      ["-lab", "lab"],
      ["lab-", "lab"],
      ["../../etc", "etc"],
      ["lab:prod", "lab-prod"],
      ["lab/prod", "lab-prod"],
      ["home..lab", "home.lab"],
      ["a".repeat(64), "a".repeat(63)],
      ["étage", "tage"],
      ["%%%", "home"],
    ] as const) {
      const found = problems({ domain: "lab.example.com", name, hosts: { a: {} } });
      assert.deepEqual(
        found.map((p) => p.path),
        ["name"],
        name,
      );
      const message = found[0]?.message ?? "";
      assert.ok(message.startsWith(JSON.stringify(name).slice(0, 20)), message);
      assert.match(
        message,
        /is not a valid lab name\. Use a DNS label: lower-case letters, digits and "-", 1 to 63 characters/,
      );
      assert.ok(message.includes(`like "${like}"`), `${name}: ${message}`);
      // A lab that ran under a name earlier versions took is told how to carry it over.
      assert.match(
        message,
        /if this lab has run under this one, follow docs\/configuration\.md#renaming-a-lab/,
      );
    }
  });

  test("a default export that is not an object is one problem", () => {
    assert.deepEqual(
      problems(undefined).map((p) => p.path),
      ["(default export)"],
    );
    assert.match(problems(42)[0]?.message ?? "", /^42 is not a lab\. .*export default defineLab/);
  });

  test("wrong types name the type given and the one expected", () => {
    const found = problems({ domain: "lab.example.com", hosts: [] });
    assert.deepEqual(found, [{ path: "hosts", message: "[] is a list; expected an object." }]);
  });

  test("a missing required key says so", () => {
    const found = problems({ hosts: { a: {} } });
    assert.deepEqual(found, [{ path: "domain", message: "is required (string)." }]);
  });

  test("a dependency cycle is printed whole, once", () => {
    const found = problems({
      domain: "lab.example.com",
      hosts: { a: {} },
      services: {
        x: { host: "a", dependsOn: ["y"] },
        y: { host: "a", dependsOn: ["z"] },
        z: { host: "a", dependsOn: ["x"] },
      },
    });
    assert.deepEqual(found, [
      {
        path: "services.x.dependsOn",
        message: "dependency cycle: x → y → z → x. Remove one of these dependsOn entries.",
      },
    ]);
  });

  test("a service state dataset declared again under datasets is a duplicate", () => {
    const found = problems({
      domain: "lab.example.com",
      hosts: { a: { stateRoot: "tank/holt", datasets: { "tank/holt/app/config": {} } } },
      services: { app: { host: "a", state: { config: { path: "/config" } } } },
    });
    assert.equal(found.length, 1);
    assert.equal(found[0]?.path, 'hosts.a.datasets["tank/holt/app/config"]');
    assert.match(found[0]?.message ?? "", /is the state of service "app"/);
  });
});
