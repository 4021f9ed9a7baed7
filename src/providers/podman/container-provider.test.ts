import assert from "node:assert/strict";
import { test } from "node:test";
import type { ProviderContext } from "../../engine/provider.ts";
import type { Resource } from "../../engine/resource.ts";
import { HoltError } from "../../errors.ts";
import type { Exec, ExecRequest, ExecResult, HttpRequest, HttpResponse } from "../../hosts/exec.ts";
import { type ContainerInputs, containerAddress, LABELS } from "../../model/container.ts";
import { createPodmanContainerProvider } from "./container-provider.ts";
import type { Clock } from "./health.ts";
import { encodeSpec } from "./spec.ts";

const SECRET_VALUE = "hunter2-correct-horse";

function inputs(service: string, overrides: Partial<ContainerInputs> = {}): ContainerInputs {
  return {
    name: `holt-${service}`,
    service,
    image: "localhost/app:1.0",
    command: null,
    env: {},
    secrets: [],
    user: null,
    network: "holt-lab",
    aliases: [service],
    ports: [],
    mounts: [],
    memory: null,
    cpus: null,
    health: null,
    ...overrides,
  };
}

function resource(i: ContainerInputs): Resource<ContainerInputs> {
  return {
    address: containerAddress("box", i.service),
    type: "podman.container",
    host: "box",
    service: i.service,
    name: i.name,
    inputs: i,
    dependsOn: [],
    configPath: `services.${i.service}`,
  };
}

interface Fake extends Exec {
  readonly calls: ExecRequest[];
  readonly probes: HttpRequest[];
}

type Reply = Partial<ExecResult> | undefined;

/** A scripted host: `reply` answers each argv (joined by spaces); unknown commands succeed silently. */
function fakeExec(
  reply: (command: string, request: ExecRequest) => Reply,
  http: (request: HttpRequest) => Promise<HttpResponse> = async () => ({
    status: 200,
    headers: {},
    body: "",
  }),
): Fake {
  const calls: ExecRequest[] = [];
  const probes: HttpRequest[] = [];
  return {
    target: "fake",
    calls,
    probes,
    async run(request) {
      calls.push(request);
      const r = reply(request.argv.join(" "), request) ?? {};
      return { stdout: "", stderr: "", code: 0, signal: null, ...r };
    },
    async start() {
      throw new Error("not used by this test");
    },
    async http(request) {
      probes.push(request);
      return http(request);
    },
    async close() {},
  };
}

function psEntry(name: string, labels: Record<string, string>, state = "running"): object {
  return {
    Id: `${name}-id`,
    Names: [name],
    Image: "localhost/app:1.0",
    ImageID: "60a667544f8fb3a60af84334dd4d4cb75c7256efc6233cffbf6cbde5d5a182cb",
    State: state,
    Labels: labels,
    Created: 1795665260,
  };
}

function holtLabels(i: ContainerInputs, lab = "lab"): Record<string, string> {
  return { [LABELS.lab]: lab, [LABELS.service]: i.service, [LABELS.spec]: encodeSpec(i) };
}

/** A clock that only moves when something sleeps, so gate tests take no real time. */
function fakeClock(): Clock & { slept: number } {
  let now = 0;
  const clock = {
    slept: 0,
    now: () => now,
    async sleep(ms: number) {
      now += ms;
      clock.slept += ms;
    },
  };
  return clock;
}

function ctx(exec: Exec, secretValue?: (name: string) => string): ProviderContext {
  return { host: "box", exec, lab: "lab", ...(secretValue === undefined ? {} : { secretValue }) };
}

const health = { http: "/health", hostPort: 8080, intervalMs: 2000, timeoutMs: 500, retries: 3 };

test("read: one `podman ps`, parallel probes, hand-made containers unmanaged, others ignored", async () => {
  const web = inputs("web", { health });
  const api = inputs("api", { health: { ...health, hostPort: 8081 } });
  const db = inputs("db");
  const gone = inputs("gone");
  const ps = [
    psEntry("holt-web", holtLabels(web)),
    psEntry("holt-api", holtLabels(api)),
    psEntry("holt-db", {}, "exited"), // made by hand, with a desired name
    psEntry("holt-gone", holtLabels(gone), "exited"), // this lab's, no longer desired
    psEntry("holt-other", holtLabels(inputs("other"), "another-lab")),
    psEntry("nginx", {}),
  ];
  let inFlight = 0;
  let maxInFlight = 0;
  const exec = fakeExec(
    (command) => {
      if (command === "podman ps --all --format json") return { stdout: JSON.stringify(ps) };
      if (command === "test -d /run/systemd/system") return { code: 1 };
      return undefined;
    },
    async (request) => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight -= 1;
      return { status: request.port === 8080 ? 204 : 503, headers: {}, body: "" };
    },
  );
  const provider = createPodmanContainerProvider();
  const result = await provider.read(ctx(exec), [web, api, db].map(resource));

  assert.deepEqual(
    exec.calls.map((c) => c.argv.join(" ")),
    ["podman ps --all --format json", "test -d /run/systemd/system"],
  );
  assert.equal(exec.probes.length, 2);
  assert.equal(maxInFlight, 2, "probes run at once");
  assert.deepEqual(exec.probes[0], {
    port: 8080,
    method: "GET",
    path: "/health",
    timeoutMs: 500,
  });

  const webState = result.observed.get(containerAddress("box", "web"));
  assert.equal(webState?.managed, true);
  assert.equal(webState?.state.health, "passing");
  assert.deepEqual(webState?.state.spec, web);
  assert.equal(webState?.info?.imageId, "60a667544f8f");
  assert.equal(result.observed.get(containerAddress("box", "api"))?.state.health, "failing");
  assert.equal(result.observed.get(containerAddress("box", "api"))?.info?.health, "answered 503");
  const dbState = result.observed.get(containerAddress("box", "db"));
  assert.equal(dbState?.managed, false);
  assert.equal(dbState?.state.spec, null);
  assert.deepEqual(
    result.owned.map((o) => [o.name, o.service, o.dependsOn]),
    [
      ["holt-web", "web", ["podman.network:box/holt-lab"]],
      ["holt-api", "api", ["podman.network:box/holt-lab"]],
      ["holt-gone", "gone", ["podman.network:box/holt-lab"]],
    ],
  );
  assert.deepEqual(provider.diff(resource(web), webState ?? assert.fail()), []);
});

test("read: a host without Podman is fine until it has services to run", async () => {
  const exec = fakeExec(() => ({ code: 127, stderr: "holt: podman: program not found\n" }));
  const provider = createPodmanContainerProvider();
  const empty = await provider.read(ctx(exec), []);
  assert.equal(empty.owned.length, 0);
  await assert.rejects(
    provider.read(ctx(exec), [resource(inputs("web"))]),
    (error: unknown) =>
      error instanceof HoltError && /Podman is not installed on host "box"/.test(error.message),
  );
});

test("read: secret targets Podman cannot take are problems at plan time", async () => {
  const exec = fakeExec((command) =>
    command.startsWith("podman ps") ? { stdout: "[]" } : undefined,
  );
  const bad = inputs("web", {
    secrets: [{ target: "/run/a,b", kind: "file", secret: "a", digest: "0".repeat(32) }],
  });
  const result = await createPodmanContainerProvider().read(ctx(exec), [resource(bad)]);
  assert.deepEqual(
    result.problems.map((p) => p.path),
    ['services.web.secrets["/run/a,b"]'],
  );
});

test("create: secret values go only to `podman secret create` on stdin, never into argv", async () => {
  const i = inputs("web", {
    secrets: [
      { target: "DB_PASSWORD", kind: "env", secret: "db", digest: "a".repeat(32) },
      { target: "/run/secrets/db", kind: "file", secret: "db", digest: "a".repeat(32) },
    ],
  });
  let inspected = 0;
  const exec = fakeExec((command) => {
    if (command === "podman container inspect holt-web") {
      inspected += 1;
      // The first is create's check for a leftover container: there is none.
      if (inspected === 1) return { code: 125, stderr: "Error: no such container holt-web" };
      return {
        stdout: JSON.stringify([{ State: { Status: "running", Running: true }, RestartCount: 0 }]),
      };
    }
    if (command === "test -d /run/systemd/system") return { code: 1 };
    return undefined;
  });
  const provider = createPodmanContainerProvider({ clock: fakeClock() });
  await provider.create(
    ctx(exec, (name) => {
      assert.equal(name, "db");
      return SECRET_VALUE;
    }),
    resource(i),
  );
  const commands = exec.calls.map((c) => c.argv.join(" "));
  for (const command of commands) assert.ok(!command.includes(SECRET_VALUE), command);
  const creates = exec.calls.filter((c) => c.argv[2]?.includes("podman secret create"));
  assert.equal(creates.length, 1, "one Podman secret for two uses of the same value");
  assert.equal(creates[0]?.stdin, SECRET_VALUE);
  assert.deepEqual(creates[0]?.argv.slice(3), [
    "sh",
    "holt.lab=lab",
    "holt.service=web",
    "holt-web-db-aaaaaaaaaaaa",
  ]);
  const run = commands.find((c) => c.startsWith("podman run")) ?? "";
  assert.match(run, /--secret holt-web-db-aaaaaaaaaaaa,type=env,target=DB_PASSWORD/);
  assert.ok(exec.calls.every((c) => c.stdin === undefined || c === creates[0]));
});

test("gate: passes on the first 2xx without waiting longer", async () => {
  const i = inputs("web", { health });
  let answers = 0;
  const exec = fakeExec(
    (command) =>
      command.startsWith("podman container inspect")
        ? {
            stdout: JSON.stringify([
              { State: { Status: "running", Running: true }, RestartCount: 0 },
            ]),
          }
        : undefined,
    async () => {
      answers += 1;
      if (answers < 3)
        throw new HoltError(
          "HOLT_E_HTTP",
          "GET http://… failed: connection refused (nothing listens on that port).",
        );
      return { status: 200, headers: {}, body: "ok" };
    },
  );
  const clock = fakeClock();
  await createPodmanContainerProvider({ clock }).update(ctx(exec), resource(i), {
    state: {
      spec: i,
      owner: "lab",
      image: i.image,
      status: "exited",
      running: false,
      health: null,
      bootUnit: null,
    },
    managed: true,
  });
  assert.equal(answers, 3);
  assert.equal(clock.slept, 2000, "polls every min(interval, 1 s)");
  assert.deepEqual(
    exec.calls.map((c) => c.argv.join(" ")).filter((c) => !c.includes("inspect")),
    ["podman start holt-web"],
  );
});

test("gate: a PEM key secret is hidden line by line, even when the log shows only part of it", async () => {
  // Made up for this test: the shape of an ed25519 PKCS#8 key.
  const pem =
    "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHq0rhD8Vd2m3v0Yc2QJt6p9L5sWm1xk0nE8Z3aR7bQe\n-----END PRIVATE KEY-----\n";
  const body = pem.split("\n")[1] ?? "";
  const i = inputs("web", {
    health,
    secrets: [
      { target: "/run/secrets/tls.key", kind: "file", secret: "tls", digest: "b".repeat(32) },
    ],
  });
  const exec = fakeExec(
    (command) => {
      if (command.startsWith("podman container inspect")) {
        return {
          stdout: JSON.stringify([
            { State: { Status: "running", Running: true }, RestartCount: 0 },
          ]),
        };
      }
      // The tail starts inside the key: its first line is not in the excerpt.
      if (command.startsWith("sh -c")) {
        return { stdout: `  ${body}\n-----END PRIVATE KEY-----\nerror: key rejected\n` };
      }
      return undefined;
    },
    async () => ({ status: 503, headers: {}, body: "" }),
  );
  const provider = createPodmanContainerProvider({ clock: fakeClock(), startAllowanceMs: 1000 });
  const error = await provider
    .update(
      ctx(exec, () => pem),
      resource(i),
      {
        state: {
          spec: i,
          owner: "lab",
          image: i.image,
          status: "running",
          running: true,
          health: "failing",
          bootUnit: null,
        },
        managed: true,
      },
    )
    .then(
      () => assert.fail("the gate passed"),
      (e: unknown) => e,
    );
  assert.ok(error instanceof HoltError);
  assert.deepEqual(error.details, ["  (secret)", "(secret)", "error: key rejected"]);
});

test("gate: a health check that never passes fails with HOLT_E_HEALTH and redacted log lines", async () => {
  const i = inputs("web", {
    health,
    secrets: [{ target: "DB_PASSWORD", kind: "env", secret: "db", digest: "a".repeat(32) }],
  });
  const exec = fakeExec(
    (command) => {
      if (command.startsWith("podman container inspect")) {
        return {
          stdout: JSON.stringify([
            { State: { Status: "running", Running: true }, RestartCount: 0 },
          ]),
        };
      }
      if (command.startsWith("sh -c")) {
        return {
          stdout: `starting\nconnecting with password ${SECRET_VALUE}\nlistening on :9999\n`,
        };
      }
      return undefined;
    },
    async () => ({ status: 503, headers: {}, body: "" }),
  );
  const clock = fakeClock();
  const provider = createPodmanContainerProvider({ clock, startAllowanceMs: 10_000 });
  const error = await provider
    .update(
      ctx(exec, () => SECRET_VALUE),
      resource(i),
      {
        state: {
          spec: i,
          owner: "lab",
          image: i.image,
          status: "running",
          running: true,
          health: "failing",
          bootUnit: null,
        },
        managed: true,
      },
    )
    .then(
      () => assert.fail("the gate passed"),
      (e: unknown) => e,
    );
  assert.ok(error instanceof HoltError);
  assert.equal(error.code, "HOLT_E_HEALTH");
  assert.match(error.message, /Service "web" on host "box" did not become healthy within 16 s/);
  assert.match(error.message, /last result: answered 503/);
  assert.deepEqual(error.details, [
    "starting",
    "connecting with password (secret)",
    "listening on :9999",
  ]);
  assert.ok(clock.now() >= 16_000 && clock.now() < 17_000, `gave up at ${clock.now()} ms`);
  const commands = exec.calls.map((c) => c.argv.join(" "));
  assert.ok(
    commands.includes("podman stop -t 10 holt-web"),
    "an unhealthy container is stopped and started",
  );
  assert.ok(commands.includes("podman start holt-web"));
  assert.ok(
    !commands.some((c) => c.startsWith("podman stop --ignore")),
    "left running after the gate",
  );
  assert.ok(
    commands.includes('sh -c exec podman logs --tail "$1" "$2" 2>&1 sh 20 holt-web'),
    "its last 20 log lines",
  );
});

test("gate: a container that exits fails at once and is stopped, so Podman stops restarting it", async () => {
  type State = { Status: string; Running: boolean; ExitCode: number; restarts: number };
  const stopped: State = { Status: "stopped", Running: false, ExitCode: 3, restarts: 0 };
  const exited: State = { Status: "exited", Running: false, ExitCode: 143, restarts: 1 };
  const cases: {
    name: string;
    /** What each `podman container inspect` sees, in order; the last one repeats. */
    states: State[];
    message: RegExp;
    stops: number;
    slept: number;
  }[] = [
    {
      // Between an exit and Podman's cleanup: a restart may come, so holt waits, then stops it.
      name: "stopped, then restarted by Podman",
      states: [
        stopped,
        stopped,
        { ...stopped, Status: "running", Running: true, restarts: 1 },
        exited,
      ],
      message: /exited with code 3 during its start check \(state: stopped\)/,
      stops: 1,
      slept: 250,
    },
    {
      name: "already restarted twice",
      states: [
        { Status: "running", Running: true, ExitCode: 0, restarts: 2 },
        { Status: "running", Running: true, ExitCode: 0, restarts: 2 },
        exited,
      ],
      message: /restarted it 2 time/,
      stops: 1,
      slept: 0,
    },
    {
      // Cleaned up without a restart: nothing more will start it.
      name: "exited and cleaned up",
      states: [{ ...exited, ExitCode: 3, restarts: 0 }],
      message: /exited with code 3 during its start check \(state: exited\)/,
      stops: 0,
      slept: 0,
    },
  ];
  for (const c of cases) {
    const i = inputs("job");
    let stops = 0;
    let seen = 0;
    const exec = fakeExec((command) => {
      if (command.startsWith("podman stop")) stops += 1;
      if (command.startsWith("podman container inspect")) {
        const s = c.states[Math.min(seen, c.states.length - 1)] as State;
        seen += 1;
        return {
          stdout: JSON.stringify([
            {
              State: { Status: s.Status, Running: s.Running, ExitCode: s.ExitCode },
              RestartCount: s.restarts,
            },
          ]),
        };
      }
      return undefined;
    });
    const clock = fakeClock();
    await assert.rejects(
      createPodmanContainerProvider({ clock }).update(ctx(exec), resource(i), {
        state: {
          spec: i,
          owner: "lab",
          image: i.image,
          status: "exited",
          running: false,
          health: null,
          bootUnit: null,
        },
        managed: true,
      }),
      (error: unknown) =>
        error instanceof HoltError &&
        error.code === "HOLT_E_HEALTH" &&
        c.message.test(error.message),
      c.name,
    );
    assert.equal(stops, c.stops, `${c.name}: stops`);
    assert.equal(clock.slept, c.slept, `${c.name}: only the pauses to see whether it stays down`);
  }
});

test("gate: without a health check, a container seen running for 1 s passes", async () => {
  const i = inputs("job");
  const exec = fakeExec((command) =>
    command.startsWith("podman container inspect")
      ? {
          stdout: JSON.stringify([
            { State: { Status: "running", Running: true }, RestartCount: 0 },
          ]),
        }
      : undefined,
  );
  const clock = fakeClock();
  await createPodmanContainerProvider({ clock }).update(ctx(exec), resource(i), {
    state: {
      spec: i,
      owner: "lab",
      image: i.image,
      status: "created",
      running: false,
      health: null,
      bootUnit: null,
    },
    managed: true,
  });
  assert.equal(clock.slept, 1000);
  assert.equal(exec.probes.length, 0);
});

/** A systemd host running Podman 4.3: `test -d /run/systemd/system` succeeds. */
function systemdHost(extra: (command: string) => Reply = () => undefined): Fake {
  let inspected = 0;
  return fakeExec((command) => {
    const answer = extra(command);
    if (answer !== undefined) return answer;
    if (command === "test -d /run/systemd/system") return { code: 0 };
    if (command === "podman version --format {{.Client.Version}}") return { stdout: "4.3.1\n" };
    if (command.startsWith("podman generate systemd")) {
      return { stdout: "[Service]\nExecStart=/usr/bin/podman run --name holt-web x\n" };
    }
    if (command.startsWith("mktemp")) return { stdout: "/tmp/holt-unit.abc123\n" };
    if (command === "podman container inspect holt-web") {
      inspected += 1;
      if (inspected === 1) return { code: 125, stderr: "Error: no such container holt-web" };
      return {
        stdout: JSON.stringify([{ State: { Status: "running", Running: true }, RestartCount: 0 }]),
      };
    }
    return undefined;
  });
}

const lifecycle = (exec: Fake): string[] =>
  exec.calls
    .map((c) => c.argv.join(" "))
    .filter((c) => /^(systemctl|systemd-analyze|podman (run|rm|stop|start|generate)|mv|rm)/.test(c))
    .map((c) => (c.startsWith("podman run") ? "podman run …" : c));

test("systemd host: create writes a verified, enabled unit after the gate passes", async () => {
  const exec = systemdHost();
  await createPodmanContainerProvider({ clock: fakeClock() }).create(
    ctx(exec),
    resource(inputs("web")),
  );
  assert.deepEqual(lifecycle(exec), [
    "podman run …",
    "podman generate systemd --new --name holt-web",
    "mv -f /tmp/holt-unit.abc123/holt-web.service.holt-new /tmp/holt-unit.abc123/holt-web.service",
    "systemd-analyze verify --man=false /tmp/holt-unit.abc123/holt-web.service",
    "rm -rf /tmp/holt-unit.abc123",
    "mv -f /etc/systemd/system/holt-web.service.holt-new /etc/systemd/system/holt-web.service",
    "systemctl daemon-reload",
    "systemctl enable holt-web.service",
  ]);
  const written = exec.calls.find((c) => c.argv.join(" ").includes("of=/etc/systemd/system/"));
  assert.equal(written?.stdin, "[Service]\nExecStart=/usr/bin/podman run --name holt-web x\n");
});

test("systemd host: a unit the verifier complains about is not installed", async () => {
  const exec = systemdHost((command) =>
    command.startsWith("systemd-analyze")
      ? { stderr: "/tmp/holt-unit.abc123/holt-web.service:3: Unknown key name 'Bogus'\n" }
      : undefined,
  );
  await assert.rejects(
    createPodmanContainerProvider({ clock: fakeClock() }).create(
      ctx(exec),
      resource(inputs("web")),
    ),
    (error: unknown) =>
      error instanceof HoltError &&
      /did not pass `systemd-analyze verify`/.test(error.message) &&
      error.details.some((d) => d.includes("Unknown key name")),
  );
  assert.ok(!lifecycle(exec).includes("systemctl enable holt-web.service"));
});

test("systemd host: a restart goes through the unit; a delete stops and removes the unit first", async () => {
  const web = inputs("web");
  const exec = systemdHost((command) =>
    command.startsWith("podman container inspect")
      ? {
          stdout: JSON.stringify([
            { State: { Status: "running", Running: true }, RestartCount: 0 },
          ]),
        }
      : undefined,
  );
  const provider = createPodmanContainerProvider({ clock: fakeClock() });
  await provider.update(ctx(exec), resource(web), {
    state: {
      spec: web,
      owner: "lab",
      image: web.image,
      status: "running",
      running: true,
      health: "failing",
      bootUnit: true,
    },
    managed: true,
  });
  await provider.delete(
    ctx(exec),
    {
      address: containerAddress("box", "web"),
      type: "podman.container",
      host: "box",
      service: "web",
      name: "holt-web",
      dependsOn: [],
      observed: {
        state: {
          spec: web,
          owner: "lab",
          image: web.image,
          status: "running",
          running: true,
          health: null,
          bootUnit: true,
        },
        managed: true,
      },
    },
    { safetySnapshot: "unused" },
  );
  assert.deepEqual(lifecycle(exec), [
    "systemctl restart holt-web.service",
    "systemctl stop holt-web.service",
    "systemctl disable holt-web.service",
    "rm -f /etc/systemd/system/holt-web.service /etc/containers/systemd/holt-web.container",
    "systemctl daemon-reload",
    "podman rm --force --ignore -t 10 holt-web",
  ]);
});

test("create: an image that is missing and cannot be pulled is a clear error; nothing runs", async () => {
  const exec = fakeExec((command) => {
    if (command.startsWith("podman image exists")) return { code: 1 };
    if (command.startsWith("podman pull")) {
      return {
        code: 125,
        stderr:
          "Trying to pull registry.example/app:9...\nError: initializing source docker://registry.example/app:9: manifest unknown\n",
      };
    }
    return undefined;
  });
  await assert.rejects(
    createPodmanContainerProvider({ clock: fakeClock() }).create(
      ctx(exec),
      resource(inputs("web", { image: "registry.example/app:9" })),
    ),
    (error: unknown) =>
      error instanceof HoltError &&
      /Image "registry.example\/app:9" for service "web" is not on host "box" and could not be pulled/.test(
        error.message,
      ) &&
      error.details.some((d) => d.includes("manifest unknown")),
  );
  assert.ok(!exec.calls.some((c) => c.argv[1] === "run"));
});

test("create: a mounted dataset that is missing or not mounted is named; nothing runs", async () => {
  const exec = fakeExec((command) => {
    if (command.startsWith("zfs list")) {
      return {
        code: 1,
        stdout: "tank/holt/web/config\tnone\tno\n",
        stderr: "cannot open 'tank/media': dataset does not exist\n",
      };
    }
    return undefined;
  });
  const web = inputs("web", {
    mounts: [
      { dataset: "tank/holt/web/config", target: "/config", readOnly: false },
      { dataset: "tank/media", target: "/media", readOnly: true },
    ],
  });
  await assert.rejects(
    createPodmanContainerProvider({ clock: fakeClock() }).create(ctx(exec), resource(web)),
    (error: unknown) =>
      error instanceof HoltError &&
      error.code === "HOLT_E_ZFS" &&
      error.message.includes('dataset "tank/holt/web/config" (for /config) is not mounted') &&
      error.message.includes('dataset "tank/media" (for /media) does not exist'),
  );
  assert.deepEqual(
    exec.calls.map((c) => c.argv.join(" ")).filter((c) => c.startsWith("zfs")),
    ["zfs list -H -o name,mountpoint,mounted tank/holt/web/config tank/media"],
  );
  assert.ok(!exec.calls.some((c) => c.argv[1] === "run"));
});
