import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isHoltError } from "../errors.ts";
import {
  mayHaveStarted,
  type OpenSshTarget,
  openMaster,
  startWithOpenSsh,
} from "./openssh-stream.ts";

/** A target on a local port nobody listens on. */
async function nobodyListening(): Promise<OpenSshTarget> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  await new Promise((resolve) => server.close(resolve));
  return {
    host: "127.0.0.1",
    port: address.port,
    user: "nobody",
    identityFile: "/dev/null",
    knownHostsFile: "/dev/null",
    connectTimeoutMs: 2000,
    target: `nobody@127.0.0.1:${address.port}`,
  };
}

test("mayHaveStarted: what ssh says after logging in, or a shared connection's silence", () => {
  assert.equal(mayHaveStarted(""), true);
  assert.equal(mayHaveStarted("Connection to 10.0.0.2 closed by remote host.\r\n"), true);
  assert.equal(mayHaveStarted("client_loop: send disconnect: Broken pipe\r\n"), true);
});

test("mayHaveStarted: failures to connect or log in", () => {
  for (const said of [
    "ssh: connect to host 10.0.0.2 port 22: Connection refused\r\n",
    "root@10.0.0.2: Permission denied (publickey).\r\n",
    "Host key verification failed.\r\n",
    "Connection closed by 10.0.0.2 port 22\r\n",
    "kex_exchange_identification: read: Connection reset by peer\r\n",
    "ssh: Could not resolve hostname nas: Name or service not known\r\n",
  ]) {
    assert.equal(mayHaveStarted(said), false, said);
  }
});

test("a port nobody listens on: done says the program could not start, with ssh's reason", async () => {
  const to = await nobodyListening();
  const program = await startWithOpenSsh(to, ["true"], () => undefined);
  await assert.rejects(program.done, (error: unknown) => {
    assert.ok(isHoltError(error));
    assert.equal(error.code, "HOLT_E_SSH");
    assert.match(
      error.message,
      /^Could not start true on nobody@127\.0\.0\.1:\d+ through OpenSSH: .*Connection refused/,
    );
    return true;
  });
});

test("openMaster: its folder is in the private root, never /tmp; it removes gone holts' folders, and only those", async () => {
  const root = join(mkdtempSync(join(tmpdir(), "holt-openssh-")), "ssh");
  mkdirSync(root, { mode: 0o700 });
  const gone = spawnSync("true").pid;
  const alive = spawn("sleep", ["30"]);
  const left = join(root, `${gone}-aaaaaa`);
  const kept = join(root, `${alive.pid}-bbbbbb`);
  const inTmp = () => readdirSync(tmpdir()).filter((n) => n.startsWith(`holt-ssh-${process.pid}-`));
  try {
    for (const dir of [left, kept]) {
      mkdirSync(dir, { mode: 0o700 });
      writeFileSync(join(dir, ".holt-ssh"), "marker\n");
    }
    const master = openMaster(await nobodyListening(), root);
    assert.ok(master !== null, "this machine has ssh and setpriv");
    const own = readdirSync(root).filter((n) => n.startsWith(`${process.pid}-`));
    assert.equal(own.length, 1, "its own folder, in the root");
    assert.deepEqual(inTmp(), []);
    assert.equal(await master.ready, null);
    master.close();
    assert.deepEqual(readdirSync(root).sort(), [`${alive.pid}-bbbbbb`]);
  } finally {
    alive.kill();
    rmSync(join(root, ".."), { recursive: true, force: true });
  }
});
