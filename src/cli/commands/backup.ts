/**
 * `holt backup run | replicate | status`: snapshots and pruning, replication
 * to the replica host, and where every dataset's copies stand. `run` is what
 * cron or a timer calls; the daemon will call the same functions.
 */

import { factsFor } from "../../backup/datasets.ts";
import {
  type CheckResult,
  copyOffsite,
  type InitResult,
  initOffsite,
  type OffsiteResult,
} from "../../backup/offsite.ts";
import type { ReplicationResult, TransferProgress } from "../../backup/replicate.ts";
import { prepareReplication, replicate } from "../../backup/replicate.ts";
import { drill, RESTORE_SOURCES, type RestoreSource } from "../../backup/restore.ts";
import { runBackups } from "../../backup/run.ts";
import { backupStatus } from "../../backup/status.ts";
import type { ResolvedLab } from "../../config/types.ts";
import { HoltError } from "../../errors.ts";
import { lockBackups } from "../../lab/apply.ts";
import { openLabSecrets } from "../../lab/secrets.ts";
import type { BackupCatalog } from "../../store/backup-catalog.ts";
import { formatSize } from "../../util/sizes.ts";
import { manifestStore, openCatalog, repositoryStore } from "../catalog.ts";
import {
  CONFIG_FLAG,
  CONFIG_HELP,
  type Command,
  type CommandContext,
  connectionsFor,
  openLab,
  parseFlags,
  STATE_FLAG,
  stateDirFor,
} from "../context.ts";

const SUBCOMMANDS =
  "`holt backup run [SERVICE...]`, `holt backup replicate [SERVICE...]`, `holt backup offsite [SERVICE...]`, `holt backup verify [SERVICE...]`, `holt backup init-offsite REPO` or `holt backup status`";

export const backupCommand: Command = {
  name: "backup",
  summary: "Snapshot, replicate and copy offsite the services' state; show every copy",
  usage:
    "holt backup run|replicate|offsite|verify [SERVICE...] [--reseed] [--from SOURCE] [--json] | holt backup init-offsite REPO [--json] | holt backup status [--json]",
  flags: [
    "run [SERVICE...]       one snapshot per service now (pre/post hooks around it), prune, replicate, copy offsite",
    "replicate [SERVICE...] send new snapshots to each policy's replica host",
    "offsite [SERVICE...]   copy the newest snapshots to each policy's restic repository, prune it, check part of it",
    "verify [SERVICE...]    restore drill: the newest copy into scratch, compared with its recorded checksums, hooks.verify",
    "init-offsite REPO      create the restic repository REPO (holt never does so by itself), or record an existing one, and the file system a local one is on",
    "status                 per dataset: newest snapshot, replica and offsite copy with ages, last verified, 3-2-1 verdict",
    "--reseed               (replicate) move a diverged replica aside, kept, and send a full copy",
    "--from SOURCE          (verify) local, replica or offsite (default: the copy furthest away)",
    CONFIG_HELP,
    "--json                 print JSON on stdout (formatVersion 1)",
  ],
  async run(args, ctx) {
    const { values, positionals } = parseFlags(
      "backup",
      args,
      {
        ...CONFIG_FLAG,
        ...STATE_FLAG,
        json: { type: "boolean" },
        reseed: { type: "boolean" },
        from: { type: "string" },
      },
      true,
    );
    const [sub, ...names] = positionals;
    if (
      sub !== "run" &&
      sub !== "replicate" &&
      sub !== "offsite" &&
      sub !== "verify" &&
      sub !== "init-offsite" &&
      sub !== "status"
    ) {
      throw new HoltError(
        "HOLT_E_USAGE",
        `${sub === undefined ? "Missing subcommand" : `Unknown subcommand "${sub}"`}. Use ${SUBCOMMANDS}.`,
      );
    }
    if (values.reseed === true && sub !== "replicate") {
      throw new HoltError("HOLT_E_USAGE", "--reseed goes with `holt backup replicate`.");
    }
    if (values.from !== undefined && sub !== "verify") {
      throw new HoltError(
        "HOLT_E_USAGE",
        "--from goes with `holt backup verify` (and `holt restore`).",
      );
    }
    const from = parseSource(values.from);
    if (sub === "status" && names.length > 0) {
      throw new HoltError("HOLT_E_USAGE", `Unexpected argument "${names[0]}".`);
    }
    if (sub === "init-offsite" && names.length !== 1) {
      throw new HoltError(
        "HOLT_E_USAGE",
        "holt backup init-offsite takes one repository name (a key of backups.repositories), like `holt backup init-offsite nas`.",
      );
    }
    const lab = await openLab(ctx, values.config);
    if (sub !== "init-offsite") checkServices(lab, names);
    const json = values.json === true;
    if (sub === "status") {
      const connections = connectionsFor(lab, { ctx, stateDir: values["state-dir"] });
      try {
        return await status(lab, connections, json, ctx, values["state-dir"]);
      } finally {
        await connections.closeAll();
      }
    }
    // One backup operation of the lab at a time; a second fails at once, naming the first.
    const lock = lockBackups(
      stateDirFor(ctx, values["state-dir"]),
      lab.name,
      `holt backup ${args.join(" ")}`,
    );
    const connections = connectionsFor(lab, { ctx, stateDir: values["state-dir"] });
    try {
      if (sub === "init-offsite") {
        return await initRepository(lab, connections, json, ctx, values["state-dir"], names[0]);
      }
      if (sub === "verify") {
        return await verify(lab, connections, json, ctx, values["state-dir"], names, from);
      }
      if (sub !== "offsite")
        prepareReplication(lab, connections, names.length === 0 ? undefined : names);
      // HOLT_TEST_NOW (an ISO time) stands in for the clock, for retention tests.
      const testNow = ctx.env.HOLT_TEST_NOW;
      const now = testNow === undefined || testNow === "" ? undefined : () => new Date(testNow);
      // Read once: snapshots, replication and offsite all need each host's state root.
      const facts = await factsFor(
        lab,
        connections,
        undefined,
        names.length === 0 ? undefined : names,
      );
      const common = {
        connections,
        facts,
        ...(now === undefined ? {} : { now }),
        ...(names.length === 0 ? {} : { services: names }),
      };
      const catalog = openCatalog(ctx, values["state-dir"], lab.name);
      try {
        const snapshots =
          sub === "run"
            ? await runBackups(lab, {
                ...common,
                manifests: manifestStore(catalog),
                secretValues: serviceSecrets(lab, ctx),
              })
            : [];
        const replicas =
          sub === "offsite"
            ? []
            : await replicate(lab, {
                ...common,
                reseed: values.reseed === true,
                ...(json ? {} : { onProgress: progressLine(ctx) }),
              });
        const offsite =
          sub === "replicate" || !hasOffsite(lab, names)
            ? { copies: [], checks: [] }
            : await copyOffsite(lab, {
                ...common,
                secretValue: await secretsFor(lab, ctx),
                repositories: repositoryStore(catalog),
              });
        recordInCatalog(catalog, {
          at: (now ?? (() => new Date()))().toISOString(),
          snapshots,
          replicas,
          offsite,
        });
        if (json) {
          const body = {
            ...(sub === "run" ? { services: snapshots } : {}),
            ...(sub === "offsite" ? {} : { replicas }),
            ...(sub === "replicate" ? {} : { offsite: offsite.copies, checks: offsite.checks }),
          };
          ctx.output.out(JSON.stringify({ formatVersion: "1", lab: lab.name, ...body }));
        } else {
          printSnapshots(ctx, snapshots, sub === "run");
          printReplicas(ctx, replicas);
          printOffsite(ctx, offsite.copies, offsite.checks);
        }
        const failed =
          snapshots.some((r) => r.error !== null) ||
          replicas.some((r) => r.status === "failed" || r.status === "diverged") ||
          offsite.copies.some((r) => r.status === "failed") ||
          offsite.checks.some((c) => !c.ok);
        return failed ? 1 : 0;
      } finally {
        catalog.close();
      }
    } finally {
      await connections.closeAll();
      lock.release();
    }
  },
};

/** Whether any of these services' datasets (all, when none are named) has an offsite copy. */
function hasOffsite(lab: ResolvedLab, names: readonly string[]): boolean {
  return Object.values(lab.services).some(
    (service) =>
      (names.length === 0 || names.includes(service.name)) &&
      service.state.some(
        (e) => e.backup !== null && lab.backups.policies[e.backup]?.offsite != null,
      ),
  );
}

async function secretsFor(
  lab: ResolvedLab,
  ctx: CommandContext,
): Promise<(name: string) => string> {
  const secrets = await openLabSecrets(lab, ctx.env);
  return (name) => secrets.value(name);
}

/**
 * A service's secret values, to hide in its failed hooks' output: the lab's
 * secrets are opened on the first failure, so a run whose hooks pass needs no key.
 */
function serviceSecrets(
  lab: ResolvedLab,
  ctx: CommandContext,
): (service: string) => Promise<readonly string[]> {
  let opened: ReturnType<typeof openLabSecrets> | undefined;
  return async (service) => {
    opened ??= openLabSecrets(lab, ctx.env);
    const secrets = await opened;
    return (lab.services[service]?.container?.secrets ?? []).map((s) => secrets.value(s.secret));
  };
}

function checkServices(lab: ResolvedLab, names: readonly string[]): void {
  const unknown = names.filter((n) => lab.services[n] === undefined);
  if (unknown.length === 0) return;
  throw new HoltError(
    "HOLT_E_USAGE",
    `${unknown.map((n) => `"${n}"`).join(", ")} ${unknown.length === 1 ? "is not a service" : "are not services"} of this lab. Services: ${Object.keys(lab.services).sort().join(", ") || "(none)"}.`,
  );
}

async function status(
  lab: ResolvedLab,
  connections: ReturnType<typeof connectionsFor>,
  json: boolean,
  ctx: CommandContext,
  stateFlag: string | undefined,
): Promise<number> {
  const catalog = openCatalog(ctx, stateFlag, lab.name);
  let rows: Awaited<ReturnType<typeof backupStatus>>;
  try {
    rows = await backupStatus(lab, connections, {
      // The newest attempt, then the newest that succeeded (the same row when it did).
      history: (subject, kind) => {
        const { last, lastOk } = catalog.latest(subject, kind);
        return [last, lastOk].filter((e) => e !== null);
      },
      ...(ctx.env.HOLT_TEST_NOW ? { now: () => new Date(ctx.env.HOLT_TEST_NOW as string) } : {}),
    });
  } finally {
    catalog.close();
  }
  if (json) {
    ctx.output.out(JSON.stringify({ formatVersion: "1", lab: lab.name, datasets: rows }));
  } else if (rows.length === 0) {
    ctx.output.out("No service has state.");
  } else {
    const style = ctx.output.style;
    for (const r of rows) {
      const verdict = r.ok ? style.green(r.verdict) : style.yellow(r.verdict);
      ctx.output.out(`${style.bold(r.dataset)}  ${r.policy ?? "-"}  ${verdict}`);
      const copy = (c: { snapshot: string | null; age: string | null } | null, none: string) =>
        c === null || c.snapshot === null ? none : `${c.snapshot} (${c.age} ago)`;
      if (r.policy === null) continue;
      ctx.output.out(
        `  local    ${r.newest === null ? "no snapshot" : `${r.newest.name} (${r.newest.age} ago), ${r.snapshots} kept`}`,
      );
      if (r.replica !== null)
        ctx.output.out(`  replica  ${copy(r.replicaCopy, "no copy recorded")}  on ${r.replica}`);
      if (r.offsite !== null)
        ctx.output.out(`  offsite  ${copy(r.offsiteCopy, "no copy recorded")}  in ${r.offsite}`);
      ctx.output.out(`  verified ${copy(r.verified, "never (run holt backup verify)")}`);
      for (const p of r.problems) ctx.output.out(`  ${style.red(p)}`);
    }
  }
  return rows.every((r) => r.ok && r.problems.length === 0) ? 0 : 2;
}

async function verify(
  lab: ResolvedLab,
  connections: ReturnType<typeof connectionsFor>,
  json: boolean,
  ctx: CommandContext,
  stateFlag: string | undefined,
  names: readonly string[],
  from: RestoreSource | undefined,
): Promise<number> {
  const catalog = openCatalog(ctx, stateFlag, lab.name);
  try {
    const secrets = await secretsFor(lab, ctx);
    const results = await drill(
      lab,
      {
        ...(names.length === 0 ? {} : { services: names }),
        ...(from === undefined ? {} : { from }),
      },
      {
        connections,
        manifests: manifestStore(catalog),
        repositories: repositoryStore(catalog),
        secretValue: secrets,
      },
    );
    const at = new Date().toISOString();
    for (const r of results) {
      catalog.record({
        kind: "verify",
        subject: r.subject,
        service: r.service,
        snapshot: r.snapshot,
        target: r.where,
        at,
        ok: r.ok,
        bytes: r.bytes,
        seconds: r.seconds,
        error: r.error,
      });
    }
    if (json) {
      ctx.output.out(JSON.stringify({ formatVersion: "1", lab: lab.name, drills: results }));
    } else {
      const style = ctx.output.style;
      if (results.length === 0) ctx.output.out("No service has backed-up state to verify.");
      for (const r of results) {
        const verdict = r.ok ? style.green("ok") : style.red("FAILED");
        const what =
          r.compared === "manifest"
            ? "equal to its recorded checksums"
            : "no checksums were recorded for it here";
        ctx.output.out(
          `${style.bold(r.subject)}: ${r.snapshot ?? "-"} from ${r.from ?? "-"} (${r.where ?? "-"}) ${verdict}${r.ok ? `, ${r.files} files, ${formatSize(r.bytes)}, ${what}` : ""}`,
        );
        if (r.error !== null) ctx.output.out(`  ${r.error}`);
      }
    }
    return results.every((r) => r.ok) ? 0 : 1;
  } finally {
    catalog.close();
  }
}

/** `holt backup init-offsite REPOSITORY`: create it, or record it, on each host that copies to it. */
async function initRepository(
  lab: ResolvedLab,
  connections: ReturnType<typeof connectionsFor>,
  json: boolean,
  ctx: CommandContext,
  stateFlag: string | undefined,
  name: string | undefined,
): Promise<number> {
  const catalog = openCatalog(ctx, stateFlag, lab.name);
  let results: InitResult[];
  try {
    results = await initOffsite(lab, name ?? "", {
      connections,
      secretValue: await secretsFor(lab, ctx),
      repositories: repositoryStore(catalog),
    });
  } finally {
    catalog.close();
  }
  if (json) {
    ctx.output.out(JSON.stringify({ formatVersion: "1", lab: lab.name, repositories: results }));
    return 0;
  }
  const said: Record<InitResult["action"], string> = {
    created: "created",
    found: "found a repository there; recorded it",
    already: "already there, as recorded",
    moved: "found it on another file system than recorded; recorded the new one",
  };
  for (const r of results) {
    const fs = r.fileSystem === null ? "" : ` (file system: ${r.fileSystem})`;
    ctx.output.out(
      `${ctx.output.style.bold(r.repository)} at ${r.where} from ${r.host}: ${said[r.action]}${fs}`,
    );
  }
  return 0;
}

export function parseSource(value: string | undefined): RestoreSource | undefined {
  if (value === undefined) return undefined;
  if ((RESTORE_SOURCES as readonly string[]).includes(value)) return value as RestoreSource;
  throw new HoltError(
    "HOLT_E_USAGE",
    `--from "${value}" is not a copy holt keeps. Use local, replica or offsite.`,
  );
}

function rate(bytes: number, seconds: number): string {
  return seconds > 0 ? `${formatSize(bytes / seconds)}/s` : "-";
}

/** Progress on the terminal's status line; nothing when stderr is not a terminal. */
function progressLine(ctx: CommandContext): (p: TransferProgress) => void {
  return (p) =>
    ctx.output.status(
      `replicating ${p.source} → ${p.target}: ${formatSize(p.bytes)} in ${p.seconds.toFixed(0)} s (${rate(p.bytes, p.seconds)})`,
    );
}

function printSnapshots(
  ctx: CommandContext,
  results: Awaited<ReturnType<typeof runBackups>>,
  ran: boolean,
): void {
  if (!ran) return;
  const style = ctx.output.style;
  if (results.length === 0) ctx.output.out("No service has state to back up.");
  for (const r of results) {
    const made = r.snapshot === null ? style.red("no snapshot") : `snapshot ${r.snapshot}`;
    const pruned = r.pruned.length === 0 ? "" : `, pruned ${r.pruned.length}`;
    ctx.output.out(`${style.bold(r.service)} on ${r.host}: ${made}${pruned}`);
    if (r.error !== null) ctx.output.out(`  ${style.red(r.error)}`);
  }
}

/** What became of a transfer an earlier run left cut off, in a replica's summary. */
const CUT_OFF: Record<NonNullable<ReplicationResult["cutOff"]>, string> = {
  resumed: "resumed the transfer an earlier run left cut off",
  restarted:
    "a transfer an earlier run left cut off could not be resumed (the source no longer has what it was sending): discarded, and sent again",
  discarded: "discarded the transfer an earlier run left cut off, with the diverged replica",
};

function printReplicas(ctx: CommandContext, results: readonly ReplicationResult[]): void {
  const style = ctx.output.style;
  for (const r of results) {
    const head = `${style.bold(r.source)} → ${r.target}`;
    if (r.status === "sent") {
      const what = r.from === null ? `full copy of ${r.to}` : `${r.from} → ${r.to}`;
      ctx.output.out(
        `${head}: ${what}, ${formatSize(r.bytes)} in ${r.seconds.toFixed(1)} s (${rate(r.bytes, r.seconds)})`,
      );
    } else if (r.status === "up to date") {
      ctx.output.out(`${head}: up to date (${r.to})`);
    } else {
      const color = r.status === "no snapshot" ? style.yellow : style.red;
      ctx.output.out(`${head}: ${color(r.status)}`);
    }
    const cutOff = r.cutOff === null ? undefined : CUT_OFF[r.cutOff];
    if (cutOff !== undefined) ctx.output.out(`  ${cutOff}`);
    if (r.pruned.length > 0) ctx.output.out(`  pruned ${r.pruned.length} on the replica`);
    if (r.error !== null) ctx.output.out(`  ${r.error}`);
  }
}

function printOffsite(
  ctx: CommandContext,
  copies: readonly OffsiteResult[],
  checks: readonly CheckResult[],
): void {
  const style = ctx.output.style;
  for (const r of copies) {
    const head = `${style.bold(r.source)} → ${r.repository}`;
    if (r.status === "copied") {
      ctx.output.out(
        `${head}: ${r.snapshot} as ${r.resticSnapshot}, ${formatSize(r.bytesAdded)} added in ${r.seconds.toFixed(1)} s`,
      );
    } else if (r.status === "up to date") {
      ctx.output.out(`${head}: up to date (${r.snapshot})`);
    } else {
      const color = r.status === "no snapshot" ? style.yellow : style.red;
      ctx.output.out(`${head}: ${color(r.status)}`);
    }
    if (r.forgotten > 0) ctx.output.out(`  forgot ${r.forgotten} by the policy`);
    if (r.error !== null) ctx.output.out(`  ${r.error}`);
  }
  for (const c of checks) {
    const verdict = c.ok ? style.green("ok") : style.red("DAMAGED");
    ctx.output.out(`check ${c.repository} from ${c.host} (data ${c.subset}): ${verdict}`);
    if (c.error !== null) ctx.output.out(`  ${c.error}`);
  }
}

/** Every step of this run into the catalog, for status and alerting. */
function recordInCatalog(
  catalog: BackupCatalog,
  run: {
    at: string;
    snapshots: Awaited<ReturnType<typeof runBackups>>;
    replicas: readonly ReplicationResult[];
    offsite: { copies: readonly OffsiteResult[]; checks: readonly CheckResult[] };
  },
): void {
  for (const s of run.snapshots) {
    catalog.record({
      kind: "snapshot",
      subject: `${s.host}:${s.service}`,
      service: s.service,
      snapshot: s.snapshot,
      target: null,
      at: run.at,
      ok: s.error === null,
      bytes: 0,
      seconds: 0,
      error: s.error,
    });
  }
  for (const r of run.replicas) {
    if (r.status === "no snapshot") continue;
    catalog.record({
      kind: "replica",
      subject: r.source,
      service: r.service,
      snapshot: r.to,
      target: r.target,
      at: run.at,
      ok: r.error === null,
      bytes: r.bytes,
      seconds: r.seconds,
      error: r.error,
    });
  }
  for (const c of run.offsite.copies) {
    if (c.status === "no snapshot") continue;
    catalog.record({
      kind: "offsite",
      subject: c.source,
      service: c.service,
      snapshot: c.snapshot,
      target: c.repository,
      at: run.at,
      ok: c.error === null,
      bytes: c.bytesAdded,
      seconds: c.seconds,
      error: c.error,
    });
  }
  for (const c of run.offsite.checks) {
    catalog.record({
      kind: "check",
      subject: `${c.host}:${c.repository}`,
      service: null,
      snapshot: null,
      target: c.repository,
      at: run.at,
      ok: c.ok,
      bytes: 0,
      seconds: 0,
      error: c.error,
    });
  }
}
