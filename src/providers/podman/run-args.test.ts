import assert from "node:assert/strict";
import { test } from "node:test";
import type { ContainerInputs } from "../../model/container.ts";
import { badSecretTarget, runArgv, secretFlag, secretName } from "./run-args.ts";
import { decodeSpec } from "./spec.ts";
import { renderQuadlet, usesQuadlet } from "./systemd.ts";

const INPUTS: ContainerInputs = {
  name: "holt-app",
  service: "app",
  image: "localhost/app:1.0",
  command: ["serve", "--title", "100% $HOME"],
  env: { TZ: "UTC", GREETING: 'say "hi"' },
  secrets: [
    {
      target: "/run/secrets/token",
      kind: "file",
      secret: "api-token",
      digest: "abcdef0123456789abcdef0123456789",
    },
    {
      target: "DB_PASSWORD",
      kind: "env",
      secret: "db",
      digest: "0123456789abcdef0123456789abcdef",
    },
  ],
  user: "1000:1001",
  network: "holt-lab",
  aliases: ["app"],
  ports: [
    { hostAddress: "0.0.0.0", hostPort: 53, containerPort: 53, protocol: "udp" },
    { hostAddress: "127.0.0.1", hostPort: 8080, containerPort: 80, protocol: "tcp" },
  ],
  mounts: [
    { dataset: "tank/holt/app/config", target: "/config", readOnly: false },
    { dataset: "tank/media", target: "/media", readOnly: true },
  ],
  memory: 536870912,
  cpus: 0.5,
  health: { http: "/health", hostPort: 8080, intervalMs: 2000, timeoutMs: 1000, retries: 3 },
};

const MOUNTPOINTS = new Map([
  ["tank/holt/app/config", "/tank/holt/app/config"],
  ["tank/media", "/srv/media"],
]);

test("secret names are content-addressed (first 12 digest characters) and never hold the value", () => {
  assert.equal(
    secretName("app", INPUTS.secrets[0] ?? assert.fail()),
    "holt-app-api-token-abcdef012345",
  );
  assert.equal(secretName("app", INPUTS.secrets[1] ?? assert.fail()), "holt-app-db-0123456789ab");
});

test("env secrets become variables; file secrets are 0400 files owned by the container's user", () => {
  assert.deepEqual(
    INPUTS.secrets.map((s) => secretFlag(INPUTS, s)),
    [
      "holt-app-api-token-abcdef012345,type=mount,target=/run/secrets/token,mode=0400,uid=1000,gid=1001",
      "holt-app-db-0123456789ab,type=env,target=DB_PASSWORD",
    ],
  );
  const root = { ...INPUTS, user: null };
  assert.match(secretFlag(root, INPUTS.secrets[0] ?? assert.fail()), /mode=0400$/);
  const uidOnly = { ...INPUTS, user: "33" };
  assert.match(secretFlag(uidOnly, INPUTS.secrets[0] ?? assert.fail()), /mode=0400,uid=33$/);
});

test("targets Podman cannot take are reported", () => {
  assert.equal(badSecretTarget({ target: "A", kind: "env", secret: "a", digest: "" }), null);
  assert.match(
    badSecretTarget({ target: "/a,b", kind: "file", secret: "a", digest: "" }) ?? "",
    /comma/,
  );
  assert.match(
    badSecretTarget({ target: "relative", kind: "file", secret: "a", digest: "" }) ?? "",
    /absolute/,
  );
});

test("podman run: every input becomes its flag, labels carry the spec", () => {
  const argv = runArgv({ inputs: INPUTS, lab: "home", mountpoints: MOUNTPOINTS });
  const specLabel = argv[argv.indexOf("--label", argv.indexOf("holt.service=app")) + 1] ?? "";
  assert.deepEqual(decodeSpec(specLabel.replace(/^holt\.spec=/, "")), INPUTS);
  assert.deepEqual(
    argv.map((a) => (a.startsWith("holt.spec=") ? "holt.spec=…" : a)),
    [
      "podman",
      "run",
      "--detach",
      "--name",
      "holt-app",
      "--label",
      "holt.lab=home",
      "--label",
      "holt.service=app",
      "--label",
      "holt.spec=…",
      "--network",
      "holt-lab",
      "--network-alias",
      "app",
      "--publish",
      "0.0.0.0:53:53/udp",
      "--publish",
      "127.0.0.1:8080:80/tcp",
      "--volume",
      "/tank/holt/app/config:/config",
      "--volume",
      "/srv/media:/media:ro",
      "--env",
      'GREETING=say "hi"',
      "--env",
      "TZ=UTC",
      "--secret",
      "holt-app-api-token-abcdef012345,type=mount,target=/run/secrets/token,mode=0400,uid=1000,gid=1001",
      "--secret",
      "holt-app-db-0123456789ab,type=env,target=DB_PASSWORD",
      "--user",
      "1000:1001",
      "--memory",
      "536870912",
      "--cpus",
      "0.5",
      "--restart",
      "unless-stopped",
      "--pull",
      "never",
      "localhost/app:1.0",
      "serve",
      "--title",
      "100% $HOME",
    ],
  );
});

test("podman run: no command keeps the image's own; no mounts need no mountpoints", () => {
  const bare: ContainerInputs = {
    ...INPUTS,
    command: null,
    mounts: [],
    secrets: [],
    env: {},
    user: null,
    memory: null,
    cpus: null,
    ports: [],
  };
  const argv = runArgv({ inputs: bare, lab: "home", mountpoints: new Map() });
  assert.deepEqual(argv.slice(-5), [
    "--restart",
    "unless-stopped",
    "--pull",
    "never",
    "localhost/app:1.0",
  ]);
  assert.ok(!argv.includes("--user") && !argv.includes("--volume") && !argv.includes("--secret"));
});

test("Quadlet is used from Podman 4.5 on", () => {
  assert.equal(usesQuadlet({ major: 4, minor: 3, patch: 1 }), false);
  assert.equal(usesQuadlet({ major: 4, minor: 4, patch: 4 }), false);
  assert.equal(usesQuadlet({ major: 4, minor: 5, patch: 0 }), true);
  assert.equal(usesQuadlet({ major: 5, minor: 0, patch: 0 }), true);
});

test("Quadlet file: quoted words, escaped specifiers, secrets by name only", () => {
  const text = renderQuadlet({ inputs: INPUTS, lab: "home", mountpoints: MOUNTPOINTS });
  const spec = text.split("\n").find((l) => l.startsWith('Label="holt.spec=')) ?? "";
  assert.ok(spec.startsWith('Label="holt.spec={\\"aliases\\":[\\"app\\"],'), spec);
  assert.deepEqual(
    text.split("\n").map((l) => (l.startsWith('Label="holt.spec=') ? 'Label="holt.spec=…"' : l)),
    [
      "# Written by holt. Changes are overwritten: edit holt.config.ts instead.",
      "[Unit]",
      "Description=holt service app (lab home)",
      "Wants=network-online.target",
      "After=network-online.target",
      "",
      "[Container]",
      "ContainerName=holt-app",
      "Image=localhost/app:1.0",
      "Label=holt.lab=home",
      "Label=holt.service=app",
      'Label="holt.spec=…"',
      "Network=holt-lab",
      "PublishPort=0.0.0.0:53:53/udp",
      "PublishPort=127.0.0.1:8080:80/tcp",
      "Volume=/tank/holt/app/config:/config",
      "Volume=/srv/media:/media:ro",
      'Environment="GREETING=say \\"hi\\""',
      "Environment=TZ=UTC",
      "Secret=holt-app-api-token-abcdef012345,type=mount,target=/run/secrets/token,mode=0400,uid=1000,gid=1001",
      "Secret=holt-app-db-0123456789ab,type=env,target=DB_PASSWORD",
      "PodmanArgs=--network-alias=app --user=1000:1001 --memory=536870912 --cpus=0.5 --pull=never",
      'Exec=serve --title "100%% $HOME"',
      "",
      "[Service]",
      "Restart=always",
      "",
      "[Install]",
      "WantedBy=multi-user.target default.target",
      "",
    ],
  );
});
