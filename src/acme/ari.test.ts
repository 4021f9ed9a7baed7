import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import { after, before, test } from "node:test";
import { selfSignedCertificate } from "../../test/peers/self-signed.ts";
import { HoltError } from "../errors.ts";
import { ariCertificateId, fetchRenewalWindow } from "./ari.ts";

/** RFC 9773 appendix A's example: AKI 69:88:5b:..., serial 0x87654321 (DER 00 87 65 43 21). */
const RFC_9773_EXAMPLE = `-----BEGIN CERTIFICATE-----
MIIBQzCB66ADAgECAgUAh2VDITAKBggqhkjOPQQDAjAVMRMwEQYDVQQDEwpFeGFt
cGxlIENBMCIYDzAwMDEwMTAxMDAwMDAwWhgPMDAwMTAxMDEwMDAwMDBaMBYxFDAS
BgNVBAMTC2V4YW1wbGUuY29tMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEeBZu
7cbpAYNXZLbbh8rNIzuOoqOOtmxA1v7cRm//AwyMwWxyHz4zfwmBhcSrf47NUAFf
qzLQ2PPQxdTXREYEnKMjMCEwHwYDVR0jBBgwFoAUaYhba4dGQEHhs3uEe6CuLN4B
yNQwCgYIKoZIzj0EAwIDRwAwRAIge09+S5TZAlw5tgtiVvuERV6cT4mfutXIlwTb
+FYN/8oCIClDsqBklhB9KAelFiYt9+6FDj3z4KGVelYM5MdsO3pK
-----END CERTIFICATE-----
`;
const RFC_9773_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";

test("the certificate ID of RFC 9773's example", () => {
  assert.equal(ariCertificateId(RFC_9773_EXAMPLE), RFC_9773_ID);
});

/** A fake CA: its directory offers renewalInfo (or not) and answers as `mode` says. */
let server: Server;
let caPem = "";
let directoryUrl = "";
let mode: "window" | "no-ari" | "unknown" | "bad-window" = "window";
const asked: string[] = [];

before(async () => {
  const ca = selfSignedCertificate({ subject: "/CN=fake ca", san: "IP:127.0.0.1" });
  caPem = ca.certPem;
  server = createServer({ key: ca.keyPem, cert: caPem });
  server.on("request", (req, res) => {
    asked.push(req.url ?? "");
    const base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    res.setHeader("content-type", "application/json");
    if (req.url === "/dir") {
      res.end(JSON.stringify(mode === "no-ari" ? {} : { renewalInfo: `${base}/ari/` }));
    } else if (mode === "unknown") {
      res.statusCode = 404;
      res.end(JSON.stringify({ type: "urn:ietf:params:acme:error:malformed", detail: "no such" }));
    } else if (mode === "bad-window") {
      res.end(
        JSON.stringify({ suggestedWindow: { start: "2026-02-02T00:00:00Z", end: "yesterday" } }),
      );
    } else {
      res.setHeader("retry-after", "21600");
      res.end(
        JSON.stringify({
          suggestedWindow: { start: "2026-01-02T04:00:00Z", end: "2026-01-03T04:00:00Z" },
        }),
      );
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  directoryUrl = `https://127.0.0.1:${(server.address() as { port: number }).port}/dir`;
});

after(() => {
  server?.close();
  server?.closeAllConnections();
});

const ask = () =>
  fetchRenewalWindow({
    directory: directoryUrl,
    extraCaPem: caPem,
    certificatePem: RFC_9773_EXAMPLE,
  });

test("the suggested window is read from <renewalInfo>/<certificate ID>", async () => {
  mode = "window";
  asked.length = 0;
  assert.deepEqual(await ask(), {
    start: new Date("2026-01-02T04:00:00Z"),
    end: new Date("2026-01-03T04:00:00Z"),
  });
  assert.deepEqual(asked, ["/dir", `/ari/${RFC_9773_ID}`]);
});

test("a CA without renewalInfo, or one that does not know the certificate, gives null", async () => {
  mode = "no-ari";
  assert.equal(await ask(), null);
  mode = "unknown";
  assert.equal(await ask(), null);
});

test("a window that is no window is HOLT_E_ACME", async () => {
  mode = "bad-window";
  await assert.rejects(ask(), (error: unknown) => {
    assert.ok(error instanceof HoltError);
    assert.equal(error.code, "HOLT_E_ACME");
    assert.match(error.message, /gave no valid suggestedWindow/);
    return true;
  });
});

test("without the extra CA the fake CA is not trusted: HOLT_E_ACME", async () => {
  mode = "window";
  await assert.rejects(
    fetchRenewalWindow({
      directory: directoryUrl,
      extraCaPem: null,
      certificatePem: RFC_9773_EXAMPLE,
    }),
    (error: unknown) =>
      error instanceof HoltError &&
      error.code === "HOLT_E_ACME" &&
      /self-signed/.test(error.message),
  );
});
