/**
 * Podman for tests: images built locally from busybox (nothing can be pulled on the test
 * machines), a check that this process can run containers, and cleanup by lab label.
 *
 *   ensurePodman();                          // throws with a fix when Podman cannot run here
 *   const images = await ensureTestImages(); // localhost/holt-test/busybox:1.0 and :1.1
 *   const lab = testLab("web");              // "pt<pid>-web-<n>": unique, cleaned up by pid
 *   t.after(() => removeLabResources(lab));
 *
 * On machines without systemd and with hybrid cgroups (CI's), Podman needs the settings in
 * test/peers/containers.conf (runc, cgroupfs, explicit ulimits); scripts/test.sh points
 * CONTAINERS_CONF at it, and ensurePodman() does when nothing else did. holt's own code runs
 * plain `podman` either way.
 *
 * Test infrastructure: it runs podman directly, not through holt's Exec.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pidAlive } from "./process.ts";

export const TEST_IMAGE = "localhost/holt-test/busybox";

/** Containers' conf for tests; scripts/test.sh exports it as CONTAINERS_CONF. */
export const TEST_CONTAINERS_CONF = new URL("./containers.conf", import.meta.url).pathname;

const BUSYBOX = "/bin/busybox";
const LAB_PREFIX = "pt";

export interface CommandResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs podman and returns what happened; never throws for a non-zero exit. */
export function podman(args: readonly string[], stdin?: string): CommandResult {
  const r = spawnSync("podman", args, {
    encoding: "utf8",
    input: stdin ?? "",
    timeout: 120_000,
  });
  if (r.error !== undefined) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs podman and returns its stdout; throws with its stderr when it fails. */
export function podmanOk(args: readonly string[], stdin?: string): string {
  const r = podman(args, stdin);
  if (r.code !== 0) {
    throw new Error(`podman ${args.join(" ")} exited with ${r.code}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

let checked = false;

/**
 * Makes sure Podman is installed, and points CONTAINERS_CONF at the test config when nothing
 * set it, so a test run by hand (`node scripts/test.ts FILE`) behaves like scripts/test.sh.
 */
export function ensurePodman(): void {
  if (checked) return;
  const probe = spawnSync("podman", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error("Podman is not installed; run `bash scripts/setup.sh` (as root) first");
  }
  process.env.CONTAINERS_CONF ??= TEST_CONTAINERS_CONF;
  checked = true;
  cleanupStalePodman();
}

// Busybox as PID 1 ignores SIGTERM, so every stop would wait Podman's 10 s. This entry point
// passes the signal on. (holt does not add --init: images like s6-overlay must be PID 1.)
const ENTRY = `#!/bin/sh
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM INT
"$@" &
child=$!
wait "$child"
`;

const VERSIONS = ["1.0", "1.1"] as const;
export type TestImageVersion = (typeof VERSIONS)[number];

/** The recipe's fingerprint, stored as a label: images from an older recipe are rebuilt. */
function recipe(version: string): string {
  return createHash("sha256")
    .update(`${ENTRY}\n${version}\n${statSync(BUSYBOX).size}`)
    .digest("hex")
    .slice(0, 16);
}

function imageRecipe(ref: string): string | null {
  const r = podman(["image", "inspect", "--format", '{{index .Labels "holt.test.recipe"}}', ref]);
  return r.code === 0 ? r.stdout.trim() : null;
}

function buildImage(version: TestImageVersion): void {
  const dir = mkdtempSync(join(tmpdir(), "holt-image-"));
  try {
    const root = join(dir, "rootfs");
    for (const sub of ["bin", "etc", "www", "tmp", "run", "data"]) {
      mkdirSync(join(root, sub), { recursive: true });
    }
    chmodSync(join(root, "tmp"), 0o1777);
    copyFileSync(BUSYBOX, join(root, "bin", "busybox"));
    chmodSync(join(root, "bin", "busybox"), 0o755);
    const applets = spawnSync(BUSYBOX, ["--list"], { encoding: "utf8" }).stdout.split("\n");
    for (const applet of applets) {
      if (applet === "" || applet === "busybox") continue;
      symlinkSync("busybox", join(root, "bin", applet));
    }
    writeFileSync(join(root, "bin", "entry"), ENTRY, { mode: 0o755 });
    writeFileSync(
      join(root, "etc", "passwd"),
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    );
    writeFileSync(join(root, "etc", "group"), "root:x:0:\nnogroup:x:65534:\n");
    writeFileSync(join(root, "www", "index.html"), `holt test image ${version}\n`);
    writeFileSync(join(root, "www", "version.txt"), `${version}\n`);
    const tarball = join(dir, "rootfs.tar");
    const tar = spawnSync("tar", ["-C", root, "-cf", tarball, "."], { encoding: "utf8" });
    if (tar.status !== 0) throw new Error(`tar failed: ${tar.stderr}`);
    podmanOk([
      "import",
      "--quiet",
      "--change",
      'ENTRYPOINT ["/bin/entry"]',
      "--change",
      'CMD ["httpd", "-f", "-p", "80", "-h", "/www"]',
      "--change",
      `LABEL holt.test.recipe=${recipe(version)}`,
      tarball,
      `${TEST_IMAGE}:${version}`,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TestImages {
  /** Serves /www (index.html says "holt test image 1.0") with busybox httpd on port 80. */
  readonly v1: string;
  /** The same with "1.1": a different image, not just another tag. */
  readonly v2: string;
}

/**
 * Builds the busybox test images unless they exist from the same recipe. Their entry point
 * passes SIGTERM on, so containers stop at once; their default command is
 * `httpd -f -p 80 -h /www`. Fast when they exist (one `podman image inspect` each).
 */
export async function ensureTestImages(): Promise<TestImages> {
  ensurePodman();
  for (const version of VERSIONS) {
    if (imageRecipe(`${TEST_IMAGE}:${version}`) !== recipe(version)) buildImage(version);
  }
  return { v1: `${TEST_IMAGE}:1.0`, v2: `${TEST_IMAGE}:1.1` };
}

let counter = 0;

/**
 * A lab name no other test (or test process) uses: `pt<pid>-<tag>-<n>`. Service names
 * should be unique too, since container names are `holt-<service>` on one shared Podman.
 */
export function testLab(tag: string): string {
  counter += 1;
  return `${LAB_PREFIX}${process.pid}-${tag}-${counter}`;
}

/** Labels of every secret, by name (`podman secret ls` has no label filter in 4.3). */
function secretLabels(): Map<string, Record<string, string>> {
  const names = podmanOk(["secret", "ls", "--format", "{{.Name}}"])
    .split("\n")
    .filter((n) => n !== "");
  const labels = new Map<string, Record<string, string>>();
  if (names.length === 0) return labels;
  const r = podman(["secret", "inspect", ...names]);
  // A secret removed between the two calls makes inspect fail: then there is nothing to do.
  if (r.code !== 0) return labels;
  for (const entry of JSON.parse(r.stdout) as {
    Spec: { Name: string; Labels?: Record<string, string> | null };
  }[]) {
    labels.set(entry.Spec.Name, entry.Spec.Labels ?? {});
  }
  return labels;
}

/**
 * Removes every container, secret and network labelled `holt.lab=<lab>`, the
 * lab's kernel-settings file (a route makes holt write one on this machine),
 * and its folder of Caddy's certificate files.
 */
export function removeLabResources(lab: string): void {
  removeWhere((owner) => owner === lab);
}

function removeWhere(matches: (lab: string) => boolean): void {
  const containers = JSON.parse(podmanOk(["ps", "-a", "--format", "json"])) as {
    Names: string[];
    Labels?: Record<string, string> | null;
  }[];
  const doomed = containers
    .filter((c) => matches(c.Labels?.["holt.lab"] ?? ""))
    .map((c) => c.Names[0] ?? "");
  if (doomed.length > 0) podman(["rm", "-f", "--ignore", "-t", "0", ...doomed]);
  const secrets = [...secretLabels()]
    .filter(([, labels]) => matches(labels["holt.lab"] ?? ""))
    .map(([name]) => name);
  if (secrets.length > 0) podman(["secret", "rm", ...secrets]);
  const networks = JSON.parse(podmanOk(["network", "ls", "--format", "json"])) as {
    name: string;
    labels?: Record<string, string> | null;
  }[];
  const nets = networks.filter((n) => matches(n.labels?.["holt.lab"] ?? "")).map((n) => n.name);
  if (nets.length > 0) podman(["network", "rm", "-f", ...nets]);
  const sysctlFiles = existsSync(SYSCTL_DIR) ? readdirSync(SYSCTL_DIR) : [];
  for (const file of sysctlFiles) {
    const lab = /^60-holt-(.+)\.conf$/.exec(file)?.[1];
    if (lab !== undefined && matches(lab)) rmSync(join(SYSCTL_DIR, file), { force: true });
  }
  // Caddy's certificate files, one folder per lab.
  for (const lab of existsSync(CADDY_KEYS_DIR) ? readdirSync(CADDY_KEYS_DIR) : []) {
    if (matches(lab)) rmSync(join(CADDY_KEYS_DIR, lab), { recursive: true, force: true });
  }
}

const SYSCTL_DIR = "/etc/sysctl.d";
const CADDY_KEYS_DIR = "/var/lib/holt-caddy";

/** Removes what test labs of dead processes left behind (a test killed before its cleanup). */
export function cleanupStalePodman(): void {
  const pattern = new RegExp(`^${LAB_PREFIX}(\\d+)-`);
  removeWhere((lab) => {
    const pid = Number(pattern.exec(lab)?.[1] ?? Number.NaN);
    return Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid);
  });
}
