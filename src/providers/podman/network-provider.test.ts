import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Resource } from "../../engine/resource.ts";
import { HoltError } from "../../errors.ts";
import type { Exec, ExecRequest } from "../../hosts/exec.ts";
import { type NetworkInputs, networkAddress } from "../../model/container.ts";
import { createPodmanNetworkProvider } from "./network-provider.ts";

const LS = readFileSync(
  join(import.meta.dirname, "fixtures", "podman-4.3-network-ls.json"),
  "utf8",
);

function fakeExec(
  reply: (command: string) => { stdout?: string; code?: number } | undefined,
): Exec & {
  calls: string[];
} {
  const calls: string[] = [];
  return {
    target: "fake",
    calls,
    async run(request: ExecRequest) {
      const command = request.argv.join(" ");
      calls.push(command);
      return { stdout: "", stderr: "", code: 0, signal: null, ...reply(command) };
    },
    async start() {
      throw new Error("not used by this test");
    },
    async http() {
      throw new Error("no HTTP here");
    },
    async close() {},
  };
}

function desired(name: string): Resource<NetworkInputs> {
  return {
    address: networkAddress("box", name),
    type: "podman.network",
    host: "box",
    name,
    inputs: { name },
    dependsOn: [],
    configPath: "lab",
  };
}

const ctx = (exec: Exec, lab = "fixture") => ({ host: "box", exec, lab });

test("read: the labelled network is owned; Podman's own one is unmanaged if desired", async () => {
  const exec = fakeExec(() => ({ stdout: LS }));
  const provider = createPodmanNetworkProvider();
  const result = await provider.read(ctx(exec), [desired("holt-fixture"), desired("podman")]);
  assert.deepEqual(exec.calls, ["podman network ls --format json"]);
  assert.deepEqual(
    result.owned.map((o) => o.name),
    ["holt-fixture"],
  );
  const own = result.observed.get(networkAddress("box", "holt-fixture"));
  const other = result.observed.get(networkAddress("box", "podman"));
  assert.equal(own?.managed, true);
  assert.equal(other?.managed, false);
  assert.deepEqual(provider.diff(desired("holt-fixture"), own ?? assert.fail()), []);
  // Podman's default network has no DNS: adopting it would have to recreate it.
  assert.deepEqual(provider.diff(desired("podman"), other ?? assert.fail()), [
    { path: "dns", before: "off", after: "on", forcesReplace: true },
  ]);
});

test("create labels the network in the same command", async () => {
  const exec = fakeExec(() => undefined);
  await createPodmanNetworkProvider().create(ctx(exec, "home"), desired("holt-home"));
  assert.deepEqual(exec.calls, ["podman network create --label holt.lab=home holt-home"]);
});

test("delete refuses while containers outside holt still use the network", async () => {
  const exec = fakeExec((command) =>
    command.startsWith("podman ps") ? { stdout: "my-own-container\n" } : undefined,
  );
  const owned = {
    ...desired("holt-home"),
    dependsOn: [],
    observed: { state: { owner: "home", dnsEnabled: true }, managed: true },
  };
  await assert.rejects(
    createPodmanNetworkProvider().delete(ctx(exec, "home"), owned, { safetySnapshot: "x" }),
    (error: unknown) => error instanceof HoltError && /my-own-container/.test(error.message),
  );
  assert.ok(!exec.calls.some((c) => c.startsWith("podman network rm")));
});
