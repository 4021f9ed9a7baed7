/**
 * Certificates: the time from "this hostname needs a certificate" to Caddy
 * serving one, against real Pebble (ACME) validating DNS-01 through a real
 * Knot (RFC 2136 + TSIG), and how that time splits.
 *
 *   node bench/certificates.bench.ts [--json] [--runs N]     (knot, pebble, caddy installed)
 *
 * Each run orders a new name, so nothing is reused:
 *   - issue + install: the `tls.certificate` provider's create, as `holt apply` runs it:
 *     account key, challenge TXT added through RFC 2136, wait until Knot serves it, the CA
 *     validates, finalize, download, TXT removed, stored (0600), loaded into Caddy;
 *   - the parts of the issuance, from the ACME layer's own timings (a second order): DNS
 *     propagation waiting, CA validation, finalize + download, cleanup;
 *   - install only: loading an already stored certificate into a Caddy that lacks it.
 * Pebble runs with PEBBLE_VA_NOSLEEP (no artificial validation delay). Knot is on this
 * machine, so "DNS propagation" is one server answering at once: with a real provider and
 * secondaries, that part is what grows (seconds to minutes), and it is reported apart.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { issueCertificate } from "../src/acme/issue.ts";
import { createAccountKey } from "../src/acme/keys.ts";
import { openZone } from "../src/dns/open.ts";
import { waitUntilServed } from "../src/dns/propagation.ts";
import type { Resource } from "../src/engine/resource.ts";
import { createLocalExec } from "../src/hosts/local-exec.ts";
import type { CertificateInputs } from "../src/model/certificate.ts";
import { type ZoneRef, zoneConnection } from "../src/model/dns-record.ts";
import { createCertificateProvider } from "../src/providers/caddy/certificate-provider.ts";
import { createProviderStore } from "../src/store/provider-store.ts";
import { startCaddy } from "../test/peers/caddy.ts";
import { startKnot } from "../test/peers/knot.ts";
import { startPebble } from "../test/peers/pebble.ts";
import { type BenchResult, isMain, ownPeakRssMb, type Row, report, runsArg, stats } from "./lib.ts";

const BENCH = "certificates";
const ZONE = "bench.test";

export async function runCertificatesBench(runs: number): Promise<BenchResult> {
  const dir = mkdtempSync(path.join(tmpdir(), "holt-bench-certs-"));
  const knot = await startKnot({ zone: ZONE });
  const pebble = await startPebble({ dnsServer: knot.server });
  const caddy = await startCaddy();
  try {
    const trustFile = path.join(dir, "pebble-https.pem");
    writeFileSync(trustFile, pebble.httpsCaPem);
    const zone: ZoneRef = {
      zone: ZONE,
      view: "public",
      provider: {
        kind: "rfc2136",
        server: { host: "127.0.0.1", port: knot.port },
        tsig: { name: knot.tsig.name, algorithm: knot.tsig.algorithm, secret: "tsig" },
      },
      nameservers: [knot.server],
    };
    const secretValue = (name: string): string => {
      if (name !== "tsig") throw new Error(`unknown secret ${name}`);
      return knot.tsig.secret;
    };
    const ctx = {
      host: "box",
      exec: createLocalExec(),
      lab: "bench",
      secretValue,
      store: createProviderStore(dir),
    };
    const provider = createCertificateProvider();
    const proxy = {
      adminAddress: `127.0.0.1:${caddy.adminPort}`,
      adminPort: caddy.adminPort,
      httpsPort: caddy.httpsPort,
      httpPort: caddy.httpPort,
    };
    const resource = (name: string): Resource<CertificateInputs> => ({
      address: `tls.certificate:box/${name}`,
      type: "tls.certificate",
      host: "box",
      name,
      dependsOn: [],
      configPath: "bench",
      inputs: {
        certName: name,
        names: [name],
        acme: {
          email: `admin@${ZONE}`,
          directoryUrl: pebble.directoryUrl,
          trustFile,
          renewBeforeMs: null,
          propagationTimeoutMs: 30_000,
        },
        zones: [zone],
        proxy,
        files: null,
      },
    });

    // One order first: the account is created (and the JIT of every path warmed).
    await provider.create(ctx, resource(`warm.${ZONE}`));

    const total: number[] = [];
    const install: number[] = [];
    const dnsWait: number[] = [];
    const validation: number[] = [];
    const finalize: number[] = [];
    const cleanup: number[] = [];
    const rest: number[] = [];
    const issueOnly: number[] = [];
    const accountKeyPem = createAccountKey();
    const backend = openZone(zoneConnection(zone, secretValue));
    for (let i = 0; i < runs; i++) {
      const name = `run${i}.${ZONE}`;
      let t = performance.now();
      await provider.create(ctx, resource(name));
      total.push(performance.now() - t);

      // Install only: a second Caddy-side load of the stored certificate, after unloading it.
      await provider.release(ctx, {
        address: `tls.certificate:box/${name}`,
        type: "tls.certificate",
        host: "box",
        name,
        dependsOn: [],
        observed: {
          state: { names: [], stored: null, due: false, loaded: null },
          managed: true,
          info: { caddy: `127.0.0.1:${caddy.adminPort}` },
        },
      });
      t = performance.now();
      await provider.update(ctx, resource(name), {
        state: { names: [name], stored: null, due: false, loaded: null },
        managed: true,
      });
      install.push(performance.now() - t);

      const split = `split${i}.${ZONE}`;
      const issued = await issueCertificate({
        directory: pebble.directoryUrl,
        extraCaPem: pebble.httpsCaPem,
        accountKeyPem,
        email: null,
        names: [split],
        challenges: { [split]: { txtName: `_acme-challenge.${split}`, backend } },
        waitUntilServed: async (servers, n, value) => {
          await waitUntilServed(servers, n, "TXT", value, { timeoutMs: 30_000 });
        },
      });
      issueOnly.push(issued.timings.totalMs);
      dnsWait.push(issued.timings.dnsWaitMs);
      validation.push(issued.timings.validationMs);
      finalize.push(issued.timings.finalizeMs);
      cleanup.push(issued.timings.cleanupMs);
      const t2 = issued.timings;
      rest.push(t2.totalMs - t2.dnsWaitMs - t2.validationMs - t2.finalizeMs - t2.cleanupMs);
    }
    const rows: Row[] = [
      stats(BENCH, "issue + install (provider create)", total, {
        rssMb: ownPeakRssMb(),
        note: "new name each run; as holt apply runs the step",
      }),
      stats(BENCH, "  install only (load into Caddy)", install),
      stats(BENCH, "issue only (ACME layer)", issueOnly, {
        note: "its own account key: the first run also creates the account",
      }),
      stats(BENCH, "  of which: DNS propagation wait", dnsWait, {
        note: "every authoritative server serves the TXT",
      }),
      stats(BENCH, "  of which: CA validation", validation),
      stats(BENCH, "  of which: finalize + download", finalize),
      stats(BENCH, "  of which: TXT cleanup", cleanup),
      stats(BENCH, "  of which: account, order, TXT add", rest, {
        note: "the rest; Knot sometimes holds an update ~0.6-0.8 s (the slow runs)",
      }),
    ];
    return {
      bench: BENCH,
      rows,
      notes: [
        "Pebble 2.4 with PEBBLE_VA_NOSLEEP=1, validating through Knot 3.2 on this machine; Caddy 2.6.2.",
        "DNS propagation here is one local server; with real secondaries it is the part that grows.",
      ],
    };
  } finally {
    await caddy.stop();
    await pebble.stop();
    await knot.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) report(await runCertificatesBench(runsArg(5)));
