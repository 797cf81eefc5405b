/** SPIFFE ids of the form `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`. */
import type { Identity } from '../model/types.js';

const SPIFFE = /^spiffe:\/\/([a-z0-9.-]+)\/ns\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/sa\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SA_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Parses a workload SPIFFE URI; undefined for anything else. */
export function parseSpiffeId(uri: string): Identity | undefined {
  const m = SPIFFE.exec(uri);
  return m ? { trustDomain: m[1]!, namespace: m[2]!, serviceAccount: m[4]! } : undefined;
}

/** Whether namespace and service-account names are valid Kubernetes names. */
export function isValidWorkloadName(namespace: string, serviceAccount: string): boolean {
  return namespace.length <= 63 && DNS_LABEL.test(namespace) && serviceAccount.length <= 253 && SA_NAME.test(serviceAccount);
}
