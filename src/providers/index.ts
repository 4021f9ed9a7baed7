/** The providers holt ships, in the order their resources are read. */
import type { Provider } from "../engine/provider.ts";
import { createZfsDatasetProvider } from "./zfs/provider.ts";

export function defaultProviders(): Provider[] {
  return [createZfsDatasetProvider() as Provider];
}
