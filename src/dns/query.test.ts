/**
 * The query client's failures against real sockets on 127.0.0.1: a server
 * that never answers (timeout, with UDP resends), and a port nobody listens
 * on. Answers from real servers are in test/e2e/dns-backends.test.ts.
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { test } from "node:test";
import { queryServer } from "./query.ts";
import { DnsTransportError } from "./transport.ts";

test("a server that never answers times out, after resending the question", async (t) => {
  const silent = createSocket("udp4");
  let received = 0;
  silent.on("message", () => {
    received++;
  });
  await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve));
  t.after(() => silent.close());
  const { port } = silent.address();
  const started = Date.now();
  await assert.rejects(
    queryServer(`127.0.0.1:${port}`, "lab.test", "SOA", { timeoutMs: 600 }),
    (error) => {
      assert.ok(error instanceof DnsTransportError);
      assert.equal(error.reason, "timeout");
      assert.equal(error.code, "HOLT_E_DNS");
      assert.match(
        error.message,
        new RegExp(`127\\.0\\.0\\.1:${port} did not answer over UDP within 600 ms`),
      );
      return true;
    },
  );
  const took = Date.now() - started;
  assert.ok(took >= 550 && took < 3000, `took ${took} ms`);
  assert.ok(received >= 2, `sent ${received} times`);
});

test("a TCP port nobody listens on is reported at once as refused", async () => {
  const probe = createSocket("udp4");
  await new Promise<void>((resolve) => probe.bind(0, "127.0.0.1", resolve));
  const { port } = probe.address();
  probe.close();
  await assert.rejects(
    queryServer(`127.0.0.1:${port}`, "lab.test", "SOA", { timeoutMs: 2000, tcp: true }),
    (error) => {
      assert.ok(error instanceof DnsTransportError);
      assert.equal(error.reason, "unreachable");
      assert.match(error.message, /refused the query over TCP: nothing listens on that port/);
      return true;
    },
  );
});
