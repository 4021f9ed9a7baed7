/**
 * Structural schema of holt.config.ts (zod). It checks shapes, types and
 * unknown keys; the meaning of values (sizes, names, references) is checked
 * in validate.ts so that every problem carries a precise hint.
 */
import { z } from "zod";
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
});

const stateEntrySchema = z.strictObject({
  path: z.string(),
  ...propertyShape,
  properties: rawProperties,
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
});

export const labSchema = z.strictObject({
  domain: z.string(),
  name: z.string().min(1).optional(),
  hosts: z.record(z.string(), hostSchema),
  services: z.record(z.string(), serviceSchema).optional(),
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
} as const;
