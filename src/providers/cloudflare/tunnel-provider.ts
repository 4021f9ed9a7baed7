/**
 * A Cloudflare Tunnel's ingress rules (`cloudflare.tunnel`): one rule per
 * public hostname the tunnel carries, then the catch-all 404, written to the
 * tunnel's remote configuration through Cloudflare's API. The tunnel named in
 * `edge.tunnel` is holt's to configure: its whole ingress list is replaced
 * on change. Removing `edge.tunnel` leaves the last configuration in place.
 */
import { CATCH_ALL_SERVICE, type IngressRule, ingressRules } from "../../dns/cloudflare-tunnel.ts";
import type {
  FieldChange,
  Observed,
  Provider,
  ProviderContext,
  ReadResult,
} from "../../engine/provider.ts";
import type { Resource } from "../../engine/resource.ts";
import { HoltError } from "../../errors.ts";
import { TUNNEL_TYPE, type TunnelInputs } from "../../model/tunnel.ts";

export interface TunnelState {
  /** The rules before the catch-all, as "hostname → service". */
  readonly rules: readonly string[];
}

/** The API client; the DNS layer loads on first use. */
async function tunnelClient(ctx: ProviderContext, inputs: TunnelInputs) {
  const { openTunnel } = await import("../../dns/open.ts");
  return openTunnel(inputs.accountId, secretValue(ctx, inputs.apiTokenSecret));
}

function secretValue(ctx: ProviderContext, name: string): string {
  if (ctx.secretValue === undefined) {
    throw new HoltError(
      "HOLT_E_SECRETS",
      `The tunnel's API token (secret "${name}") is needed but the lab's secrets are not open.`,
    );
  }
  return ctx.secretValue(name);
}

function show(rule: IngressRule): string {
  const origin =
    rule.originRequest?.originServerName === undefined
      ? ""
      : ` (as ${rule.originRequest.originServerName}${rule.originRequest.noTLSVerify === true ? ", unverified" : ""})`;
  return `${rule.hostname ?? "*"} → ${rule.service}${origin}`;
}

function wanted(inputs: TunnelInputs): IngressRule[] {
  return ingressRules(inputs.ingress);
}

function withoutCatchAll(rules: readonly IngressRule[]): IngressRule[] {
  return rules.filter((r) => !(r.hostname === undefined && r.service === CATCH_ALL_SERVICE));
}

export function createTunnelProvider(): Provider<TunnelInputs, TunnelState> {
  async function put(ctx: ProviderContext, desired: Resource<TunnelInputs>): Promise<void> {
    const client = await tunnelClient(ctx, desired.inputs);
    await client.putIngress(desired.inputs.tunnelId, withoutCatchAll(wanted(desired.inputs)));
  }

  return {
    type: TUNNEL_TYPE,
    noun: "tunnel",
    holdsData: false,
    scope: "edge",

    async read(ctx, desired): Promise<ReadResult<TunnelState>> {
      const observed = new Map<string, Observed<TunnelState>>();
      for (const r of desired) {
        const client = await tunnelClient(ctx, r.inputs);
        const rules = withoutCatchAll(await client.getIngress(r.inputs.tunnelId));
        // The tunnel exists (it is the user's); an empty configuration is just empty.
        observed.set(r.address, { state: { rules: rules.map(show) }, managed: true });
      }
      return { observed, owned: [], problems: [] };
    },

    diff(desired, observed) {
      const want = withoutCatchAll(wanted(desired.inputs)).map(show);
      const have = observed.state.rules;
      const fields: FieldChange[] = [];
      const removed = have.filter((r) => !want.includes(r));
      const added = want.filter((r) => !have.includes(r));
      for (const r of removed) fields.push({ path: "ingress", before: r, after: null });
      for (const r of added) fields.push({ path: "ingress", before: null, after: r });
      return fields;
    },

    describe(desired) {
      return withoutCatchAll(wanted(desired.inputs)).map((r) => ({
        path: "ingress",
        before: null,
        after: show(r),
      }));
    },

    create: put,
    update: (ctx, desired) => put(ctx, desired),
    // The tunnel is the user's; holt only stops configuring it.
    delete: async () => {},
    release: async () => {},
    adopt: (ctx, desired) => put(ctx, desired),
  };
}
