/** The command line itself, run as users run it: help, version, usage errors, init. */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { STARTER_CONFIG } from "../../src/cli/commands/init.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "src/cli/bin.ts");

let scratch: string;
before(() => {
  scratch = mkdtempSync(join(tmpdir(), "holt-cli-"));
});
after(() => {
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

function emptyDir(): string {
  return mkdtempSync(join(scratch, "lab-"));
}

function holt(args: readonly string[], cwd: string = scratch) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: "utf8",
    env: {
      ...process.env,
      NO_COLOR: "1",
      HOLT_STATE_DIR: join(scratch, "state"),
      NODE_COMPILE_CACHE: join(scratch, "compile-cache"),
    },
    timeout: 30_000,
  });
  if (result.error !== undefined) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("holt CLI", () => {
  test("--help lists every command and the global flags", () => {
    const run = holt(["--help"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    const lines = run.stdout.split("\n");
    assert.equal(lines[0], "holt: a declarative control plane for your homelab.");
    assert.ok(lines.includes("Usage: holt <command> [flags]"), run.stdout);
    const commands = lines.slice(lines.indexOf("Commands:") + 1, lines.indexOf("Commands:") + 15);
    assert.deepEqual(commands, [
      "  init      Write a commented starter holt.config.ts",
      "  validate  Check the config without contacting any host",
      "  plan      Show what apply would change, resource by resource",
      "  apply     Converge the real systems to the config (or apply a saved plan)",
      "  status    Show each service: where it runs, its state and health, URL, image and datasets",
      "  dns       List the DNS records holt manages, with drift and conflicts",
      "  certs     List certificates with expiry, issuer and next renewal; renew one now",
      "  backup    Snapshot, replicate and copy offsite the services' state; show every copy",
      "  restore   Put a service's state back to a snapshot (local, replica or offsite), verified",
      "  logs      Print a service's container logs (-f to follow)",
      "  restart   Restart a service's container and wait for its health check",
      "  adopt     Take over an existing resource that the config declares",
      "  history   List past applies, or show one step by step",
      "  secrets   Manage the lab's encrypted secrets (secrets.age)",
    ]);
    for (const flag of ["-h, --help", "--no-color", "-v, --version"]) {
      assert.ok(run.stdout.includes(flag), `${flag}:\n${run.stdout}`);
    }
    assert.ok(run.stdout.includes("Run `holt <command> --help` for its flags."));
  });

  test("no command at all prints the same help", () => {
    const bare = holt([]);
    assert.equal(bare.code, 0);
    assert.equal(bare.stdout, holt(["--help"]).stdout);
    assert.equal(holt(["-h"]).stdout, bare.stdout);
  });

  test("plan --help shows its usage and every flag", () => {
    const run = holt(["plan", "--help"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    const lines = run.stdout.split("\n");
    assert.equal(lines[0], "Show what apply would change, resource by resource.");
    assert.ok(
      lines.includes("Usage: holt plan [--out FILE] [--json] [--detailed] [--detailed-exitcode]"),
      run.stdout,
    );
    for (const flag of [
      "-c, --config FILE",
      "--out FILE",
      "--json",
      "--detailed ",
      "--detailed-exitcode",
      "--allow-data-loss",
      "-h, --help",
    ]) {
      assert.ok(
        lines.some((l) => l.startsWith(`  ${flag}`)),
        `flag ${flag}:\n${run.stdout}`,
      );
    }
    // `holt help plan` and `holt plan -h` are the same page.
    assert.equal(holt(["help", "plan"]).stdout, run.stdout);
    assert.equal(holt(["plan", "-h"]).stdout, run.stdout);
  });

  test("--version prints the package.json version", () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      version: string;
    };
    assert.match(version, /^\d+\.\d+\.\d+/);
    for (const flag of ["--version", "-v"]) {
      const run = holt([flag]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `${version}\n`);
    }
  });

  test("an unknown command exits 1 with HOLT_E_USAGE and lists the commands", () => {
    const run = holt(["plna"]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.ok(
      run.stderr.startsWith(
        'Error [HOLT_E_USAGE] Unknown command "plna". Commands: init, validate, plan, apply, status, dns, certs, backup, restore, logs, restart, adopt, history, secrets. Run `holt --help`.\n',
      ),
      run.stderr,
    );
    assert.ok(run.stderr.includes("How to fix HOLT_E_USAGE: docs/errors.md#holt_e_usage"));
  });

  test("an unknown flag exits 1 naming the flag and the command's help", () => {
    const dir = emptyDir();
    const run = holt(["plan", "--bogus"], dir);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.equal(
      run.stderr.split("\n")[0],
      "Error [HOLT_E_USAGE] Unknown option '--bogus'. See `holt plan --help`.",
    );
    // Flags are checked before anything else: no config was needed to get here.
    assert.ok(!run.stderr.includes("HOLT_E_CONFIG_NOT_FOUND"));
    const validate = holt(["validate", "--out", "x"], dir);
    assert.equal(validate.code, 1);
    assert.match(validate.stderr, /HOLT_E_USAGE.*'--out'.*See `holt validate --help`\./);
  });

  test("init writes a starter config that validate accepts, and refuses to overwrite it", () => {
    const dir = emptyDir();
    const path = join(dir, "holt.config.ts");
    const init = holt(["init"], dir);
    assert.equal(init.code, 0, init.stderr);
    assert.equal(
      init.stdout,
      `Wrote ${path}. Edit it, then run \`holt validate\` and \`holt plan\`.\n`,
    );
    assert.equal(readFileSync(path, "utf8"), STARTER_CONFIG);

    const validate = holt(["validate"], dir);
    assert.equal(validate.code, 0, validate.stderr);
    assert.equal(
      validate.stdout,
      "holt.config.ts is valid: lab lab.example.com, 1 host, 1 service, 5 resources.\n",
    );

    writeFileSync(path, "// my lab\n");
    const again = holt(["init"], dir);
    assert.equal(again.code, 1);
    assert.equal(again.stdout, "");
    assert.ok(
      again.stderr.startsWith(
        `Error [HOLT_E_USAGE] ${path} already exists. Edit it, or pass --force to overwrite it.\n`,
      ),
      again.stderr,
    );
    assert.equal(readFileSync(path, "utf8"), "// my lab\n", "the file is untouched");

    const forced = holt(["init", "--force"], dir);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(readFileSync(path, "utf8"), STARTER_CONFIG);
  });

  test("validate refuses a backup keep whose counts are all 0, with the fix, and accepts { last: 1 }", () => {
    const dir = emptyDir();
    const write = (snapshots: string) =>
      writeFileSync(
        join(dir, "holt.config.ts"),
        `import { defineLab } from "holt";
export default defineLab({
  domain: "lab.example.com",
  hosts: { box: { connect: "local", stateRoot: "tank/holt" } },
  backups: { policies: { default: { snapshots: ${snapshots} } } },
  services: { app: { host: "box", state: { data: { path: "/data" } } } },
});
`,
      );
    write("{ hourly: 0 }");
    const refused = holt(["validate"], dir);
    assert.equal(refused.code, 1);
    assert.equal(refused.stdout, "");
    assert.equal(
      refused.stderr,
      [
        "Error [HOLT_E_CONFIG_INVALID] holt.config.ts has 1 problem:",
        '  holt.config.ts: backups.policies.default.snapshots: {"hourly":0} keeps no snapshot by count: every count is 0 (a count left out is 0). Write { last: 1 } to keep only the newest, or counts such as { hourly: 24, daily: 7 }, or leave it out for the default { hourly: 24, daily: 30, weekly: 8, monthly: 12 }.',
        "  How to fix HOLT_E_CONFIG_INVALID: docs/errors.md#holt_e_config_invalid",
        "",
      ].join("\n"),
    );
    write("{ last: 1 }");
    const accepted = holt(["validate"], dir);
    assert.equal(accepted.code, 0, accepted.stderr);
  });

  test("validate warns when a PowerDNS API key would cross the network over plain http", () => {
    const dir = emptyDir();
    const config = (url: string) => `import { defineLab, secret } from "holt";
export default defineLab({
  domain: "lab.example.com",
  hosts: { box: { connect: "local" } },
  dns: { zones: { "lab.example.com": { provider: "powerdns", url: "${url}", apiKey: secret("pdns") } } },
  services: {},
});
`;
    writeFileSync(join(dir, "holt.config.ts"), config("http://192.168.1.2:8081"));
    const lan = holt(["validate"], dir);
    assert.equal(lan.code, 0, lan.stderr);
    assert.equal(
      lan.stderr,
      'Warning: dns.zones["lab.example.com"].url is "http://192.168.1.2:8081": plain http to another machine, so the PowerDNS API key travels in clear text on every request. Put TLS in front of the API (a reverse proxy) and use an https:// URL, or reach it over loopback (an SSH tunnel).\n',
    );
    for (const url of ["http://127.0.0.1:8081", "https://pdns.lan:8443"]) {
      writeFileSync(join(dir, "holt.config.ts"), config(url));
      const quiet = holt(["validate"], dir);
      assert.equal(quiet.code, 0, quiet.stderr);
      assert.equal(quiet.stderr, "", url);
    }
  });

  test("init DIR writes into that folder", () => {
    const dir = emptyDir();
    const sub = mkdtempSync(join(dir, "lab-"));
    const run = holt(["init", sub.slice(dir.length + 1)], dir);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(existsSync(join(sub, "holt.config.ts")));
    assert.ok(!existsSync(join(dir, "holt.config.ts")));
  });
});
