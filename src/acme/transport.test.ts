/**
 * The ACME transport against a real local HTTPS server that redirects: the
 * redirect is refused, and the signed request never reaches the address it
 * points to.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import { after, before, test } from "node:test";
import { selfSignedCertificate } from "../../test/peers/self-signed.ts";
import { AcmeTransportError, createAcmeTransport } from "./transport.ts";

let server: Server;
let caPem = "";
let base = "";
const asked: string[] = [];

before(async () => {
  const ca = selfSignedCertificate({ subject: "/CN=redirecting ca", san: "IP:127.0.0.1" });
  caPem = ca.certPem;
  server = createServer({ key: ca.keyPem, cert: caPem }, (req, res) => {
    asked.push(`${req.method} ${req.url}`);
    if (req.url?.startsWith("/moved/") === true) {
      const status = Number(req.url.slice("/moved/".length));
      res.writeHead(status, { location: `${base}/elsewhere` });
      res.end();
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ newNonce: `${base}/nonce` }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(() => {
  server?.close();
  server?.closeAllConnections();
});

for (const status of [301, 302, 307, 308]) {
  test(`HTTP ${status}: the redirect is refused and not followed`, async () => {
    const transport = createAcmeTransport({ extraCaPem: caPem });
    asked.length = 0;
    try {
      await assert.rejects(
        transport.request(`${base}/moved/${status}`, "post", { protected: "x", signature: "y" }),
        (error: unknown) => {
          assert.ok(error instanceof AcmeTransportError, String(error));
          assert.equal(error.reason, "EREDIRECT");
          assert.match(error.message, new RegExp(`answered HTTP ${status} with a redirect to`));
          assert.match(error.message, /which holt does not follow/);
          return true;
        },
      );
      assert.deepEqual(asked, [`POST /moved/${status}`], "nothing was sent to the new address");
    } finally {
      transport.close();
    }
  });
}

test("an ordinary answer still comes through", async () => {
  const transport = createAcmeTransport({ extraCaPem: caPem });
  try {
    const answer = await transport.request(`${base}/directory`, "get");
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.data, { newNonce: `${base}/nonce` });
  } finally {
    transport.close();
  }
});
