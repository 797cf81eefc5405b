import type { Logger } from '../util/log.js';
import type { MeshdOptions } from '../meshd/options.js';
import type { MeshdExtras } from '../meshd/meshd.js';

/** Kubernetes mode: informers as the config source, TokenReview, the CA in a Secret, webhooks. */
export async function kubernetesMode(opts: MeshdOptions, log: Logger): Promise<MeshdExtras> {
  void opts;
  log.error('Kubernetes mode is not available yet in this build');
  throw new Error('Kubernetes mode is not available yet');
}
