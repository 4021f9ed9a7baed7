/**
 * The host of resources that live on no machine of the lab (DNS records):
 * holt changes them from the machine it runs on. Host names in the config
 * cannot start with "@", so it never clashes with a real host.
 */
export const EDGE_HOST = "@edge";
