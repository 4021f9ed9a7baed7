import assert from "node:assert/strict";
import { test } from "node:test";
import type { Json } from "./caddy-json.ts";
import {
  certificateTag,
  loadedCertificates,
  referencedFiles,
  withCertificateFiles,
  withoutCertificate,
} from "./tls-certificates.ts";

const TAG = certificateTag("home", "a.example.com");
const FILES = {
  certificate: "/var/lib/holt-caddy/home/a.crt",
  key: "/var/lib/holt-caddy/home/a.key",
};
const USERS = { certificate: "/etc/ssl/mine.crt", key: "/etc/ssl/private/mine.key" };

function config(certificates: Json): Json {
  return { admin: { listen: "unix//run/caddy/admin.sock" }, apps: { tls: { certificates } } };
}

test("the lab's loaded certificates: files by their paths, the old PEM entries flagged", () => {
  const loaded = loadedCertificates(
    config({
      load_files: [
        { ...FILES, tags: [TAG] },
        { ...USERS, tags: ["mine"] },
        { ...FILES, tags: [certificateTag("work", "a.example.com")] },
        { certificate: 7, key: "x", tags: [certificateTag("home", "broken.example.com")] },
        { ...FILES, tags: [certificateTag("home", "both.example.com")] },
      ],
      load_pem: [
        { certificate: "PEM B", key: "KEY B", tags: [certificateTag("home", "b.example.com")] },
        { certificate: "PEM", key: "KEY", tags: [certificateTag("home", "both.example.com")] },
        { certificate: "MINE", key: "KEY", tags: ["holt:work:cert:b.example.com"] },
      ],
    }),
    "home",
  );
  assert.deepEqual(
    [...loaded],
    [
      ["a.example.com", { kind: "files", files: FILES }],
      // The key is still in the config: that wins over a file entry beside it.
      ["both.example.com", { kind: "pem", certificatePem: "PEM" }],
      ["b.example.com", { kind: "pem", certificatePem: "PEM B" }],
    ],
  );
  for (const empty of [null, {}, config(null), config({ load_files: "x" })]) {
    assert.deepEqual([...loadedCertificates(empty, "home")], []);
  }
});

test("loading from files drops the tag's other entries, the PEM ones with the key included", () => {
  const before = config({
    load_pem: [{ certificate: "PEM", key: "KEY", tags: [TAG] }],
    load_files: [
      { ...USERS, tags: ["mine"] },
      { certificate: "/old.crt", key: "/old.key", tags: [TAG] },
    ],
  });
  const snapshot = structuredClone(before);
  const after = withCertificateFiles(before, TAG, FILES);
  assert.deepEqual(before, snapshot, "the input is not changed");
  assert.deepEqual(
    after,
    config({
      load_files: [
        { ...USERS, tags: ["mine"] },
        { ...FILES, tags: [TAG] },
      ],
    }),
  );
  assert.ok(!JSON.stringify(after).includes("KEY"));
  assert.deepEqual(withCertificateFiles(null, TAG, FILES), {
    apps: { tls: { certificates: { load_files: [{ ...FILES, tags: [TAG] }] } } },
  });
});

test("unloading removes the tag's entries of both kinds, and empty lists", () => {
  const before = config({
    load_pem: [{ certificate: "PEM", key: "KEY", tags: [TAG] }],
    load_files: [
      { ...FILES, tags: [TAG] },
      { ...USERS, tags: ["mine"] },
    ],
  });
  assert.deepEqual(
    withoutCertificate(before, TAG),
    config({ load_files: [{ ...USERS, tags: ["mine"] }] }),
  );
  assert.deepEqual(
    withoutCertificate(config({ load_files: [{ ...FILES, tags: [TAG] }] }), TAG),
    config({}),
  );
  assert.equal(withoutCertificate(null, TAG), null);
});

test("the files Caddy needs: every path any load_files entry names", () => {
  assert.deepEqual(
    [
      ...referencedFiles(
        config({ load_files: [{ ...FILES, tags: [TAG] }, USERS, { certificate: 1 }, "x"] }),
      ),
    ],
    [FILES.certificate, FILES.key, USERS.certificate, USERS.key],
  );
  assert.deepEqual([...referencedFiles(null)], []);
});
