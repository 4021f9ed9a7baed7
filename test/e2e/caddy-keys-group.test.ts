/**
 * Who holt lets read Caddy's certificate files, on real Knot, Pebble, Caddy
 * and Podman: the group of the one process listening where holt's requests
 * to the admin API arrive, and only when that process is root or a system
 * account.
 *
 * - Caddy on a loopback port as Debian's caddy user, with other processes
 *   listening on the same port at other loopback addresses (any user may
 *   open those): the files go to Caddy's group, not to theirs;
 * - Caddy run as nobody, standing for any process an ordinary user starts
 *   on the admin address (while the real Caddy is down, say): the files stay
 *   root's alone, so that process cannot read the key, and the apply fails
 *   with HOLT_E_CADDY saying why.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CaddyPeer, startCaddy } from "../peers/caddy.ts";
import { freePorts } from "../peers/ports.ts";
import {
  assertAccess,
  assertServedFromFiles,
  CADDY_USER,
  cleanupLab,
  config,
  type HostSpec,
  holt,
  initSecrets,
  KEY_ROOT,
  type Lab,
  NOBODY,
  newLab,
  ok,
  suffix,
  useKeysPeers,
  ZONE,
} from "./caddy-keys-harness.ts";

useKeysPeers();

function listen(port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.destroy());
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

describe("a Caddy on a loopback port as Debian's caddy user, beside other listeners on that port", () => {
  let caddy: CaddyPeer;
  let lab: Lab;
  let host: HostSpec;
  let port: number;
  const others: Server[] = [];
  const service = `grp${suffix}`;
  const hostname = `${service}.${ZONE}`;

  before(async () => {
    caddy = await startCaddy({ user: CADDY_USER });
    // This test process: not Caddy, and listed by `ss` beside it (before it, for some of them).
    for (const address of ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "::1"]) {
      others.push(await listen(caddy.adminPort, address));
    }
    [port = 0] = await freePorts(1);
    lab = newLab("grp");
    host = { name: "box", reach: `connect: "local",`, caddy };
    lab.folder.write(config(lab, host, { name: service, port }));
    initSecrets(lab);
  });

  after(async () => {
    for (const server of others) server.close();
    if (lab !== undefined) cleanupLab(lab);
    await caddy?.stop();
  });

  test("the files go to the group of the process on 127.0.0.1, Caddy's", async () => {
    ok(holt(lab, ["apply", "--yes"]), "apply");
    await assertServedFromFiles(caddy, lab, hostname, CADDY_USER.gid);
    assert.match(holt(lab, ["plan"]).stdout, /No changes\./);
  });
});

describe("a Caddy run by an ordinary user (nobody) on the admin address", () => {
  let caddy: CaddyPeer;
  let lab: Lab;
  let port: number;
  const service = `nob${suffix}`;

  before(async () => {
    caddy = await startCaddy({ user: NOBODY });
    [port = 0] = await freePorts(1);
    lab = newLab("nob");
    lab.folder.write(
      config(lab, { name: "box", reach: `connect: "local",`, caddy }, { name: service, port }),
    );
    initSecrets(lab);
  });

  after(async () => {
    if (lab !== undefined) cleanupLab(lab);
    await caddy?.stop();
  });

  test("gets no key: the files stay root's alone, and the apply fails saying why", async () => {
    const r = holt(lab, ["apply", "--yes"]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /HOLT_E_CADDY/);
    assert.match(r.stderr, /permission denied/);
    assert.match(
      r.stderr,
      /the files are root's alone \(mode 0600\), because the process listening on the admin address \(pid \d+\) runs as uid 65534, gid 65534: not a system account/,
    );
    const folder = join(KEY_ROOT, lab.name);
    const keys = readdirSync(folder).filter((name) => name.endsWith(".key"));
    assert.equal(keys.length, 1, String(readdirSync(folder)));
    const key = join(folder, keys[0] ?? "");
    assertAccess(folder, 0o700, 0);
    assertAccess(key, 0o600, 0);
    assert.match(readFileSync(key, "utf8"), /PRIVATE KEY/);
    // What that user's processes get when they try.
    const asNobody = spawnSync(
      "setpriv",
      ["--reuid", String(NOBODY.uid), "--regid", String(NOBODY.gid), "--clear-groups", "cat", key],
      { encoding: "utf8" },
    );
    assert.notEqual(asNobody.status, 0);
    assert.match(asNobody.stderr, /Permission denied/);
    assert.ok(!asNobody.stdout.includes("PRIVATE KEY"));
    const shown = await caddy.admin("GET", "/config/");
    assert.ok(!shown.body.includes("PRIVATE KEY"), "nor is it in Caddy's config");
  });
});
