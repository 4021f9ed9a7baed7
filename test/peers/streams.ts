/** Test helpers for `Exec.start`: random bytes into a program, and a digest of what comes out. */
import { createHash, randomBytes } from "node:crypto";

export const MiB = 1024 * 1024;

/** Writes `total` random bytes into `sink` in 1 MiB chunks and closes it; returns their sha256. */
export async function sendRandom(sink: WritableStream<Uint8Array>, total: number): Promise<string> {
  const hash = createHash("sha256");
  let sent = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      const chunk = randomBytes(Math.min(MiB, total - sent));
      hash.update(chunk);
      sent += chunk.length;
      controller.enqueue(chunk);
    },
  });
  await source.pipeTo(sink);
  return hash.digest("hex");
}

/** sha256 and length of everything a stream gives. */
export async function digest(
  stream: ReadableStream<Uint8Array>,
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    bytes += chunk.byteLength;
  }
  return { sha256: hash.digest("hex"), bytes };
}
