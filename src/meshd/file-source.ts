import { createFileStore } from '../config/file-store.js';
import type { Logger } from '../util/log.js';
import type { MeshdOptions } from './options.js';
import type { ConfigSource } from './source.js';

/** The file store as meshd's config source (the embedded default). */
export function createFileSource(opts: MeshdOptions, log: Logger): ConfigSource {
  let store: ReturnType<typeof createFileStore> | undefined;
  return {
    kind: 'file',
    async start(onChange) {
      store = createFileStore({
        dir: opts.configDir,
        domainSuffix: 'cluster.local',
        maxFileBytes: opts.configMaxFileBytes,
        maxObjects: opts.configMaxObjects,
        debounce: { quietMs: opts.debounceQuietMs, maxMs: opts.debounceMaxMs },
        onChange,
      });
      await store.start();
      log.info('file store loaded', { dir: opts.configDir, objects: store.objects().length, diagnostics: store.diagnostics().length });
    },
    diagnostics: () => store?.diagnostics() ?? [],
    close: () => store?.close(),
  };
}
