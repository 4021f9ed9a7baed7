/**
 * The files providers keep on the machine holt runs on (`ProviderStore`):
 * ACME account keys and certificates, the DNS records holt created where
 * the DNS server keeps no ownership mark. They live in `<lab state>/edge/`
 * (created, with the lab's folder, on the first write: reads create
 * nothing), folders mode 0700, files mode 0600, each written to a temporary file and
 * renamed so a crash leaves the old or the new file, never half of one.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import type { ProviderStore } from "../engine/provider.ts";
import { HoltError } from "../errors.ts";

const SAFE_PATH = /^[A-Za-z0-9._@*+-]+(\/[A-Za-z0-9._@*+-]+)*$/;

export function createProviderStore(labDir: string): ProviderStore {
  const root = join(labDir, "edge");
  const resolve = (path: string): string => {
    if (!SAFE_PATH.test(path) || normalize(path) !== path || path.split("/").includes("..")) {
      throw new HoltError("HOLT_E_INTERNAL", `invalid store path ${JSON.stringify(path)}`);
    }
    return join(root, path);
  };
  const failed = (path: string, error: unknown): HoltError =>
    new HoltError(
      "HOLT_E_STATE",
      `Cannot use ${path} in the state directory: ${(error as Error).message}. Check that the state directory is writable (--state-dir, HOLT_STATE_DIR).`,
      { cause: error },
    );
  return {
    async read(path) {
      const file = resolve(path);
      try {
        return await readFile(file, "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
        throw failed(file, error);
      }
    },
    async write(path, text) {
      const file = resolve(path);
      const temp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
      try {
        await mkdir(dirname(file), { recursive: true, mode: 0o700 });
        await writeFile(temp, text, { mode: 0o600, flag: "wx" });
        await rename(temp, file);
      } catch (error) {
        await rm(temp, { force: true }).catch(() => {});
        throw failed(file, error);
      }
    },
    async remove(path) {
      const file = resolve(path);
      try {
        await rm(file, { force: true });
      } catch (error) {
        throw failed(file, error);
      }
    },
  };
}
