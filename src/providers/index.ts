/** The providers holt ships. */
import type { Provider } from "../engine/provider.ts";
import { createCertificateProvider } from "./caddy/certificate-provider.ts";
import { createCaddyRouteProvider } from "./caddy/provider.ts";
import { createTunnelProvider } from "./cloudflare/tunnel-provider.ts";
import { createDnsRecordProvider } from "./dns/provider.ts";
import { createPodmanContainerProvider } from "./podman/container-provider.ts";
import { createPodmanNetworkProvider } from "./podman/network-provider.ts";
import { createSysctlProvider } from "./sysctl/provider.ts";
import { createZfsDatasetProvider } from "./zfs/provider.ts";

export function defaultProviders(): Provider[] {
  return [
    createZfsDatasetProvider() as Provider,
    createSysctlProvider() as Provider,
    createPodmanNetworkProvider() as Provider,
    createPodmanContainerProvider() as Provider,
    createCaddyRouteProvider() as Provider,
    createCertificateProvider() as Provider,
    createDnsRecordProvider() as Provider,
    createTunnelProvider() as Provider,
  ];
}
