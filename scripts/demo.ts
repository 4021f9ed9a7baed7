/**
 * The demo: a small lab of two real services on this machine, from one
 * holt.config.ts. A file-backed ZFS pool holds their state, Podman runs them
 * (images built locally from busybox, since nothing is pulled), Caddy serves
 * them over HTTPS. Each hostname also gets a DNS record in a local Knot DNS
 * server (RFC 2136 with a TSIG key) and a certificate from a local ACME CA
 * (Pebble) by DNS-01 through that server: the real flow, with a test CA.
 * Shows validate, plan, apply, status, dns, certs, the services answering
 * over HTTPS, a change that replaces one container, the history, and a
 * backup with a restore of a deleted file.
 * Everything is removed at the end unless --keep is given.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { startKnot } from "../test/peers/knot.ts";
import { startPebble } from "../test/peers/pebble.ts";
import { ensureTestImages } from "../test/peers/podman.ts";
import { freePorts } from "../test/peers/ports.ts";

const keep = process.argv.includes("--keep");
const bin = new URL("../src/cli/bin.ts", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "holt-demo-"));
const pool = `holtdemo${process.pid}`;
const lab = `demo-${process.pid}`;
const DOMAIN = "demo.home.arpa";
const env = {
  ...process.env,
  HOLT_STATE_DIR: join(dir, "state"),
  HOLT_AGE_KEY_FILE: join(dir, "age.key"),
};

function sh(program: string, args: string[]): string {
  const r = spawnSync(program, args, { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${program} ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

function say(text: string): void {
  console.log(`\n\u001b[1m${text}\u001b[22m`);
}

function holt(args: string[], input?: string): number {
  console.log(`\n\u001b[1m$ holt ${args.join(" ")}\u001b[22m`);
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: dir,
    stdio: [input === undefined ? "inherit" : "pipe", "inherit", "inherit"],
    input,
    env,
  });
  return r.status ?? 1;
}

/** Caddy with its admin API on a free port and its data (local CA, autosave) in the demo folder. */
async function startCaddy(adminPort: number): Promise<void> {
  const home = join(dir, "caddy");
  mkdirSync(home);
  const initial = join(home, "initial.json");
  writeFileSync(initial, JSON.stringify({ admin: { listen: `127.0.0.1:${adminPort}` } }));
  const log = openSync(join(home, "caddy.log"), "a");
  const child = spawn("caddy", ["run", "--config", initial, "--resume"], {
    detached: true,
    stdio: ["ignore", log, log],
    env: { ...process.env, HOME: home, XDG_DATA_HOME: join(home, "data"), XDG_CONFIG_HOME: home },
  });
  child.unref();
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`http://127.0.0.1:${adminPort}/config/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    await sleep(100);
  }
  throw new Error(`Caddy did not start; see ${join(home, "caddy.log")}`);
}

async function stopCaddy(adminPort: number): Promise<void> {
  await fetch(`http://127.0.0.1:${adminPort}/stop`, { method: "POST" }).catch(() => undefined);
}

interface Ports {
  admin: number;
  https: number;
  http: number;
  hello: number;
  notes: number;
}

interface Edge {
  /** The Knot DNS server, "127.0.0.1:port". */
  dns: string;
  tsigName: string;
  acmeDirectory: string;
}

function config(ports: Ports, tz: string, edge: Edge): string {
  return `import { defineLab, secret } from "holt";

export default defineLab({
  domain: "${DOMAIN}",
  name: "${lab}",
  hosts: {
    box: {
      connect: "local",
      stateRoot: "${pool}/holt",
      datasets: { "${pool}/shared": { compression: "on", quota: "100M" } },
      // The Caddy this demo started; on a real host, leave this out (127.0.0.1:2019, 443, 80).
      proxy: { admin: "127.0.0.1:${ports.admin}", httpsPort: ${ports.https}, httpPort: ${ports.http} },
    },
  },
  // The zone lives on the Knot server this demo started; holt updates it with RFC 2136 + TSIG.
  dns: {
    zones: {
      "${DOMAIN}": {
        provider: "rfc2136",
        server: "${edge.dns}",
        tsig: { name: "${edge.tsigName}", algorithm: "hmac-sha256", secret: secret("tsig") },
        nameservers: ["${edge.dns}"],
      },
    },
  },
  // Certificates from the local test CA (Pebble) by DNS-01; for real use: directory: "letsencrypt".
  acme: { email: "admin@${DOMAIN}", directory: "${edge.acmeDirectory}", trust: "./pebble-https.pem" },
  services: {
    // A web page kept in its own dataset; the container writes it at start.
    hello: {
      host: "box",
      image: "localhost/holt-test/busybox:1.0",
      hostname: "hello",
      port: 8080,
      hostPort: ${ports.hello},
      command: ["sh", "-c", "echo \\"Hello from a ZFS dataset, $(date -u). TZ=$TZ\\" > /www/index.html; exec httpd -f -p 8080 -h /www"],
      state: { www: { path: "/www", quota: "20M" } },
      mounts: { "/shared": { dataset: "${pool}/shared", readOnly: true } },
      env: { TZ: "${tz}" },
      secrets: { "/run/secrets/greeting": secret("greeting") },
      health: { http: "/index.html", interval: "2s", timeout: "1s", retries: 5 },
    },
    // A second service that reaches the first over the lab network, by its name.
    notes: {
      host: "box",
      image: "localhost/holt-test/busybox:1.0",
      hostname: "notes",
      port: 8081,
      hostPort: ${ports.notes},
      command: ["sh", "-c", "(echo 'notes says: hello answered with:'; wget -q -O - http://hello:8080/ || echo 'nothing (unreachable)') > /notes/index.html; exec httpd -f -p 8081 -h /notes"],
      state: { notes: { path: "/notes" } },
      user: "1000:1000",
      health: { http: "/index.html", interval: "2s", timeout: "1s", retries: 5 },
      dependsOn: ["hello"],
    },
  },
});
`;
}

function curl(host: string, httpsPort: number, caFile: string): void {
  curlPath(host, "/", httpsPort, caFile);
}

function curlPath(host: string, path: string, httpsPort: number, caFile: string): void {
  const fqdn = `${host}.${DOMAIN}`;
  const args = [
    "-sS",
    "--cacert",
    caFile,
    "--resolve",
    `${fqdn}:${httpsPort}:127.0.0.1`,
    `https://${fqdn}:${httpsPort}${path}`,
  ];
  console.log(`\n\u001b[1m$ curl ${args.join(" ")}\u001b[22m`);
  spawnSync("curl", args, { stdio: "inherit" });
}

let failed = false;
const [admin = 0, https = 0, http = 0, hello = 0, notes = 0] = await freePorts(5);
const ports = { admin, https, http, hello, notes };
/** Pebble's root: the CA the demo's certificates chain to. */
const caFile = join(dir, "pebble-root.pem");
const peers: { stop(): Promise<void> }[] = [];
try {
  say(
    "Setting up: a file-backed ZFS pool, Caddy, a Knot DNS server, an ACME CA (Pebble), and two locally built images.",
  );
  sh("truncate", ["-s", "256M", join(dir, "pool.img")]);
  sh("zpool", ["create", "-f", pool, join(dir, "pool.img")]);
  await startCaddy(admin);
  const knot = await startKnot({ zone: DOMAIN });
  peers.push(knot);
  const pebble = await startPebble({ dnsServer: knot.server });
  peers.push(pebble);
  writeFileSync(join(dir, "pebble-https.pem"), pebble.httpsCaPem);
  writeFileSync(caFile, pebble.rootCaPem);
  await ensureTestImages();
  console.log(
    `Lab folder ${dir}; pool ${pool}; Caddy admin on 127.0.0.1:${admin}, HTTPS on ${https}; DNS on ${knot.server}; ACME at ${pebble.directoryUrl}.`,
  );
  const edge: Edge = {
    dns: knot.server,
    tsigName: knot.tsig.name,
    acmeDirectory: pebble.directoryUrl,
  };

  writeFileSync(join(dir, "holt.config.ts"), config(ports, "UTC", edge));
  failed ||= holt(["validate"]) !== 0;
  failed ||= holt(["secrets", "init"]) !== 0;
  failed ||= holt(["secrets", "set", "greeting"], "hello, secret world\n") !== 0;
  failed ||= holt(["secrets", "set", "tsig"], `${knot.tsig.secret}\n`) !== 0;
  failed ||= holt(["plan"]) !== 0;
  failed ||= holt(["apply", "--yes"]) !== 0;
  failed ||= holt(["status"]) !== 0;
  failed ||= holt(["dns"]) !== 0;
  failed ||= holt(["certs"]) !== 0;
  say(`The DNS server answers for the names holt keeps (kdig @${knot.server}):`);
  for (const host of ["hello", "notes"]) {
    console.log(`  ${host}.${DOMAIN} A ${knot.dig(`${host}.${DOMAIN}`, "A").join(", ")}`);
  }
  say("Both answer over HTTPS with certificates from the ACME CA (curl trusts only its root):");
  curl("hello", https, caFile);
  curl("notes", https, caFile);

  say("Now change one env var of hello (TZ=UTC → Europe/Berlin): only its container is replaced.");
  writeFileSync(join(dir, "holt.config.ts"), config(ports, "Europe/Berlin", edge));
  failed ||= holt(["plan"]) !== 0;
  failed ||= holt(["apply", "--yes"]) !== 0;
  curl("hello", https, caFile);
  failed ||= holt(["plan", "--detailed-exitcode"]) !== 0;
  failed ||= holt(["history"]) !== 0;

  say("Backups: a snapshot of each service's state, with a checksum manifest of every file.");
  const notesDir = sh("zfs", [
    "get",
    "-H",
    "-o",
    "value",
    "mountpoint",
    `${pool}/holt/notes/notes`,
  ]).trim();
  writeFileSync(join(notesDir, "todo.txt"), "water the plants\n", { mode: 0o644 });
  failed ||= holt(["backup", "run"]) !== 0;
  // Exit 2: the demo keeps one copy only, short of 3-2-1, and status says so.
  failed ||= holt(["backup", "status"]) !== 2;
  say("Oops: todo.txt is deleted. One command puts the notes service's state back, verified:");
  rmSync(join(notesDir, "todo.txt"));
  failed ||= holt(["restore", "notes", "--yes"]) !== 0;
  curlPath("notes", "/todo.txt", https, caFile);

  say("The services, with their URLs:");
  for (const host of ["hello", "notes"]) {
    console.log(`  https://${host}.${DOMAIN}:${https}/`);
  }
  console.log(
    `  (resolve the names to 127.0.0.1 and trust the test CA's root: curl --cacert ${caFile} --resolve hello.${DOMAIN}:${https}:127.0.0.1 https://hello.${DOMAIN}:${https}/)`,
  );
} catch (error) {
  failed = true;
  console.error(error instanceof Error ? error.message : error);
} finally {
  for (const peer of peers) await peer.stop();
  if (keep) {
    console.log(
      `\nKept everything (--keep): lab folder ${dir}, pool ${pool}, containers holt-hello and holt-notes, Caddy (stop it with: curl -X POST http://127.0.0.1:${admin}/stop). The DNS server and the CA stop with the demo.`,
    );
  } else {
    say("Cleaning up: containers, network, Caddy, pool, the lab's sysctl.d file.");
    spawnSync("podman", ["rm", "-f", "-t", "0", "holt-hello", "holt-notes"], { stdio: "ignore" });
    spawnSync("podman", ["network", "rm", `holt-${lab}`], { stdio: "ignore" });
    for (const name of sh("podman", ["secret", "ls", "--format", "{{.Name}}"]).split("\n")) {
      if (name.startsWith("holt-hello-"))
        spawnSync("podman", ["secret", "rm", name], { stdio: "ignore" });
    }
    await stopCaddy(admin);
    // The live kernel setting stays (holt never resets it); its boot-time file goes.
    rmSync(`/etc/sysctl.d/60-holt-${lab}.conf`, { force: true });
    spawnSync("zfs", ["unmount", "-f", pool], { stdio: "ignore" });
    for (let i = 0; i < 10; i++) {
      if (spawnSync("zpool", ["destroy", "-f", pool], { stdio: "ignore" }).status === 0) break;
      await sleep(500);
    }
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log(failed ? "\nThe demo did not complete." : "\nDemo complete.");
process.exitCode = failed ? 1 : 0;
