/**
 * The same provider code against a second host over SSH: sshd in its own
 * network namespace runs podman, publishes ports on that namespace's
 * loopback, and the health gate and read probes reach them through the SSH
 * connection. (Podman's DNS is not checked here: aardvark-dns serves one
 * network namespace per machine, and the local tests already cover it.)
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Exec } from "../../src/hosts/exec.ts";
import { createSshExec } from "../../src/hosts/ssh-exec.ts";
import { ensureTestImages, podman, removeLabResources } from "../peers/podman.ts";
import { freePort } from "../peers/ports.ts";
import { type SshHost, startSshHost } from "../peers/sshd.ts";
import { createPodmanLab, quickHealth, uniqueService } from "./podman-harness.ts";

let ssh: SshHost;
let exec: Exec;

before(async () => {
  await ensureTestImages();
  ssh = await startSshHost();
  exec = createSshExec({
    host: ssh.address,
    port: ssh.port,
    user: ssh.user,
    identityFile: ssh.identityFile,
    knownHostsFile: ssh.knownHostsFile,
  });
});

after(async () => {
  await exec?.close();
  await ssh?.stop();
});

test("over SSH: create behind the health gate, read, replace, a failing gate, delete", async (t) => {
  const lab = createPodmanLab("ssh", {
    exec,
    secrets: { key: "ssh-secret-value" },
    // Remove through the host, so Podman tears down its ports in the host's network namespace.
    cleanup: async (name) => {
      await lab.apply([]).catch(() => undefined);
      removeLabResources(name);
    },
  });
  t.after(() => lab.cleanup());
  const svc = uniqueService("remote");
  const port = await freePort();
  const container = (image: string, path = "/index.html") =>
    lab.container(svc, {
      image,
      env: { MODE: "remote" },
      secrets: [
        { target: "/run/secrets/key", kind: "file", secret: "key", digest: "d".repeat(32) },
      ],
      ports: [{ hostAddress: "127.0.0.1", hostPort: port, containerPort: 80, protocol: "tcp" }],
      health: quickHealth(port, path),
    });

  const created = await lab.apply([lab.network, container("localhost/holt-test/busybox:1.0")]);
  assert.deepEqual(created.failed, []);
  t.diagnostic(`create over SSH (network + container with health check): ${created.ms} ms`);

  // The port is on the SSH host's loopback, reachable through the connection.
  const answer = await exec.http({ port, method: "GET", path: "/version.txt" });
  assert.deepEqual([answer.status, answer.body], [200, "1.0\n"]);
  const inside = await exec.run({
    argv: ["podman", "exec", `holt-${svc}`, "cat", "/run/secrets/key"],
  });
  assert.equal(inside.stdout, "ssh-secret-value");
  // Nothing listens on this machine's loopback: the service runs on the other host.
  await assert.rejects(fetch(`http://127.0.0.1:${port}/`));

  const same = await lab.plan([lab.network, container("localhost/holt-test/busybox:1.0")]);
  assert.deepEqual(same.changes, []);

  const replaced = await lab.apply([lab.network, container("localhost/holt-test/busybox:1.1")]);
  assert.deepEqual(replaced.failed, []);
  assert.deepEqual(
    replaced.plan.changes.map((c) => c.action),
    ["replace"],
  );
  assert.equal((await exec.http({ port, method: "GET", path: "/version.txt" })).body, "1.1\n");

  const failing = await lab.apply([
    lab.network,
    container("localhost/holt-test/busybox:1.1", "/missing"),
  ]);
  assert.equal(failing.failed.length, 1);
  assert.match(failing.failed[0]?.error ?? "", /HOLT_E_HEALTH.*last result: answered 404/);

  const removed = await lab.apply([]);
  assert.deepEqual(removed.failed, []);
  assert.deepEqual(
    removed.plan.changes.map((c) => [c.action, c.noun]),
    [
      ["delete", "container"],
      ["delete", "network"],
    ],
  );
  assert.notEqual(podman(["container", "exists", `holt-${svc}`]).code, 0);
  const secrets = await exec.run({ argv: ["podman", "secret", "ls", "--format", "{{.Name}}"] });
  assert.ok(!secrets.stdout.includes(`holt-${svc}-`), "holt's secrets are gone with it");
});
