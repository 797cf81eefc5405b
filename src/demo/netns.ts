/**
 * Transparent interception for the demo: each workload in a network namespace of its own,
 * with Istio-style iptables REDIRECT (outbound → 15001, inbound → 15006) that skips the
 * proxy's own user.
 */
import type { AddressPlan } from './topology.js';

/** The namespaces prepared for a transparent demo run. */
export interface Netns {
  readonly plan: AddressPlan;
  /** Command prefix that runs a process inside the workload's namespace. */
  exec(workload: string): string[];
  /** Command prefix that runs the sidecar as the proxy user (excluded from redirection). */
  proxyUser(): string[];
  /** Whether the workload's Envoy has its config (its admin API is only reachable inside the namespace). */
  envoyReady(workload: string): boolean;
  /** The address apps call for a service (its ClusterIP inside the namespaces' network). */
  serviceAddress(service: string): string;
  /** Removes the namespaces, links and rules. */
  teardown(): void;
}
