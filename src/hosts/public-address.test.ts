import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { HoltError } from "../errors.ts";
import { detectPublicAddress } from "./public-address.ts";

let server: Server;
let base: string;

before(async () => {
  server = createServer((req, res) => {
    if (req.url === "/ip") res.end("203.0.113.7\n");
    else if (req.url === "/html") res.end("<html>your ip is 203.0.113.7</html>");
    else {
      res.statusCode = 503;
      res.end("busy");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

test("reads a plain-text IPv4 answer", async () => {
  assert.equal(await detectPublicAddress(`${base}/ip`), "203.0.113.7");
});

test("an answer that is not an address, or an HTTP error, is HOLT_E_HTTP with the fix", async () => {
  await assert.rejects(
    detectPublicAddress(`${base}/html`),
    (e: unknown) =>
      e instanceof HoltError && /is not an IPv4 address/.test(e.message) && /ipify/.test(e.message),
  );
  await assert.rejects(
    detectPublicAddress(`${base}/down`),
    (e: unknown) =>
      e instanceof HoltError &&
      e.code === "HOLT_E_HTTP" &&
      /HTTP 503/.test(e.message) &&
      /dns\.publicIpUrl/.test(e.message),
  );
});
