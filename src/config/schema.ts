/**
 * Structural schema of holt.config.ts (zod). It checks shapes, types and
 * unknown keys; the meaning of values (sizes, names, references) is checked
 * in validate.ts so that every problem carries a precise hint.
 */
import * as z from "zod";
import { DATASET_PROPERTIES } from "./dataset-properties.ts";
import { isSecretRef } from "./secret.ts";

const propertyShape = Object.fromEntries(
  Object.keys(DATASET_PROPERTIES).map((key) => [key, z.unknown().optional()]),
) as Record<keyof typeof DATASET_PROPERTIES, z.ZodOptional<z.ZodUnknown>>;

const rawProperties = z.record(z.string(), z.string()).optional();

const sshSchema = z.strictObject({
  user: z.string().min(1).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  identityFile: z.string().min(1).optional(),
  knownHostsFile: z.string().min(1).optional(),
});

const connectSchema = z.union([z.literal("local"), z.strictObject({ ssh: sshSchema })]);

const datasetSchema = z.strictObject({ ...propertyShape, properties: rawProperties });

const port = z.number().int().min(1).max(65535);

const proxySchema = z.strictObject({
  admin: z.string().min(1).optional(),
  httpsPort: port.optional(),
  httpPort: port.optional(),
});

const hostSchema = z.strictObject({
  address: z.string().min(1).optional(),
  connect: connectSchema.optional(),
  stateRoot: z.string().min(1).optional(),
  datasets: z.record(z.string(), datasetSchema).optional(),
  proxy: proxySchema.optional(),
  tailnet: z.string().min(1).optional(),
  public: z.string().min(1).optional(),
});

const stateEntrySchema = z.strictObject({
  path: z.string(),
  ...propertyShape,
  properties: rawProperties,
  backup: z.union([z.string().min(1), z.literal(false)]).optional(),
});

const mountSchema = z.strictObject({
  dataset: z.string(),
  readOnly: z.boolean().optional(),
});

const healthSchema = z.strictObject({
  http: z.string(),
  interval: z.string().optional(),
  timeout: z.string().optional(),
  retries: z.number().int().min(1).max(100).optional(),
});

const resourcesSchema = z.strictObject({
  memory: z.string().optional(),
  cpus: z.number().positive().optional(),
});

/** A `secret("name")` reference; anything else gets a hint in validate.ts. */
const secretRefSchema = z.custom((value) => isSecretRef(value), {
  message: "not a secret reference",
});

const serviceSchema = z.strictObject({
  host: z.string(),
  image: z.string().min(1).optional(),
  command: z.array(z.string()).optional(),
  hostname: z.string().min(1).optional(),
  port: port.optional(),
  hostPort: port.optional(),
  ports: z.array(z.string()).optional(),
  state: z.record(z.string(), stateEntrySchema).optional(),
  mounts: z.record(z.string(), mountSchema).optional(),
  env: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  secrets: z.record(z.string(), secretRefSchema).optional(),
  user: z.string().min(1).optional(),
  health: healthSchema.optional(),
  resources: resourcesSchema.optional(),
  dependsOn: z.array(z.string()).optional(),
  expose: z.enum(["public", "private", "internal"]).optional(),
  privateVia: z.enum(["lan", "tailnet"]).optional(),
  publicVia: z.enum(["direct", "tunnel"]).optional(),
  certificate: z.strictObject({ path: z.string() }).optional(),
  hooks: z
    .strictObject({
      preSnapshot: z.array(z.string()).min(1).optional(),
      postSnapshot: z.array(z.string()).min(1).optional(),
      verify: z.array(z.string()).min(1).optional(),
    })
    .optional(),
});

const zoneCommon = {
  nameservers: z.array(z.string().min(1)).optional(),
  ttl: z.number().int().min(1).max(604800).optional(),
  wildcard: z.boolean().optional(),
};

const tsigSchema = z.strictObject({
  name: z.string().min(1),
  algorithm: z
    .enum(["hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"])
    .optional(),
  secret: secretRefSchema,
});

const rfc2136Schema = z.strictObject({
  provider: z.literal("rfc2136"),
  server: z.string().min(1),
  tsig: tsigSchema.optional(),
  ...zoneCommon,
});
const powerDnsSchema = z.strictObject({
  provider: z.literal("powerdns"),
  url: z.string().min(1),
  apiKey: secretRefSchema,
  serverId: z.string().min(1).optional(),
  ...zoneCommon,
});
const cloudflareSchema = z.strictObject({
  provider: z.literal("cloudflare"),
  apiToken: secretRefSchema,
  zoneId: z.string().min(1).optional(),
  ...zoneCommon,
});

export const ZONE_PROVIDERS = ["rfc2136", "powerdns", "cloudflare"] as const;

const zoneSchema = z.discriminatedUnion("provider", [
  rfc2136Schema,
  powerDnsSchema,
  cloudflareSchema,
]);

const dnsSchema = z.strictObject({
  zones: z.record(z.string(), zoneSchema),
  internal: z.record(z.string(), zoneSchema).optional(),
  publicIpUrl: z.string().min(1).optional(),
});

const acmeSchema = z.strictObject({
  email: z.string().min(1),
  directory: z.string().min(1).optional(),
  trust: z.string().min(1).optional(),
  renewBefore: z.string().min(1).optional(),
  propagationTimeout: z.number().int().min(1).max(3600).optional(),
});

const tunnelSchema = z.strictObject({
  provider: z.literal("cloudflare"),
  accountId: z.string().min(1),
  tunnelId: z.string().min(1),
  token: secretRefSchema,
  apiToken: secretRefSchema,
  host: z.string().min(1),
  image: z.string().min(1).optional(),
});

const edgeSchema = z.strictObject({ tunnel: tunnelSchema.optional() });

const keepCount = z.number().int().min(0).max(10_000).optional();
const keepSchema = z.strictObject({
  last: keepCount,
  hourly: keepCount,
  daily: keepCount,
  weekly: keepCount,
  monthly: keepCount,
  yearly: keepCount,
});

const policySchema = z.strictObject({
  snapshots: keepSchema.optional(),
  replica: z.strictObject({ to: z.string().min(1), keep: keepSchema.optional() }).optional(),
  offsite: z
    .strictObject({ repository: z.string().min(1), keep: keepSchema.optional() })
    .optional(),
});

const repositorySchema = z.strictObject({
  restic: z.string().min(1),
  password: secretRefSchema,
  env: z.record(z.string(), z.union([z.string(), secretRefSchema])).optional(),
});

const backupsSchema = z.strictObject({
  policies: z.record(z.string(), policySchema).optional(),
  repositories: z.record(z.string(), repositorySchema).optional(),
});

export const labSchema = z.strictObject({
  domain: z.string(),
  name: z.string().min(1).optional(),
  hosts: z.record(z.string(), hostSchema),
  services: z.record(z.string(), serviceSchema).optional(),
  dns: dnsSchema.optional(),
  acme: acmeSchema.optional(),
  edge: edgeSchema.optional(),
  backups: backupsSchema.optional(),
});

/** Known keys of each object in the schema, for "did you mean" hints. */
export const KNOWN_KEYS = {
  lab: Object.keys(labSchema.shape),
  host: Object.keys(hostSchema.shape),
  ssh: Object.keys(sshSchema.shape),
  dataset: Object.keys(datasetSchema.shape),
  service: Object.keys(serviceSchema.shape),
  stateEntry: Object.keys(stateEntrySchema.shape),
  proxy: Object.keys(proxySchema.shape),
  mount: Object.keys(mountSchema.shape),
  health: Object.keys(healthSchema.shape),
  resources: Object.keys(resourcesSchema.shape),
  dns: Object.keys(dnsSchema.shape),
  zone: [
    ...new Set(
      [rfc2136Schema, powerDnsSchema, cloudflareSchema].flatMap((z) => Object.keys(z.shape)),
    ),
  ],
  tsig: Object.keys(tsigSchema.shape),
  acme: Object.keys(acmeSchema.shape),
  edge: Object.keys(edgeSchema.shape),
  tunnel: Object.keys(tunnelSchema.shape),
  backups: Object.keys(backupsSchema.shape),
  policy: Object.keys(policySchema.shape),
  keep: Object.keys(keepSchema.shape),
  repository: Object.keys(repositorySchema.shape),
} as const;
