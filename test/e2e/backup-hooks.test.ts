/**
 * A backup hook runs inside the service's container, which holds the
 * service's secrets; when it fails, what it printed is shown and kept in the
 * catalog without them. On real zfs-fuse and Podman: a pre-snapshot hook
 * that prints an environment secret and some lines of a PEM key, then
 * fails. Without the age key holt cannot know what to hide, and shows none
 * of the hook's output.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import { ensureTestImages, removeLabResources, testLab } from "../peers/podman.ts";
import { createTestPool, type TestPool } from "../peers/zfs.ts";
import { createLabFolder, type LabFolder } from "./harness.ts";

const TOKEN = "tok-4c81e07d9b2a46f3";
const KEY_LINES = [
  "-----BEGIN PRIVATE KEY-----",
  "MC4CAQAwBQYDK2VwBCIEIJ7nq3Wbd0Xq4u1kS5Rz0fC8v2mYp9aLtQxE6sN1hGwB",
  "-----END PRIVATE KEY-----",
];
const service = `hk${process.pid}`;

let pool: TestPool;
let folder: LabFolder;
let lab: string;

const keyEnv = (): NodeJS.ProcessEnv => ({ HOLT_AGE_KEY_FILE: join(folder.dir, "age.key") });

function config(image: string): string {
  // The hook prints the token, then the key's middle line alone (a log showing part of a key).
  return `import { defineLab, secret } from "holt";
export default defineLab({
  domain: "lab.example.com",
  name: "${lab}",
  hosts: { box: { connect: "local", stateRoot: "${pool.name}/holt" } },
  services: {
    ${service}: {
      host: "box",
      image: "${image}",
      state: { data: { path: "/data" } },
      secrets: { API_TOKEN: secret("api-token"), "/run/secrets/key": secret("tls-key") },
      hooks: {
        preSnapshot: ["sh", "-c", "echo flushing with token=$API_TOKEN >&2; sed -n 2p /run/secrets/key >&2; echo giving up >&2; exit 3"],
      },
    },
  },
});
`;
}

interface RunJson {
  services: { service: string; snapshot: string | null; error: string | null }[];
}

describe("backup hooks: their output without the service's secrets", () => {
  before(async () => {
    const images = await ensureTestImages();
    pool = await createTestPool();
    lab = testLab("hk");
    folder = createLabFolder();
    folder.write(config(images.v1));
    const init = folder.holt(["secrets", "init"], keyEnv());
    assert.equal(init.code, 0, init.stderr);
    folder.setSecret("api-token", TOKEN, keyEnv());
    folder.setSecret("tls-key", `${KEY_LINES.join("\n")}\n`, keyEnv());
    const applied = folder.holt(["apply", "--yes"], keyEnv());
    assert.equal(applied.code, 0, applied.stderr);
  });

  after(async () => {
    removeLabResources(lab);
    await pool?.destroy();
    folder?.remove();
  });

  const assertNoSecret = (text: string) => {
    assert.ok(!text.includes(TOKEN), text);
    assert.ok(!text.includes(KEY_LINES[1] ?? "?"), text);
  };

  test("a failed pre-snapshot hook is reported with its secrets hidden, in the run and in the catalog", () => {
    const r = folder.holt(["backup", "run", "--json"], keyEnv());
    assert.equal(r.code, 1, r.stderr);
    const error = (JSON.parse(r.stdout) as RunJson).services[0]?.error ?? "";
    assert.equal(
      error,
      `preSnapshot hook failed, no snapshot taken: sh -c echo flushing with token=$API_TOKEN >&2; sed -n 2p /run/secrets/key >&2; echo giving up >&2; exit 3 exited with 3: flushing with token=(secret) | (secret) | giving up`,
    );
    assertNoSecret(r.stdout + r.stderr);
    const human = folder.holt(["backup", "run"], keyEnv());
    assert.equal(human.code, 1);
    assert.match(human.stdout + human.stderr, /token=\(secret\)/);
    assertNoSecret(human.stdout + human.stderr);
    // The catalog keeps the message as it was shown.
    const catalog = new DatabaseSync(join(folder.stateDir, lab, "backups.db"), { readOnly: true });
    try {
      const kept = catalog.prepare("SELECT error FROM backup_steps WHERE error IS NOT NULL").all();
      assert.equal(kept.length, 2);
      for (const row of kept) assert.equal(row.error, error);
    } finally {
      catalog.close();
    }
  });

  test("without the age key, the hook's output is not shown at all", () => {
    const r = folder.holt(["backup", "run", "--json"], {
      HOLT_AGE_KEY_FILE: join(folder.dir, "no-such.key"),
    });
    assert.equal(r.code, 1, r.stderr);
    const error = (JSON.parse(r.stdout) as RunJson).services[0]?.error ?? "";
    assert.match(
      error,
      /exit 3 exited with 3 \(its output is not shown: it may hold the service's secrets, and holt could not read them to hide them: .*no-such\.key[^|]*\)$/,
    );
    assert.doesNotMatch(error, /token=(\(secret\)|tok)|giving up >&2; exit 3 exited with 3:/);
    assertNoSecret(r.stdout + r.stderr);
  });
});
