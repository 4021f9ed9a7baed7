import assert from "node:assert/strict";
import { test } from "node:test";
import type { Observed } from "../../engine/provider.ts";
import type { Resource } from "../../engine/resource.ts";
import { HoltError } from "../../errors.ts";
import type { Exec, ExecRequest } from "../../hosts/exec.ts";
import { type DatasetInputs, datasetAddress } from "../../model/dataset.ts";
import { createZfsDatasetProvider, type DatasetState } from "./provider.ts";

const provider = createZfsDatasetProvider();

function resource(properties: Record<string, string>, service?: string): Resource<DatasetInputs> {
  return {
    address: datasetAddress("box", "tank/media"),
    type: "zfs.dataset",
    host: "box",
    ...(service === undefined ? {} : { service }),
    name: "tank/media",
    inputs: { name: "tank/media", properties },
    dependsOn: [],
    configPath: 'hosts.box.datasets["tank/media"]',
  };
}

function observed(
  local: Record<string, string>,
  extra: Partial<DatasetState> = {},
): Observed<DatasetState> {
  return {
    state: {
      local,
      createOnly: { casesensitivity: "sensitive" },
      userProps: [],
      owner: "lab",
      service: null,
      ...extra,
    },
    managed: true,
  };
}

/** Records commands instead of running them (implements the real Exec interface). */
function recordingExec(): Exec & { calls: string[] } {
  const calls: string[] = [];
  return {
    target: "fake",
    calls,
    async run(request: ExecRequest) {
      calls.push(request.argv.join(" "));
      return { stdout: "", stderr: "", code: 0, signal: null };
    },
    async start() {
      throw new Error("not used by this test");
    },
    async http() {
      throw new Error("no HTTP in this test");
    },
    async close() {},
  };
}

test("diff: in sync is empty; a changed size shows human units", () => {
  assert.deepEqual(
    provider.diff(resource({ recordsize: "131072" }), observed({ recordsize: "131072" })),
    [],
  );
  assert.deepEqual(
    provider.diff(resource({ recordsize: "65536" }), observed({ recordsize: "131072" })),
    [{ path: "recordsize", before: "128K", after: "64K" }],
  );
});

test("diff: a managed local property that left the config is inherited", () => {
  assert.deepEqual(provider.diff(resource({}), observed({ atime: "off" })), [
    { path: "atime", before: "off", after: null },
  ]);
});

test("diff: user properties are inherited only if holt set them", () => {
  const state = observed(
    { "com.example:owner": "x", "org.other:tag": "y" },
    { userProps: ["com.example:owner"] },
  );
  assert.deepEqual(provider.diff(resource({}), state), [
    { path: "com.example:owner", before: "x", after: null },
  ]);
});

test("diff: quota none matches an unset quota; a create-time property forces replace", () => {
  assert.deepEqual(provider.diff(resource({ quota: "0" }), observed({})), []);
  const fields = provider.diff(resource({ casesensitivity: "insensitive" }), observed({}));
  assert.deepEqual(fields, [
    { path: "casesensitivity", before: "sensitive", after: "insensitive", forcesReplace: true },
  ]);
});

test("create writes every property and the ownership marks in one zfs create", async () => {
  const exec = recordingExec();
  await provider.create(
    { host: "box", exec, lab: "lab" },
    resource({ quota: "0", "com.example:owner": "c" }, "jellyfin"),
  );
  assert.deepEqual(exec.calls, [
    "zfs create -p -o quota=none -o com.example:owner=c -o holt:managed=lab -o holt:service=jellyfin -o holt:props=com.example:owner tank/media",
  ]);
});

test("update sets and inherits one property per command, owner marks last", async () => {
  const exec = recordingExec();
  await provider.update(
    { host: "box", exec, lab: "lab" },
    resource({ recordsize: "65536" }),
    observed({ recordsize: "131072", atime: "off" }),
  );
  assert.deepEqual(exec.calls, [
    "zfs set recordsize=65536 tank/media",
    "zfs inherit atime tank/media",
  ]);
});

test("release drops the ownership mark last, so a crash leaves it owned and retryable", async () => {
  const exec = recordingExec();
  const o = observed({});
  await provider.release(
    { host: "box", exec, lab: "lab" },
    {
      address: "a",
      type: "zfs.dataset",
      host: "box",
      name: "tank/media",
      dependsOn: [],
      observed: o,
    },
  );
  assert.deepEqual(exec.calls, [
    "zfs inherit holt:service tank/media",
    "zfs inherit holt:props tank/media",
    "zfs inherit holt:managed tank/media",
  ]);
});

/** Answers `zfs get` and `zfs list` from a script, recording what was asked. */
function scriptedExec(answer: (argv: readonly string[]) => string): Exec & { calls: string[] } {
  const exec = recordingExec();
  return {
    ...exec,
    async run(request: ExecRequest) {
      exec.calls.push(request.argv.join(" "));
      return { stdout: answer(request.argv), stderr: "", code: 0, signal: null };
    },
  };
}

/** `zfs get -o name,property,source,value` lines: every property asked for, "-" when not given. */
function zfsGetOutput(
  argv: readonly string[],
  datasets: Record<string, Record<string, [string, string]>>,
): string {
  const properties = (argv.find((a) => a.includes("holt:") || a.includes(":")) ?? "").split(",");
  const asked = argv.filter((a) => Object.hasOwn(datasets, a));
  const names = asked.length > 0 ? asked : Object.keys(datasets);
  return names
    .flatMap((name) =>
      properties.map((p) => {
        const [source, value] = datasets[name]?.[p] ?? ["-", "-"];
        return `${name}\t${p}\t${source}\t${value}\n`;
      }),
    )
    .join("");
}

test("read: asks only for the properties holt needs, then for those holt:props lists and the config no longer sets", async () => {
  const datasets: Record<string, Record<string, [string, string]>> = {
    "tank/media": {
      "holt:managed": ["local", "lab"],
      "holt:props": ["local", "com.example:owner,com.example:gone"],
      "com.example:owner": ["local", "c"],
      "com.example:gone": ["local", "old"],
    },
    "tank/other": { "com.example:owner": ["local", "a\tb\nc\n\td"] },
  };
  const exec = scriptedExec((argv) => zfsGetOutput(argv, datasets));
  const result = await provider.read({ host: "box", exec, lab: "lab" }, [
    resource({ "com.example:owner": "c" }),
  ]);
  assert.equal(exec.calls.length, 2, exec.calls.join("\n"));
  assert.match(
    exec.calls[0] ?? "",
    /^zfs get -H -p -o name,property,source,value -t filesystem recordsize,compression,.*,used,holt:managed,holt:service,holt:props,com\.example:owner,mounted$/,
  );
  assert.equal(
    exec.calls[1],
    "zfs get -H -p -o name,property,source,value com.example:gone,guid tank/media",
  );
  const o = result.observed.get(datasetAddress("box", "tank/media")) as Observed<DatasetState>;
  assert.deepEqual(o.state.local, { "com.example:gone": "old", "com.example:owner": "c" });
  assert.deepEqual(provider.diff(resource({ "com.example:owner": "c" }), o), [
    { path: "com.example:gone", before: "old", after: null },
  ]);
});

test("read: a property value holding records is refused, not believed", async () => {
  // A foreign dataset printed first, whose holt:props forges tank/media's owner.
  const forged = "x\ntank/media\tholt:managed\tlocal\tlab";
  const exec = scriptedExec((argv) =>
    zfsGetOutput(argv, {
      "tank/a": { "holt:props": ["local", forged] },
      "tank/media": {},
    }),
  );
  await assert.rejects(
    provider.read({ host: "box", exec, lab: "lab" }, []),
    (error: unknown) =>
      error instanceof HoltError &&
      error.code === "HOLT_E_ZFS" &&
      /"tank\/a" has 21 of the 22 properties asked for/.test(error.message),
  );
  // The user property asked for last by the config, made to hold every line of a dataset that
  // does not exist, marked as the lab's: `mounted` is asked for after it, so the made-up one
  // starts before tank/z has all its properties.
  const lines = (argv: readonly string[], name: string) =>
    zfsGetOutput(argv, { [name]: { "holt:managed": ["local", "lab"] } }).trimEnd();
  const ghost = scriptedExec((argv) =>
    zfsGetOutput(argv, {
      "tank/z": { "com.example:owner": ["local", `x\n${lines(argv, "tank/zz")}`] },
    }),
  );
  await assert.rejects(
    provider.read({ host: "box", exec: ghost, lab: "lab" }, [
      resource({ "com.example:owner": "c" }),
    ]),
    (error: unknown) =>
      error instanceof HoltError &&
      error.code === "HOLT_E_ZFS" &&
      /"tank\/z" has 22 of the 23 properties asked for/.test(error.message),
  );
});
