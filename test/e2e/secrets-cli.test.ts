/** `holt secrets` run as users run it, from the lab folder, with values piped in. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { STARTER_CONFIG } from "../../src/cli/commands/init.ts";

const BIN = join(resolve(import.meta.dirname, "../.."), "src/cli/bin.ts");
const VALUE = "s3cret value, with spaces";

let scratch: string;
before(() => {
  scratch = mkdtempSync(join(tmpdir(), "holt-secrets-cli-"));
});
after(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

interface Lab {
  readonly dir: string;
  readonly configHome: string;
  holt(args: readonly string[], options?: { input?: string; env?: NodeJS.ProcessEnv }): Run;
}
interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let counter = 0;
function newLab(): Lab {
  const root = join(scratch, `lab-${++counter}`);
  const dir = join(root, "lab");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "holt.config.ts"), STARTER_CONFIG);
  const configHome = join(root, "config");
  const { HOLT_AGE_KEY: _k, HOLT_AGE_KEY_FILE: _f, ...inherited } = process.env;
  return {
    dir,
    configHome,
    holt(args, options = {}) {
      const r = spawnSync(process.execPath, [BIN, ...args], {
        cwd: dir,
        input: options.input ?? "",
        encoding: "utf8",
        env: {
          ...inherited,
          NO_COLOR: "1",
          HOME: join(root, "home"),
          XDG_CONFIG_HOME: configHome,
          HOLT_STATE_DIR: join(root, "state"),
          NODE_COMPILE_CACHE: join(scratch, "compile-cache"),
          ...options.env,
        },
        timeout: 60_000,
      });
      if (r.error !== undefined) throw r.error;
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

function ok(run: Run): Run {
  assert.equal(run.code, 0, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  return run;
}

function fails(run: Run, code: string, pattern: RegExp): void {
  assert.equal(run.code, 1, `stdout: ${run.stdout}\nstderr: ${run.stderr}`);
  assert.ok(run.stderr.startsWith(`Error [${code}] `), run.stderr);
  assert.match(run.stderr, pattern);
  assert.ok(!run.stderr.includes(VALUE) && !run.stdout.includes(VALUE), "a value was printed");
}

describe("holt secrets", () => {
  test("init creates a key, lists its recipient and an empty secrets.age, and is idempotent", () => {
    const lab = newLab();
    const first = ok(lab.holt(["secrets", "init"]));
    const keyFile = join(lab.configHome, "holt", "age.key");
    const recipient = /Your recipient \(public key\): (age1[a-z0-9]+)/.exec(first.stdout)?.[1];
    assert.ok(recipient !== undefined, first.stdout);
    assert.deepEqual(first.stdout.split("\n"), [
      `Created a new age key in ${keyFile} (keep it safe, back it up).`,
      `Your recipient (public key): ${recipient}`,
      `Added it to ${join(lab.dir, "secrets.recipients")}.`,
      `Created an empty ${join(lab.dir, "secrets.age")}.`,
      "Commit secrets.age and secrets.recipients; never commit the key.",
      "",
    ]);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.ok(
      readFileSync(join(lab.dir, "secrets.recipients"), "utf8").includes(`\n${recipient}\n`),
    );
    const armored = readFileSync(join(lab.dir, "secrets.age"), "utf8");
    assert.ok(armored.startsWith("-----BEGIN AGE ENCRYPTED FILE-----\n"));

    const again = ok(lab.holt(["secrets", "init"]));
    assert.deepEqual(again.stdout.split("\n"), [
      `Using the age key from ${keyFile}.`,
      `Your recipient (public key): ${recipient}`,
      `It is already in ${join(lab.dir, "secrets.recipients")}.`,
      `${join(lab.dir, "secrets.age")} exists and your key can read it.`,
      "",
    ]);
    assert.equal(readFileSync(join(lab.dir, "secrets.age"), "utf8"), armored);
    ok(lab.holt(["secrets", "list"]));
  });

  test("set from a pipe, list, get into a pipe, rm", () => {
    const lab = newLab();
    ok(lab.holt(["secrets", "init"]));
    const set = ok(lab.holt(["secrets", "set", "db-password"], { input: `${VALUE}\n` }));
    assert.equal(set.stdout, 'Added secret "db-password".\n');
    ok(lab.holt(["secrets", "set", "api.token"], { input: "line 1\nline 2\n\n" }));
    assert.equal(
      ok(lab.holt(["secrets", "set", "db-password"], { input: `${VALUE}\r\n` })).stdout,
      'Updated secret "db-password".\n',
    );
    assert.ok(!readFileSync(join(lab.dir, "secrets.age"), "utf8").includes(VALUE));

    const list = ok(lab.holt(["secrets", "list"]));
    assert.equal(list.stdout, "api.token\ndb-password\n");
    assert.ok(!list.stdout.includes(VALUE));
    const json = JSON.parse(ok(lab.holt(["secrets", "list", "--json"])).stdout);
    assert.deepEqual(json, {
      formatVersion: "1",
      file: join(lab.dir, "secrets.age"),
      names: ["api.token", "db-password"],
    });

    // Exactly one trailing newline was dropped, and get adds none into a pipe.
    assert.equal(ok(lab.holt(["secrets", "get", "db-password"])).stdout, VALUE);
    assert.equal(ok(lab.holt(["secrets", "get", "api.token"])).stdout, "line 1\nline 2\n");

    assert.equal(
      ok(lab.holt(["secrets", "rm", "api.token"])).stdout,
      'Removed secret "api.token".\n',
    );
    assert.equal(ok(lab.holt(["secrets", "list"])).stdout, "db-password\n");
  });

  test("set --from-file keeps the file's content exactly", () => {
    const lab = newLab();
    ok(lab.holt(["secrets", "init"]));
    const pem = "-----BEGIN KEY-----\nabc\n-----END KEY-----\n";
    writeFileSync(join(lab.dir, "key.pem"), pem);
    ok(lab.holt(["secrets", "set", "tls-key", "--from-file", "key.pem"], { input: "ignored" }));
    assert.equal(ok(lab.holt(["secrets", "get", "tls-key"])).stdout, pem);
    writeFileSync(join(lab.dir, "binary"), Buffer.from([0xff, 0xfe, 0x00, 0x80]));
    fails(
      lab.holt(["secrets", "set", "bin", "--from-file", "binary"]),
      "HOLT_E_SECRETS",
      /is not UTF-8 text/,
    );
  });

  test("--config finds the lab from another folder", () => {
    const lab = newLab();
    ok(lab.holt(["secrets", "init"]));
    ok(lab.holt(["secrets", "set", "a"], { input: "1" }));
    const elsewhere = join(lab.dir, "..");
    const r = spawnSync(
      process.execPath,
      [BIN, "secrets", "list", "--config", join(lab.dir, "holt.config.ts")],
      {
        cwd: elsewhere,
        encoding: "utf8",
        env: { ...process.env, NO_COLOR: "1", XDG_CONFIG_HOME: lab.configHome },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, "a\n");
  });

  test("errors: usage, names, unknown secrets, no config, no key, wrong key", () => {
    const lab = newLab();
    fails(
      lab.holt(["secrets"]),
      "HOLT_E_USAGE",
      /Missing subcommand\. Use one of: init, set, get, list, rm, rekey\./,
    );
    fails(lab.holt(["secrets", "show"]), "HOLT_E_USAGE", /Unknown subcommand "show"/);
    fails(lab.holt(["secrets", "set"]), "HOLT_E_USAGE", /`holt secrets set` needs a NAME/);
    fails(lab.holt(["secrets", "list", "extra"]), "HOLT_E_USAGE", /Unexpected argument "extra"/);
    fails(lab.holt(["secrets", "set", "db", VALUE]), "HOLT_E_USAGE", /never as an argument/);
    fails(
      lab.holt(["secrets", "list", "--reveal"]),
      "HOLT_E_USAGE",
      /--reveal only goes with `holt secrets get`/,
    );

    // No secrets.age yet: an empty list, without a key.
    assert.match(ok(lab.holt(["secrets", "list"])).stdout, /^No secrets in .*secrets\.age\./);
    fails(
      lab.holt(["secrets", "set", "a"], { input: VALUE }),
      "HOLT_E_SECRETS",
      /No age key to open/,
    );

    ok(lab.holt(["secrets", "init"]));
    fails(
      lab.holt(["secrets", "set", "DB_PASSWORD"], { input: VALUE }),
      "HOLT_E_SECRETS",
      /"DB_PASSWORD" is not a valid secret name/,
    );
    fails(lab.holt(["secrets", "set", "empty"], { input: "\n" }), "HOLT_E_SECRETS", /is empty/);
    fails(lab.holt(["secrets", "rm", "nope"]), "HOLT_E_SECRETS", /There is no secret "nope"/);
    fails(lab.holt(["secrets", "get", "nope"]), "HOLT_E_SECRETS", /There is no secret "nope"/);
    ok(lab.holt(["secrets", "set", "db"], { input: VALUE }));

    // Someone else's key.
    const other = newLab();
    ok(other.holt(["secrets", "init"]));
    const otherKey = readFileSync(join(other.configHome, "holt", "age.key"), "utf8");
    const wrong = lab.holt(["secrets", "list"], { env: { HOLT_AGE_KEY: otherKey } });
    fails(wrong, "HOLT_E_SECRETS", /The key in \$HOLT_AGE_KEY cannot decrypt/);
    assert.match(wrong.stderr, /How to fix HOLT_E_SECRETS: docs\/errors\.md#holt_e_secrets/);
    const keyLine = otherKey.split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-")) ?? "";
    assert.ok(!wrong.stderr.includes(keyLine.slice(16)), "the key was printed");

    rmSync(join(lab.dir, "holt.config.ts"));
    fails(lab.holt(["secrets", "list"]), "HOLT_E_CONFIG_NOT_FOUND", /No holt\.config\.ts/);
  });

  test("holt --help lists the command", () => {
    const run = ok(newLab().holt(["--help"]));
    assert.ok(
      run.stdout.includes("  secrets   Manage the lab's encrypted secrets (secrets.age)\n"),
      run.stdout,
    );
  });
});
