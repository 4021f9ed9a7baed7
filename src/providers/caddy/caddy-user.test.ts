import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { test } from "node:test";
import type { AdminEndpoint } from "./admin.ts";
import { adminListener, caddyUser, listenerArgv } from "./caddy-user.ts";

// Lines as iproute2 6.1 (Debian 12) prints them.
const tcp = (local: string, pids: number[]) =>
  `LISTEN 0      4096   ${local} 0.0.0.0:* users:(${pids.map((pid) => `("caddy",pid=${pid},fd=3)`).join(",")})`;
const unix = (path: string, pids: number[]) =>
  `u_str LISTEN 0      4096   ${path} 103224 * 0 users:(${pids.map((pid) => `("caddy",pid=${pid},fd=3)`).join(",")})    `;

const LOOPBACK: AdminEndpoint = { address: "127.0.0.1", port: 2019 };
const SOCKET: AdminEndpoint = { socketPath: "/run/caddy/admin.sock" };

test("ss lists the TCP listeners of the admin port, or every Unix listener", () => {
  assert.deepEqual(listenerArgv(LOOPBACK), ["ss", "-Htlpn", "sport", "=", ":2019"]);
  // Not `src PATH`: ss reads it as a glob pattern.
  assert.deepEqual(listenerArgv(SOCKET), ["ss", "-Hxlpn"]);
});

test("the admin listener: only the socket holt's requests reach, and only one process", () => {
  const cases: [string, AdminEndpoint, string[], number | RegExp][] = [
    ["Caddy alone", LOOPBACK, [tcp("127.0.0.1:2019", [812])], 812],
    // Any user may listen on another loopback address with the same port; holt's requests go to 127.0.0.1.
    [
      "a listener on 127.0.0.2 with the same port, listed first",
      LOOPBACK,
      [tcp("127.0.0.2:2019", [4242]), tcp("127.0.0.1:2019", [812]), tcp("[::1]:2019", [4243])],
      812,
    ],
    ["bound to a device", LOOPBACK, [tcp("127.0.0.1%lo:2019", [812])], 812],
    [
      "a wildcard takes it when nothing is bound to the address",
      LOOPBACK,
      [tcp("*:2019", [812])],
      812,
    ],
    ["an IPv4 wildcard", LOOPBACK, [tcp("0.0.0.0:2019", [812])], 812],
    ["an IPv6-only wildcard does not take IPv4", LOOPBACK, [tcp("[::]:2019", [812])], /no process/],
    [
      "the wildcard does not count beside the address itself",
      LOOPBACK,
      [tcp("*:2019", [4242]), tcp("127.0.0.1:2019", [812])],
      812,
    ],
    ["another port's listener", LOOPBACK, [tcp("127.0.0.1:20190", [812])], /no process/],
    ["nothing", LOOPBACK, [], /no process/],
    [
      "a socket with no process shown (ss not root)",
      LOOPBACK,
      ["LISTEN 0 4096 127.0.0.1:2019 0.0.0.0:*"],
      /no process/,
    ],
    [
      "two processes on one socket",
      LOOPBACK,
      [tcp("127.0.0.1:2019", [812, 813])],
      /2 processes .*812, 813/,
    ],
    [
      "::1",
      { address: "::1", port: 2019 },
      [tcp("127.0.0.1:2019", [4242]), tcp("[::1]:2019", [812])],
      812,
    ],
    ["[::1] as written", { address: "[::1]", port: 2019 }, [tcp("[::1]:2019", [812])], 812],
    // holt may reach "localhost" on either; both must be Caddy's.
    [
      "localhost on both",
      { address: "localhost", port: 2019 },
      [tcp("127.0.0.1:2019", [812]), tcp("[::1]:2019", [812])],
      812,
    ],
    [
      "localhost, someone else on ::1",
      { address: "localhost", port: 2019 },
      [tcp("127.0.0.1:2019", [812]), tcp("[::1]:2019", [4242])],
      /2 processes/,
    ],
    [
      "127.0.0.2 itself",
      { address: "127.0.0.2", port: 2019 },
      [tcp("127.0.0.1:2019", [812]), tcp("127.0.0.2:2019", [4242])],
      4242,
    ],
    [
      "the socket",
      SOCKET,
      [unix("/run/other.sock", [4242]), unix("/run/caddy/admin.sock", [812])],
      812,
    ],
    [
      "a socket whose path holds a space",
      { socketPath: "/run/my caddy/admin.sock" },
      [unix("/run/my caddy/admin.sock", [812])],
      812,
    ],
    // Not a pattern: "/run/caddy/*.sock" is that path, not every socket there.
    [
      "a path ss would read as a glob",
      { socketPath: "/run/caddy/*.sock" },
      [unix("/run/caddy/admin.sock", [812])],
      /no process/,
    ],
    [
      "a longer path that starts the same",
      SOCKET,
      [unix("/run/caddy/admin.sock.old", [812])],
      /no process/,
    ],
    // A socket file removed and bound again while the first listener still runs.
    [
      "two listeners at the path",
      SOCKET,
      [unix("/run/caddy/admin.sock", [812]), unix("/run/caddy/admin.sock", [4242])],
      /2 processes/,
    ],
    ["TCP lines for a socket", SOCKET, [tcp("127.0.0.1:2019", [812])], /no process/],
  ];
  for (const [what, endpoint, lines, expected] of cases) {
    const found = adminListener(`${lines.join("\n")}\n`, endpoint);
    if (typeof expected === "number") assert.deepEqual(found, { pid: expected }, what);
    else assert.match("why" in found ? found.why : `pid ${found.pid}`, expected, what);
  }
});

const status = (uid: number, gid: number) =>
  `Name:\tcaddy\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t${uid + 1}\t${uid}\t${uid}\t${uid}\nGid:\t${gid + 1}\t${gid}\t${gid}\t${gid}\nGroups:\t${gid} \n`;

test("who Caddy runs as, and whether its group may read keys", () => {
  const cases: [string, string, ReturnType<typeof caddyUser> | RegExp][] = [
    ["root", status(0, 0), { kind: "root" }],
    ["root with another group: still root's alone", status(0, 33), { kind: "root" }],
    ["Debian's caddy user (effective ids)", status(999, 995), { kind: "group", gid: 995 }],
    ["a system user in root's group", status(998, 0), { kind: "group", gid: 0 }],
    ["an ordinary user", status(1000, 1000), /uid 1000, gid 1000: not a system account/],
    ["nobody", status(65534, 65534), /uid 65534/],
    ["a system user in nogroup", status(42, 65534), /nobody's group/],
    ["no ids", "Name:\tcaddy\n", /could not read the ids of process 812/],
  ];
  for (const [what, text, expected] of cases) {
    const user = caddyUser(812, text);
    if (expected instanceof RegExp) {
      assert.equal(user.kind, "unknown", what);
      assert.match(user.kind === "unknown" ? user.why : "", expected, what);
    } else assert.deepEqual(user, expected, what);
  }
});

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      resolve(typeof address === "object" && address !== null ? address.port : 0);
    });
  });
}

test("a real ss: this process on 127.0.0.1, another on 127.0.0.2 with the same port", async () => {
  const server = createServer();
  const port = await listen(server, 0, "127.0.0.1");
  const other = spawn(
    process.execPath,
    ["-e", `require("net").createServer().listen(${port}, "127.0.0.2", () => console.log("up"))`],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      other.stdout.once("data", () => resolve());
      other.once("exit", (code) => reject(new Error(`listener exited with ${code}`)));
    });
    const ss = (endpoint: AdminEndpoint) => {
      const [program = "", ...args] = listenerArgv(endpoint);
      return adminListener(execFileSync(program, args, { encoding: "utf8" }), endpoint);
    };
    assert.deepEqual(ss({ address: "127.0.0.1", port }), { pid: process.pid });
    assert.deepEqual(ss({ address: "127.0.0.2", port }), { pid: other.pid });
    const self = caddyUser(process.pid, readFileSync("/proc/self/status", "utf8"));
    const uid = process.getuid?.() ?? -1;
    if (uid === 0) assert.deepEqual(self, { kind: "root" });
    else assert.equal(self.kind, uid <= 999 ? "group" : "unknown");
  } finally {
    other.kill();
    server.close();
  }
});
