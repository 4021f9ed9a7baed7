import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  decideInit,
  decidePlace,
  decideUse,
  type FileSystemId,
  isLocalRepository,
  locationKey,
  type PlaceReading,
  type Probe,
  parsePlace,
  probeOf,
  type RepositoryRecord,
  type RepositoryRef,
  sameFileSystem,
  showLocation,
} from "./repository.ts";

const NAS: FileSystemId = { target: "/mnt/nas", source: "nas:/export", fstype: "nfs4", uuid: null };
const ROOT: FileSystemId = { target: "/", source: "/dev/sda1", fstype: "ext4", uuid: "1111-aaaa" };
const USB: FileSystemId = {
  target: "/media/usb",
  source: "/dev/sdb1",
  fstype: "ext4",
  uuid: "2222",
};
const USB_RENAMED: FileSystemId = { ...USB, source: "/dev/sdc1" };

const local: RepositoryRef = {
  name: "vault",
  restic: "/mnt/nas/restic",
  password: "restic",
  host: "box",
};
const remote: RepositoryRef = {
  name: "b2",
  restic: "rest:https://holt:s3cret@backup.example.com:8000/lab",
  password: "restic",
  host: "box",
};

function record(fileSystem: FileSystemId | null): RepositoryRecord {
  return {
    repository: "vault",
    host: "box",
    location: locationKey(local.restic),
    fileSystem,
    since: "2026-03-01T10:00:00.000Z",
    how: "init",
  };
}

const GONE: Probe = {
  kind: "missing",
  why: "unable to open config file: <config/> does not exist",
};

const at = (fileSystem: FileSystemId, exists = true): PlaceReading => ({ exists, fileSystem });

describe("decidePlace (a local repository's path, before restic touches it)", () => {
  const cases: [string, PlaceReading, RepositoryRecord | null, string, RegExp?][] = [
    ["on the recorded file system", at(NAS), record(NAS), "go"],
    [
      "there, nothing recorded yet (restic then says whether a repository is)",
      at(ROOT),
      null,
      "go",
    ],
    ["recorded before file systems were (a remote then)", at(ROOT), record(null), "go"],
    [
      "the share is not mounted: the path is missing",
      at(ROOT, false),
      record(NAS),
      "refuse",
      /looked for it at \/mnt\/nas\/restic on box, and that path does not exist \(the nearest folder that does is on ext4 \/dev\/sda1 .*created it there on 2026-03-01, on nfs4 nas:\/export mounted at \/mnt\/nas\. Mount what holds it/,
    ],
    [
      "missing and never recorded: mount it or init-offsite",
      at(ROOT, false),
      null,
      "refuse",
      /does not create a repository by itself.*mount it; to create a new repository there, run `holt backup init-offsite vault`/,
    ],
    [
      "the path is there, on another file system (the root disk under the mount point)",
      at(ROOT),
      record(NAS),
      "refuse",
      /\/mnt\/nas\/restic on box is on ext4 \/dev\/sda1 \(UUID 1111-aaaa\) mounted at \/, but holt created it there on 2026-03-01, on nfs4 nas:\/export.*init-offsite vault` to record where it is now/,
    ],
    ["the same disk under another device name (same UUID)", at(USB_RENAMED), record(USB), "go"],
    [
      "another disk at the same mount point (other UUID)",
      at({ ...USB, uuid: "3333" }),
      record(USB),
      "refuse",
    ],
    [
      "no UUID: another source at the same mount point",
      at({ ...NAS, source: "other:/export" }),
      record(NAS),
      "refuse",
    ],
  ];
  for (const [name, place, rec, kind, message] of cases) {
    test(name, () => {
      const d = decidePlace(local, place, rec);
      assert.equal(d.kind, kind);
      if (message !== undefined && d.kind === "refuse") assert.match(d.message, message);
    });
  }
});

describe("decideUse (what restic found)", () => {
  const cases: [string, RepositoryRef, Probe, RepositoryRecord | null, string, RegExp?][] = [
    ["there and recorded", local, { kind: "exists" }, record(NAS), "use"],
    [
      "there, not recorded (made by hand or by an older holt): recorded",
      local,
      { kind: "exists" },
      null,
      "record",
    ],
    [
      "not there, never recorded: only init-offsite creates it",
      remote,
      GONE,
      null,
      "refuse",
      /no restic repository at rest:https:\/\/…@backup\.example\.com:8000\/lab \(as seen from box\) \(restic: unable to open config file: <config\/> does not exist\)\. holt does not create a repository by itself: to create it, run `holt backup init-offsite b2`/,
    ],
    [
      "not there any more though recorded",
      remote,
      GONE,
      record(null),
      "refuse",
      /holt created it there on 2026-03-01\. Check that it is reachable/,
    ],
    [
      "a wrong password names the secret",
      local,
      { kind: "wrong password" },
      record(NAS),
      "refuse",
      /the password \(secret "restic"\) does not open it\. Set the right one with `holt secrets set restic`/,
    ],
    ["restic failed otherwise", local, { kind: "failed", why: "boom" }, null, "refuse", /\(boom\)/],
  ];
  for (const [name, ref, probe, rec, kind, message] of cases) {
    test(name, () => {
      const d = decideUse(ref, probe, rec);
      assert.equal(d.kind, kind);
      if (message !== undefined && d.kind === "refuse") assert.match(d.message, message);
    });
  }

  test("credentials in the location never reach a message", () => {
    for (const probe of [GONE, { kind: "failed", why: "x" }] as Probe[]) {
      const d = decideUse(remote, probe, null);
      assert.ok(d.kind === "refuse" && !d.message.includes("s3cret"));
    }
  });
});

describe("decideInit (holt backup init-offsite)", () => {
  const cases: [string, Probe, PlaceReading | null, RepositoryRecord | null, string][] = [
    ["nothing there: create it", GONE, at(NAS, false), null, "init"],
    ["lost, though recorded: create it (asked for)", GONE, at(NAS), record(NAS), "init"],
    ["there, not recorded: record it", { kind: "exists" }, at(NAS), null, "found"],
    ["there and recorded: nothing to do", { kind: "exists" }, at(NAS), record(NAS), "already"],
    ["a remote one there and recorded", { kind: "exists" }, null, record(null), "already"],
    [
      "moved to another file system: record the new one",
      { kind: "exists" },
      at(USB),
      record(NAS),
      "moved",
    ],
    [
      "another repository is there: never init over it",
      { kind: "wrong password" },
      at(NAS),
      null,
      "refuse",
    ],
    ["restic failed: create nothing", { kind: "failed", why: "x" }, at(NAS), null, "refuse"],
  ];
  for (const [name, probe, place, rec, kind] of cases) {
    test(name, () => assert.equal(decideInit(local, probe, place, rec).kind, kind));
  }
});

describe("probeOf (restic cat config)", () => {
  // What restic 0.14 prints, as it printed it.
  const cases: [string, number | null, string, Probe][] = [
    ["exit 0", 0, "", { kind: "exists" }],
    [
      "no repository at a local path",
      1,
      "Fatal: unable to open config file: stat /x/config: no such file or directory\nIs there a repository at the following location?\n/x\n",
      {
        kind: "missing",
        why: "unable to open config file: stat /x/config: no such file or directory",
      },
    ],
    [
      "no repository on a REST server",
      1,
      "Fatal: unable to open config file: <config/> does not exist\nIs there a repository at the following location?\nrest:http://u:***@127.0.0.1:8000/lab/\n",
      { kind: "missing", why: "unable to open config file: <config/> does not exist" },
    ],
    [
      "a REST server that is down is not a missing repository",
      1,
      'Fatal: unable to open config file: client.Head: Head "http://u:***@127.0.0.1:1/config": dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?\nrest:http://u:***@127.0.0.1:1/\n',
      {
        kind: "failed",
        why: 'unable to open config file: client.Head: Head "http://u:***@127.0.0.1:1/config": dial tcp 127.0.0.1:1: connect: connection refused',
      },
    ],
    ["wrong password", 1, "Fatal: wrong password or no key found\n", { kind: "wrong password" }],
    [
      "an SFTP host that cannot be reached",
      1,
      "subprocess ssh: ssh: Could not resolve hostname nas: Name or service not known\nFatal: unable to open repository at sftp:nas:/r: unable to start the sftp session, error: EOF\n",
      {
        kind: "failed",
        why: "subprocess ssh: ssh: Could not resolve hostname nas: Name or service not known | Fatal: unable to open repository at sftp:nas:/r: unable to start the sftp session, error: EOF",
      },
    ],
  ];
  for (const [name, code, stderr, probe] of cases) {
    test(name, () => assert.deepEqual(probeOf(code, stderr), probe));
  }
  test("no restic says to install it", () => {
    assert.deepEqual(probeOf(127, ""), {
      kind: "failed",
      why: "restic is not installed on the host; install it (apt install restic)",
    });
  });
});

describe("parsePlace (findmnt -J)", () => {
  const json = (fs: Record<string, unknown>) => JSON.stringify({ filesystems: [fs] }, null, 3);
  test("a zfs-fuse dataset", () => {
    assert.deepEqual(
      parsePlace(
        `yes\n${json({ target: "/tank/repo", source: "tank/repo", fstype: "fuse.zfs", uuid: null })}\n`,
      ),
      {
        exists: true,
        fileSystem: { target: "/tank/repo", source: "tank/repo", fstype: "fuse.zfs", uuid: null },
      },
    );
  });
  test("a missing path, on its parent's ext4 with a UUID", () => {
    assert.deepEqual(
      parsePlace(`no\n${json({ target: "/", source: "/dev/sda1", fstype: "ext4", uuid: "abc" })}`),
      {
        exists: false,
        fileSystem: { target: "/", source: "/dev/sda1", fstype: "ext4", uuid: "abc" },
      },
    );
  });
  test("file systems stacked on one mount point: the top one, which the path is on", () => {
    // As findmnt lists them (bottom first): a systemd automount's trigger, the share over it.
    const stacked = JSON.stringify({
      filesystems: [
        { target: "/mnt/nas", source: "systemd-1", fstype: "autofs", uuid: null },
        { target: "/mnt/nas", source: "nas:/export", fstype: "nfs4", uuid: null },
      ],
    });
    assert.deepEqual(parsePlace(`yes\n${stacked}\n`)?.fileSystem, NAS);
  });
  for (const [name, text] of [
    ["no first line", json({ target: "/", source: "x", fstype: "y" })],
    ["not JSON", "yes\nTARGET SOURCE\n/ /dev/sda1"],
    ["no file system", 'yes\n{"filesystems": []}'],
    ["a field of the wrong type", `yes\n${json({ target: 1, source: "x", fstype: "y" })}`],
  ]) {
    test(`refused: ${name}`, () => assert.equal(parsePlace(text ?? ""), null));
  }
});

describe("small rules", () => {
  test("local means an absolute path", () => {
    assert.equal(isLocalRepository("/srv/restic"), true);
    assert.equal(isLocalRepository("sftp:nas:/srv/restic"), false);
  });
  test("same file system: by UUID when both have one, else by source, type and mount point", () => {
    assert.equal(sameFileSystem(USB, USB_RENAMED), true);
    assert.equal(sameFileSystem(NAS, { ...NAS }), true);
    assert.equal(sameFileSystem(NAS, { ...NAS, target: "/mnt/other" }), false);
    assert.equal(sameFileSystem(ROOT, { ...ROOT, uuid: null }), true);
  });
  const shown: [string, string, string][] = [
    ["user and password", remote.restic, "rest:https://…@backup.example.com:8000/lab"],
    ["no credentials", "s3:https://s3.example.com/bucket", "s3:https://s3.example.com/bucket"],
    ["a password with @", "rest:https://u:p@ss@host:8000/", "rest:https://…@host:8000/"],
    ["a password with an unescaped /", "rest:https://u:pa/ss@host/", "rest:https://…@host/"],
    ["a local path", "/mnt/nas/restic", "/mnt/nas/restic"],
    ["sftp names only a user", "sftp:backup@nas:/srv/restic", "sftp:backup@nas:/srv/restic"],
  ];
  for (const [name, restic, expected] of shown) {
    test(`a location is shown without user and password: ${name}`, () => {
      assert.equal(showLocation(restic), expected);
    });
  }
  test("the recorded key is a digest of the location without credentials", () => {
    const key = locationKey(remote.restic);
    assert.ok(!key.includes("s3cret"));
    assert.equal(key, locationKey("rest:https://backup.example.com:8000/lab"));
    assert.equal(key, locationKey("rest:https://holt:new@password@backup.example.com:8000/lab"));
    assert.notEqual(key, locationKey("rest:https://holt:s3cret@other.example.com:8000/lab"));
    assert.notEqual(locationKey("/a"), locationKey("/b"));
  });
});
