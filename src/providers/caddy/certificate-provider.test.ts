import assert from "node:assert/strict";
import { test } from "node:test";
import type { Resource } from "../../engine/resource.ts";
import {
  CERTIFICATE_TYPE,
  type CertificateInputs,
  type CertificateState,
  certificateAddress,
} from "../../model/certificate.ts";
import { createCertificateProvider } from "./certificate-provider.ts";

const DIRECTORY = "https://ca.test/directory";
const SHA = "ab".repeat(32);
const OLD = "cd".repeat(32);

const desired: Resource<CertificateInputs> = {
  address: certificateAddress("box", "a.example.com"),
  type: CERTIFICATE_TYPE,
  host: "box",
  name: "a.example.com",
  inputs: {
    certName: "a.example.com",
    names: ["a.example.com"],
    acme: {
      email: "admin@example.com",
      directoryUrl: DIRECTORY,
      trustFile: null,
      renewBeforeMs: null,
      propagationTimeoutMs: 30_000,
    },
    zones: [],
    proxy: {
      adminAddress: "unix//run/caddy/admin.sock",
      adminPort: null,
      httpsPort: 443,
      httpPort: 80,
    },
    files: null,
  },
  dependsOn: [],
  configPath: "services.a.hostname",
};

function state(extra: Partial<CertificateState>): CertificateState {
  return {
    names: ["a.example.com"],
    stored: {
      sha256: SHA,
      notAfter: "2030-01-01T00:00:00.000Z",
      issuer: "CN=Pebble",
      directoryUrl: DIRECTORY,
      renewAt: "2029-09-01T00:00:00.000Z",
    },
    due: false,
    loaded: SHA,
    ...extra,
  };
}

test("diff: what Caddy holds, against the stored certificate, in the plan's words", () => {
  const { diff } = createCertificateProvider();
  const cases: [
    string,
    Partial<CertificateState>,
    { path: string; before: unknown; after: unknown }[],
  ][] = [
    ["in sync", {}, []],
    [
      "not loaded",
      { loaded: null },
      [{ path: "caddy", before: "none", after: "sha256:abababababab" }],
    ],
    [
      "an older one loaded",
      { loaded: OLD },
      [{ path: "caddy", before: "sha256:cdcdcdcdcdcd", after: "sha256:abababababab" }],
    ],
    [
      "a file Caddy names is gone",
      { loaded: "missing" },
      [{ path: "caddy", before: "missing", after: "sha256:abababababab" }],
    ],
    [
      "loaded by an older holt, key in Caddy's config",
      { keyInConfig: true },
      [
        {
          path: "key",
          before: "in Caddy's config (load_pem)",
          after: "in a file only root and Caddy can read",
        },
      ],
    ],
    [
      "key in Caddy's config and due: both shown",
      { keyInConfig: true, due: true },
      [
        {
          path: "expires",
          before: "2030-01-01T00:00:00.000Z",
          after: "renew (due since 2029-09-01T00:00:00.000Z)",
        },
        {
          path: "key",
          before: "in Caddy's config (load_pem)",
          after: "in a file only root and Caddy can read",
        },
      ],
    ],
    [
      "files a cut-off step left",
      { leftoverFiles: 2 },
      [{ path: "old files", before: "2 left on the host", after: "removed" }],
    ],
    // The step that loads the new one removes them anyway.
    [
      "leftovers beside a change",
      { leftoverFiles: 2, loaded: OLD },
      [{ path: "caddy", before: "sha256:cdcdcdcdcdcd", after: "sha256:abababababab" }],
    ],
  ];
  for (const [what, extra, expected] of cases) {
    assert.deepEqual(diff(desired, { state: state(extra), managed: true }), expected, what);
  }
});
