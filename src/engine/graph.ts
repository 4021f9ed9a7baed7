/** Ordering helpers: topological order with whole-path cycle reports. */

export interface Node {
  readonly id: string;
  readonly after: readonly string[];
}

/** A cycle, as the ids along it with the first repeated at the end. */
export class CycleError extends Error {
  readonly cycle: readonly string[];
  constructor(cycle: readonly string[]) {
    super(`dependency cycle: ${cycle.join(" → ")}`);
    this.cycle = cycle;
  }
}

/**
 * Ids in an order where each comes after everything it names in `after`
 * (unknown ids in `after` are ignored). Stable: ties keep input order.
 */
export function topologicalOrder(nodes: readonly Node[]): string[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const state = new Map<string, "visiting" | "done">();
  const order: string[] = [];
  const stack: string[] = [];
  const visit = (id: string): void => {
    const mark = state.get(id);
    if (mark === "done") return;
    if (mark === "visiting") {
      throw new CycleError([...stack.slice(stack.indexOf(id)), id]);
    }
    state.set(id, "visiting");
    stack.push(id);
    for (const dep of byId.get(id)?.after ?? []) if (byId.has(dep)) visit(dep);
    stack.pop();
    state.set(id, "done");
    order.push(id);
  };
  for (const node of nodes) visit(node.id);
  return order;
}
