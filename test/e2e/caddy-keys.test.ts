/**
 * Private keys out of Caddy's config, through the CLI on real Knot, Pebble,
 * Caddy and Podman (and a real sshd in a network namespace):
 *
 * - a Caddy that runs as Debian's package runs it (as the system user caddy),
 *   its admin API on a Unix socket: after an apply that issues a certificate,
 *   `GET /config/` holds no private key, the files are root's and Caddy's
 *   group's only, and Caddy serves the certificate from them; a config an
 *   older holt left (the key in `load_pem`) is moved to files, and the plan
 *   says so; a certificate no longer wanted leaves no file behind;
 * - holt killed (SIGKILL) at the crash points of a certificate step (a
 *   renewal's before and after Caddy takes the new files, an unload's after
 *   Caddy lets go), by a proxy in front of Caddy's admin socket that kills
 *   holt as its config write arrives, or as Caddy's answer to it does: Caddy
 *   never names a missing file (it comes back from a restart), the next plan
 *   shows what is left, and the next apply finishes;
 * - the same Caddy setup on another host, reached over SSH: its admin socket
 *   through a stream-local channel, Caddy in the sshd's network namespace.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { connect as connectSocket, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CaddyPeer, curlThrough, startCaddy } from "../peers/caddy.ts";
import { freePorts } from "../peers/ports.ts";
import { type SshHost, startSshHost } from "../peers/sshd.ts";
import {
  assertServedFromFiles,
  CADDY_USER,
  caddyConfig,
  cleanupLab,
  config,
  env,
  folderFiles,
  type HostSpec,
  handshake,
  holt,
  holtAsync,
  initSecrets,
  KEY_ROOT,
  type Lab,
  newLab,
  ok,
  suffix,
  useKeysPeers,
  ZONE,
} from "./caddy-keys-harness.ts";

useKeysPeers();

describe("a local Caddy running as Debian's caddy user, its admin API on a Unix socket", () => {
  let caddy: CaddyPeer;
  let lab: Lab;
  let host: HostSpec;
  let port: number;
  const service = `keys${suffix}`;
  const hostname = `${service}.${ZONE}`;

  before(async () => {
    caddy = await startCaddy({ adminSocket: true, user: CADDY_USER });
    [port = 0] = await freePorts(1);
    lab = newLab("keys");
    host = { name: "box", reach: `connect: "local",`, caddy };
    lab.folder.write(config(lab, host, { name: service, port }));
    initSecrets(lab);
  });

  after(async () => {
    if (lab !== undefined) cleanupLab(lab);
    await caddy?.stop();
  });

  test("apply: no private key in Caddy's config; files only root and Caddy's group read; served", async () => {
    ok(holt(lab, ["apply", "--yes"]), "apply");
    const pair = await assertServedFromFiles(caddy, lab, hostname, CADDY_USER.gid);
    assert.deepEqual(
      folderFiles(lab),
      [pair.certificate, pair.key].map((p) => p.split("/").pop()).sort(),
    );
    const page = curlThrough(caddy, hostname, "/index.html", lab.rootCa);
    assert.equal(page.body, `${service}\n`, page.stderr);
    assert.match(holt(lab, ["plan"]).stdout, /No changes\./);
  });

  test("a config an older holt wrote (the key in load_pem) is moved to files, and the plan says so", async () => {
    const stored = JSON.parse(
      readFileSync(
        join(lab.folder.stateDir, lab.name, "edge", "certs", `${hostname}.json`),
        "utf8",
      ),
    ) as { chainPem: string; keyPem: string };
    // What holt before this change left: the PEMs in the config, no files on the host.
    const legacy = {
      load_pem: [
        {
          certificate: stored.chainPem,
          key: stored.keyPem,
          tags: [`holt:${lab.name}:cert:${hostname}`],
        },
      ],
    };
    const put = await caddy.admin("POST", "/config/apps/tls/certificates", JSON.stringify(legacy));
    assert.equal(put.status, 200, put.body);
    rmSync(join(KEY_ROOT, lab.name), { recursive: true, force: true });
    assert.ok(
      (await caddyConfig(caddy, lab)).body.includes("PRIVATE KEY"),
      "the old way shows the key",
    );
    const before = await handshake(caddy, hostname);

    const plan = ok(holt(lab, ["plan"]), "plan");
    assert.match(
      plan.stdout,
      /key: in Caddy's config \(load_pem\) → in a file only root and Caddy can read/,
    );
    ok(holt(lab, ["apply", "--yes"]), "apply");
    await assertServedFromFiles(caddy, lab, hostname, CADDY_USER.gid);
    assert.equal(await handshake(caddy, hostname), before, "the same certificate");
    assert.match(holt(lab, ["plan"]).stdout, /No changes\./);
  });

  test("a certificate no longer wanted is unloaded, and its files are removed", async () => {
    lab.folder.write(config(lab, host, null));
    const r = ok(holt(lab, ["apply", "--yes"]), "apply");
    assert.match(
      r.stdout + r.stderr,
      new RegExp(`tls\\.certificate:box/${hostname.replaceAll(".", "\\.")}`),
    );
    const view = await caddyConfig(caddy, lab);
    assert.deepEqual([...view.pairs.keys()], []);
    assert.deepEqual(folderFiles(lab), []);
    assert.match(holt(lab, ["plan"]).stdout, /No changes\./);
  });
});

type Cut = "before-write" | "after-write";

/**
 * A Unix socket in front of Caddy's admin socket, passing everything on,
 * except once armed: then the first config write (a POST) whose body `when`
 * picks calls `kill` and is dropped before Caddy sees it ("before-write"),
 * or reaches Caddy and, once Caddy answers 200, its answer is dropped after
 * `kill` ("after-write").
 */
interface AdminProxy {
  readonly address: string;
  arm(cut: Cut, kill: () => void, when?: (body: string) => boolean): void;
  /** Whether an armed cut has happened. */
  fired(): boolean;
  close(): Promise<void>;
}

interface Armed {
  readonly cut: Cut;
  readonly kill: () => void;
  readonly when: (body: string) => boolean;
}

async function startAdminProxy(upstreamPath: string, path: string): Promise<AdminProxy> {
  let armed: Armed | undefined;
  let fired = false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };
  /** Sends a whole request on to Caddy; with `cut`, kills holt instead of passing the answer back. */
  const forward = (client: Socket, request: Buffer, cut: Armed | undefined) => {
    const up = connectSocket(upstreamPath);
    track(up);
    let first = true;
    up.on("data", (answer: Buffer) => {
      // Only a write Caddy took: a 412 (a step of holt's changed the config meanwhile) is passed
      // on, holt writes again, and the next write its body picks is cut instead.
      const took = first && answer.subarray(0, 13).toString("latin1") === "HTTP/1.1 200 ";
      first = false;
      if (cut !== undefined && took && !fired) {
        fired = true;
        cut.kill();
        client.destroy();
        up.destroy();
        return;
      }
      client.write(answer);
    });
    up.on("end", () => client.end());
    up.on("error", () => client.destroy());
    // Not end(): Caddy would take the early end of input for a client gone, and cancel.
    up.write(request);
    client.on("end", () => up.end());
  };
  const server: Server = createServer((client) => {
    track(client);
    let request = Buffer.alloc(0);
    let sent = false;
    client.on("error", () => client.destroy());
    client.on("data", (chunk: Buffer) => {
      if (sent) return;
      request = Buffer.concat([request, chunk]);
      // holt sends one request per connection (Connection: close), with a Content-Length.
      const end = request.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = request.subarray(0, end).toString("latin1");
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (request.length < end + 4 + length) return;
      sent = true;
      const body = request.subarray(end + 4).toString("utf8");
      const cut =
        armed !== undefined && !fired && head.startsWith("POST ") && armed.when(body)
          ? armed
          : undefined;
      if (cut?.cut === "before-write") {
        fired = true;
        cut.kill();
        client.destroy();
        return;
      }
      forward(client, request, cut);
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    address: `unix/${path}`,
    arm(cut, kill, when = () => true) {
      armed = { cut, kill, when };
      fired = false;
    },
    fired: () => fired,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("holt killed inside a certificate step, between its files and Caddy's config", () => {
  let caddy: CaddyPeer;
  let proxy: AdminProxy;
  let lab: Lab;
  let host: HostSpec;
  let port: number;
  const service = `cut${suffix}`;
  const hostname = `${service}.${ZONE}`;

  before(async () => {
    caddy = await startCaddy({ adminSocket: true });
    [port = 0] = await freePorts(1);
    lab = newLab("cut");
    proxy = await startAdminProxy(caddy.adminSocket ?? "", join(lab.folder.dir, "admin.sock"));
    host = { name: "box", reach: `connect: "local",`, caddy, admin: proxy.address };
    lab.folder.write(config(lab, host, { name: service, port }));
    initSecrets(lab);
    ok(await holtAsync(lab, ["apply", "--yes"]), "first apply");
  });

  after(async () => {
    await proxy?.close();
    if (lab !== undefined) cleanupLab(lab);
    await caddy?.stop();
  });

  /** holt, SIGKILLed by the proxy at `cut` of the first config write `when` picks. */
  async function killedAt(
    args: string[],
    cut: Cut,
    when?: (body: string) => boolean,
  ): Promise<void> {
    const run = lab.folder.holtAsync(args, env(lab));
    proxy.arm(cut, () => run.child.kill("SIGKILL"), when);
    const result = await run.done;
    assert.ok(proxy.fired(), `the proxy cut the write:\n${result.stdout}\n${result.stderr}`);
    assert.equal(result.signal, "SIGKILL");
  }

  /** Caddy restarted from its autosaved config: it finds every file it names. */
  async function assertSurvivesRestart(): Promise<void> {
    await caddy.restart();
    const view = await caddyConfig(caddy, lab);
    for (const path of view.named) assert.ok(existsSync(path), `${path} exists`);
  }

  test("killed after writing the new files, before Caddy's config names them: the next apply switches", async () => {
    const before = await assertServedFromFiles(caddy, lab, hostname, 0);
    const served = await handshake(caddy, hostname);
    await killedAt(["certs", "renew", hostname], "before-write");

    assert.deepEqual(
      (await caddyConfig(caddy, lab)).pairs.get(hostname),
      before,
      "Caddy still names the old pair",
    );
    assert.equal(
      folderFiles(lab).length,
      4,
      `the new pair is beside the old one: ${folderFiles(lab)}`,
    );
    await assertSurvivesRestart();
    assert.equal(await handshake(caddy, hostname), served, "and serves it");

    const plan = ok(await holtAsync(lab, ["plan"]), "plan");
    assert.match(plan.stdout, /caddy: sha256:[0-9a-f]{12} → sha256:[0-9a-f]{12}/);
    ok(await holtAsync(lab, ["apply", "--yes"]), "apply");
    const after = await assertServedFromFiles(caddy, lab, hostname, 0);
    assert.notDeepEqual(after, before);
    assert.equal(folderFiles(lab).length, 2, "the old pair is gone");
    assert.notEqual(await handshake(caddy, hostname), served);
    assert.match((await holtAsync(lab, ["plan"])).stdout, /No changes\./);
  });

  test("killed after Caddy switched, before the old files were removed: the next apply removes them", async () => {
    const before = await assertServedFromFiles(caddy, lab, hostname, 0);
    await killedAt(["certs", "renew", hostname], "after-write");

    const now = (await caddyConfig(caddy, lab)).pairs.get(hostname);
    assert.ok(now !== undefined);
    assert.notDeepEqual(now, before, "Caddy names the new pair");
    assert.equal(folderFiles(lab).length, 4, "the old pair is still there");
    await assertSurvivesRestart();
    await assertServedFromFiles(caddy, lab, hostname, 0);

    const plan = ok(await holtAsync(lab, ["plan"]), "plan");
    assert.match(plan.stdout, /old files: 2 left on the host → removed/);
    ok(await holtAsync(lab, ["apply", "--yes"]), "apply");
    assert.deepEqual(await assertServedFromFiles(caddy, lab, hostname, 0), now);
    assert.deepEqual(
      folderFiles(lab),
      [now.certificate, now.key].map((p) => p.split("/").pop()).sort(),
    );
    assert.match((await holtAsync(lab, ["plan"])).stdout, /No changes\./);
  });

  test("killed after Caddy let go of a certificate no longer wanted, before its files went: the next apply removes them", async () => {
    // Without acme, the routes go back to Caddy's local CA and the certificate is unloaded.
    lab.folder.write(config(lab, host, { name: service, port }, false));
    const unload = (body: string) => !body.includes(`holt:${lab.name}:cert:`);
    await killedAt(["apply", "--yes"], "after-write", unload);

    assert.deepEqual([...(await caddyConfig(caddy, lab)).pairs.keys()], [], "Caddy let go of it");
    assert.equal(folderFiles(lab).length, 2, "its files are still there");
    await assertSurvivesRestart();
    const plan = JSON.parse(ok(await holtAsync(lab, ["plan", "--json"]), "plan").stdout) as {
      changes: { action: string; address: string }[];
    };
    const address = `tls.certificate:box/${hostname}`;
    assert.ok(
      plan.changes.some((c) => c.action === "delete" && c.address === address),
      JSON.stringify(plan.changes),
    );
    ok(await holtAsync(lab, ["apply", "--yes"]), "apply");
    assert.deepEqual(folderFiles(lab), []);
    assert.match((await holtAsync(lab, ["plan"])).stdout, /No changes\./);
  });
});

describe("another host over SSH: Caddy in its network namespace, admin API on a Unix socket", () => {
  let ssh: SshHost;
  let caddy: CaddyPeer;
  let lab: Lab;
  let host: HostSpec;
  let port: number;
  const service = `far${suffix}`;
  const hostname = `${service}.${ZONE}`;

  before(async () => {
    ssh = await startSshHost();
    caddy = await startCaddy({
      adminSocket: true,
      user: CADDY_USER,
      netns: { name: ssh.namespace, address: ssh.address },
    });
    lab = newLab("far");
    host = {
      name: "far",
      reach: `address: "${ssh.address}",\n      ${ssh.connectConfig},`,
      caddy,
    };
    [port = 0] = await freePorts(1);
    lab.folder.write(config(lab, host, { name: service, port }));
    initSecrets(lab);
  });

  after(async () => {
    if (lab !== undefined) {
      // Through the host, so Podman tears down the ports in its network namespace.
      lab.folder.write(config(lab, host, null));
      holt(lab, ["apply", "--yes"]);
      cleanupLab(lab);
    }
    await caddy?.stop();
    await ssh?.stop();
  });

  test("apply over SSH: routes and certificates through the socket; no key in the config; served", async () => {
    ok(holt(lab, ["apply", "--yes"]), "apply");
    await assertServedFromFiles(caddy, lab, hostname, CADDY_USER.gid);
    const page = curlThrough(caddy, hostname, "/index.html", lab.rootCa);
    assert.equal(page.body, `${service}\n`, page.stderr);
    assert.match(holt(lab, ["plan"]).stdout, /No changes\./);
  });

  test("a socket nothing listens on, over SSH: HOLT_E_CADDY naming the socket and what sshd needs", () => {
    const wrong = "unix//run/holt-test-nowhere/admin.sock";
    lab.folder.write(config(lab, { ...host, admin: wrong }, { name: service, port }));
    const r = holt(lab, ["plan"]);
    lab.folder.write(config(lab, host, { name: service, port }));
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /HOLT_E_CADDY/);
    assert.match(r.stderr, new RegExp(`admin API ${wrong}\\) does not answer`));
    assert.match(
      r.stderr,
      /on Unix socket \/run\/holt-test-nowhere\/admin\.sock on root@[\d.]+:22 failed: the host's sshd could not connect to the socket .*AllowStreamLocalForwarding/,
    );
  });
});
