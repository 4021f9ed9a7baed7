/** The lab's backup catalog, and the manifest and repository stores the backup layer asks through. */
import { decodeManifest, encodeManifest, type ManifestStore } from "../backup/manifest.ts";
import type { FileSystemId, RepositoryRecord, RepositoryStore } from "../backup/repository.ts";
import { HoltError } from "../errors.ts";
import { BackupCatalog } from "../store/backup-catalog.ts";
import { labStateDir } from "../store/state-dir.ts";
import { type CommandContext, stateDirFor } from "./context.ts";

export function openCatalog(
  ctx: CommandContext,
  stateFlag: string | undefined,
  lab: string,
): BackupCatalog {
  return new BackupCatalog(labStateDir(stateDirFor(ctx, stateFlag), lab));
}

export function manifestStore(catalog: BackupCatalog): ManifestStore {
  return {
    load(subject, snapshot) {
      const json = catalog.loadManifest(subject, snapshot);
      return json === null ? null : decodeManifest(json);
    },
    save(subject, snapshot, manifest) {
      catalog.saveManifest(subject, snapshot, encodeManifest(manifest));
    },
    forget(subject, before) {
      catalog.forgetManifests(subject, before);
    },
  };
}

export function repositoryStore(catalog: BackupCatalog): RepositoryStore {
  return {
    load(host, location) {
      const row = catalog.loadRepository(host, location);
      if (row === null) return null;
      return {
        repository: row.repository,
        host: row.host,
        location: row.location,
        fileSystem: row.filesystem === null ? null : fileSystemOf(row.filesystem, row.repository),
        since: row.since,
        how: row.how === "init" ? "init" : "found",
      } satisfies RepositoryRecord;
    },
    save(record) {
      catalog.saveRepository({
        host: record.host,
        location: record.location,
        repository: record.repository,
        filesystem: record.fileSystem === null ? null : JSON.stringify(record.fileSystem),
        since: record.since,
        how: record.how,
      });
    },
  };
}

/** A recorded file system, checked: a damaged row must not pass for "no file system recorded". */
function fileSystemOf(text: string, repository: string): FileSystemId {
  let raw: Partial<Record<keyof FileSystemId, unknown>> = {};
  try {
    raw = JSON.parse(text) as typeof raw;
  } catch {
    // Checked below.
  }
  const { target, source, fstype, uuid } = raw;
  if (
    typeof target === "string" &&
    typeof source === "string" &&
    typeof fstype === "string" &&
    (uuid === null || typeof uuid === "string")
  ) {
    return { target, source, fstype, uuid };
  }
  throw new HoltError(
    "HOLT_E_STATE",
    `The backup catalog's record of repository "${repository}" is damaged (its file system cannot be read). Run \`holt backup init-offsite ${repository}\` to record it again.`,
  );
}
