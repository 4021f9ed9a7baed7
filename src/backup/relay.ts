/**
 * Moves a stream's bytes from a program on one host to a program on another
 * (`zfs send` into `zfs receive`, for replication and for restores from a
 * replica), counting them for progress. The hosts need no SSH access to each
 * other: holt carries the bytes.
 */
import { pipeline } from "node:stream/promises";
import type { Exec, ExecResult, RunningProgram, WiredProgram } from "../hosts/exec.ts";

export interface Relayed {
  readonly bytes: number;
  readonly seconds: number;
  readonly sent: ExecResult;
  readonly received: ExecResult;
  /** The pipe broke (one side stopped) and holt ended the sender. */
  readonly abandoned: boolean;
}

/**
 * The sender on this machine and the receiver a child process of holt (a
 * local program, or OpenSSH's client): `zfs send` writes into `dd`, which
 * writes into the receiver, all through the kernel as in a shell pipeline.
 * dd counts the bytes (its own report at the end; what the system says it
 * wrote while it runs). If the receiver stops, dd and then the sender get a
 * broken pipe; if holt dies, both are killed, and the receiver gets
 * end-of-file.
 */
async function wiredRelay(
  src: Exec,
  sendArgv: readonly string[],
  receiver: RunningProgram,
  started: number,
  count: (n: number) => void,
  report: () => void,
): Promise<Relayed> {
  const node = receiver.node;
  const wire = src.startWired;
  if (node === undefined || wire === undefined) throw new Error("not wired");
  node.stdout.resume();
  let counter: WiredProgram | undefined;
  let sender: WiredProgram;
  try {
    counter = await wire({ argv: ["dd", "bs=1M"], stdout: node.stdin });
    sender = await wire({ argv: sendArgv, stdout: counter.stdin });
  } catch (error) {
    counter?.kill();
    throw error;
  } finally {
    // holt's own copies of the pipes: closed, so each reader sees end-of-file when its writer ends.
    node.stdin.destroy();
    counter?.stdin.destroy();
  }
  let seen = 0;
  const poll = setInterval(() => {
    const written = counter.written();
    if (written > seen) {
      count(written - seen);
      seen = written;
    }
  }, 500);
  try {
    const [sent, counted, received] = await Promise.all([sender.done, counter.done, receiver.done]);
    const total = /^(\d+) bytes/m.exec(counted.stderr);
    if (total !== null && Number(total[1]) > seen) count(Number(total[1]) - seen);
    report();
    // dd failing means it could not write on: the receiver stopped first.
    const abandoned = counted.code !== 0 && received.code !== 0;
    const bytes = total === null ? seen : Number(total[1]);
    return { bytes, seconds: (Date.now() - started) / 1000, sent, received, abandoned };
  } finally {
    clearInterval(poll);
  }
}

/**
 * Runs `sendArgv` on one host and `receiveArgv` on another, with holt
 * carrying the bytes from the first's stdout to the second's stdin and
 * counting them (`onProgress` about once a second and at the end).
 */
export async function relay(
  src: Exec,
  sendArgv: readonly string[],
  dst: Exec,
  receiveArgv: readonly string[],
  onProgress?: (bytes: number, seconds: number) => void,
): Promise<Relayed> {
  const started = Date.now();
  let bytes = 0;
  let reported = started;
  const report = () => onProgress?.(bytes, (Date.now() - started) / 1000);
  const count = (n: number) => {
    bytes += n;
    const now = Date.now();
    if (now - reported >= 1000) {
      reported = now;
      report();
    }
  };
  const receiver = await dst.start({ argv: receiveArgv });
  if (src.startWired !== undefined && receiver.node !== undefined) {
    return wiredRelay(src, sendArgv, receiver, started, count, report);
  }
  const sender = await src.start({ argv: sendArgv });
  let abandoned = false;
  // If either side stops, the other must not wait for ever: end both. The receiver is not
  // killed: the broken pipe gives it end-of-file, so ZFS ends the receive itself, discarding
  // the partial stream or, for `receive -s`, keeping it to resume (zfs-fuse leaves debris
  // behind a killed receive).
  const giveUp = () => {
    abandoned = true;
    sender.kill();
  };
  let piped: Promise<void>;
  let drained: Promise<void>;
  if (sender.node !== undefined && receiver.node !== undefined) {
    // Both ends are child processes of holt: Node's own streams, much faster than web streams.
    const from = sender.node.stdout;
    receiver.node.stdout.resume();
    drained = Promise.resolve();
    piped = pipeline(from, receiver.node.stdin).catch(giveUp);
    from.on("data", (chunk: Buffer) => count(chunk.byteLength));
  } else {
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        count(chunk.byteLength);
        controller.enqueue(chunk);
      },
    });
    // zfs receive prints nothing on stdout; drained anyway, so output could never stall it.
    drained = receiver.stdout.pipeTo(new WritableStream()).catch(() => undefined);
    piped = sender.stdout.pipeThrough(counter).pipeTo(receiver.stdin).catch(giveUp);
  }
  const [sent, received] = await Promise.all([sender.done, receiver.done, piped, drained]);
  report();
  return { bytes, seconds: (Date.now() - started) / 1000, sent, received, abandoned };
}
