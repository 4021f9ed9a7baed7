import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { type SshHost, startSshHost } from "../../test/peers/sshd.ts";
import { assertReaderMayStopEarly, digest, MiB, sendRandom } from "../../test/peers/streams.ts";
import { type ErrorCode, isHoltError } from "../errors.ts";
import type { Exec } from "./exec.ts";
import { fingerprint } from "./known-hosts.ts";
import type { ExecOutcome } from "./run-checked.ts";
import { createSshExec, type SshExecOptions } from "./ssh-exec.ts";

let peer: SshHost;
const opened: Exec[] = [];

before(async () => {
  peer = await startSshHost();
  // OpenSSH's control sockets go here rather than into the machine's state directory.
  process.env.XDG_RUNTIME_DIR = scratch("runtime");
  mkdirSync(process.env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
});

after(async () => {
  await Promise.all(opened.map((exec) => exec.close()));
  await peer?.stop();
});

function open(overrides: Partial<SshExecOptions> = {}): Exec {
  const exec = createSshExec({
    host: peer.address,
    port: peer.port,
    user: peer.user,
    identityFile: peer.identityFile,
    knownHostsFile: peer.knownHostsFile,
    ...overrides,
  });
  opened.push(exec);
  return exec;
}

/** A file only this test uses, next to the harness's files (removed by stop()). */
function scratch(name: string): string {
  return join(peer.identityFile, "..", name);
}

function holtError(code: ErrorCode, pattern?: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(isHoltError(error), `expected a HoltError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern !== undefined) assert.match(error.message, pattern);
    return true;
  };
}

function hostKeyFingerprint(): string {
  const blob = readFileSync(peer.knownHostsFile, "utf8").split(/\s+/)[2] ?? "";
  return fingerprint(Buffer.from(blob, "base64"));
}

test("runs a program and collects stdout", async () => {
  const exec = open();
  assert.equal(exec.target, `root@${peer.address}:22`);
  const result = await exec.run({ argv: ["echo", "hello"] });
  assert.deepEqual(result, {
    stdout: "hello\n",
    stderr: "",
    code: 0,
    signal: null,
    timedOut: false,
  });
});

test("returns stderr and a non-zero exit code without throwing", async () => {
  const result = await open().run({ argv: ["sh", "-c", "echo err >&2; exit 3"] });
  assert.equal(result.stdout, "");
  assert.equal(result.stderr, "err\n");
  assert.equal(result.code, 3);
});

test("a missing remote program exits 127, as locally", async () => {
  const result = await open().run({ argv: ["holt-no-such-program"] });
  assert.equal(result.code, 127);
});

test("argv with spaces, quotes and shell syntax arrives exactly", async () => {
  const exec = open();
  const arg = `it's "quoted" $HOME $(id) \`id\` * ; | & \\ \n\ttab ü`;
  assert.equal((await exec.run({ argv: ["printf", "%s", arg] })).stdout, arg);
  const argv = ["", " ", "a'b", "--x=$y", "#hash", "~", "if"];
  const result = await exec.run({ argv: ["printf", "%s\\0", ...argv] });
  assert.deepEqual(result.stdout.split("\0").slice(0, -1), argv);
});

test("delivers stdin and closes it", async () => {
  const exec = open();
  const input = "ünïcode line\n".repeat(100_000);
  const result = await exec.run({ argv: ["cat"], stdin: input });
  assert.equal(result.stdout, input);
  const empty = await exec.run({ argv: ["cat"], timeoutMs: 5000 });
  assert.equal(empty.code, 0);
  assert.equal(empty.stdout, "");
});

test("reports a signal that killed the remote program", async () => {
  const result = await open().run({ argv: ["sh", "-c", "kill -KILL $$"] });
  assert.equal(result.code, null);
  assert.equal(result.signal, "SIGKILL");
});

test("20 concurrent runs share one connection, at most 8 at a time", async () => {
  const exec = open();
  const dir = scratch("concurrency");
  execFileSync("mkdir", ["-p", dir]);
  // Each run registers itself, counts who else is running, then leaves.
  const script = `touch ${dir}/$$; ls ${dir} | wc -l; sleep 0.3; rm ${dir}/$$; echo $SSH_CONNECTION`;
  const results = await Promise.all(
    Array.from({ length: 20 }, () => exec.run({ argv: ["sh", "-c", script] })),
  );
  assert.ok(results.every((r) => r.code === 0));
  const lines = results.map((r) => r.stdout.trim().split("\n"));
  const connections = new Set(lines.map((l) => l[1]));
  assert.equal(connections.size, 1, `connections: ${[...connections].join(" / ")}`);
  const peak = Math.max(...lines.map((l) => Number(l[0])));
  assert.ok(peak <= 8, `saw ${peak} runs at once`);
  assert.ok(peak >= 2, "runs did not overlap at all");
});

test("a timeout kills the remote program and its children with SIGKILL", async () => {
  const exec = open();
  // Host and test machine share one pid namespace: make the sleeps ours alone.
  const sleep = `sleep 37.${process.pid}`;
  const started = Date.now();
  const argv = ["sh", "-c", `${sleep} & ${sleep}; wait`];
  const result: ExecOutcome = await exec.run({ argv, timeoutMs: 300 });
  assert.ok(Date.now() - started < 3000);
  assert.equal(result.timedOut, true);
  assert.equal(result.signal, "SIGKILL");
  assert.equal(result.code, null);
  const left = await exec.run({ argv: ["pgrep", "-x", "-f", sleep] });
  assert.equal(left.code, 1, `still running: ${left.stdout}`);
});

test("reconnects on the next run after the connection drops", async () => {
  const exec = open();
  const first = await exec.run({ argv: ["sh", "-c", "echo $SSH_CONNECTION"] });
  // The shell's parent is this connection's sshd process; killing it drops the link.
  await assert.rejects(
    exec.run({ argv: ["sh", "-c", "kill $PPID; sleep 5"] }),
    holtError("HOLT_E_SSH", /lost while running/),
  );
  const second = await exec.run({ argv: ["sh", "-c", "echo $SSH_CONNECTION"] });
  assert.equal(second.code, 0);
  assert.notEqual(second.stdout, first.stdout);
});

test("http: a path Node refuses to send is a HOLT_E_HTTP rejection, not an unhandled one", async () => {
  // sshd listens on the peer's address, so the forwarded channel opens and the request
  // is built in the channel's callback: where Node's throw used to escape every handler.
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  try {
    await assert.rejects(
      open().http({
        address: peer.address,
        port: peer.port,
        method: "GET",
        path: "/he alth",
        timeoutMs: 5000,
      }),
      holtError("HOLT_E_HTTP", /the request could not be sent: .*unescaped characters/),
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("output past the cap kills the remote program and fails the run, naming it, the host and the cap", async () => {
  const exec = open();
  // Host and test machine share one pid namespace: make the program ours alone.
  const tag = `holt-cap-${process.pid}`;
  await assert.rejects(
    exec.run({ argv: ["yes", tag], timeoutMs: 120_000 }),
    holtError(
      "HOLT_E_EXEC",
      new RegExp(
        `^A program on ${exec.target.replace(/\./g, "\\.")} printed more than 64 MiB on stdout, the most holt reads from one program, so holt killed it\\..* The command: yes ${tag}$`,
      ),
    ),
  );
  const deadline = Date.now() + 10_000;
  let left = await exec.run({ argv: ["pgrep", "-f", `yes ${tag}`] });
  while (left.code === 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = await exec.run({ argv: ["pgrep", "-f", `yes ${tag}`] });
  }
  assert.equal(left.code, 1, `still running: ${left.stdout}`);
  assert.equal((await exec.run({ argv: ["echo", "still usable"] })).stdout, "still usable\n");
});

test("run after close is refused; close twice is fine", async () => {
  const exec = open();
  await exec.run({ argv: ["true"] });
  await exec.close();
  await exec.close();
  await assert.rejects(exec.run({ argv: ["true"] }), holtError("HOLT_E_INTERNAL"));
});

test("runs still waiting when close() runs end there, without logging in again", async () => {
  // This process's connections to the host (other tests keep theirs open until the end).
  const connections = () =>
    execFileSync("ss", ["-Htnp", "dst", `${peer.address}:${peer.port}`], { encoding: "utf8" })
      .split("\n")
      .filter((line) => line.includes(`pid=${process.pid},`))
      .map((line) => line.split(/\s+/)[3]);
  const before = new Set(connections());
  const exec = open();
  await exec.run({ argv: ["true"] });
  // Eight take the channels; the ninth waits for one, and gets it once close() ended the connection.
  const runs = Array.from({ length: 9 }, () =>
    exec.run({ argv: ["sleep", "5"] }).then(
      () => "finished",
      (error: unknown) => (isHoltError(error) ? error.code : String(error)),
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 500));
  await exec.close();
  const outcomes = await Promise.all(runs);
  assert.ok(!outcomes.includes("finished"), outcomes.join(", "));
  await new Promise((resolve) => setTimeout(resolve, 500));
  // A connection made after close() would keep the process alive with nothing to close it.
  assert.deepEqual(
    connections().filter((local) => !before.has(local)),
    [],
  );
});

test("an unknown host key is refused with the fingerprint and the fix", async () => {
  const empty = scratch("known_hosts.empty");
  writeFileSync(empty, "");
  const exec = open({ knownHostsFile: empty });
  await assert.rejects(exec.run({ argv: ["true"] }), (error) => {
    holtError("HOLT_E_SSH_HOSTKEY")(error);
    const { message } = error as Error;
    assert.ok(message.includes(`${peer.address}:22`), message);
    assert.ok(message.includes(hostKeyFingerprint()), message);
    assert.ok(message.includes(`ssh-keyscan -p 22 ${peer.address} >> ${empty}`), message);
    return true;
  });
});

test("a missing known_hosts file means the host is unknown", async () => {
  const exec = open({ knownHostsFile: scratch("no-such-known-hosts") });
  await assert.rejects(exec.run({ argv: ["true"] }), holtError("HOLT_E_SSH_HOSTKEY", /is not in/));
});

test("a host key that does not match known_hosts is refused", async () => {
  const wrong = scratch("known_hosts.wrong");
  // Any other ed25519 key will do; the client key is at hand.
  const clientKey = readFileSync(`${peer.identityFile}.pub`, "utf8").split(/\s+/);
  writeFileSync(wrong, `${peer.address} ${clientKey[0]} ${clientKey[1]}\n`);
  const exec = open({ knownHostsFile: wrong });
  await assert.rejects(exec.run({ argv: ["true"] }), (error) => {
    holtError("HOLT_E_SSH_HOSTKEY", /does not match/)(error);
    const { message } = error as Error;
    assert.ok(message.includes(`${peer.address}:22`), message);
    assert.ok(message.includes(hostKeyFingerprint()), message);
    return true;
  });
});

test("a closed port fails fast with HOLT_E_SSH, once for all waiting runs", async () => {
  const exec = open({ port: 2, connectTimeoutMs: 2000 });
  const started = Date.now();
  const runs = Array.from({ length: 5 }, () => exec.run({ argv: ["true"] }));
  for (const run of runs) {
    await assert.rejects(
      run,
      holtError("HOLT_E_SSH", /root@.*:2: connection refused\. Check that sshd/),
    );
  }
  assert.ok(Date.now() - started < 1500, `took ${Date.now() - started} ms`);
});

test("a host that never answers fails after the connect timeout", async (t) => {
  // Accepts TCP but never speaks SSH, like a wedged host or a wrong service.
  const silent = createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  t.after(() => silent.close());
  const address = silent.address();
  assert.ok(address !== null && typeof address === "object");
  const exec = open({ host: "127.0.0.1", port: address.port, connectTimeoutMs: 300 });
  const started = Date.now();
  await assert.rejects(
    exec.run({ argv: ["true"] }),
    holtError("HOLT_E_SSH", /no answer within 300 ms/),
  );
  assert.ok(Date.now() - started < 2000);
});

test("a key the server does not accept is an auth failure naming the key", async () => {
  const stranger = scratch("stranger_ed25519");
  execFileSync("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", stranger]);
  const exec = open({ identityFile: stranger });
  await assert.rejects(
    exec.run({ argv: ["true"] }),
    holtError(
      "HOLT_E_SSH",
      new RegExp(`root@${peer.address}:22: the server did not accept the key ${stranger}`),
    ),
  );
});

test("an unreadable identity file is named", async () => {
  const missing = scratch("no-such-key");
  const exec = open({ identityFile: missing });
  await assert.rejects(
    exec.run({ argv: ["true"] }),
    holtError("HOLT_E_SSH", new RegExp(`${missing} .*does not exist`)),
  );
  const garbage = scratch("garbage-key");
  writeFileSync(garbage, "not a key\n");
  await assert.rejects(
    open({ identityFile: garbage }).run({ argv: ["true"] }),
    holtError("HOLT_E_SSH", new RegExp(`${garbage} .*not a usable`)),
  );
  const encrypted = scratch("encrypted_ed25519");
  execFileSync("ssh-keygen", ["-q", "-N", "secret", "-t", "ed25519", "-f", encrypted]);
  await assert.rejects(
    open({ identityFile: encrypted }).run({ argv: ["true"] }),
    holtError("HOLT_E_SSH", new RegExp(`${encrypted} .*not a usable unencrypted private key`)),
  );
});

// OpenSSH's client on its own connection, OpenSSH over a connection opened ahead
// (`prepareStart`), and ssh2's channels: the same behaviour from each.
const STREAMS = [
  { label: "openssh", streams: "openssh", prepared: false },
  { label: "openssh, prepared", streams: "openssh", prepared: true },
  { label: "ssh2", streams: "ssh2", prepared: false },
] as const;

for (const { label, streams: kind, prepared } of STREAMS) {
  const streams = label;
  const openStreams = (): Exec => {
    const exec = open({ streams: kind });
    if (prepared) exec.prepareStart?.();
    return exec;
  };

  test(`start (${streams}): 32 MiB go through a remote cat and come back unchanged`, async () => {
    const program = await openStreams().start({ argv: ["cat"] });
    const [sent, received, result] = await Promise.all([
      sendRandom(program.stdin, 32 * MiB),
      digest(program.stdout),
      program.done,
    ]);
    assert.equal(received.bytes, 32 * MiB);
    assert.equal(received.sha256, sent);
    assert.deepEqual(result, { stdout: "", stderr: "", code: 0, signal: null });
  });

  test(`start (${streams}): stderr comes back without holt's pgid marker`, async () => {
    const program = await openStreams().start({
      argv: ["sh", "-c", "echo oops >&2; echo out; exit 4"],
    });
    const output = new TextDecoder().decode(await new Response(program.stdout).arrayBuffer());
    assert.equal(output, "out\n");
    assert.deepEqual(await program.done, { stdout: "", stderr: "oops\n", code: 4, signal: null });
  });

  test(`start (${streams}): a missing remote program resolves done with 127`, async () => {
    const program = await openStreams().start({ argv: ["holt-no-such-program"] });
    assert.equal((await digest(program.stdout)).bytes, 0);
    const result = await program.done;
    assert.equal(result.code, 127);
    assert.match(result.stderr, /holt-no-such-program/);
    assert.doesNotMatch(result.stderr, /holt-pgid/);
  });

  test(`start (${streams}): kill() kills the remote program and its process group`, async () => {
    const exec = openStreams();
    // Host and test machine share one pid namespace: make the sleeps ours alone.
    const sleep = `sleep 301.${process.pid}`;
    const program = await exec.start({ argv: ["sh", "-c", `${sleep} & ${sleep}; wait`] });
    program.kill();
    program.kill();
    const [result] = await Promise.all([program.done, digest(program.stdout)]);
    assert.equal(result.signal, "SIGKILL");
    const left = await exec.run({ argv: ["pgrep", "-x", "-f", sleep] });
    assert.equal(left.code, 1, `still running: ${left.stdout}`);
  });

  test(`start (${streams}): a slow reader holds the remote program back; cancelling stdout stops it`, async () => {
    const program = await openStreams().start({
      argv: ["head", "-c", String(4096 * MiB), "/dev/zero"],
    });
    const reader = program.stdout.getReader();
    await reader.read();
    // The windows and buffers along the way fill first (a few MiB); then nothing may grow.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = process.memoryUsage().arrayBuffers;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 8 * MiB, `buffered ${Math.round(grown / MiB)} MiB more while nobody read`);
    await reader.cancel();
    const result = await program.done;
    // ssh2: holt kills the group at the next output; OpenSSH: its client dies of the closed pipe.
    assert.ok(result.signal !== null || result.code !== 0, JSON.stringify(result));
  });

  test(`start (${streams}): cancelling stdout leaves a program that writes nothing more running`, async () => {
    const program = await openStreams().start({ argv: ["sh", "-c", "sleep 0.3; exit 3"] });
    await program.stdout.cancel();
    assert.equal((await program.done).code, 3);
  });

  test(`start (${streams}): a lost connection rejects done and fails stdout`, async () => {
    // The shell's parent is this connection's sshd process; killing it drops the link.
    const program = await openStreams().start({ argv: ["sh", "-c", "kill $PPID; sleep 5"] });
    // ssh2 fails stdout too; through OpenSSH, stdout just ends.
    await digest(program.stdout).catch(() => undefined);
    await assert.rejects(program.done, holtError("HOLT_E_SSH", /lost while running/));
  });

  test(`start (${streams}): a remote program that stops reading fails the writer, not holt`, async () => {
    await assertReaderMayStopEarly(openStreams(), 32 * MiB);
  });
}

/** The TCP connections from this machine to the test host's sshd. */
function connectionsToPeer(): number {
  const out = execFileSync(
    "ss",
    ["-Htn", "state", "established", "dst", `${peer.address}:${peer.port}`],
    {
      encoding: "utf8",
    },
  );
  return out.split("\n").filter((l) => l.trim() !== "").length;
}

test("prepareStart: streams share the connection opened ahead; close() ends it", async () => {
  const baseline = connectionsToPeer();
  const exec = open({ streams: "openssh" });
  exec.prepareStart?.();
  exec.prepareStart?.();
  const programs = await Promise.all([
    exec.start({ argv: ["cat"] }),
    exec.start({ argv: ["cat"] }),
  ]);
  // ssh2's connection and the one opened ahead; without it, each stream would have its own.
  assert.equal(connectionsToPeer() - baseline, 2);
  await Promise.all(
    programs.map(async (p) => {
      const [sent, received] = await Promise.all([sendRandom(p.stdin, MiB), digest(p.stdout)]);
      assert.equal(received.sha256, sent);
      assert.equal((await p.done).code, 0);
    }),
  );
  await exec.close();
  const deadline = Date.now() + 5000;
  while (connectionsToPeer() > baseline && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(connectionsToPeer(), baseline, "both connections closed");
});

test("prepareStart: the shared connection works from a folder deeper than a socket path may be", async () => {
  // A Unix socket's path has at most 107 bytes; this folder alone is longer.
  const deep = join(scratch("deep"), "d".repeat(100), "e".repeat(60));
  mkdirSync(deep, { recursive: true, mode: 0o700 });
  const saved = process.env.XDG_RUNTIME_DIR;
  process.env.XDG_RUNTIME_DIR = deep;
  try {
    const baseline = connectionsToPeer();
    const exec = open({ streams: "openssh" });
    exec.prepareStart?.();
    const program = await exec.start({ argv: ["echo", "through the shared connection"] });
    assert.equal(await new Response(program.stdout).text(), "through the shared connection\n");
    assert.equal((await program.done).code, 0);
    assert.equal(connectionsToPeer() - baseline, 2, "ssh2's and the shared one, no third");
    const root = join(deep, "holt-ssh");
    const folders = readdirSync(root);
    assert.equal(folders.length, 1);
    assert.ok(join(root, folders[0] ?? "", "control").length > 107);
    assert.ok(lstatSync(join(root, folders[0] ?? "", "control")).isSocket());
    assert.equal(lstatSync(root).mode & 0o777, 0o700);
    await exec.close();
    assert.deepEqual(readdirSync(root), [], "close() removes its folder");
  } finally {
    process.env.XDG_RUNTIME_DIR = saved;
  }
});

test("prepareStart: the control socket's folder goes where controlRoot says", async () => {
  const root = join(scratch("given-root"), "ssh");
  const exec = open({ streams: "openssh", controlRoot: root });
  exec.prepareStart?.();
  const program = await exec.start({ argv: ["echo", "shared"] });
  assert.equal(await new Response(program.stdout).text(), "shared\n");
  assert.equal((await program.done).code, 0);
  const folders = readdirSync(root);
  assert.equal(folders.length, 1, "not under $XDG_RUNTIME_DIR");
  assert.ok(lstatSync(join(root, folders[0] ?? "", "control")).isSocket());
  await exec.close();
  assert.deepEqual(readdirSync(root), []);
});

test("prepareStart: both connections log in before any command", async () => {
  const baseline = connectionsToPeer();
  const exec = open({ streams: "openssh" });
  exec.prepareStart?.();
  const deadline = Date.now() + 10_000;
  while (connectionsToPeer() - baseline < 2 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // ssh2's (for commands) and OpenSSH's (for streams), with nothing run yet.
  assert.equal(connectionsToPeer() - baseline, 2);
  assert.equal((await exec.run({ argv: ["true"] })).code, 0);
  assert.equal(connectionsToPeer() - baseline, 2, "the command used the connection opened ahead");
  await exec.close();
});

test("prepareStart: when the connection ahead fails, a stream connects by itself", async () => {
  // An `ssh` that refuses to be a master (-M) and is the real client otherwise.
  const real = execFileSync("sh", ["-c", "command -v ssh"], { encoding: "utf8" }).trim();
  const bin = scratch("no-master-bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, "ssh"),
    `#!/bin/sh\nfor a in "$@"; do [ "$a" = -M ] && exit 255; done\nexec ${real} "$@"\n`,
    { mode: 0o755 },
  );
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  try {
    const exec = open({ streams: "openssh" });
    exec.prepareStart?.();
    const program = await exec.start({ argv: ["cat"] });
    const [sent, received] = await Promise.all([
      sendRandom(program.stdin, MiB),
      digest(program.stdout),
    ]);
    assert.equal(received.sha256, sent);
    assert.equal((await program.done).code, 0);
  } finally {
    process.env.PATH = path;
  }
});

test("OpenSSH's client (the connection ahead and a stream) never sees HOLT_AGE_KEY", async () => {
  // The real client, behind a wrapper that records the environment it was given.
  const real = execFileSync("sh", ["-c", "command -v ssh"], { encoding: "utf8" }).trim();
  const bin = scratch("env-recording-bin");
  const records = scratch("env-records");
  mkdirSync(bin, { recursive: true });
  mkdirSync(records, { recursive: true });
  writeFileSync(join(bin, "ssh"), `#!/bin/sh\nenv > "${records}/$$"\nexec ${real} "$@"\n`, {
    mode: 0o755,
  });
  const key = "AGE-SECRET-KEY-1TESTONLYNOTAREALKEYQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
  const saved = { path: process.env.PATH, key: process.env.HOLT_AGE_KEY };
  process.env.PATH = `${bin}:${saved.path}`;
  process.env.HOLT_AGE_KEY = key;
  try {
    const exec = open({ streams: "openssh" });
    exec.prepareStart?.();
    const program = await exec.start({ argv: ["echo", "streamed"] });
    assert.equal(await new Response(program.stdout).text(), "streamed\n");
    assert.equal((await program.done).code, 0);
    await exec.close();
  } finally {
    process.env.PATH = saved.path;
    if (saved.key === undefined) delete process.env.HOLT_AGE_KEY;
    else process.env.HOLT_AGE_KEY = saved.key;
  }
  const seen = readdirSync(records).map((name) => readFileSync(join(records, name), "utf8"));
  assert.equal(seen.length, 2, "the master and the stream's client");
  for (const env of seen) {
    assert.match(env, /^PATH=/m);
    assert.doesNotMatch(env, /HOLT_AGE_KEY/);
    assert.ok(!env.includes(key));
  }
});
