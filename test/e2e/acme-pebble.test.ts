/**
 * The ACME layer (src/acme/) against a real Pebble, which validates DNS-01
 * by asking a real pebble-challtestsrv; the challenge TXT values get there
 * through ChalltestsrvZone (test/peers/pebble.ts). What is left in DNS is
 * checked by asking challtestsrv's DNS server, as Pebble does.
 *
 * One Pebble (certificates valid 300 s, "blocked.test" refused) serves the
 * tests; they share nothing else, and each uses its own names.
 */
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { Resolver } from "node:dns/promises";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fetchRenewalWindow } from "../../src/acme/ari.ts";
import { splitPemChain } from "../../src/acme/cert-info.ts";
import { issueCertificate } from "../../src/acme/issue.ts";
import { createAccountKey } from "../../src/acme/keys.ts";
import { renewalDue, renewalTime } from "../../src/acme/renewal.ts";
import type {
  AcmeDnsBackend,
  ChallengeTarget,
  IssuedCertificate,
  IssueRequest,
  TxtWait,
} from "../../src/acme/types.ts";
import { HoltError } from "../../src/errors.ts";
import { ChalltestsrvZone, type PebblePeer, startPebble } from "../peers/pebble.ts";

const ZONE = "lab.test";
const VALIDITY_SECONDS = 300;

let pebble: PebblePeer;
let zone: ChalltestsrvZone;

before(async () => {
  pebble = await startPebble({
    certificateValiditySeconds: VALIDITY_SECONDS,
    domainBlocklist: ["blocked.test"],
  });
  zone = new ChalltestsrvZone(pebble.challtestsrv, ZONE);
});

after(async () => {
  await pebble?.stop();
});

/** The TXT values a DNS server ("host:port") answers at a name; [] for none. */
async function txtAt(server: string, name: string): Promise<string[]> {
  const resolver = new Resolver({ timeout: 1000, tries: 2 });
  resolver.setServers([server]);
  try {
    return (await resolver.resolveTxt(name)).map((chunks) => chunks.join(""));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENODATA" || code === "ENOTFOUND") return [];
    throw error;
  }
}

/** The simple waitUntilServed for tests: every server answers the value, polled every 20 ms. */
const waitServed: TxtWait = async (servers, name, value) => {
  const deadline = Date.now() + 5000;
  for (;;) {
    const answers = await Promise.all(servers.map((server) => txtAt(server, name)));
    if (answers.every((values) => values.includes(value))) return;
    if (Date.now() > deadline) throw new Error(`TXT ${value} not served at ${name}`);
    await sleep(20);
  }
};

function challengeName(name: string): string {
  return `_acme-challenge.${name.replace(/^\*\./, "")}`;
}

function request(names: string[], overrides: Partial<IssueRequest> = {}): IssueRequest {
  const challenges: Record<string, ChallengeTarget> = {};
  for (const name of names) challenges[name] = { txtName: challengeName(name), backend: zone };
  return {
    directory: pebble.directoryUrl,
    extraCaPem: pebble.httpsCaPem,
    accountKeyPem: createAccountKey(),
    email: "admin@lab.test",
    names,
    challenges,
    waitUntilServed: waitServed,
    ...overrides,
  };
}

async function assertNoTxt(names: readonly string[]): Promise<void> {
  for (const name of new Set(names.map(challengeName))) {
    assert.deepEqual(
      await txtAt(pebble.challtestsrv?.dnsServer ?? "", name),
      [],
      `TXT left at ${name}`,
    );
    assert.deepEqual(zone.valuesAt(name), [], `the zone still lists values at ${name}`);
  }
}

function report(t: { diagnostic(message: string): void }, issued: IssuedCertificate): void {
  const { totalMs, dnsWaitMs, validationMs, finalizeMs, cleanupMs } = issued.timings;
  t.diagnostic(
    `issued in ${totalMs.toFixed(0)} ms: DNS wait ${dnsWaitMs.toFixed(0)} ms, CA validation ${validationMs.toFixed(0)} ms, finalize ${finalizeMs.toFixed(0)} ms, cleanup ${cleanupMs.toFixed(0)} ms`,
  );
}

async function rejection(promise: Promise<unknown>): Promise<HoltError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof HoltError, `expected a HoltError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected the issuance to fail");
}

test("one name through challtestsrv DNS: the chain verifies against Pebble's root, no TXT left", async (t) => {
  const issued = await issueCertificate(request(["media.lab.test"]));
  report(t, issued);
  assert.deepEqual(issued.info.names, ["media.lab.test"]);
  assert.deepEqual(issued.cleanupProblems, []);
  assert.match(issued.accountUrl, /^https:\/\/127\.0\.0\.1:\d+\//);
  assert.match(issued.keyPem, /BEGIN PRIVATE KEY/);

  const chain = splitPemChain(issued.chainPem).map((pem) => new X509Certificate(pem));
  const [leaf, intermediate] = chain;
  assert.ok(leaf !== undefined && intermediate !== undefined, "a leaf and an intermediate");
  const root = new X509Certificate(pebble.rootCaPem);
  assert.equal(leaf.toString(), new X509Certificate(issued.certificatePem).toString());
  assert.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey));
  assert.ok(intermediate.checkIssued(root) && intermediate.verify(root.publicKey));
  assert.ok(leaf.checkPrivateKey(createPrivateKey(issued.keyPem)));
  await assertNoTxt(["media.lab.test"]);
});

test("apex and wildcard in one order: two TXT values at one challtestsrv name at once", async (t) => {
  const seen: string[][] = [];
  const gone: string[] = [];
  const names = ["wild.lab.test", "*.wild.lab.test"];
  const issued = await issueCertificate(
    request(names, {
      waitUntilServed: async (servers, name, value) => {
        await waitServed(servers, name, value);
        seen.push(await txtAt(servers[0] ?? "", name));
      },
      waitUntilGone: async (servers, name, value) => {
        assert.ok(!(await txtAt(servers[0] ?? "", name)).includes(value));
        gone.push(value);
      },
    }),
  );
  report(t, issued);
  assert.deepEqual([...issued.info.names].sort(), [...names].sort());
  // Both waits see both values: they were added before anything waited.
  assert.equal(seen.length, 2);
  for (const values of seen) assert.equal(values.length, 2);
  assert.deepEqual([...gone].sort(), [...(seen[0] ?? [])].sort(), "waitUntilGone for each value");
  await assertNoTxt(names);
});

test("a name Pebble refuses: HOLT_E_ACME with the directory, the names and rejectedIdentifier", async () => {
  const names = ["ok.lab.test", "www.blocked.test"];
  const error = await rejection(issueCertificate(request(names)));
  assert.equal(error.code, "HOLT_E_ACME");
  assert.ok(error.message.includes(pebble.directoryUrl), error.message);
  assert.ok(error.message.includes("ok.lab.test, www.blocked.test"), error.message);
  assert.match(error.message, /creating the order: the CA said rejectedIdentifier: /);
  assert.doesNotMatch(error.message, /PRIVATE KEY/);
  await assertNoTxt(names);
});

test("failing validation (TXT at a name Pebble does not ask): the CA's reason, the TXT removed", async (t) => {
  const names = ["lost.lab.test"];
  const wrong: ChallengeTarget = { txtName: "_acme-challenge.elsewhere.lab.test", backend: zone };
  const started = performance.now();
  const error = await rejection(
    issueCertificate(request(names, { challenges: { "lost.lab.test": wrong } })),
  );
  t.diagnostic(`failed in ${(performance.now() - started).toFixed(0)} ms: ${error.message}`);
  assert.equal(error.code, "HOLT_E_ACME");
  assert.match(error.message, /waiting for the CA to validate lost\.lab\.test/);
  assert.match(error.message, /the CA said (unauthorized|dns|incorrectResponse): /);
  assert.match(error.message, /_acme-challenge\.elsewhere\.lab\.test/);
  await assertNoTxt(["elsewhere.lab.test"]);
});

test("a TXT removal that fails is reported in the details and does not hide the CA's error", async () => {
  const names = ["sticky.lab.test"];
  let failures = 0;
  const flaky: AcmeDnsBackend = {
    kind: zone.kind,
    zone: zone.zone,
    addTxt: (name, value, ttl) => zone.addTxt(name, value, ttl),
    removeTxt: async () => {
      failures++;
      throw new HoltError("HOLT_E_DNS", "the test backend refuses to remove");
    },
    nameservers: () => zone.nameservers(),
  };
  const txtName = "_acme-challenge.nowhere.lab.test";
  const target: ChallengeTarget = { txtName, backend: flaky };
  const error = await rejection(
    issueCertificate(request(names, { challenges: { "sticky.lab.test": target } })),
  );
  assert.equal(failures, 1);
  assert.equal(error.code, "HOLT_E_ACME");
  assert.match(error.message, /waiting for the CA to validate sticky\.lab\.test/);
  const left = zone.valuesAt(txtName);
  assert.equal(left.length, 1);
  assert.deepEqual(await txtAt(pebble.challtestsrv?.dnsServer ?? "", txtName), left);
  const line = error.details.find((one) => one.includes("the test backend refuses to remove"));
  assert.ok(line?.includes(`"${left[0]}" at ${txtName}`), error.details.join("\n"));
  // Left behind by the flaky backend, as reported; clean up for the other tests.
  for (const value of left) await zone.removeTxt(txtName, value);
  await assertNoTxt(["nowhere.lab.test"]);
});

test("waitUntilServed failing ends the issuance with its error, and the TXT is removed", async () => {
  const names = ["slow.lab.test"];
  const error = await rejection(
    issueCertificate(
      request(names, {
        waitUntilServed: async () => {
          throw new HoltError("HOLT_E_DNS", "ns1 never served it (test)");
        },
      }),
    ),
  );
  assert.equal(error.code, "HOLT_E_DNS");
  assert.match(error.message, /ns1 never served it/);
  await assertNoTxt(names);
});

test("the same account key twice gives the same account", async () => {
  const accountKeyPem = createAccountKey();
  const first = await issueCertificate(request(["one.lab.test"], { accountKeyPem }));
  const second = await issueCertificate(request(["two.lab.test"], { accountKeyPem }));
  const other = await issueCertificate(request(["three.lab.test"]));
  assert.equal(first.accountUrl, second.accountUrl);
  assert.notEqual(first.accountUrl, other.accountUrl);
  assert.notEqual(first.keyPem, second.keyPem, "a fresh certificate key per issuance");
});

test("a given certificate key is used", async () => {
  const certificateKeyPem = createAccountKey();
  const issued = await issueCertificate(request(["keyed.lab.test"], { certificateKeyPem }));
  assert.equal(issued.keyPem, certificateKeyPem);
  assert.ok(
    new X509Certificate(issued.certificatePem).checkPrivateKey(createPrivateKey(certificateKeyPem)),
  );
});

test("a short-lived certificate: its info, and renewal due with a third of its life left", async (t) => {
  const issued = await issueCertificate(request(["short.lab.test"]));
  const { info } = issued;
  const lifetimeMs = info.notAfter.getTime() - info.notBefore.getTime();
  t.diagnostic(
    `notBefore ${info.notBefore.toISOString()}, notAfter ${info.notAfter.toISOString()}, issued at ${new Date().toISOString()}`,
  );
  // Pebble 2.4 ends validity one second before notBefore + the period.
  assert.ok(Math.abs(lifetimeMs - VALIDITY_SECONDS * 1000) <= 1000, `lifetime ${lifetimeMs} ms`);
  assert.match(info.serial, /^[0-9a-f]+$/);
  assert.match(info.sha256, /^[0-9a-f]{64}$/);
  assert.match(info.issuer, /CN=Pebble Intermediate CA/);
  const due = renewalTime(info);
  assert.equal(due.reason, "lifetime");
  assert.equal(renewalDue(info, new Date()), false);
  assert.equal(renewalDue(info, new Date(due.at.getTime() - 1000)), false);
  assert.equal(renewalDue(info, due.at), true);
  assert.ok(Math.abs(info.notAfter.getTime() - due.at.getTime() - lifetimeMs / 3) < 2);
});

test("Pebble 2.4 offers no renewalInfo: fetchRenewalWindow gives null", async () => {
  const issued = await issueCertificate(request(["ari.lab.test"]));
  const window = await fetchRenewalWindow({
    directory: pebble.directoryUrl,
    extraCaPem: pebble.httpsCaPem,
    certificatePem: issued.chainPem,
  });
  assert.equal(window, null);
});

test("without the extra CA, Pebble's HTTPS is refused at once; other issuances' trust does not leak", async () => {
  const started = performance.now();
  const error = await rejection(
    issueCertificate(request(["untrusted.lab.test"], { extraCaPem: null })),
  );
  const elapsed = performance.now() - started;
  assert.equal(error.code, "HOLT_E_ACME");
  assert.match(error.message, /registering the account/);
  assert.match(error.message, /certificate/i);
  assert.match(error.message, /extra trusted CA/);
  assert.ok(elapsed < 3000, `took ${elapsed} ms`);
  await assertNoTxt(["untrusted.lab.test"]);
});

test("with authorizations reused (PEBBLE_AUTHZREUSE=100), a second order adds no TXT", async (t) => {
  const reusing = await startPebble({ authzReusePercent: 100 });
  t.after(() => reusing.stop());
  const reuseZone = new ChalltestsrvZone(reusing.challtestsrv, ZONE);
  let adds = 0;
  const counting: AcmeDnsBackend = {
    kind: reuseZone.kind,
    zone: reuseZone.zone,
    addTxt: (name, value, ttl) => {
      adds++;
      return reuseZone.addTxt(name, value, ttl);
    },
    removeTxt: (name, value) => reuseZone.removeTxt(name, value),
    nameservers: () => reuseZone.nameservers(),
  };
  const accountKeyPem = createAccountKey();
  const names = ["again.lab.test"];
  const base = {
    directory: reusing.directoryUrl,
    extraCaPem: reusing.httpsCaPem,
    accountKeyPem,
    email: null,
    names,
    challenges: {
      "again.lab.test": { txtName: challengeName("again.lab.test"), backend: counting },
    },
    waitUntilServed: waitServed,
  } satisfies IssueRequest;
  await issueCertificate(base);
  assert.equal(adds, 1);
  const second = await issueCertificate(base);
  assert.equal(adds, 1, "the second order reused the valid authorization");
  assert.deepEqual(second.info.names, names);
});
