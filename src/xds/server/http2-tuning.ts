/**
 * HTTP/2 flow-control settings for ADS connections. grpc-js's server keeps Node's defaults
 * (64 KB windows, 16 KB frames) and offers no option for them. A SotW sidecar repeats every
 * subscribed name in each ACK (about 50 KB for 1,000 EDS names), so with the defaults every
 * ACK makes the server write two WINDOW_UPDATE frames and read four DATA frames. Envoy
 * itself advertises 256 MB / 268 MB windows to its upstreams; we open ours to 1 MB per
 * stream and connection, which keeps the buffering a client can force bounded and small.
 */
import type * as http2 from 'node:http2';

/** Per-stream and per-connection receive window, and the largest DATA frame we accept. */
export const ADS_WINDOW_BYTES = 1024 * 1024;
export const ADS_MAX_FRAME_BYTES = 64 * 1024;

const tuned = new WeakSet<http2.Http2Session>();

/**
 * The HTTP/2 session under a grpc-js server call. grpc-js does not expose it: the call
 * wraps an intercepting call (`call`), which may wrap others (`nextCall`), the innermost
 * holding the Node stream (`stream`). Undefined when that shape is not there (another
 * grpc-js version): tuning is then skipped, nothing else changes.
 */
export function sessionOf(call: unknown): http2.Http2Session | undefined {
  let c = (call as { call?: unknown } | undefined)?.call;
  for (let depth = 0; depth < 8 && c && typeof c === 'object'; depth++) {
    const stream = (c as { stream?: { session?: unknown } }).stream;
    const session = stream?.session;
    if (session && typeof (session as http2.Http2Session).setLocalWindowSize === 'function') return session as http2.Http2Session;
    c = (c as { nextCall?: unknown }).nextCall;
  }
  return undefined;
}

/**
 * Opens the session's windows to {@link ADS_WINDOW_BYTES} and lets the peer send frames up to
 * {@link ADS_MAX_FRAME_BYTES}; once per session. Returns whether the session was tuned now.
 */
export function tuneAdsSession(call: unknown): boolean {
  const session = sessionOf(call);
  if (!session || tuned.has(session) || session.destroyed || session.closed) return false;
  tuned.add(session);
  try {
    session.setLocalWindowSize(ADS_WINDOW_BYTES);
    session.settings({ initialWindowSize: ADS_WINDOW_BYTES, maxFrameSize: ADS_MAX_FRAME_BYTES });
    return true;
  } catch {
    return false;
  }
}
