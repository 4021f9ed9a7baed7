import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { HoltError } from "../errors.ts";
import { encryptArmored, generateIdentity, recipientOf } from "./age.ts";
import {
  initSecrets,
  openSecrets,
  RECIPIENTS_FILE,
  rekeySecrets,
  removeSecret,
  SECRETS_FILE,
  setSecret,
} from "./store.ts";

const scratch = mkdtempSync(join(tmpdir(), "holt-secrets-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
/** A fresh lab folder and a private home, with no key env vars. */
function lab(): { labDir: string; env: NodeJS.ProcessEnv } {
  const dir = join(scratch, `case-${++counter}`);
  const labDir = join(dir, "lab");
  mkdirSync(labDir, { recursive: true });
  return {
    labDir,
    env: { HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "config"), USER: "tester" },
  };
}

async function newKey(): Promise<{ identity: string; recipient: string }> {
  const identity = await generateIdentity();
  const recipient = await recipientOf(identity);
  assert.ok(recipient !== null);
  return { identity, recipient };
}

async function rejectsWith(promise: Promise<unknown>, pattern: RegExp): Promise<HoltError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof HoltError, `expected a HoltError, got ${String(error)}`);
    assert.equal(error.code, "HOLT_E_SECRETS");
    assert.match(error.message, pattern);
    return error;
  }
  assert.fail(`expected a rejection matching ${pattern}`);
}

describe("secrets store", () => {
  test("without secrets.age the store is empty and needs no key", async () => {
    const { labDir, env } = lab();
    const store = await openSecrets({ labDir, env });
    assert.equal(store.file, join(labDir, SECRETS_FILE));
    assert.deepEqual(store.names(), []);
    assert.equal(store.has("x"), false);
    assert.throws(() => store.value("x"), /There is no secret "x" in .*secrets\.age/);
  });

  test("init creates a private key, lists its recipient and an empty secrets.age, once", async () => {
    const { labDir, env } = lab();
    const first = await initSecrets({ labDir, env });
    const keyFile = join(env.XDG_CONFIG_HOME ?? "", "holt", "age.key");
    assert.equal(first.keySource, keyFile);
    assert.ok(first.keyCreated && first.recipientAdded && first.secretsCreated && first.canDecrypt);
    assert.match(first.recipient, /^age1[a-z0-9]{58}$/);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(statSync(join(env.XDG_CONFIG_HOME ?? "", "holt")).mode & 0o777, 0o700);
    const key = readFileSync(keyFile, "utf8");
    assert.match(key, /^# created: .*\n# public key: age1.*\nAGE-SECRET-KEY-1[A-Z0-9]+\n$/);
    const recipients = readFileSync(join(labDir, RECIPIENTS_FILE), "utf8");
    assert.ok(recipients.split("\n").includes(first.recipient), recipients);
    assert.match(recipients, /^# /);
    const armored = readFileSync(join(labDir, SECRETS_FILE), "utf8");
    assert.match(
      armored,
      /^-----BEGIN AGE ENCRYPTED FILE-----\n[A-Za-z0-9+/=\n]+-----END AGE ENCRYPTED FILE-----\n$/,
    );

    const second = await initSecrets({ labDir, env });
    assert.equal(second.recipient, first.recipient);
    assert.ok(!second.keyCreated && !second.recipientAdded && !second.secretsCreated);
    assert.ok(second.canDecrypt);
    assert.equal(readFileSync(keyFile, "utf8"), key);
    assert.equal(readFileSync(join(labDir, RECIPIENTS_FILE), "utf8"), recipients);
    assert.equal(readFileSync(join(labDir, SECRETS_FILE), "utf8"), armored);
    assert.deepEqual((await openSecrets({ labDir, env })).names(), []);
  });

  test("values round-trip exactly; names are sorted", async () => {
    const { labDir, env } = lab();
    await initSecrets({ labDir, env });
    const values = {
      "zeta.token": "plain",
      "alpha-key": 'quotes " and \\ backslash, {"json": true}',
      m_multi: "line one\nline two\n",
      "9unicode": "grüße 🔑 \t tab",
    };
    for (const [name, value] of Object.entries(values)) {
      assert.deepEqual(await setSecret({ labDir, env, name, value }), { replaced: false });
    }
    const store = await openSecrets({ labDir, env });
    assert.deepEqual(store.names(), ["9unicode", "alpha-key", "m_multi", "zeta.token"]);
    for (const [name, value] of Object.entries(values)) {
      assert.ok(store.has(name));
      assert.equal(store.value(name), value);
    }
    assert.equal(store.has("constructor"), false, "no prototype keys");
    const armored = readFileSync(join(labDir, SECRETS_FILE), "utf8");
    for (const value of Object.values(values)) assert.ok(!armored.includes(value));
  });

  test("set replaces, rm removes, rm of an unknown name fails", async () => {
    const { labDir, env } = lab();
    await initSecrets({ labDir, env });
    await setSecret({ labDir, env, name: "db", value: "one" });
    assert.deepEqual(await setSecret({ labDir, env, name: "db", value: "two" }), {
      replaced: true,
    });
    assert.equal((await openSecrets({ labDir, env })).value("db"), "two");
    await removeSecret({ labDir, env, name: "db" });
    assert.deepEqual((await openSecrets({ labDir, env })).names(), []);
    await rejectsWith(removeSecret({ labDir, env, name: "db" }), /There is no secret "db"/);
  });

  test("bad names and empty values are refused before anything is written", async () => {
    const { labDir, env } = lab();
    await initSecrets({ labDir, env });
    const before = readFileSync(join(labDir, SECRETS_FILE), "utf8");
    for (const name of ["", "Upper", "-dash-first", ".dot", "has space", "a/b", "x".repeat(64)]) {
      await rejectsWith(setSecret({ labDir, env, name, value: "v" }), /is not a valid secret name/);
    }
    await rejectsWith(setSecret({ labDir, env, name: "ok", value: "" }), /is empty/);
    assert.equal(readFileSync(join(labDir, SECRETS_FILE), "utf8"), before);
  });

  test("every recipient can read; rekey brings in a newly listed one", async () => {
    const { labDir, env } = lab();
    await initSecrets({ labDir, env });
    await setSecret({ labDir, env, name: "db", value: "shared" });
    const backup = await newKey();
    const backupEnv = { ...env, HOLT_AGE_KEY: backup.identity };
    await rejectsWith(openSecrets({ labDir, env: backupEnv }), /cannot decrypt/);
    const recipientsFile = join(labDir, RECIPIENTS_FILE);
    writeFileSync(
      recipientsFile,
      `${readFileSync(recipientsFile, "utf8")}\n# backup key, kept offline\n${backup.recipient}\n`,
    );
    // Listed but not yet re-encrypted: the message says who must act.
    await rejectsWith(openSecrets({ labDir, env: backupEnv }), /must run `holt secrets rekey`/);
    const digest = (await openSecrets({ labDir, env })).digest("db");
    assert.equal((await rekeySecrets({ labDir, env })).recipients.length, 2);
    const viaBackup = await openSecrets({ labDir, env: backupEnv });
    assert.equal(viaBackup.value("db"), "shared");
    assert.equal(viaBackup.digest("db"), digest, "digests are the same for every key");
    assert.equal((await openSecrets({ labDir, env })).value("db"), "shared");
    // The backup key can now write too, and the first key still reads it.
    await setSecret({ labDir, env: backupEnv, name: "api", value: "from backup" });
    assert.equal((await openSecrets({ labDir, env })).value("api"), "from backup");
  });

  test("a key file with comments and several identities: any listed one opens the store", async () => {
    const { labDir, env } = lab();
    const [a, b] = [await newKey(), await newKey()];
    writeFileSync(join(labDir, RECIPIENTS_FILE), `# only b\n${b.recipient}\n`);
    const keyFile = join(labDir, "..", "two.key");
    writeFileSync(
      keyFile,
      `# created: now\n# public key: ${a.recipient}\n${a.identity}\n\n  ${b.identity}  \n`,
      {
        mode: 0o600,
      },
    );
    const keyEnv = { ...env, HOLT_AGE_KEY_FILE: keyFile };
    await setSecret({ labDir, env: keyEnv, name: "x", value: "y" });
    assert.equal((await openSecrets({ labDir, env: keyEnv })).value("x"), "y");
    assert.equal(
      (await openSecrets({ labDir, env: { ...env, HOLT_AGE_KEY: b.identity } })).value("x"),
      "y",
    );
    await rejectsWith(
      openSecrets({ labDir, env: { ...env, HOLT_AGE_KEY: a.identity } }),
      /cannot decrypt/,
    );
  });

  test("wrong key: names the file, the key source and the fix", async () => {
    const { labDir, env } = lab();
    await initSecrets({ labDir, env });
    await setSecret({ labDir, env, name: "db", value: "v" });
    const other = await newKey();
    const error = await rejectsWith(
      openSecrets({ labDir, env: { ...env, HOLT_AGE_KEY: other.identity } }),
      /^The key in \$HOLT_AGE_KEY cannot decrypt .*secrets\.age\. Ask someone who can read it to add your recipient to secrets\.recipients and run `holt secrets rekey`/,
    );
    assert.ok(
      error.details.includes(`your recipient: ${other.recipient}`),
      error.details.join("\n"),
    );
    assert.ok(error.details.some((d) => d.startsWith("1. $HOLT_AGE_KEY: set (used)")));
  });

  test("no key at all: says where holt looked and how to fix it", async () => {
    const { labDir, env } = lab();
    await initSecrets({ labDir, env });
    const noKey = { ...env, XDG_CONFIG_HOME: join(labDir, "elsewhere") };
    const error = await rejectsWith(
      openSecrets({ labDir, env: noKey }),
      /^No age key to open .*secrets\.age\. Run `holt secrets init`/,
    );
    assert.deepEqual(error.details, [
      "Where holt looked:",
      "1. $HOLT_AGE_KEY: not set",
      "2. $HOLT_AGE_KEY_FILE: not set",
      `3. ${join(labDir, "elsewhere", "holt", "age.key")}: does not exist`,
    ]);
    await rejectsWith(setSecret({ labDir, env: noKey, name: "a", value: "b" }), /No age key/);
  });

  test("key sources: $HOLT_AGE_KEY, then $HOLT_AGE_KEY_FILE, then the default file", async () => {
    const { labDir, env } = lab();
    const [inline, file, fallback] = [await newKey(), await newKey(), await newKey()];
    const keyFile = join(labDir, "..", "k.key");
    writeFileSync(keyFile, `${file.identity}\n`, { mode: 0o600 });
    const defaultFile = join(env.XDG_CONFIG_HOME ?? "", "holt", "age.key");
    mkdirSync(join(defaultFile, ".."), { recursive: true });
    writeFileSync(defaultFile, `${fallback.identity}\n`, { mode: 0o600 });
    const source = async (e: NodeJS.ProcessEnv) =>
      (await initSecrets({ labDir, env: e })).recipient;
    // init reports the recipient of the key it used; the first listed one wins once listed.
    writeFileSync(join(labDir, RECIPIENTS_FILE), "");
    assert.equal(
      await source({ ...env, HOLT_AGE_KEY: inline.identity, HOLT_AGE_KEY_FILE: keyFile }),
      inline.recipient,
    );
    assert.equal(await source({ ...env, HOLT_AGE_KEY_FILE: keyFile }), file.recipient);
    assert.equal(await source(env), fallback.recipient);
    // An empty variable counts as unset.
    assert.equal(
      await source({ ...env, HOLT_AGE_KEY: "", HOLT_AGE_KEY_FILE: "" }),
      fallback.recipient,
    );
    // XDG_CONFIG_HOME unset: ~/.config.
    const { XDG_CONFIG_HOME: _, ...noXdg } = env;
    const error = await rejectsWith(openSecrets({ labDir, env: noXdg }), /^No age key/);
    const home = join(env.HOME ?? "", ".config", "holt", "age.key");
    assert.ok(error.details.includes(`3. ${home}: does not exist`), error.details.join("\n"));
  });

  test("$HOLT_AGE_KEY_FILE pointing nowhere is an error, not a fallback", async () => {
    const { labDir, env } = lab();
    await initSecrets({ labDir, env });
    await rejectsWith(
      openSecrets({ labDir, env: { ...env, HOLT_AGE_KEY_FILE: join(labDir, "typo.key") } }),
      /^\$HOLT_AGE_KEY_FILE points at .*typo\.key, which does not exist/,
    );
  });

  test("a key file other users can read is refused, as ssh does", async () => {
    const { labDir, env } = lab();
    await initSecrets({ labDir, env });
    const keyFile = join(env.XDG_CONFIG_HOME ?? "", "holt", "age.key");
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      chmodSync(keyFile, mode);
      const shown = mode.toString(8).padStart(4, "0");
      await rejectsWith(
        openSecrets({ labDir, env }),
        new RegExp(`is open to other users \\(mode ${shown}\\).*chmod 600`),
      );
    }
  });

  test("a write that would lock out the writer's own key is refused", async () => {
    const { labDir, env } = lab();
    await initSecrets({ labDir, env });
    const other = await newKey();
    writeFileSync(join(labDir, RECIPIENTS_FILE), `${other.recipient}\n`);
    await rejectsWith(
      setSecret({ labDir, env, name: "a", value: "b" }),
      /is not among the recipients .* you could no longer read/,
    );
    writeFileSync(join(labDir, RECIPIENTS_FILE), "# nobody\n");
    await rejectsWith(setSecret({ labDir, env, name: "a", value: "b" }), /lists no recipients/);
  });

  test("bad lines in secrets.recipients are all listed", async () => {
    const { labDir, env } = lab();
    await initSecrets({ labDir, env });
    const file = join(labDir, RECIPIENTS_FILE);
    writeFileSync(file, `${readFileSync(file, "utf8")}age1nonsense\nssh-ed25519 AAAA me\n`);
    const error = await rejectsWith(
      setSecret({ labDir, env, name: "a", value: "b" }),
      /has 2 lines that are not/,
    );
    assert.equal(error.details.length, 2);
    assert.match(error.details[0] ?? "", /^line \d+: "age1nonsense": expected an age recipient/);
    assert.match(error.details[1] ?? "", /SSH keys are not supported/);
  });

  test("damaged and non-armored files are reported as such", async () => {
    const { labDir, env } = lab();
    await initSecrets({ labDir, env });
    await setSecret({ labDir, env, name: "a", value: "b" });
    const file = join(labDir, SECRETS_FILE);
    const armored = readFileSync(file, "utf8");
    const lines = armored.split("\n");
    // Flip one character in the last body line (the payload), keeping valid base64.
    const last = lines.length - 3;
    const line = lines[last] ?? "";
    lines[last] = (line[0] === "A" ? "B" : "A") + line.slice(1);
    writeFileSync(file, lines.join("\n"));
    await rejectsWith(openSecrets({ labDir, env }), /is damaged/);
    writeFileSync(file, "not age at all\n");
    await rejectsWith(openSecrets({ labDir, env }), /is not an ASCII-armored age file/);
  });

  test("a hand-made file without digestKey works, and gains one on the next write", async () => {
    const { labDir, env } = lab();
    const init = await initSecrets({ labDir, env });
    const file = join(labDir, SECRETS_FILE);
    writeFileSync(
      file,
      await encryptArmored(JSON.stringify({ version: 1, secrets: { a: "1" } }), [init.recipient]),
    );
    const before = await openSecrets({ labDir, env });
    assert.equal(before.value("a"), "1");
    assert.equal(before.digest("a"), (await openSecrets({ labDir, env })).digest("a"));
    await setSecret({ labDir, env, name: "b", value: "2" });
    const after = await openSecrets({ labDir, env });
    assert.equal(after.value("a"), "1");
    assert.equal(after.digest("a"), (await openSecrets({ labDir, env })).digest("a"));
    await rejectsWith(
      (async () => {
        writeFileSync(
          file,
          await encryptArmored(JSON.stringify({ version: 2, secrets: {} }), [init.recipient]),
        );
        return openSecrets({ labDir, env });
      })(),
      /format version 2, newer than this holt understands/,
    );
  });

  test("digests: 32 hex, stable, keyed, per name, and change exactly when the value does", async () => {
    const { labDir, env } = lab();
    await initSecrets({ labDir, env });
    await setSecret({ labDir, env, name: "a", value: "same" });
    await setSecret({ labDir, env, name: "b", value: "same" });
    const first = await openSecrets({ labDir, env });
    const da = first.digest("a");
    assert.match(da, /^[0-9a-f]{32}$/);
    assert.notEqual(first.digest("b"), da, "the name is part of the key");
    const plain = createHash("sha256").update("same").digest("hex");
    assert.ok(!plain.startsWith(da), "not an unkeyed hash of the value");

    await setSecret({ labDir, env, name: "b", value: "other" });
    await rekeySecrets({ labDir, env });
    const second = await openSecrets({ labDir, env });
    assert.equal(second.digest("a"), da, "unchanged value, re-encrypted file: same digest");
    assert.notEqual(second.digest("b"), first.digest("b"));
    await setSecret({ labDir, env, name: "b", value: "same" });
    assert.equal((await openSecrets({ labDir, env })).digest("b"), first.digest("b"));

    // Another lab with the same values has its own digest key.
    const otherLab = lab();
    await initSecrets(otherLab);
    await setSecret({ ...otherLab, name: "a", value: "same" });
    assert.notEqual((await openSecrets(otherLab)).digest("a"), da);
    assert.throws(() => second.digest("missing"), /There is no secret "missing"/);
  });
});
