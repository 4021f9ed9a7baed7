#!/usr/bin/env node
import { enableCompileCache } from "node:module";
import { VERSION } from "./version.ts";

const args = process.argv.slice(2);
// Answered before loading any command (and zod): `holt --version` stays fast.
if (args[0] === "--version" || args[0] === "-v" || args[0] === "version") {
  process.stdout.write(`${VERSION}\n`);
} else {
  // Caches compiled (and type-stripped) code, holt.config.ts included, across runs.
  enableCompileCache();
  // `holt history | head` closes the pipe early; that is not an error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
  const { main } = await import("./main.ts");
  process.exitCode = await main(args);
}
