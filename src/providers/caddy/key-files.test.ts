import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  certificateFiles,
  folderReadArgv,
  isOwnPair,
  keyAccess,
  keyFolder,
  keyFolderArgv,
  leftoverFiles,
  parseFileName,
  parseFolderRead,
  temporaryPath,
} from "./key-files.ts";

const SHA = "3fa9c2d1e0b4a5f6".padEnd(64, "7");
const FOLDER = "/var/lib/holt-caddy/home";

test("a certificate's pair: named after the certificate and its SHA-256, in the lab's folder", () => {
  assert.equal(keyFolder("home"), FOLDER);
  assert.equal(keyFolder("my lab/x"), "/var/lib/holt-caddy/my_lab_x");
  // Validate refuses such lab names; here they still stay inside the root.
  assert.equal(keyFolder(".."), "/var/lib/holt-caddy/_.");
  assert.equal(keyFolder("."), "/var/lib/holt-caddy/_");
  assert.equal(keyFolder(""), "/var/lib/holt-caddy/_");
  assert.equal(keyFolder("../etc"), "/var/lib/holt-caddy/_._etc");
  assert.deepEqual(certificateFiles("home", "media.lab.example.com", SHA), {
    certificate: `${FOLDER}/media.lab.example.com.3fa9c2d1e0b4a5f6.crt`,
    key: `${FOLDER}/media.lab.example.com.3fa9c2d1e0b4a5f6.key`,
  });
  assert.deepEqual(certificateFiles("home", "*.lab.example.com", SHA.toUpperCase()), {
    certificate: `${FOLDER}/_wildcard.lab.example.com.3fa9c2d1e0b4a5f6.crt`,
    key: `${FOLDER}/_wildcard.lab.example.com.3fa9c2d1e0b4a5f6.key`,
  });
  assert.equal(
    temporaryPath(`${FOLDER}/a.example.com.3fa9c2d1e0b4a5f6.key`),
    `${FOLDER}/.a.example.com.3fa9c2d1e0b4a5f6.key.holt-new`,
  );
});

test("file names of the folder: holt's (finished or cut off), and names holt never writes", () => {
  const cases: [string, ReturnType<typeof parseFileName>][] = [
    [
      "media.lab.example.com.3fa9c2d1e0b4a5f6.crt",
      {
        name: "media.lab.example.com.3fa9c2d1e0b4a5f6.crt",
        certName: "media.lab.example.com",
        temporary: false,
      },
    ],
    [
      "_wildcard.lab.example.com.3fa9c2d1e0b4a5f6.key",
      {
        name: "_wildcard.lab.example.com.3fa9c2d1e0b4a5f6.key",
        certName: "*.lab.example.com",
        temporary: false,
      },
    ],
    [
      ".a.example.com.0123456789abcdef.key.holt-new",
      {
        name: ".a.example.com.0123456789abcdef.key.holt-new",
        certName: "a.example.com",
        temporary: true,
      },
    ],
    // A host named "wildcard" is not the wildcard.
    [
      "wildcard.example.com.0123456789abcdef.crt",
      {
        name: "wildcard.example.com.0123456789abcdef.crt",
        certName: "wildcard.example.com",
        temporary: false,
      },
    ],
    ["notes.txt", undefined],
    ["a.example.com.0123456789abcdef.pem", undefined],
    ["a.example.com.0123456789ABCDEF.crt", undefined],
    ["a.example.com.0123456789abcde.crt", undefined],
    ["Media.example.com.0123456789abcdef.crt", undefined],
    ["a.example.com.0123456789abcdef.crt.holt-new", undefined],
    [".a.example.com.0123456789abcdef.crt.swp", undefined],
    ["-rf.0123456789abcdef.crt", undefined],
  ];
  for (const [name, expected] of cases) assert.deepEqual(parseFileName(name), expected, name);
});

test("a pair in Caddy's config is holt's only when it is this certificate's, in this lab's folder", () => {
  const own = certificateFiles("home", "a.example.com", SHA);
  const cases: [string, { certificate: string; key: string }, boolean][] = [
    ["holt's", own, true],
    ["another certificate's", certificateFiles("home", "b.example.com", SHA), false],
    ["another lab's", certificateFiles("work", "a.example.com", SHA), false],
    ["elsewhere", { certificate: "/etc/ssl/a.crt", key: "/etc/ssl/a.key" }, false],
    ["key and certificate swapped", { certificate: own.key, key: own.certificate }, false],
    [
      "a key of another version",
      {
        certificate: own.certificate,
        key: certificateFiles("home", "a.example.com", "f".repeat(64)).key,
      },
      false,
    ],
    [
      "a path climbing out",
      { certificate: `${FOLDER}/../x/a.example.com.3fa9c2d1e0b4a5f6.crt`, key: own.key },
      false,
    ],
    ["a temporary file", { certificate: temporaryPath(own.certificate), key: own.key }, false],
  ];
  for (const [what, pair, expected] of cases) {
    assert.equal(isOwnPair("home", "a.example.com", pair), expected, what);
  }
});

test("leftover files: holt's names that Caddy's config does not name, by certificate", () => {
  const old = certificateFiles("home", "a.example.com", "1".repeat(64));
  const now = certificateFiles("home", "a.example.com", "2".repeat(64));
  const gone = certificateFiles("home", "gone.example.com", "3".repeat(64));
  const base = (path: string) => path.slice(FOLDER.length + 1);
  const names = [
    ...[old.certificate, old.key, now.certificate, now.key, gone.key].map(base),
    base(temporaryPath(now.key)),
    "README",
  ];
  const left = leftoverFiles("home", names, new Set([now.certificate, now.key]));
  assert.deepEqual(
    [...left],
    [
      ["a.example.com", [old.certificate, old.key, temporaryPath(now.key)]],
      ["gone.example.com", [gone.key]],
    ],
  );
  assert.deepEqual([...leftoverFiles("home", [], new Set())], []);
});

test("who may read the files: root alone for a Caddy running as root or not trusted, else root and Caddy's group", () => {
  const rootOnly = { owner: "0:0", fileMode: "0600", folderMode: "0700" };
  assert.deepEqual(keyAccess({ kind: "root" }), rootOnly);
  assert.deepEqual(keyAccess({ kind: "unknown", why: "no listener" }), rootOnly);
  assert.deepEqual(keyAccess({ kind: "group", gid: 997 }), {
    owner: "0:997",
    fileMode: "0640",
    folderMode: "0750",
  });
  // A Caddy user whose group is root's reads through the group, as any other.
  assert.deepEqual(keyAccess({ kind: "group", gid: 0 }), {
    owner: "0:0",
    fileMode: "0640",
    folderMode: "0750",
  });
});

test("one command reads the folder and each pair's certificate, run by a real sh", () => {
  const dir = mkdtempSync(join(tmpdir(), "holt-key-files-"));
  try {
    const whole = { certificate: join(dir, "a.crt"), key: join(dir, "a.key") };
    const noKey = { certificate: join(dir, "b.crt"), key: join(dir, "b.key") };
    const none = { certificate: join(dir, "c.crt"), key: join(dir, "c.key") };
    writeFileSync(whole.certificate, "CERT A\nline 2\n");
    writeFileSync(whole.key, "KEY A\n");
    writeFileSync(noKey.certificate, "CERT B");
    writeFileSync(join(dir, ".x.holt-new"), "");
    const run = (folder: string, pairs: { certificate: string; key: string }[]) => {
      const [program = "", ...args] = folderReadArgv(folder, pairs);
      return parseFolderRead(execFileSync(program, args, { encoding: "utf8" }), pairs.length);
    };
    const read = run(dir, [whole, noKey, none]);
    // ls sorts by the locale's rules: compare as a set.
    assert.deepEqual(read?.names.sort(), [".x.holt-new", "a.crt", "a.key", "b.crt"]);
    assert.deepEqual(read?.certificates, ["CERT A\nline 2\n", null, null]);
    assert.deepEqual(run(join(dir, "absent"), []), { names: [], certificates: [] });
    assert.ok(!folderReadArgv(dir, [whole]).join(" ").includes("KEY A"), "no content on argv");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("reading the command's output: a count or marker that does not fit is no answer", () => {
  assert.deepEqual(parseFolderRead("a\nb\n\0ok\nPEM\0missing\n", 2), {
    names: ["a", "b"],
    certificates: ["PEM", null],
  });
  assert.deepEqual(parseFolderRead("", 0), { names: [], certificates: [] });
  assert.equal(parseFolderRead("a\n\0ok\nPEM", 2), undefined);
  assert.equal(parseFolderRead("a\n\0ok\nP\0EM", 1), undefined);
  assert.equal(parseFolderRead("a\n\0what\n", 1), undefined);
});

test("the lab's folder, made by a real sh: root's, with its mode, and never through a symbolic link", () => {
  const dir = mkdtempSync(join(tmpdir(), "holt-key-folder-"));
  const run = (root: string) => {
    const [program = "", ...args] = keyFolderArgv("home", keyAccess({ kind: "root" }), root);
    return spawnSync(program, args, { encoding: "utf8" });
  };
  const mode = (path: string) => (lstatSync(path).mode & 0o777).toString(8);
  try {
    const root = join(dir, "holt-caddy");
    assert.equal(run(root).status, 0);
    assert.equal(mode(root), "711");
    assert.equal(mode(join(root, "home")), "700");
    assert.equal(run(root).status, 0, "again: nothing changes");

    // A link where the lab's folder goes: refused, and where it points is left as it was.
    const elsewhere = join(dir, "elsewhere");
    mkdirSync(elsewhere, { mode: 0o755 });
    const linked = join(dir, "linked");
    mkdirSync(linked);
    symlinkSync(elsewhere, join(linked, "home"));
    const refused = run(linked);
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /home is a symbolic link: holt keeps keys only in a folder of its own/,
    );
    assert.equal(mode(elsewhere), "755");

    // A link in the root's place: refused before anything is made through it.
    const rootLink = join(dir, "root-link");
    symlinkSync(elsewhere, rootLink);
    assert.equal(run(rootLink).status, 1);
    assert.equal(mode(elsewhere), "755");
    assert.throws(() => lstatSync(join(elsewhere, "home")), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
