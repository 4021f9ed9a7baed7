#!/usr/bin/env node
// The shipped entry runs the bundled CLI (Node does not strip types under
// node_modules, and one bundle starts faster than hundreds of modules). In a
// source checkout without a build, it runs the TypeScript sources directly.
import { existsSync } from "node:fs";

const built = new URL("../dist/bundle/bin.js", import.meta.url);
await import(existsSync(built) ? built.href : new URL("../src/cli/bin.ts", import.meta.url).href);
