/**
 * A real Pebble (Let's Encrypt's test ACME server) for tests, with a
 * pebble-challtestsrv beside it as the DNS server Pebble validates DNS-01
 * against, and ChalltestsrvZone, a test-only DNS backend that writes
 * challenge TXT values into that challtestsrv.
 *
 *   const pebble = await startPebble({ certificateValiditySeconds: 90 });
 *   t.after(() => pebble.stop());
 *   const zone = new ChalltestsrvZone(pebble.challtestsrv, "lab.test");
 *
 * Each instance gets free ports, a temporary folder and its own HTTPS
 * certificate (made with openssl, SAN 127.0.0.1 and localhost): trust it
 * with `httpsCaPem`. Certificates Pebble issues chain to `rootCaPem`, a new
 * root every start, read from the management API.
 *
 * Pebble 2.4 settings used: config keys `certificateValidityPeriod`
 * (seconds) and `domainBlocklist` (names refused with rejectedIdentifier);
 * env PEBBLE_VA_NOSLEEP=1 (no random 0-15 s validation delay),
 * PEBBLE_WFE_NONCEREJECT=0 (no random badNonce answers) and
 * PEBBLE_AUTHZREUSE (percent of valid authorizations reused; 0 by default
 * here, so every order needs its challenges). Pebble 2.4 offers no ARI
 * (`renewalInfo`) and no profiles.
 *
 * Both programs run under `setpriv --pdeathsig KILL`, so they die with the
 * test process even when it is killed outright; an exit handler covers the
 * rest. Test infrastructure: it runs programs and talks HTTP directly.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { AcmeDnsBackend } from "../../src/acme/types.ts";
import { freePorts } from "./ports.ts";
import { findProgram, pidAlive } from "./process.ts";
import { selfSignedCertificate } from "./self-signed.ts";

export interface PebbleOptions {
  /**
   * The DNS server Pebble asks for DNS-01 ("127.0.0.1:PORT").
   * @default a pebble-challtestsrv started with Pebble (see `challtestsrv`)
   */
  readonly dnsServer?: string;
  /** Lifetime of issued certificates, in seconds. @default Pebble's, 5 years */
  readonly certificateValiditySeconds?: number;
  /** Names Pebble refuses to order (and their subdomains), with rejectedIdentifier. */
  readonly domainBlocklist?: readonly string[];
  /** Percent of an account's valid authorizations Pebble reuses in a new order. @default 0 */
  readonly authzReusePercent?: number;
}

export interface Challtestsrv {
  /** Its DNS server, "127.0.0.1:PORT" (UDP and TCP). */
  readonly dnsServer: string;
  /** Its management API, plain HTTP. */
  readonly managementUrl: string;
  /** POST to the management API; rejects on any answer but 200. */
  post(route: string, body: Record<string, string>): Promise<void>;
}

export interface PebblePeer {
  /** The ACME directory, https://127.0.0.1:PORT/dir. */
  readonly directoryUrl: string;
  /** Trusts Pebble's own HTTPS listeners (ACME and management): give it as the extra CA. */
  readonly httpsCaPem: string;
  /** The root the issued certificates chain to; new on every start. */
  readonly rootCaPem: string;
  /** The intermediate that signs the issued certificates (Pebble's chain sends it too). */
  readonly intermediatePem: string;
  /** The DNS server Pebble validates against, when the peer started it. */
  readonly challtestsrv: Challtestsrv | null;
  /** The temporary folder, with the config, the HTTPS key and certificate, and the logs. */
  readonly dir: string;
  /** Pebble's log; challtestsrv's is challtestsrv.log beside it. */
  readonly logPath: string;
  /** Stops both programs and deletes the folder. Safe to call more than once. */
  stop(): Promise<void>;
}

const TEMP_PREFIX = "holt-pebble-";
const READY_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;
const START_ATTEMPTS = 3;

interface Instance {
  readonly dir: string;
  readonly children: ChildProcess[];
}
const live = new Set<Instance>();
let exitHooked = false;

function removeStaleDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    const match = new RegExp(`^${TEMP_PREFIX}(\\d+)-`).exec(name);
    if (match === null || pidAlive(Number(match[1]))) continue;
    rmSync(path.join(tmpdir(), name), { recursive: true, force: true });
  }
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on("exit", () => {
    for (const instance of live) {
      for (const child of instance.children) child.kill("SIGKILL");
      rmSync(instance.dir, { recursive: true, force: true });
    }
    live.clear();
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => process.exit(128 + (signal === "SIGINT" ? 2 : 15)));
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** One HTTP(S) request; `ca` set means HTTPS trusting only that CA. Undefined when nothing answers. */
function send(
  url: string,
  options: { method?: string; body?: string; ca?: string },
): Promise<Answer | undefined> {
  return new Promise((resolve) => {
    const requester = url.startsWith("https:") ? httpsRequest : httpRequest;
    const req = requester(
      url,
      {
        method: options.method ?? "GET",
        agent: false,
        timeout: 2000,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", () => resolve(undefined));
      },
    );
    req.on("error", () => resolve(undefined));
    req.on("timeout", () => {
      req.destroy();
      resolve(undefined);
    });
    req.end(options.body);
  });
}

function launch(
  instance: Instance,
  argv: readonly string[],
  logPath: string,
  env: NodeJS.ProcessEnv,
): ChildProcess {
  const setpriv = findProgram("setpriv", ["/usr/bin"]);
  const [program = "", ...args] =
    setpriv === undefined ? argv : [setpriv, "--pdeathsig", "KILL", "--", ...argv];
  // Output goes to a file, never a pipe: a full pipe would block the program.
  const log = openSync(logPath, "a");
  const child = spawn(program, args, { stdio: ["ignore", log, log], cwd: instance.dir, env });
  closeSync(log);
  instance.children.push(child);
  return child;
}

async function halt(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
  await gone;
  clearTimeout(timer);
}

/** Polls until `ready` gives true; throws with the log when the child exits or time runs out. */
async function waitReady(
  name: string,
  child: ChildProcess,
  logPath: string,
  ready: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new StartFailed(`${name} exited while starting. Its log:\n${tail(logPath)}`);
    }
    if (await ready()) return;
    await sleep(50);
  }
  throw new Error(
    `${name} did not answer within ${READY_TIMEOUT_MS} ms. Its log:\n${tail(logPath)}`,
  );
}

/** A program that exited while starting: most likely a port taken since it was chosen. */
class StartFailed extends Error {}

export async function startPebble(options: PebbleOptions = {}): Promise<PebblePeer> {
  const pebble = findProgram("pebble", ["/usr/bin"]);
  if (pebble === undefined)
    throw new Error("pebble is not installed: `apt-get install -y pebble`.");
  removeStaleDirs();
  hookExit();
  let lastError: unknown;
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    try {
      return await startOnce(pebble, options);
    } catch (error) {
      if (!(error instanceof StartFailed)) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(pebble: string, options: PebbleOptions): Promise<PebblePeer> {
  const dir = mkdtempSync(path.join(tmpdir(), `${TEMP_PREFIX}${process.pid}-`));
  const instance: Instance = { dir, children: [] };
  live.add(instance);
  const stop = async (): Promise<void> => {
    await Promise.all(instance.children.map(halt));
    live.delete(instance);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [acmePort = 0, managementPort = 0, dnsPort = 0, challPort = 0] = await freePorts(4);
    let challtestsrv: Challtestsrv | null = null;
    let dnsServer = options.dnsServer;
    if (dnsServer === undefined) {
      challtestsrv = await startChalltestsrv(instance, dnsPort, challPort);
      dnsServer = challtestsrv.dnsServer;
    }

    // Pebble's own HTTPS: a self-signed certificate for 127.0.0.1 and localhost.
    const https = selfSignedCertificate({
      dir,
      subject: "/CN=holt test pebble",
      san: "IP:127.0.0.1,DNS:localhost",
      days: 2,
    });
    const httpsCaPem = https.certPem;
    const config = {
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: https.certPath,
        privateKey: https.keyPath,
        // Where the VA would connect for http-01 and tls-alpn-01; unused with DNS-01.
        httpPort: 5002,
        tlsPort: 5001,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        domainBlocklist: [...(options.domainBlocklist ?? [])],
        ...(options.certificateValiditySeconds === undefined
          ? {}
          : { certificateValidityPeriod: options.certificateValiditySeconds }),
      },
    };
    const configPath = path.join(dir, "pebble-config.json");
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    const logPath = path.join(dir, "pebble.log");
    const child = launch(
      instance,
      [pebble, "-config", configPath, "-dnsserver", dnsServer],
      logPath,
      {
        ...process.env,
        PEBBLE_VA_NOSLEEP: "1",
        PEBBLE_WFE_NONCEREJECT: "0",
        PEBBLE_AUTHZREUSE: String(options.authzReusePercent ?? 0),
      },
    );
    const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
    await waitReady("Pebble", child, logPath, async () => {
      const answer = await send(directoryUrl, { ca: httpsCaPem });
      return answer?.status === 200;
    });

    const management = `https://127.0.0.1:${managementPort}`;
    const fetchPem = async (route: string): Promise<string> => {
      const answer = await send(`${management}${route}`, { ca: httpsCaPem });
      if (answer?.status !== 200) throw new Error(`Pebble's ${route} answered ${answer?.status}`);
      return answer.body;
    };
    const rootCaPem = await fetchPem("/roots/0");
    const intermediatePem = await fetchPem("/intermediates/0");
    return {
      directoryUrl,
      httpsCaPem,
      rootCaPem,
      intermediatePem,
      challtestsrv,
      dir,
      logPath,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startChalltestsrv(
  instance: Instance,
  dnsPort: number,
  managementPort: number,
): Promise<Challtestsrv> {
  const program = findProgram("pebble-challtestsrv", ["/usr/bin"]);
  if (program === undefined) {
    throw new Error("pebble-challtestsrv is not installed: `apt-get install -y pebble`.");
  }
  const logPath = path.join(instance.dir, "challtestsrv.log");
  const dnsServer = `127.0.0.1:${dnsPort}`;
  const managementUrl = `http://127.0.0.1:${managementPort}`;
  // Only the DNS server and the management API; the HTTP/TLS challenge servers stay off.
  const argv = [
    program,
    "-dns01",
    dnsServer,
    "-management",
    `127.0.0.1:${managementPort}`,
    "-http01",
    "",
    "-https01",
    "",
    "-tlsalpn01",
    "",
  ];
  const child = launch(instance, argv, logPath, process.env);
  const post = async (route: string, body: Record<string, string>): Promise<void> => {
    const answer = await send(`${managementUrl}${route}`, {
      method: "POST",
      body: JSON.stringify(body),
    });
    if (answer?.status !== 200) {
      throw new Error(
        `challtestsrv ${route} answered ${answer?.status ?? "nothing"}: ${answer?.body}`,
      );
    }
  };
  await waitReady("pebble-challtestsrv", child, logPath, async () => {
    const answer = await send(`${managementUrl}/clear-txt`, {
      method: "POST",
      body: JSON.stringify({ host: "ready.test." }),
    });
    return answer?.status === 200;
  });
  return { dnsServer, managementUrl, post };
}

/**
 * A test-only DNS backend for ACME over a challtestsrv: the TXT half of
 * ZoneBackend. challtestsrv can only add a TXT value or clear a name, so
 * this keeps the values per name and, to remove one, clears the name and
 * adds the others back. `nameservers()` is the challtestsrv itself.
 */
export class ChalltestsrvZone implements AcmeDnsBackend {
  /** challtestsrv is a plain DNS server; "rfc2136" is the closest kind. */
  readonly kind = "rfc2136" as const;
  readonly zone: string;
  readonly #server: Challtestsrv;
  readonly #values = new Map<string, string[]>();

  constructor(server: Challtestsrv | null, zone: string) {
    if (server === null) throw new Error("this Pebble peer runs no challtestsrv");
    this.#server = server;
    this.zone = zone;
  }

  /** The values this backend has put at a name. */
  valuesAt(name: string): string[] {
    return [...(this.#values.get(name) ?? [])];
  }

  async addTxt(name: string, value: string, _ttl: number): Promise<void> {
    const values = this.#values.get(name) ?? [];
    if (values.includes(value)) return;
    await this.#server.post("/set-txt", { host: `${name}.`, value });
    this.#values.set(name, [...values, value]);
  }

  async removeTxt(name: string, value: string): Promise<void> {
    const rest = (this.#values.get(name) ?? []).filter((one) => one !== value);
    await this.#server.post("/clear-txt", { host: `${name}.` });
    this.#values.set(name, []);
    for (const one of rest) await this.addTxt(name, one, 0);
  }

  async nameservers(): Promise<string[]> {
    return [this.#server.dnsServer];
  }
}
