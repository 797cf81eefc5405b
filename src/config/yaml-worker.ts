/** The worker thread behind yaml-parser.ts: parses one text per message, never throws. */
import { parentPort } from 'node:worker_threads';
import { parseYamlDocuments, type YamlLimits } from './safe-yaml.js';

interface Job { readonly id: number; readonly text: string; readonly limits: YamlLimits }

parentPort?.on('message', (job: Job) => {
  parentPort!.postMessage({ id: job.id, outcome: parseYamlDocuments(job.text, job.limits) });
});
