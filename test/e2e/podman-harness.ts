/**
 * Runs container resources through holt's real engine (read, plan, apply)
 * against real Podman, locally or on an SSH host. Each lab is its own set of
 * labelled containers, networks and secrets on the shared Podman, removed by
 * `cleanup()` even when the test failed.
 */
import { applyPlan } from "../../src/engine/apply.ts";
import { computePlan } from "../../src/engine/plan.ts";
import type { Plan } from "../../src/engine/plan-types.ts";
import type { Provider } from "../../src/engine/provider.ts";
import { readActual } from "../../src/engine/read.ts";
import type { Resource } from "../../src/engine/resource.ts";
import type { Exec } from "../../src/hosts/exec.ts";
import {
  CONTAINER_TYPE,
  type ContainerInputs,
  containerAddress,
  containerName,
  NETWORK_TYPE,
  type NetworkInputs,
  networkAddress,
  networkName,
} from "../../src/model/container.ts";
import {
  createPodmanContainerProvider,
  type PodmanContainerOptions,
} from "../../src/providers/podman/container-provider.ts";
import { createPodmanNetworkProvider } from "../../src/providers/podman/network-provider.ts";
import { removeLabResources, testLab } from "../peers/podman.ts";

export const HOST = "box";

let services = 0;

/** A service name no other test uses on the shared Podman. */
export function uniqueService(tag: string): string {
  services += 1;
  return `${tag}${process.pid}x${services}`;
}

export interface ApplyOutcome {
  readonly plan: Plan;
  readonly ok: boolean;
  readonly failed: readonly { address: string; error: string; details: readonly string[] }[];
  readonly skipped: readonly string[];
  readonly ms: number;
}

export interface PodmanLab {
  readonly lab: string;
  readonly exec: Exec;
  readonly providers: readonly Provider[];
  readonly network: Resource<NetworkInputs>;
  /** A container on the lab's network; depends on it. */
  container(service: string, inputs: Partial<ContainerInputs>): Resource<ContainerInputs>;
  plan(resources: readonly Resource[]): Promise<Plan>;
  apply(resources: readonly Resource[]): Promise<ApplyOutcome>;
  cleanup(): Promise<void>;
}

export interface PodmanLabOptions {
  readonly exec: Exec;
  readonly secrets?: Readonly<Record<string, string>>;
  readonly container?: PodmanContainerOptions;
  /** Runs podman on the lab's host to clean up (locally: the test peer's own). */
  readonly cleanup?: (lab: string) => Promise<void>;
}

export function createPodmanLab(tag: string, options: PodmanLabOptions): PodmanLab {
  const lab = testLab(tag);
  const exec = options.exec;
  const providers = [
    createPodmanNetworkProvider(),
    createPodmanContainerProvider({ startAllowanceMs: 4000, ...options.container }),
  ] as Provider[];
  const netName = networkName(lab);
  const network: Resource<NetworkInputs> = {
    address: networkAddress(HOST, netName),
    type: NETWORK_TYPE,
    host: HOST,
    name: netName,
    inputs: { name: netName },
    dependsOn: [],
    configPath: "lab",
  };
  const secrets = options.secrets ?? {};
  const secretValue = (name: string): string => {
    const value = secrets[name];
    if (value === undefined) throw new Error(`test secret ${name} is not defined`);
    return value;
  };
  const plan = async (resources: readonly Resource[]): Promise<Plan> => {
    const graph = { lab, resources };
    const actual = await readActual(graph, {
      providers,
      hosts: [HOST],
      execFor: async () => exec,
    });
    return computePlan(graph, actual, {
      providers,
      configFile: "holt.config.ts",
      hosts: [{ name: HOST, address: "127.0.0.1", connect: { kind: "local" } }],
    });
  };
  return {
    lab,
    exec,
    providers,
    network,
    container(service, inputs) {
      const name = containerName(service);
      return {
        address: containerAddress(HOST, service),
        type: CONTAINER_TYPE,
        host: HOST,
        service,
        name,
        inputs: {
          name,
          service,
          image: "localhost/holt-test/busybox:1.0",
          command: null,
          env: {},
          secrets: [],
          user: null,
          network: netName,
          aliases: [service],
          ports: [],
          mounts: [],
          memory: null,
          cpus: null,
          health: null,
          ...inputs,
        },
        dependsOn: [network.address],
        configPath: `services.${service}`,
      };
    },
    plan,
    async apply(resources) {
      const p = await plan(resources);
      const started = Date.now();
      const result = await applyPlan(p, {
        providers,
        execFor: async () => exec,
        allowDataLoss: false,
        secretValue,
      });
      return { plan: p, ...result, ms: Date.now() - started };
    },
    async cleanup() {
      if (options.cleanup !== undefined) await options.cleanup(lab);
      else removeLabResources(lab);
    },
  };
}

/** A health check on a published loopback port, quick enough for tests. */
export function quickHealth(hostPort: number, path = "/index.html"): ContainerInputs["health"] {
  return { http: path, hostPort, intervalMs: 250, timeoutMs: 1000, retries: 4 };
}

/** Plain GET on this machine's loopback: status and body. */
export async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}
