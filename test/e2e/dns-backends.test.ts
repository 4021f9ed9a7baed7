/**
 * The DNS backends against real servers: the RFC 2136 backend against Knot
 * and BIND, the PowerDNS backend against PowerDNS' HTTP API. The same table
 * of cases runs for each; what each server then serves is checked with kdig,
 * an independent reader. Changes "by hand" use each server's own tool
 * (knotc, nsupdate, pdnsutil).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { TsigKey } from "../../src/dns/connection.ts";
import { createPowerDnsBackend } from "../../src/dns/powerdns.ts";
import { waitUntilGone, waitUntilServed } from "../../src/dns/propagation.ts";
import { createRfc2136Backend } from "../../src/dns/rfc2136.ts";
import type { OwnedRecordSet, RecordSet, ZoneBackend } from "../../src/dns/types.ts";
import { HoltError } from "../../src/errors.ts";
import { startBind } from "../peers/bind.ts";
import type { DnsPeer } from "../peers/dns-peer.ts";
import { startKnot } from "../peers/knot.ts";
import { startPowerDns } from "../peers/powerdns.ts";

const ZONE = "lab.test";
const LAB = "home";
const MISSING_ZONE = "missing.test";

interface WrongCredentials {
  readonly what: string;
  readonly backend: ZoneBackend;
  /** Text the message must contain: the config path to fix. */
  readonly fix: string;
  /** Values that must never appear in a message. */
  readonly secrets: readonly string[];
}

interface Harness {
  readonly peer: DnsPeer;
  readonly provider: "rfc2136" | "powerdns";
  backend(nameservers?: readonly string[] | null): ZoneBackend;
  /** RFC 2136 only: a backend signing with this key. */
  backendWith(key: TsigKey): ZoneBackend;
  /** A backend for a zone this server does not have. */
  backendForMissingZone(): ZoneBackend;
  wrongCredentials(): WrongCredentials[];
}

function rfc2136Harness(peer: DnsPeer): Harness {
  const make = (
    tsig = peer.tsig,
    nameservers: readonly string[] | null = null,
    zone = ZONE,
  ): ZoneBackend =>
    createRfc2136Backend({
      kind: "rfc2136",
      zone,
      nameservers,
      server: { host: "127.0.0.1", port: peer.port },
      tsig,
      timeoutMs: 5000,
    });
  return {
    peer,
    provider: "rfc2136",
    backend: (nameservers = null) => make(peer.tsig, nameservers),
    backendWith: (key) => make(key),
    backendForMissingZone: () => make(peer.tsig, null, MISSING_ZONE),
    wrongCredentials() {
      const wrongSecret = randomBytes(32).toString("base64");
      return [
        {
          what: "a wrong TSIG secret",
          backend: make({ ...peer.tsig, secret: wrongSecret }),
          fix: `dns.zones["${ZONE}"].tsig`,
          secrets: [wrongSecret, peer.tsig.secret],
        },
        {
          what: "an unknown TSIG key name",
          backend: make({ ...peer.tsig, name: "nobody" }),
          fix: `dns.zones["${ZONE}"].tsig`,
          secrets: [peer.tsig.secret],
        },
      ];
    },
  };
}

const SUBJECTS: readonly { readonly name: string; start(): Promise<Harness> }[] = [
  { name: "Knot", start: async () => rfc2136Harness(await startKnot({ zone: ZONE })) },
  {
    name: "BIND",
    start: async () => rfc2136Harness(await startBind({ zone: ZONE, algorithm: "hmac-sha512" })),
  },
  {
    name: "PowerDNS",
    async start() {
      const peer = await startPowerDns({ zone: ZONE });
      const make = (
        apiKey: string,
        nameservers: readonly string[] | null = null,
        zone = ZONE,
      ): ZoneBackend =>
        createPowerDnsBackend({
          kind: "powerdns",
          zone,
          nameservers,
          url: peer.apiUrl,
          apiKey,
          serverId: peer.serverId,
          timeoutMs: 5000,
        });
      return {
        peer,
        provider: "powerdns",
        backend: (nameservers = null) => make(peer.apiKey, nameservers),
        backendWith: () => make(peer.apiKey),
        backendForMissingZone: () => make(peer.apiKey, null, MISSING_ZONE),
        wrongCredentials() {
          const wrongKey = `wrong-${randomBytes(12).toString("hex")}`;
          return [
            {
              what: "a wrong API key",
              backend: make(wrongKey),
              fix: `dns.zones["${ZONE}"].apiKey`,
              secrets: [wrongKey, peer.apiKey],
            },
          ];
        },
      };
    },
  },
];

function owned(name: string, type: RecordSet["type"], values: string[], ttl = 300): OwnedRecordSet {
  return { name, type, ttl, values, owner: LAB };
}

function plain(set: RecordSet): RecordSet {
  return { name: set.name, type: set.type, ttl: set.ttl, values: set.values };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<HoltError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof HoltError, `not a HoltError: ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

for (const subject of SUBJECTS) {
  describe(`DNS backend against real ${subject.name}`, () => {
    let h: Harness;
    let zone: ZoneBackend;
    const HAND = `hand.${ZONE}`;

    before(async () => {
      h = await subject.start();
      zone = h.backend();
      // Made by hand, at names holt never writes: must survive everything below.
      await h.peer.setByHand(HAND, "A", 300, ["192.0.2.99"]);
      await h.peer.setByHand(HAND, "TXT", 300, ["made by hand"]);
    });
    after(() => h?.peer.stop());

    test("creates, re-reads and updates A, AAAA, CNAME and TXT record sets", async () => {
      const longTxt = `${"x".repeat(300)} é "quoted" \\ end`;
      const sets = [
        owned(`a.${ZONE}`, "A", ["10.0.0.2", "10.0.0.1"]),
        owned(`aaaa.${ZONE}`, "AAAA", ["2001:DB8:0:0:0:0:0:2", "2001:db8::1"], 120),
        owned(`cname.${ZONE}`, "CNAME", ["target.example.net"], 60),
        owned(`txt.${ZONE}`, "TXT", ["v=short", longTxt]),
      ];
      const expectedValues = [
        ["10.0.0.1", "10.0.0.2"],
        ["2001:db8::1", "2001:db8::2"],
        ["target.example.net"],
        [longTxt, "v=short"].sort(),
      ];
      for (const set of sets) await zone.upsert(set, null);

      const read = await zone.read(sets.map((s) => ({ name: s.name, type: s.type })));
      const mark = h.provider === "powerdns" ? LAB : null;
      assert.deepEqual(
        read,
        sets.map((s, i) => ({
          name: s.name,
          type: s.type,
          ttl: s.ttl,
          values: expectedValues[i],
          ownerMark: mark,
        })),
      );
      for (const [i, set] of sets.entries()) {
        assert.deepEqual(h.peer.dig(set.name, set.type), expectedValues[i], `kdig ${set.name}`);
      }

      // Update each from what was read.
      const next = [
        owned(`a.${ZONE}`, "A", ["10.0.0.3"], 600),
        owned(`aaaa.${ZONE}`, "AAAA", ["2001:db8::3"]),
        owned(`cname.${ZONE}`, "CNAME", ["other.example.net"]),
        owned(`txt.${ZONE}`, "TXT", ["y".repeat(256)]),
      ];
      for (const [i, set] of next.entries()) {
        const before = read[i];
        assert.ok(before !== undefined);
        await zone.upsert(set, plain(before));
      }
      const reread = await zone.read(next.map((s) => ({ name: s.name, type: s.type })));
      assert.deepEqual(
        reread.map((s) => [s.name, s.type, s.ttl, s.values]),
        next.map((s) => [s.name, s.type, s.ttl, s.values]),
      );
      assert.deepEqual(h.peer.dig(`txt.${ZONE}`, "TXT"), ["y".repeat(256)]);
    });

    test("deletes a record set, and only it", async () => {
      const set = owned(`gone.${ZONE}`, "A", ["10.0.1.1"]);
      await zone.upsert(set, null);
      await zone.upsert(owned(`gone.${ZONE}`, "TXT", ["stays"]), null);
      await zone.remove(plain(set));
      assert.deepEqual(await zone.read([{ name: set.name, type: "A" }]), []);
      assert.deepEqual(await h.peer.served(set.name, "A"), []);
      assert.deepEqual(await h.peer.served(set.name, "TXT"), ["stays"]);
    });

    test("a stale `expected` fails with HOLT_E_DNS_CONFLICT and changes nothing", async () => {
      const name = `edited.${ZONE}`;
      await zone.upsert(owned(name, "A", ["10.0.2.1"]), null);
      const [read] = await zone.read([{ name, type: "A" }]);
      assert.ok(read !== undefined);
      await h.peer.setByHand(name, "A", 300, ["10.0.2.99"]); // someone edits it by hand

      await rejectsWith(
        zone.upsert(owned(name, "A", ["10.0.2.2"]), plain(read)),
        "HOLT_E_DNS_CONFLICT",
      );
      await rejectsWith(zone.remove(plain(read)), "HOLT_E_DNS_CONFLICT");
      const conflict = await rejectsWith(
        zone.upsert(owned(name, "A", ["10.0.2.3"]), null),
        "HOLT_E_DNS_CONFLICT",
      );
      assert.match(conflict.message, new RegExp(`${name} A`));
      assert.deepEqual(await h.peer.served(name, "A"), ["10.0.2.99"]);

      // Deleted by hand since it was read: the update does not bring it back.
      await h.peer.setByHand(name, "A", 300, []);
      await rejectsWith(
        zone.upsert(owned(name, "A", ["10.0.2.4"]), plain(read)),
        "HOLT_E_DNS_CONFLICT",
      );
      assert.deepEqual(await h.peer.served(name, "A"), []);
    });

    test("a CNAME and other records at one name conflict instead of being dropped silently", async () => {
      await rejectsWith(
        zone.upsert(owned(HAND, "CNAME", ["x.example.net"]), null),
        "HOLT_E_DNS_CONFLICT",
      );
      const name = `alias.${ZONE}`;
      await zone.upsert(owned(name, "CNAME", ["x.example.net"]), null);
      await rejectsWith(zone.upsert(owned(name, "A", ["10.0.3.1"]), null), "HOLT_E_DNS_CONFLICT");
      assert.deepEqual(await h.peer.served(name, "CNAME"), ["x.example.net"]);
    });

    test("addTxt keeps the other values at a name; removeTxt removes only its own", async () => {
      await zone.addTxt(HAND, "challenge-one", 60);
      await zone.addTxt(HAND, "challenge-two", 60);
      await zone.addTxt(HAND, "challenge-two", 60); // twice is once
      assert.deepEqual(await h.peer.served(HAND, "TXT"), [
        "challenge-one",
        "challenge-two",
        "made by hand",
      ]);
      await zone.removeTxt(HAND, "challenge-one");
      await zone.removeTxt(HAND, "never-added");
      assert.deepEqual(await h.peer.served(HAND, "TXT"), ["challenge-two", "made by hand"]);
      await zone.removeTxt(HAND, "challenge-two");
      assert.deepEqual(await h.peer.served(HAND, "TXT"), ["made by hand"]);

      const fresh = `_acme-challenge.${ZONE}`;
      await Promise.all([zone.addTxt(fresh, "apex", 60), zone.addTxt(fresh, "wildcard", 60)]);
      assert.deepEqual(await h.peer.served(fresh, "TXT"), ["apex", "wildcard"]);
      await zone.removeTxt(fresh, "apex");
      await zone.removeTxt(fresh, "wildcard");
      assert.deepEqual(await h.peer.served(fresh, "TXT"), []);
    });

    test("a record set too big for UDP is read over TCP", async () => {
      const name = `big.${ZONE}`;
      const values = Array.from(
        { length: 12 },
        (_, i) => `${String(i).padStart(2, "0")}${"v".repeat(98)}`,
      );
      await zone.upsert(owned(name, "TXT", values), null);
      const answer = await h.peer.query(name, "TXT");
      assert.equal(answer.transport, "tcp");
      assert.equal(answer.answers.length, 12);
      const [read] = await zone.read([{ name, type: "TXT" }]);
      assert.deepEqual(read?.values, values);
    });

    test("wrong credentials fail with HOLT_E_DNS naming provider, zone and fix, never the secret", async () => {
      for (const wrong of h.wrongCredentials()) {
        const name = `denied.${ZONE}`;
        const error = await rejectsWith(
          wrong.backend.upsert(owned(name, "A", ["10.0.4.1"]), null),
          "HOLT_E_DNS",
        );
        await rejectsWith(wrong.backend.addTxt(name, "denied", 60), "HOLT_E_DNS");
        assert.match(error.message, new RegExp(`\\(${h.provider}\\b`), wrong.what);
        assert.ok(error.message.includes(`"${ZONE}"`), error.message);
        assert.ok(error.message.includes(wrong.fix), `${wrong.what}: ${error.message}`);
        for (const secret of wrong.secrets) {
          assert.ok(!error.message.includes(secret), `${wrong.what}: the message shows a secret`);
          assert.ok(!JSON.stringify(error).includes(secret));
        }
        assert.deepEqual(await h.peer.served(name, "A"), [], wrong.what);
        assert.deepEqual(await h.peer.served(name, "TXT"), [], wrong.what);
      }
    });

    test("waitUntilServed returns once the value is served, and times out naming the server otherwise", async () => {
      const name = `_acme-challenge.wait.${ZONE}`;
      const servers = [h.peer.server];
      const waiting = waitUntilServed(servers, name, "TXT", "token-1", {
        timeoutMs: 10_000,
        pollMs: 50,
      });
      await sleep(200);
      await zone.addTxt(name, "token-1", 60);
      const { waitedMs } = await waiting;
      assert.ok(waitedMs >= 150 && waitedMs < 10_000, `waited ${waitedMs} ms`);

      const error = await rejectsWith(
        waitUntilServed(servers, name, "TXT", "token-never", { timeoutMs: 300, pollMs: 50 }),
        "HOLT_E_DNS",
      );
      assert.ok(error.message.includes(`${h.peer.server} (answers without it)`), error.message);
      assert.match(error.message, /token-never/);

      // Served by the real server, not by one that never answers: only the latter is named.
      const silent = createSocket("udp4");
      await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve));
      const dead = `127.0.0.1:${silent.address().port}`;
      try {
        const partly = await rejectsWith(
          waitUntilServed([h.peer.server, dead], name, "TXT", "token-1", {
            timeoutMs: 800,
            pollMs: 50,
          }),
          "HOLT_E_DNS",
        );
        assert.match(partly.message, /by 1 of 2 name servers/);
        assert.ok(partly.message.includes(`${dead} (no usable answer`), partly.message);
        assert.ok(!partly.message.includes(h.peer.server), partly.message);
      } finally {
        silent.close();
      }

      await zone.removeTxt(name, "token-1");
      await waitUntilGone(servers, name, "TXT", "token-1", { timeoutMs: 5000, pollMs: 50 });
    });

    test("a zone the server does not have fails with HOLT_E_DNS naming the zone", async () => {
      const missing = h.backendForMissingZone();
      const name = `www.${MISSING_ZONE}`;
      const readError = await rejectsWith(missing.read([{ name, type: "A" }]), "HOLT_E_DNS");
      const writeError = await rejectsWith(
        missing.upsert(owned(name, "A", ["10.0.5.1"]), null),
        "HOLT_E_DNS",
      );
      for (const error of [readError, writeError]) {
        assert.ok(
          error.message.includes(`DNS zone "${MISSING_ZONE}" (${h.provider}`),
          error.message,
        );
        assert.ok(error.message.includes(`dns.zones["${MISSING_ZONE}"]`), error.message);
      }
      if (h.provider === "powerdns")
        assert.match(writeError.message, /does not exist on that server/);
    });

    test("nameservers(): the configured list as is, else the zone's NS records resolved", async () => {
      const explicit = ["127.0.0.1:5399", "[::1]:5399"];
      assert.deepEqual(await h.backend(explicit).nameservers(), explicit);
      // The zone's NS is ns1.lab.test, whose A record (in the zone) is 127.0.0.1.
      assert.deepEqual(await zone.nameservers(), ["127.0.0.1:53"]);
    });

    test("ownership marks: listMarked finds this lab's record sets where the provider has marks", async () => {
      const marked = await zone.listMarked(LAB);
      if (!zone.marksOwnership) {
        assert.equal(marked, null);
        return;
      }
      assert.ok(marked !== null);
      const keys = marked.map((s) => `${s.name} ${s.type}`);
      assert.ok(keys.includes(`a.${ZONE} A`), keys.join(", "));
      assert.ok(!keys.some((k) => k.startsWith(HAND)), "a hand-made record is not marked");
      assert.ok(marked.every((s) => s.ownerMark === LAB));
      assert.deepEqual(await zone.listMarked("another-lab"), []);
    });

    // PowerDNS is driven through its HTTP API: no TSIG, so no such test for it.
    const signs = subject.name !== "PowerDNS";
    (signs ? test : () => {})(
      "every TSIG algorithm: the server accepts holt's signatures and holt verifies the server's",
      async () => {
        const name = `alg.${ZONE}`;
        for (const key of h.peer.keys) {
          await h.backendWith(key).addTxt(name, key.algorithm, 60);
        }
        assert.deepEqual(
          await h.peer.served(name, "TXT"),
          h.peer.keys.map((key) => key.algorithm).sort(),
        );
      },
    );

    test("the records made by hand are untouched after all of the above", () => {
      assert.deepEqual(h.peer.dig(HAND, "A"), ["192.0.2.99"]);
      assert.deepEqual(h.peer.dig(HAND, "TXT"), ["made by hand"]);
    });
  });
}
