import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { HoltError } from "../../errors.ts";
import {
  parseContainerStatus,
  parseNetworks,
  parsePs,
  parseSecrets,
  parseZfsMounts,
} from "./podman-json.ts";
import { decodeSpec, encodeSpec } from "./spec.ts";

// Captured from Podman 4.3.1 on Debian 12: a running holt container, a holt
// container with a broken spec label that exited with 3, and one made by hand.
const fixture = (name: string): string =>
  readFileSync(join(import.meta.dirname, "fixtures", name), "utf8");

test("ps: names, states, labels (image labels included) and creation time", () => {
  const containers = parsePs(fixture("podman-4.3-ps.json"), "local");
  assert.deepEqual(
    containers.map((c) => [c.name, c.state, c.labels["holt.lab"] ?? null]),
    [
      ["holt-web", "running", "fixture"],
      ["holt-db", "exited", "fixture"],
      ["handmade", "created", null],
    ],
  );
  const web = containers[0];
  assert.equal(web?.image, "localhost/holt-test/busybox:1.0");
  assert.match(web?.imageId ?? "", /^[0-9a-f]{64}$/);
  assert.equal(typeof web?.created, "number");
  assert.equal(web?.labels["holt.test.recipe"], "78bdf2405a2f0e5a");
});

test("ps: the spec label decodes back to the inputs; a broken one decodes to null", () => {
  const [web, db] = parsePs(fixture("podman-4.3-ps.json"), "local");
  const spec = decodeSpec(web?.labels["holt.spec"]);
  assert.equal(spec?.image, "localhost/holt-test/busybox:1.0");
  assert.deepEqual(spec?.ports, [
    { containerPort: 80, hostAddress: "127.0.0.1", hostPort: 18093, protocol: "tcp" },
  ]);
  assert.equal(spec === null ? null : encodeSpec(spec), web?.labels["holt.spec"]);
  assert.equal(decodeSpec(db?.labels["holt.spec"]), null);
  assert.equal(decodeSpec(undefined), null);
  assert.equal(decodeSpec('{"name":"holt-x"}'), null, "missing fields");
});

test("ps: empty output, `null` and `[]` are no containers", () => {
  assert.deepEqual(parsePs("", "local"), []);
  assert.deepEqual(parsePs("null\n", "local"), []);
  assert.deepEqual(parsePs("[]\n", "local"), []);
});

test("ps: output that is not Podman's JSON is a clear error naming the host", () => {
  const cases = ["Error: something", "{}", "[1, 2]", '[{"Id": "x"}]'];
  for (const output of cases) {
    assert.throws(
      () => parsePs(output, "root@10.0.0.2:22"),
      (error: unknown) =>
        error instanceof HoltError &&
        error.code === "HOLT_E_EXEC" &&
        error.message.includes("podman ps -a --format json") &&
        error.message.includes("root@10.0.0.2:22"),
      output,
    );
  }
});

test("network ls: labels and DNS", () => {
  const networks = parseNetworks(fixture("podman-4.3-network-ls.json"), "local");
  assert.deepEqual(networks, [
    { name: "holt-fixture", labels: { "holt.lab": "fixture" }, dnsEnabled: true },
    { name: "podman", labels: {}, dnsEnabled: false },
  ]);
  assert.throws(() => parseNetworks('[{"id": "x"}]', "local"), HoltError);
});

test("container inspect: state, exit code, restarts and labels", () => {
  const status = parseContainerStatus(fixture("podman-4.3-container-inspect.json"), "local");
  assert.equal(status?.status, "running");
  assert.equal(status?.running, true);
  assert.equal(status?.exitCode, 0);
  assert.equal(status?.restartCount, 0);
  assert.equal(status?.labels["holt.service"], "web");
  assert.equal(parseContainerStatus("[]", "local"), null);
  assert.throws(() => parseContainerStatus('[{"Name": "x"}]', "local"), HoltError);
});

test("secret inspect: names and labels, never data", () => {
  const secrets = parseSecrets(fixture("podman-4.3-secret-inspect.json"), "local");
  assert.deepEqual(secrets, [
    {
      name: "holt-web-db-0123456789ab",
      labels: { "holt.lab": "fixture", "holt.service": "web" },
    },
  ]);
});

test("zfs list: mounted datasets have a path; unmounted or mountpoint=none do not", () => {
  const mounts = parseZfsMounts(
    "tank/a\t/tank/a\tyes\ntank/b\tnone\tno\ntank/c\t/tank/c\tno\ntank/d\tlegacy\tyes\n",
  );
  assert.deepEqual(
    [...mounts],
    [
      ["tank/a", "/tank/a"],
      ["tank/b", null],
      ["tank/c", null],
      ["tank/d", null],
    ],
  );
});
