/**
 * Containers on real Podman with datasets on real zfs-fuse, through holt's
 * engine: create with the health gate, DNS between services, replace on image
 * and env changes, secrets, failing services, hand-made containers, crash
 * leftovers, deletes, and the boot unit checked by the real systemd-analyze.
 */
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { HoltError } from "../../src/errors.ts";
import { createLocalExec } from "../../src/hosts/local-exec.ts";
import type { ContainerInputs } from "../../src/model/container.ts";
import type { ContainerState } from "../../src/providers/podman/container-provider.ts";
import { podmanVersion } from "../../src/providers/podman/host.ts";
import { runArgv } from "../../src/providers/podman/run-args.ts";
import { renderBootUnit, verifyBootUnit } from "../../src/providers/podman/systemd.ts";
import { ensureTestImages, podman, podmanOk, type TestImages } from "../peers/podman.ts";
import { freePort } from "../peers/ports.ts";
import { createTestPool, type TestPool } from "../peers/zfs.ts";
import { zfs } from "./harness.ts";
import {
  createPodmanLab,
  get,
  HOST,
  type PodmanLab,
  quickHealth,
  uniqueService,
} from "./podman-harness.ts";

const exec = createLocalExec();
let pool: TestPool;
let images: TestImages;

before(async () => {
  images = await ensureTestImages();
  pool = await createTestPool({ prefix: "holtpm" });
});

after(async () => {
  await pool?.destroy();
  await exec.close();
});

/** A dataset for a service, mounted by zfs-fuse; returns its name and mountpoint. */
function dataset(service: string): { name: string; path: string } {
  const name = `${pool.name}/${service}`;
  zfs("create", "-p", name);
  return { name, path: `/${name}` };
}

function labFor(
  t: { after: (fn: () => Promise<void>) => void },
  tag: string,
  secrets = {},
): PodmanLab {
  const lab = createPodmanLab(tag, { exec, secrets });
  t.after(() => lab.cleanup());
  return lab;
}

function inspect(name: string): {
  Id: string;
  State: { Status: string };
  Config: { Labels: Record<string, string>; CreateCommand: string[]; Env: string[] };
  ImageName: string;
} {
  const [entry] = JSON.parse(podmanOk(["container", "inspect", name]));
  return entry;
}

/** Serves both the image's /www (version.txt) and the dataset at /data, and writes into the dataset. */
const SERVE_ROOT = ["sh", "-c", "date > /data/started.txt; exec httpd -f -p 80 -h /"];

test("journey: create with a dataset, DNS by service name, no-op, image and env replace, delete", async (t) => {
  const lab = labFor(t, "journey");
  const web = uniqueService("web");
  const client = uniqueService("client");
  const data = dataset(web);
  const port = await freePort();
  const webInputs: Partial<ContainerInputs> = {
    image: images.v1,
    command: SERVE_ROOT,
    env: { TZ: "UTC" },
    ports: [{ hostAddress: "127.0.0.1", hostPort: port, containerPort: 80, protocol: "tcp" }],
    mounts: [{ dataset: data.name, target: "/data", readOnly: false }],
    health: quickHealth(port, "/www/version.txt"),
  };
  const clientInputs: Partial<ContainerInputs> = { command: ["sleep", "3600"] };
  const desired = (w: Partial<ContainerInputs>) => [
    lab.network,
    lab.container(web, w),
    {
      ...lab.container(client, clientInputs),
      dependsOn: [lab.network.address, lab.container(web, w).address],
    },
  ];

  const first = await lab.apply(desired(webInputs));
  assert.deepEqual(first.failed, []);
  assert.deepEqual(
    first.plan.changes.map((c) => [c.action, c.noun]),
    [
      ["create", "network"],
      ["create", "container"],
      ["create", "container"],
    ],
  );
  t.diagnostic(`create network + 2 containers (one with a 250 ms health check): ${first.ms} ms`);

  // The container wrote into the dataset, and serves what is in it.
  assert.ok(existsSync(`${data.path}/started.txt`), "a file the container wrote is in the dataset");
  writeFileSync(`${data.path}/hello.txt`, "from the host\n");
  assert.deepEqual(await get(port, "/data/hello.txt"), { status: 200, body: "from the host\n" });
  assert.deepEqual(await get(port, "/www/version.txt"), { status: 200, body: "1.0\n" });

  // The client reaches web by its service name through Podman's DNS. aardvark-dns serves
  // every network of the host from one process and reloads when any network changes (other
  // test files create and remove theirs meanwhile), so a lookup may fail for a moment: a few
  // tries, a second apart.
  let viaDns: ReturnType<typeof podman> | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    viaDns = podman([
      "exec",
      `holt-${client}`,
      "wget",
      "-q",
      "-O",
      "-",
      `http://${web}/data/hello.txt`,
    ]);
    if (viaDns.code === 0) break;
    await sleep(1000);
  }
  assert.equal(viaDns?.code, 0, viaDns?.stderr);
  assert.equal(viaDns?.stdout, "from the host\n");

  // Nothing changed: nothing to do.
  const again = await lab.plan(desired(webInputs));
  assert.deepEqual(again.changes, []);
  assert.deepEqual(again.unmanaged, []);

  // A new image tag replaces the container; the data stays.
  const v2 = { ...webInputs, image: images.v2 };
  const replaced = await lab.apply(desired(v2));
  assert.deepEqual(replaced.failed, []);
  assert.deepEqual(
    replaced.plan.changes.map((c) => [
      c.action,
      c.name,
      c.fields.map((f) => `${f.path}: ${f.before} → ${f.after}`),
    ]),
    [["replace", `holt-${web}`, [`image: ${images.v1} → ${images.v2}`]]],
  );
  assert.deepEqual(await get(port, "/www/version.txt"), { status: 200, body: "1.1\n" });
  assert.deepEqual(await get(port, "/data/hello.txt"), { status: 200, body: "from the host\n" });
  assert.equal(inspect(`holt-${web}`).ImageName, images.v2);

  // An env change replaces it too, and the new container has the new value.
  const tz = { ...v2, env: { TZ: "Europe/Paris" } };
  const envChange = await lab.apply(desired(tz));
  assert.deepEqual(envChange.failed, []);
  assert.deepEqual(
    envChange.plan.changes.map((c) => c.fields.map((f) => `${f.path}: ${f.before} → ${f.after}`)),
    [["env.TZ: UTC → Europe/Paris"]],
  );
  assert.equal(podmanOk(["exec", `holt-${web}`, "sh", "-c", "echo $TZ"]), "Europe/Paris\n");
  assert.deepEqual((await lab.plan(desired(tz))).changes, []);

  // Removing both services from the config deletes their containers, then the network.
  const removed = await lab.apply([]);
  assert.deepEqual(removed.failed, []);
  assert.deepEqual(
    removed.plan.changes.map((c) => [c.action, c.noun]),
    [
      ["delete", "container"],
      ["delete", "container"],
      ["delete", "network"],
    ],
  );
  assert.notEqual(podman(["container", "exists", `holt-${web}`]).code, 0);
  assert.notEqual(podman(["network", "exists", lab.network.name]).code, 0);
  assert.ok(existsSync(`${data.path}/hello.txt`), "deleting a container keeps its data");
});

test("a failing health check is HOLT_E_HEALTH with the log; other services are unaffected", async (t) => {
  const lab = labFor(t, "health");
  const good = uniqueService("good");
  const bad = uniqueService("bad");
  const crash = uniqueService("crash");
  const goodPort = await freePort();
  const badPort = await freePort();
  const resources = [
    lab.network,
    lab.container(good, {
      ports: [{ hostAddress: "127.0.0.1", hostPort: goodPort, containerPort: 80, protocol: "tcp" }],
      health: quickHealth(goodPort),
    }),
    lab.container(bad, {
      command: [
        "sh",
        "-c",
        "echo booting bad; echo 'no config at /config' >&2; exec httpd -f -p 80 -h /www",
      ],
      ports: [{ hostAddress: "127.0.0.1", hostPort: badPort, containerPort: 80, protocol: "tcp" }],
      health: quickHealth(badPort, "/health"),
    }),
    lab.container(crash, { command: ["sh", "-c", "echo crashing now; exit 3"] }),
  ];
  const started = Date.now();
  const outcome = await lab.apply(resources);
  t.diagnostic(`apply with a failing gate: ${Date.now() - started} ms`);
  const failures = new Map(outcome.failed.map((f) => [f.address, f]));
  assert.equal(failures.size, 2);

  const badFailure = failures.get(lab.container(bad, {}).address);
  assert.match(
    badFailure?.error ?? "",
    /^\[HOLT_E_HEALTH\] Service "bad\d+x\d+" on host "box" did not become healthy/,
  );
  assert.match(badFailure?.error ?? "", /last result: answered 404/);
  assert.deepEqual(badFailure?.details, ["booting bad", "no config at /config"]);

  const crashFailure = failures.get(lab.container(crash, {}).address);
  assert.match(crashFailure?.error ?? "", /HOLT_E_HEALTH.*(exited with code 3|restarted it)/);
  assert.ok(crashFailure?.details.includes("crashing now"));

  // The good one is up; the failed ones stay in place for `holt logs`.
  assert.equal((await get(goodPort, "/index.html")).status, 200);
  assert.equal(inspect(`holt-${bad}`).State.Status, "running");
  assert.notEqual(
    inspect(`holt-${crash}`).State.Status,
    "running",
    "a crashing container is stopped",
  );

  // The next plan starts them again (and the gate runs again).
  const next = await lab.plan(resources);
  assert.deepEqual(
    next.changes.map((c) => [
      c.name,
      c.action,
      // Podman calls a container it stopped "stopped" with runc, "exited" with crun.
      c.fields.map((f) => `${f.path}: ${f.before?.replace("stopped", "exited")} → ${f.after}`),
    ]),
    [
      [`holt-${bad}`, "update", ["health: failing → passing"]],
      [`holt-${crash}`, "update", ["state: exited → running"]],
    ],
  );
});

test("secrets: an env variable and a 0400 file for a non-root user; values stay out of argv, labels and errors", async (t) => {
  const value = `s3cr3t-${process.pid}-value`;
  const rotated = `r0tated-${process.pid}-value`;
  const lab = labFor(t, "secrets", { db: value, token: value, "db-new": rotated });
  const app = uniqueService("app");
  const port = await freePort();
  const inputs = (digest: string, secret = "db"): Partial<ContainerInputs> => ({
    user: "1000:1000",
    command: ["sh", "-c", "echo password is $DB_PASSWORD; exec httpd -f -p 8080 -h /www"],
    ports: [{ hostAddress: "127.0.0.1", hostPort: port, containerPort: 8080, protocol: "tcp" }],
    secrets: [
      { target: "/run/secrets/token", kind: "file", secret: "token", digest: "1".repeat(32) },
      { target: "DB_PASSWORD", kind: "env", secret, digest },
    ],
    health: quickHealth(port),
  });
  const name = `holt-${app}`;
  const first = await lab.apply([lab.network, lab.container(app, inputs("a".repeat(32)))]);
  assert.deepEqual(first.failed, []);

  assert.equal(podmanOk(["exec", name, "sh", "-c", "echo $DB_PASSWORD"]), `${value}\n`);
  assert.equal(podmanOk(["exec", name, "cat", "/run/secrets/token"]), value);
  assert.equal(podmanOk(["exec", name, "stat", "-c", "%a %u", "/run/secrets/token"]), "400 1000\n");
  assert.equal(podmanOk(["exec", name, "id", "-u"]), "1000\n");

  const info = inspect(name);
  assert.ok(
    !JSON.stringify(info.Config.CreateCommand).includes(value),
    "not in the create command",
  );
  assert.ok(!JSON.stringify(info.Config.Labels).includes(value), "not in the labels");
  // Podman 4.3 itself lists env secrets among the container's Env in `podman inspect`
  // (root-only). holt cannot change that; file secrets avoid it.
  t.diagnostic(
    `podman inspect Config.Env shows the env secret: ${info.Config.Env.some((e) => e.includes(value))}`,
  );
  const secretNames = () =>
    podmanOk(["secret", "ls", "--format", "{{.Name}}"])
      .split("\n")
      .filter((n) => n.startsWith(`holt-${app}-`))
      .sort();
  assert.deepEqual(secretNames(), [
    `holt-${app}-db-aaaaaaaaaaaa`,
    `holt-${app}-token-111111111111`,
  ]);

  // A new value (new digest) replaces the container and removes the old Podman secret.
  const rotation = await lab.apply([
    lab.network,
    lab.container(app, inputs("b".repeat(32), "db-new")),
  ]);
  assert.deepEqual(rotation.failed, []);
  assert.deepEqual(
    rotation.plan.changes.map((c) => c.fields.map((f) => `${f.path}: ${f.before} → ${f.after}`)),
    [["secret DB_PASSWORD: (secret) → (secret, changed)"]],
  );
  assert.equal(podmanOk(["exec", name, "sh", "-c", "echo $DB_PASSWORD"]), `${rotated}\n`);
  assert.deepEqual(secretNames(), [
    `holt-${app}-db-new-bbbbbbbbbbbb`,
    `holt-${app}-token-111111111111`,
  ]);

  // A failing start prints the log, where the app echoed its password: redacted.
  const broken = { ...inputs("b".repeat(32), "db-new"), health: quickHealth(port, "/nope") };
  const failing = await lab.apply([lab.network, lab.container(app, broken)]);
  const failure = failing.failed[0];
  assert.equal(failing.failed.length, 1);
  assert.match(failure?.error ?? "", /HOLT_E_HEALTH/);
  assert.deepEqual(failure?.details, ["password is (secret)"]);
  assert.ok(!JSON.stringify(failing).includes(rotated) && !JSON.stringify(failing).includes(value));

  // Deleting the service removes its container and holt's secrets for it.
  assert.deepEqual((await lab.apply([])).failed, []);
  assert.deepEqual(secretNames(), []);
});

test("a container made by hand with a desired name is unmanaged and never touched; adopt replaces it", async (t) => {
  const lab = labFor(t, "handmade");
  const svc = uniqueService("hand");
  const name = `holt-${svc}`;
  podmanOk(["run", "-d", "--name", name, images.v2, "sleep", "3600"]);
  t.after(() => {
    podman(["rm", "-f", "-t", "0", name]);
  });
  const id = inspect(name).Id;
  const resources = [lab.network, lab.container(svc, { command: ["sleep", "3600"] })];
  const plan = await lab.plan(resources);
  assert.deepEqual(
    plan.unmanaged.map((u) => [u.name, u.fields.map((f) => `${f.path}: ${f.before} → ${f.after}`)]),
    [
      [
        name,
        ["container: made outside holt → created by holt", `image: ${images.v2} → ${images.v1}`],
      ],
    ],
  );
  assert.deepEqual(
    plan.changes.map((c) => c.noun),
    ["network"],
  );
  const applied = await lab.apply(resources);
  assert.deepEqual(applied.failed, []);
  assert.equal(inspect(name).Id, id, "untouched");
  assert.equal(inspect(name).State.Status, "running");

  // `holt adopt` replaces it with holt's container.
  const unmanaged = (await lab.plan(resources)).unmanaged[0] ?? assert.fail("not unmanaged");
  const provider = lab.providers.find((p) => p.type === "podman.container") ?? assert.fail();
  await provider.adopt({ host: HOST, exec, lab: lab.lab }, unmanaged.resource, unmanaged.observed);
  assert.notEqual(inspect(name).Id, id);
  assert.equal(inspect(name).Config.Labels["holt.lab"], lab.lab);
  const after = await lab.plan(resources);
  assert.deepEqual([after.changes, after.unmanaged], [[], []]);
});

test("crash leftovers: a stopped holt container is started again; a create over a leftover replaces it", async (t) => {
  const lab = labFor(t, "leftover");
  const svc = uniqueService("left");
  const name = `holt-${svc}`;
  const port = await freePort();
  const resources = [
    lab.network,
    lab.container(svc, {
      ports: [{ hostAddress: "127.0.0.1", hostPort: port, containerPort: 80, protocol: "tcp" }],
      health: quickHealth(port),
    }),
  ];
  assert.deepEqual((await lab.apply(resources)).failed, []);

  podmanOk(["stop", "-t", "5", name]);
  const plan = await lab.plan(resources);
  assert.deepEqual(
    plan.changes.map((c) => [c.action, c.fields.map((f) => `${f.path}: ${f.before} → ${f.after}`)]),
    [["update", ["state: exited → running"]]],
  );
  assert.deepEqual((await lab.apply(resources)).failed, []);
  assert.equal((await get(port, "/index.html")).status, 200);

  // A crash between `podman run` and recording anything: create finds holt's own container.
  podmanOk(["stop", "-t", "5", name]);
  const id = inspect(name).Id;
  const provider = lab.providers.find((p) => p.type === "podman.container") ?? assert.fail();
  const container = resources[1] ?? assert.fail();
  await provider.create({ host: HOST, exec, lab: lab.lab }, container);
  assert.notEqual(inspect(name).Id, id);
  assert.equal(inspect(name).State.Status, "running");
});

test("the boot unit for a real container passes the real systemd-analyze verify", async (t) => {
  const lab = labFor(t, "unit", { k: "key-value" });
  const svc = uniqueService("unit");
  const data = dataset(svc);
  const port = await freePort();
  const container = lab.container(svc, {
    command: SERVE_ROOT,
    env: { GREETING: 'say "hi" for 100% $USER' },
    secrets: [{ target: "/run/secrets/k", kind: "file", secret: "k", digest: "c".repeat(32) }],
    ports: [{ hostAddress: "127.0.0.1", hostPort: port, containerPort: 80, protocol: "tcp" }],
    mounts: [{ dataset: data.name, target: "/data", readOnly: false }],
    health: quickHealth(port, "/www/index.html"),
  });
  // Through holt, so the unit is generated from the container holt made.
  assert.deepEqual((await lab.apply([lab.network, container])).failed, []);
  const unit = await renderBootUnit(
    exec,
    { inputs: container.inputs, lab: lab.lab, mountpoints: new Map([[data.name, data.path]]) },
    await podmanVersion(exec),
  );
  assert.equal(unit.kind, "service", "Podman 4.3 has no Quadlet");
  assert.equal(unit.fileName, `holt-${svc}.service`);
  assert.match(unit.content, /ExecStart=\/usr\/bin\/podman run/);
  assert.match(unit.content, new RegExp(`--label holt.lab=${lab.lab}`));
  assert.ok(!unit.content.includes("key-value"), "no secret value in the unit");
  await verifyBootUnit(exec, unit);

  // The verifier really checks: a unit whose program does not exist is refused.
  const broken = {
    ...unit,
    content: unit.content.replace("/usr/bin/podman run", "/nonexistent/podman run"),
  };
  await assert.rejects(verifyBootUnit(exec, broken), (error: unknown) => {
    return (
      error instanceof HoltError &&
      /systemd-analyze verify/.test(error.message) &&
      error.details.some((d) => d.includes("/nonexistent/podman"))
    );
  });
});

test("a no-change read of 20 containers costs one `podman ps` plus parallel probes", async (t) => {
  const lab = labFor(t, "perf");
  assert.deepEqual((await lab.apply([lab.network])).failed, []);
  const resources = [];
  for (let n = 0; n < 20; n++) {
    const svc = uniqueService("perf");
    const port = await freePort();
    resources.push(
      lab.container(svc, {
        ports: [{ hostAddress: "127.0.0.1", hostPort: port, containerPort: 80, protocol: "tcp" }],
        health: quickHealth(port),
      }),
    );
  }
  // Started directly with holt's own command line, four at a time: the gate is not measured here.
  for (let n = 0; n < resources.length; n += 4) {
    await Promise.all(
      resources.slice(n, n + 4).map(async (r) => {
        const argv = runArgv({ inputs: r.inputs, lab: lab.lab, mountpoints: new Map() });
        const result = await exec.run({ argv });
        assert.equal(result.code, 0, result.stderr);
      }),
    );
  }
  // Give the 20 httpd a moment to listen.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const calls: string[] = [];
  let probes = 0;
  const counting = {
    ...exec,
    run: (request: Parameters<typeof exec.run>[0]) => {
      calls.push(request.argv.slice(0, 3).join(" "));
      return exec.run(request);
    },
    http: (request: Parameters<typeof exec.http>[0]) => {
      probes += 1;
      return exec.http(request);
    },
  };
  const provider = lab.providers.find((p) => p.type === "podman.container") ?? assert.fail();
  const timings: number[] = [];
  let states: ContainerState[] = [];
  for (let round = 0; round < 3; round++) {
    calls.length = 0;
    probes = 0;
    const started = performance.now();
    const result = await provider.read({ host: HOST, exec: counting, lab: lab.lab }, resources);
    timings.push(Math.round(performance.now() - started));
    states = [...result.observed.values()].map((o) => o.state as ContainerState);
  }
  // (`test -d /run/systemd/system` ran in the first round only: remembered per connection.)
  assert.deepEqual(calls, ["podman ps --all"]);
  assert.equal(probes, 20);
  assert.equal(states.length, 20);
  assert.ok(states.every((s) => s.running && s.health === "passing"));
  for (const r of resources) {
    const observed = {
      state: states.find((s) => s.spec?.name === r.name) ?? assert.fail(),
      managed: true,
    };
    assert.deepEqual(provider.diff(r, observed), []);
  }
  t.diagnostic(`read of 20 containers with health probes: ${timings.join(", ")} ms`);
});
