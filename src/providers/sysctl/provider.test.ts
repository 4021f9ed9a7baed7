import assert from "node:assert/strict";
import { test } from "node:test";
import type { Resource } from "../../engine/resource.ts";
import { SYSCTL_TYPE, type SysctlInputs, withProxySysctls } from "../../model/sysctl.ts";
import { createSysctlProvider, parseSysctlFile, renderSysctlFile } from "./provider.ts";

const desired: Resource<SysctlInputs> = {
  address: `${SYSCTL_TYPE}:odroid/net.ipv4.tcp_migrate_req`,
  type: SYSCTL_TYPE,
  host: "odroid",
  name: "net.ipv4.tcp_migrate_req",
  inputs: { key: "net.ipv4.tcp_migrate_req", value: "1", reason: "why" },
  dependsOn: [],
  configPath: "hosts.odroid.proxy",
};

test("holt's sysctl.d file: rendered sorted with reasons, read back without comments", () => {
  const text = renderSysctlFile(
    "home",
    new Map([
      ["net.ipv4.tcp_migrate_req", { value: "1", reason: "Caddy reloads" }],
      ["net.core.somaxconn", { value: "4096" }],
    ]),
  );
  assert.match(text, /^# Kernel settings holt keeps for lab "home"/);
  assert.ok(text.indexOf("net.core.somaxconn") < text.indexOf("net.ipv4.tcp_migrate_req"));
  assert.match(text, /# Caddy reloads\nnet\.ipv4\.tcp_migrate_req = 1\n$/);
  assert.deepEqual(
    [...parseSysctlFile(`${text}; old style comment\n  kernel.x=2 \nnot a setting\n`)],
    [
      ["net.core.somaxconn", "4096"],
      ["net.ipv4.tcp_migrate_req", "1"],
      ["kernel.x", "2"],
    ],
  );
});

test("diff: live value and the value at boot; nothing when the kernel lacks the setting", () => {
  const provider = createSysctlProvider();
  const diff = (value: string | null, persisted: string | null) =>
    provider.diff(desired, { state: { value, persisted }, managed: true });
  assert.deepEqual(diff("0", null), [
    { path: "value", before: "0", after: "1" },
    { path: "at boot", before: null, after: "1" },
  ]);
  assert.deepEqual(diff("1", null), [{ path: "at boot", before: null, after: "1" }]);
  assert.deepEqual(diff("1", "1"), []);
  assert.deepEqual(diff(null, null), [], "unsupported: left alone");
});

test("only hosts whose Caddy holt changes get the setting, and their Caddy changes wait for it", () => {
  const route: Resource = {
    address: "caddy.route:a/x.example.com",
    type: "caddy.route",
    host: "a",
    name: "x.example.com",
    inputs: {},
    dependsOn: ["podman.container:a/holt-x"],
    configPath: "services.x",
  };
  const container: Resource = {
    ...route,
    address: "podman.container:b/holt-y",
    type: "podman.container",
    host: "b",
    dependsOn: [],
  };
  const out = withProxySysctls([route, container]);
  assert.deepEqual(
    out.map((r) => r.address),
    [
      "caddy.route:a/x.example.com",
      "podman.container:b/holt-y",
      "host.sysctl:a/net.ipv4.tcp_migrate_req",
    ],
  );
  assert.deepEqual(out[0]?.dependsOn, [
    "podman.container:a/holt-x",
    "host.sysctl:a/net.ipv4.tcp_migrate_req",
  ]);
  assert.deepEqual(withProxySysctls([container]), [container]);
});
