/**
 * Prints docker-compose.override.yml for a locally built Envoy image:
 * `node dist/src/demo/compose-override-main.js meshd/envoy:v1.40.0` (scripts/build-images.sh).
 */
import { composeOverride } from './compose.js';

const image = process.argv[2];
if (!image || !/^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?$/.test(image)) {
  console.error('usage: compose-override-main.js IMAGE   (an image reference such as meshd/envoy:v1.40.0)');
  process.exit(2);
}
process.stdout.write(composeOverride(image));
