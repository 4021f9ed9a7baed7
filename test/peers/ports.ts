/**
 * Ports for test servers (Caddy, Knot, Pebble, test containers) that no other
 * test process can be handed while this one needs them.
 *
 * Asking the kernel for port 0 and closing the socket again is racy: the port
 * comes from the ephemeral range, so any outgoing connection (or another test
 * doing the same) may take it before the server binds it. Here ports come from
 * below the ephemeral range (which starts at 32768 by default), and each one is
 * claimed with a lock file created exclusively, released when this process exits;
 * a lock whose process is gone is taken over. The port is also checked free for
 * TCP and UDP on all addresses before it is handed out.
 *
 * Test infrastructure: it binds sockets and writes lock files directly.
 */

import { createSocket } from "node:dgram";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { pidAlive } from "./process.ts";

const FIRST = 20_000;
const LAST = 32_000;
const LOCK_DIR = path.join(tmpdir(), "holt-test-ports");

const claimed = new Set<number>();
let exitHooked = false;

function lockPath(port: number): string {
  return path.join(LOCK_DIR, String(port));
}

/** Claims the port's lock file for this process; false when a live process holds it. */
function claimLock(port: number): boolean {
  const file = lockPath(port);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: "wx" });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    let owner = Number.NaN;
    try {
      owner = Number(readFileSync(file, "utf8"));
    } catch {
      continue; // released between the two calls: try once more
    }
    if (Number.isInteger(owner) && owner > 0 && pidAlive(owner)) return false;
    rmSync(file, { force: true });
  }
  return false;
}

function releaseAll(): void {
  for (const port of claimed) rmSync(lockPath(port), { force: true });
  claimed.clear();
}

function bindsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "0.0.0.0", exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

function bindsUdp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    socket.once("error", () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ port, address: "0.0.0.0", exclusive: true }, () => {
      socket.close(() => resolve(true));
    });
  });
}

/** `count` distinct ports, each held for this process until it exits. */
export async function freePorts(count: number): Promise<number[]> {
  mkdirSync(LOCK_DIR, { recursive: true, mode: 0o1777 });
  if (!exitHooked) {
    exitHooked = true;
    process.once("exit", releaseAll);
  }
  const ports: number[] = [];
  const span = LAST - FIRST + 1;
  let start = FIRST + Math.floor(Math.random() * span);
  for (let tried = 0; ports.length < count; tried++) {
    if (tried >= span) throw new Error(`no free test port between ${FIRST} and ${LAST}`);
    const port = FIRST + ((start - FIRST + tried) % span);
    if (claimed.has(port) || !claimLock(port)) continue;
    if ((await bindsTcp(port)) && (await bindsUdp(port))) {
      claimed.add(port);
      ports.push(port);
    } else {
      rmSync(lockPath(port), { force: true });
      // Something outside the tests holds it; jump elsewhere rather than walk a busy block.
      start = FIRST + Math.floor(Math.random() * span) - tried - 1;
    }
  }
  return ports;
}

/** One port, as {@link freePorts}. */
export async function freePort(): Promise<number> {
  const [port = 0] = await freePorts(1);
  return port;
}
