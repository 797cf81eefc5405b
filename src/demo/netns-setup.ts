import type { Netns } from './netns.js';

/** Why transparent mode cannot run here, or undefined when it can. */
export function transparentUnavailable(): string | undefined {
  return 'not implemented yet';
}

/** Creates the namespaces. */
export function prepareNetns(): Netns {
  throw new Error('not implemented');
}
