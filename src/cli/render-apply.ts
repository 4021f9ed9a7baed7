/** Apply progress: a live status line on a terminal, plain lines everywhere else. */
import type { ApplyEvent } from "../engine/events.ts";
import type { Output } from "./output.ts";
import { MARKS } from "./render-plan.ts";

const VERBS = {
  create: "creating",
  update: "updating",
  replace: "replacing",
  delete: "destroying",
  release: "releasing",
} as const;

export function createApplyRenderer(output: Output): (event: ApplyEvent) => void {
  const { style } = output;
  let total = 0;
  let finished = 0;
  const running = new Set<string>();
  const showStatus = () => {
    if (running.size === 0) return;
    const first = [...running][0] ?? "";
    const more = running.size > 1 ? ` and ${running.size - 1} more` : "";
    output.status(style.dim(`[${finished}/${total}] ${first}${more} …`));
  };
  return (event) => {
    switch (event.kind) {
      case "apply-start":
        total = event.steps;
        output.err(`Applying ${total} ${total === 1 ? "change" : "changes"}…`);
        break;
      case "step-start":
        running.add(event.address);
        if (!output.interactive) output.err(`  ${VERBS[event.action]} ${event.address}`);
        showStatus();
        break;
      case "step-done":
        running.delete(event.address);
        finished++;
        output.err(
          `  ${style.green("✓")} ${MARKS[event.action]} ${event.address} ${style.dim(`(${(event.ms / 1000).toFixed(1)}s)`)}`,
        );
        showStatus();
        break;
      case "step-failed":
        running.delete(event.address);
        finished++;
        output.err(`  ${style.red("✗")} ${MARKS[event.action]} ${event.address}: ${event.error}`);
        for (const line of event.details) output.err(`      ${style.dim(line)}`);
        showStatus();
        break;
      case "step-skipped":
        finished++;
        output.err(`  ${style.yellow("-")} skipped ${event.address}: ${event.reason}`);
        break;
      case "apply-done": {
        const secs = (event.ms / 1000).toFixed(1);
        if (event.ok) output.err(style.green(`Apply complete: ${event.done} done in ${secs}s.`));
        else
          output.err(
            style.red(
              `Apply finished with errors: ${event.done} done, ${event.failed} failed, ${event.skipped} skipped (${secs}s). Fix the cause and run holt apply again.`,
            ),
          );
        break;
      }
    }
  };
}
