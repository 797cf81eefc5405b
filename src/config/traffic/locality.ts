/** Localities (`region/zone/subzone`) on WorkloadEntries and ServiceEntry endpoints. */
import type { Locality } from '../../model/traffic.js';
import { type Checker, join } from '../fields.js';
import { type Raw, str } from './read.js';

/** Parses `region/zone/subzone` (each part after the first optional); undefined when malformed. */
export function parseLocality(s: string): Locality | undefined {
  const parts = s.split('/');
  if (parts.length > 3 || parts.some((p) => p === '' || p.includes('*'))) return undefined;
  return { region: parts[0]!, ...(parts[1] !== undefined ? { zone: parts[1] } : {}), ...(parts[2] !== undefined ? { subZone: parts[2] } : {}) };
}

/** Reads a `locality` string field into a Locality (an error when malformed). */
export function locality(c: Checker, obj: Raw, path: string): Locality | undefined {
  const s = str(c, obj, 'locality', path);
  if (s === undefined) return undefined;
  const l = parseLocality(s);
  if (!l) c.error(join(path, 'locality'), `${JSON.stringify(s)} is not a locality ("region", "region/zone" or "region/zone/subzone")`);
  return l;
}
