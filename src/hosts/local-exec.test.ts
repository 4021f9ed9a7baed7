import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { assertReaderMayStopEarly, digest, MiB, sendRandom } from "../../test/peers/streams.ts";
import { isHoltError } from "../errors.ts";
import { createLocalExec } from "./local-exec.ts";
import type { ExecOutcome } from "./run-checked.ts";

const exec = createLocalExec();
const dir = mkdtempSync(join(tmpdir(), "holt-local-exec-"));
after(async () => {
  await exec.close();
  rmSync(dir, { recursive: true, force: true });
});

test("target is local", () => {
  assert.equal(exec.target, "local");
});

test("collects stdout and exit code 0", async () => {
  const result = await exec.run({ argv: ["echo", "hello"] });
  assert.deepEqual(result, {
    stdout: "hello\n",
    stderr: "",
    code: 0,
    signal: null,
    timedOut: false,
  });
});

test("returns a non-zero exit code with stderr instead of throwing", async () => {
  const result = await exec.run({ argv: ["sh", "-c", "echo err >&2; exit 3"] });
  assert.equal(result.code, 3);
  assert.equal(result.stderr, "err\n");
  assert.equal(result.stdout, "");
});

test("passes argv without a shell in between", async () => {
  const arg = `a b 'c' "d" $HOME * \n ; e`;
  const result = await exec.run({ argv: ["printf", "%s", arg] });
  assert.equal(result.stdout, arg);
});

test("delivers stdin and closes it", async () => {
  const input = "line one\nline two\n".repeat(50_000);
  const result = await exec.run({ argv: ["cat"], stdin: input });
  assert.equal(result.stdout, input);
});

test("closes stdin even when none is given, so readers do not hang", async () => {
  const result = await exec.run({ argv: ["cat"], timeoutMs: 5000 });
  assert.equal(result.code, 0);
  assert.equal(result.stdout, "");
});

test("tolerates a program that ignores a large stdin", async () => {
  const result = await exec.run({ argv: ["true"], stdin: "x".repeat(4 * 1024 * 1024) });
  assert.equal(result.code, 0);
});

test("decodes multi-byte UTF-8 split across chunks", async () => {
  const script = "process.stdout.write('é€😀'.repeat(50000))";
  const result = await exec.run({ argv: [process.execPath, "-e", script] });
  assert.equal(result.stdout, "é€😀".repeat(50000));
});

test("a missing program resolves with code 127", async () => {
  const result = await exec.run({ argv: ["holt-no-such-program", "x"] });
  assert.equal(result.code, 127);
  assert.match(result.stderr, /holt-no-such-program: program not found/);
});

test("a non-executable file resolves with code 126", async () => {
  const file = join(dir, "not-executable");
  writeFileSync(file, "#!/bin/sh\n");
  chmodSync(file, 0o644);
  const result = await exec.run({ argv: [file] });
  assert.equal(result.code, 126);
  assert.match(result.stderr, /not executable/);
});

test("reports a signal that killed the program", async () => {
  const result = await exec.run({ argv: ["sh", "-c", "kill -TERM $$"] });
  assert.equal(result.code, null);
  assert.equal(result.signal, "SIGTERM");
});

test("kills the program with SIGKILL on timeout and says so", async () => {
  const started = Date.now();
  const result: ExecOutcome = await exec.run({ argv: ["sleep", "30"], timeoutMs: 200 });
  assert.ok(Date.now() - started < 5000);
  assert.equal(result.code, null);
  assert.equal(result.signal, "SIGKILL");
  assert.equal(result.timedOut, true);
});

test("keeps output written before the timeout", async () => {
  const result = await exec.run({
    argv: ["sh", "-c", "echo partial; exec sleep 30"],
    timeoutMs: 300,
  });
  assert.equal(result.stdout, "partial\n");
  assert.equal(result.signal, "SIGKILL");
});

test("does not wait for a background child that holds stdout open", async () => {
  const started = Date.now();
  const result = await exec.run({ argv: ["sh", "-c", "sleep 3 & echo started"] });
  assert.ok(Date.now() - started < 2900);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, "started\n");
});

test("rejects an empty argv as a bug", async () => {
  await assert.rejects(
    exec.run({ argv: [] }),
    (error) => isHoltError(error) && error.code === "HOLT_E_INTERNAL",
  );
});

test("start: 64 MiB go through cat and come back unchanged", async () => {
  const program = await exec.start({ argv: ["cat"] });
  const [sent, received, result] = await Promise.all([
    sendRandom(program.stdin, 64 * MiB),
    digest(program.stdout),
    program.done,
  ]);
  assert.equal(received.bytes, 64 * MiB);
  assert.equal(received.sha256, sent);
  assert.deepEqual(result, { stdout: "", stderr: "", code: 0, signal: null });
});

test("start: a program that stops reading fails the writer, not holt", async () => {
  await assertReaderMayStopEarly(exec, 64 * MiB);
});

test("start: stderr is collected as text, stdout streamed", async () => {
  const program = await exec.start({ argv: ["sh", "-c", "echo oops >&2; echo out; exit 4"] });
  const output = new TextDecoder().decode(await new Response(program.stdout).arrayBuffer());
  assert.equal(output, "out\n");
  assert.deepEqual(await program.done, { stdout: "", stderr: "oops\n", code: 4, signal: null });
});

test("start: a missing program ends stdout and resolves done with 127", async () => {
  const program = await exec.start({ argv: ["holt-no-such-program", "x"] });
  assert.equal((await digest(program.stdout)).bytes, 0);
  const result = await program.done;
  assert.equal(result.code, 127);
  assert.equal(result.stderr, "holt: holt-no-such-program: program not found\n");
});

test("start: kill() ends the program with SIGKILL, twice is fine", async () => {
  const started = Date.now();
  const program = await exec.start({ argv: ["sleep", "60"] });
  program.kill();
  program.kill();
  const [result] = await Promise.all([program.done, digest(program.stdout)]);
  assert.equal(result.signal, "SIGKILL");
  assert.equal(result.code, null);
  assert.ok(Date.now() - started < 5000);
});

test("start: an empty argv is refused as a bug", async () => {
  await assert.rejects(
    exec.start({ argv: [] }),
    (error) => isHoltError(error) && error.code === "HOLT_E_INTERNAL",
  );
});

test("http: to a Unix socket, with the empty Host header HTTP/1.1 asks for; a missing socket says so", async () => {
  const socketPath = join(dir, "api.sock");
  let request = "";
  const server = createServer((client) => {
    client.on("data", (chunk: Buffer) => {
      request += chunk.toString("latin1");
      if (request.includes("\r\n\r\n")) {
        client.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  try {
    const answer = await exec.http({ socketPath, method: "GET", path: "/config/" });
    assert.deepEqual([answer.status, answer.body], [200, "ok"]);
    const lines = request.split("\r\n");
    assert.equal(lines[0], "GET /config/ HTTP/1.1");
    assert.deepEqual(
      lines.filter((l) => /^host:/i.test(l)),
      ["host: "],
    );
  } finally {
    server.close();
  }
  await assert.rejects(
    exec.http({ socketPath: join(dir, "none.sock"), method: "GET", path: "/config/" }),
    (error) =>
      isHoltError(error) &&
      error.code === "HOLT_E_HTTP" &&
      error.message ===
        `GET /config/ on Unix socket ${join(dir, "none.sock")} on local failed: no such socket (nothing listens there).`,
  );
});

test("http: a path Node refuses to send (a space) is a HOLT_E_HTTP rejection", async () => {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  try {
    await assert.rejects(
      exec.http({ port, method: "GET", path: "/he alth", timeoutMs: 2000 }),
      (error: unknown) => {
        assert.ok(isHoltError(error), String(error));
        assert.equal(error.code, "HOLT_E_HTTP");
        assert.match(error.message, /the request could not be sent: .*unescaped characters/);
        return true;
      },
    );
  } finally {
    server.close();
  }
});

test("children never see HOLT_AGE_KEY: run, start and startWired", async (t) => {
  const key = "AGE-SECRET-KEY-1TESTONLYNOTAREALKEYQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ";
  const before = process.env.HOLT_AGE_KEY;
  process.env.HOLT_AGE_KEY = key;
  process.env.HOLT_TEST_PASSED_ON = "yes";
  t.after(() => {
    if (before === undefined) delete process.env.HOLT_AGE_KEY;
    else process.env.HOLT_AGE_KEY = before;
    delete process.env.HOLT_TEST_PASSED_ON;
  });
  const seen: string[] = [];
  seen.push((await exec.run({ argv: ["env"] })).stdout);
  const started = await exec.start({ argv: ["env"] });
  seen.push(await new Response(started.stdout).text());
  await started.done;
  assert.ok(exec.startWired, "setpriv is installed here");
  const sink = await exec.start({ argv: ["cat"] });
  const wired = await exec.startWired({ argv: ["env"], stdout: sink.node?.stdin as never });
  await wired.done;
  sink.node?.stdin.end();
  seen.push(await new Response(sink.stdout).text());
  await sink.done;
  for (const env of seen) {
    assert.match(env, /^HOLT_TEST_PASSED_ON=yes$/m, "the rest of the environment is passed on");
    assert.doesNotMatch(env, /HOLT_AGE_KEY/);
    assert.ok(!env.includes(key));
  }
});

test("output past the cap kills the program and fails the run, naming it, the host and the cap", async () => {
  // `yes` never stops by itself: only the kill ends it.
  const tag = `holt-cap-${process.pid}`;
  for (const [argv, stream, cap] of [
    [["yes", tag], "stdout", 64],
    [["sh", "-c", `yes ${tag} >&2`], "stderr", 8],
  ] as const) {
    const started = Date.now();
    await assert.rejects(exec.run({ argv: [...argv], timeoutMs: 60_000 }), (error: unknown) => {
      assert.ok(isHoltError(error), String(error));
      assert.equal(error.code, "HOLT_E_EXEC");
      assert.match(
        error.message,
        new RegExp(
          `^A program on local printed more than ${cap} MiB on ${stream}, the most holt reads from one program, so holt killed it\\..* The command: .*yes ${tag}`,
        ),
      );
      return true;
    });
    assert.ok(Date.now() - started < 30_000, "not the timeout");
  }
  const left = await exec.run({ argv: ["pgrep", "-f", `yes ${tag}`] });
  assert.equal(left.code, 1, `still running: ${left.stdout}`);
});

test("start: a program's stderr is kept to its end, within the cap", async () => {
  const program = await exec.start({
    argv: ["sh", "-c", "head -c 20000000 /dev/zero | tr '\\0' x >&2; echo the-end >&2"],
  });
  await new Response(program.stdout).arrayBuffer();
  const { stderr } = await program.done;
  assert.ok(stderr.length <= 8 * 1024 * 1024 + 100, `${stderr.length} characters kept`);
  assert.match(stderr, /^\[… earlier output dropped …\]\n/);
  assert.match(stderr, /xthe-end\n$/);
});
