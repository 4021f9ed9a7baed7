/** The lab's backup catalog, and the manifest store the backup layer asks through. */
import { decodeManifest, encodeManifest, type ManifestStore } from "../backup/manifest.ts";
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
