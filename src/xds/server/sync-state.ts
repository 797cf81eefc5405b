/**
 * The sync state of one resource type on one stream, in istioctl's words: NOT SENT (nothing
 * sent yet), NACKED (the latest version sent was rejected), STALE (sent, no answer yet),
 * SYNCED (the latest version sent was acknowledged).
 */
import type { TypeSyncStatus } from './types.js';

export type SyncState = 'SYNCED' | 'NOT SENT' | 'STALE' | 'NACKED';

/** Classifies a type's sync status; a NACK of an older version does not make a newer one NACKED. */
export function syncState(t: TypeSyncStatus | undefined): SyncState {
  if (!t || t.sentVersion === undefined) return 'NOT SENT';
  if (t.lastNack && t.lastNack.version === t.sentVersion && !t.awaitingAck) return 'NACKED';
  if (t.awaitingAck) return 'STALE';
  return 'SYNCED';
}
