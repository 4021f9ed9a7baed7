/**
 * Secret values and private keys never reach an error: each error path is
 * forced with known values, and the message, details, stack and causes are
 * searched for them.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
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

const VALUE = "Tr0ub4dor-and-3-correct-horse";
const scratch = mkdtempSync(join(tmpdir(), "holt-secrets-leak-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

let counter = 0;
async function labWithSecret() {
  const dir = join(scratch, `case-${++counter}`);
  const labDir = join(dir, "lab");
  mkdirSync(labDir, { recursive: true });
  const env = { HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "config"), USER: "t" };
  const init = await initSecrets({ labDir, env });
  await setSecret({ labDir, env, name: "db", value: VALUE });
  const keyFile = join(dir, "config", "holt", "age.key");
  const identity = readFileSync(keyFile, "utf8")
    .split("\n")
    .find((l) => l.startsWith("AGE-SECRET-KEY-"));
  assert.ok(identity !== undefined);
  return { labDir, env, keyFile, identity, recipient: init.recipient };
}

/** Everything an error could show or log. */
function surface(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(current.message, current.stack ?? "");
      if (current instanceof HoltError) parts.push(...current.details);
      current = current.cause;
    } else {
      parts.push(String(current));
      current = undefined;
    }
  }
  return parts.join("\n");
}

async function failsWithout(
  what: string,
  action: () => Promise<unknown> | unknown,
  forbidden: readonly string[],
): Promise<void> {
  let caught: unknown;
  try {
    await action();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof HoltError, `${what}: expected a HoltError, got ${String(caught)}`);
  const text = surface(caught);
  for (const secret of forbidden) {
    assert.ok(!text.includes(secret), `${what}: the error shows a secret:\n${text}`);
    // Partial leaks count too, like the snippet JSON.parse quotes: no 8
    // characters in a row. A key's "AGE-SECRET-KEY-1" prefix is public.
    const body = secret.replace(/^AGE-SECRET-KEY-1/, "");
    for (let i = 0; i + 8 <= body.length; i++) {
      const part = body.slice(i, i + 8);
      assert.ok(!text.includes(part), `${what}: the error shows "${part}":\n${text}`);
    }
  }
}

test("no error shows a secret value or a private key", async () => {
  const lab = await labWithSecret();
  const { labDir, env } = lab;
  const other = await generateIdentity();
  const otherRecipient = (await recipientOf(other)) ?? "";
  const forbidden = [VALUE, lab.identity, other];
  const wrongKey = { ...env, HOLT_AGE_KEY: other };

  await failsWithout("wrong key, open", () => openSecrets({ labDir, env: wrongKey }), forbidden);
  await failsWithout(
    "wrong key, set",
    () => setSecret({ labDir, env: wrongKey, name: "db", value: VALUE }),
    forbidden,
  );
  await failsWithout(
    "missing key",
    () => openSecrets({ labDir, env: { ...env, XDG_CONFIG_HOME: join(labDir, "none") } }),
    forbidden,
  );
  const store = await openSecrets({ labDir, env });
  await failsWithout("unknown name, value()", () => store.value("dbx"), forbidden);
  await failsWithout("unknown name, digest()", () => store.digest("dbx"), forbidden);
  await failsWithout(
    "bad name with a value",
    () => setSecret({ labDir, env, name: "DB", value: VALUE }),
    forbidden,
  );
  await failsWithout("rm unknown", () => removeSecret({ labDir, env, name: "nope" }), forbidden);

  // A private key with a typo in $HOLT_AGE_KEY or in the key file: not echoed.
  const typo = `${lab.identity.slice(0, -3)}QQQ`;
  await failsWithout(
    "invalid key in env",
    () => openSecrets({ labDir, env: { ...env, HOLT_AGE_KEY: typo } }),
    [...forbidden, typo],
  );
  const badKeyFile = join(labDir, "..", "bad.key");
  writeFileSync(badKeyFile, `# comment\n${typo}\n`, { mode: 0o600 });
  await failsWithout(
    "invalid key in file",
    () => openSecrets({ labDir, env: { ...env, HOLT_AGE_KEY_FILE: badKeyFile } }),
    [...forbidden, typo],
  );

  // A private key pasted into secrets.recipients.
  const recipientsFile = join(labDir, RECIPIENTS_FILE);
  const recipients = readFileSync(recipientsFile, "utf8");
  writeFileSync(recipientsFile, `${recipients}${other}\n`);
  await failsWithout(
    "private key in recipients",
    () => setSecret({ labDir, env, name: "db", value: VALUE }),
    forbidden,
  );
  // Writing would lock the writer out.
  writeFileSync(recipientsFile, `${otherRecipient}\n`);
  await failsWithout(
    "lockout",
    () => setSecret({ labDir, env, name: "db", value: VALUE }),
    forbidden,
  );
  writeFileSync(recipientsFile, recipients);

  // Key file open to others.
  chmodSync(lab.keyFile, 0o644);
  await failsWithout("key file mode", () => openSecrets({ labDir, env }), forbidden);
  chmodSync(lab.keyFile, 0o600);

  // Decrypted content that is not what holt wrote: JSON.parse would quote it.
  const file = join(labDir, SECRETS_FILE);
  const good = readFileSync(file, "utf8");
  const payloads = [
    `{"version": 1, "secrets": {"db": "${VALUE}" oops}}`,
    `${VALUE}`,
    JSON.stringify({ version: 1, secrets: { [VALUE]: "x" } }),
    JSON.stringify({ version: 1, secrets: { db: [VALUE] } }),
    JSON.stringify({ version: VALUE, secrets: {} }),
    JSON.stringify({ version: 1, digestKey: VALUE, secrets: {} }),
  ];
  for (const [index, payload] of payloads.entries()) {
    writeFileSync(file, await encryptArmored(payload, [lab.recipient]));
    await failsWithout(`malformed payload ${index}`, () => openSecrets({ labDir, env }), forbidden);
    await failsWithout(
      `malformed payload ${index}, rekey`,
      () => rekeySecrets({ labDir, env }),
      forbidden,
    );
  }

  // A damaged file.
  writeFileSync(
    file,
    good.replace(/\n[A-Za-z0-9+/]/, (m) => `\n${m[1] === "A" ? "B" : "A"}`),
  );
  await failsWithout("damaged file", () => openSecrets({ labDir, env }), forbidden);
});
