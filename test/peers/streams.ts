/** Test helpers for `Exec.start`: random bytes into a program, and a digest of what comes out. */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type { Exec } from "../../src/hosts/exec.ts";

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

/**
 * A program that reads 10 bytes and exits while `total` bytes are written
 * into it: the writer may fail, holt must not, and the program's output and
 * exit are what it did.
 */
export async function assertReaderMayStopEarly(exec: Exec, total: number): Promise<void> {
  const program = await exec.start({ argv: ["head", "-c", "10"] });
  const [piped, received, result] = await Promise.all([
    sendRandom(program.stdin, total).then(
      () => "completed",
      (error: unknown) => error,
    ),
    digest(program.stdout),
    program.done,
  ]);
  assert.ok(piped === "completed" || piped instanceof Error, String(piped));
  assert.equal(received.bytes, 10);
  assert.equal(result.code, 0);
}
